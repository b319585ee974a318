"""`python -m snapshotsync.emulator`: a real process, its first line, its flags, its ids."""

from __future__ import annotations

import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import requests

from tests.helpers import SAMPLES

REPO = Path(__file__).resolve().parents[2]
KEY = "API-MAINTEST000000000000000000"
FIRST_LINE = re.compile(r"^listening on (http://127\.0\.0\.1:(\d+))$")
STARTUP_SECONDS = 15


def _first_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            return process.stdout.readline().rstrip("\n")
        if process.poll() is not None:
            break
    stderr = process.stderr.read() if process.stderr and process.poll() is not None else ""
    raise AssertionError(
        f"no first line within {STARTUP_SECONDS}s (exit {process.poll()}) {stderr}"
    )


@contextmanager
def emulator_process(*args: str) -> Iterator[str]:
    """Run the module with `args`; yield its URL from the first line; always kill it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "snapshotsync.emulator", "--port", "0", "--api-key", KEY, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _first_line(process)
        match = FIRST_LINE.match(line)
        assert match, f"first line was {line!r}"
        assert int(match.group(2)) > 0
        yield match.group(1)
    finally:
        process.kill()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _session() -> requests.Session:
    session = requests.Session()
    session.headers["X-Octopus-ApiKey"] = KEY
    return session


def _space(session: requests.Session, url: str) -> str:
    spaces = session.get(f"{url}/api/spaces/all", timeout=5).json()
    return str(next(s["Id"] for s in spaces if s["IsDefault"]))


def test_prints_its_url_first_and_serves_the_sample_seed() -> None:
    seed = SAMPLES / "source.yaml"
    with emulator_process("--seed", str(seed), "--server-version", "2024.3.1234") as url:
        root = requests.get(f"{url}/api", timeout=5)
        assert root.status_code == 200
        assert root.json()["Version"] == "2024.3.1234"
        assert root.json()["Application"] == "Octopus Deploy"
        session = _session()
        space = _space(session, url)
        assert requests.get(f"{url}/api/{space}/environments", timeout=5).status_code == 401
        wrong = requests.get(
            f"{url}/api/{space}/environments", headers={"X-Octopus-ApiKey": "API-X"}, timeout=5
        )
        assert wrong.status_code == 401
        environments = session.get(f"{url}/api/{space}/environments/all", timeout=5)
        assert environments.status_code == 200
        assert environments.json(), "the seed's environments are served"
        projects = session.get(f"{url}/api/{space}/projects/all", timeout=5).json()
        assert projects, "the seed's projects are served"


def test_a_seed_written_by_names_is_served_with_ids(tmp_path: Path) -> None:
    seed = tmp_path / "tiny.yaml"
    seed.write_text(
        "environments:\n"
        "  - {Name: Staging, SortOrder: 1}\n"
        "  - {Name: Production, SortOrder: 2}\n"
        "projects:\n"
        "  - Name: OctoFX\n"
        "    LifecycleId: Default Lifecycle\n"
        "    ProjectGroupId: Default Project Group\n",
        encoding="utf-8",
    )
    with emulator_process("--seed", str(seed), "--id-offset", "7000") as url:
        session = _session()
        space = _space(session, url)
        assert space == "Spaces-7001"
        environments = session.get(f"{url}/api/{space}/environments/all", timeout=5).json()
        assert [(e["Name"], e["Id"]) for e in environments] == [
            ("Staging", "Environments-7001"),
            ("Production", "Environments-7002"),
        ]
        project = session.get(f"{url}/api/{space}/projects/all", timeout=5).json()[0]
        lifecycle = session.get(f"{url}/api/{space}/lifecycles/{project['LifecycleId']}")
        assert lifecycle.json()["Name"] == "Default Lifecycle"


def test_default_random_offsets_give_two_processes_different_ids() -> None:
    with ExitStack() as stack:
        urls = [stack.enter_context(emulator_process()) for _ in range(2)]
        session = _session()
        spaces = [_space(session, url) for url in urls]
        assert spaces[0] != spaces[1]
        created: list[dict[str, str]] = []
        for url, space in zip(urls, spaces, strict=True):
            base = f"{url}/api/{space}"
            lifecycle = session.get(f"{base}/lifecycles/all", timeout=5).json()[0]["Id"]
            group = session.get(f"{base}/projectgroups/all", timeout=5).json()[0]["Id"]
            ids = {"lifecycles": lifecycle, "projectgroups": group}
            for collection, body in (
                ("environments", {"Name": "Staging"}),
                ("environments", {"Name": "Production"}),
                ("tenants", {"Name": "Acme"}),
                ("projects", {"Name": "OctoFX", "LifecycleId": lifecycle, "ProjectGroupId": group}),
            ):
                response = session.post(f"{base}/{collection}", json=body, timeout=5)
                assert response.status_code == 201, response.text
                ids[f"{collection}:{body['Name']}"] = response.json()["Id"]
            created.append(ids)
        assert created[0].keys() == created[1].keys()
        assert set(created[0].values()).isdisjoint(created[1].values())
        for one, (url, space) in enumerate(zip(urls, spaces, strict=True)):
            for key, foreign in created[1 - one].items():
                collection = key.split(":")[0]
                response = session.get(f"{url}/api/{space}/{collection}/{foreign}", timeout=5)
                assert response.status_code == 404, (key, foreign)


def test_command_line_faults_latency_and_page_size() -> None:
    args = ("--fault-rate", "1", "--fault-kinds", "429", "--retry-after", "0")
    with emulator_process(*args, "--latency-ms", "50", "--page-size", "7") as url:
        session = _session()
        started = time.perf_counter()
        response = session.get(f"{url}/api", timeout=5)
        assert time.perf_counter() - started >= 0.04  # 50 ms latency, clock granularity aside
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "0"
        config = session.get(f"{url}/api/emulator/config", timeout=5).json()
        assert (config["page_size"], config["fault_kinds"]) == (7, ["429"])
        session.put(f"{url}/api/emulator/config", json={"fault_rate": 0}, timeout=5)
        page = session.get(f"{url}/api/userroles", timeout=5).json()
        assert (page["ItemsPerPage"], len(page["Items"])) == (7, 7)
        assert "Page.Next" in page["Links"]


def test_bad_arguments_and_bad_seeds_exit_with_an_error(tmp_path: Path) -> None:
    module = [sys.executable, "-m", "snapshotsync.emulator", "--port", "0", "--api-key", KEY]
    kinds = subprocess.run(
        [*module, "--fault-kinds", "503,teapot"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert kinds.returncode == 2 and "teapot" in kinds.stderr
    seed = tmp_path / "bad.yaml"
    seed.write_text("projects:\n  - {Name: X, LifecycleId: No Such Lifecycle}\n", encoding="utf-8")
    bad = subprocess.run(
        [*module, "--seed", str(seed)], cwd=REPO, capture_output=True, text=True, timeout=30
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("error:") and "No Such Lifecycle" in bad.stderr
    assert bad.stdout == ""


def test_server_version_and_feature_toggle_flags_choose_the_profile() -> None:
    toggle = "CommonVariableScopingFeatureToggle"
    url_of = f"/api/configuration/feature-toggles?Name={toggle}"
    with emulator_process("--server-version", "2025.2.11370") as url:
        answer = _session().get(f"{url}{url_of}", timeout=5).json()
        assert answer == {"FeatureToggles": [{"Name": toggle, "IsEnabled": True}]}
    with emulator_process(
        "--server-version", "2025.3.1", "--feature-toggle", f"{toggle}=off"
    ) as url:
        answer = _session().get(f"{url}{url_of}", timeout=5).json()
        assert answer == {"FeatureToggles": [{"Name": toggle, "IsEnabled": False}]}
    module = [sys.executable, "-m", "snapshotsync.emulator", "--port", "0", "--api-key", KEY]
    bad = subprocess.run(
        [*module, "--feature-toggle", "NoState"], cwd=REPO, capture_output=True, text=True
    )
    assert bad.returncode == 2 and "NAME=on" in bad.stderr
