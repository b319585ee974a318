"""Helpers shared by the tests: a running emulator and an HTTP session for it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from snapshotsync.emulator import Config, EmulatorServer, Instance, serve, start
from snapshotsync.emulator.seed import load_file

SAMPLES = Path(__file__).resolve().parent.parent / "snapshotsync" / "emulator" / "samples"
API_KEY = "API-TESTKEY0000000000000000000"


@dataclass
class Emulator:
    """A running emulator and a session that talks to it with the right key."""

    server: EmulatorServer
    session: requests.Session

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def instance(self) -> Instance:
        return self.server.instance

    @property
    def space_id(self) -> str:
        return self.instance.default_space_id()

    def space_url(self, path: str) -> str:
        return f"{self.url}/api/{self.space_id}/{path.lstrip('/')}"

    def get(self, path: str, **kwargs: Any) -> Any:
        response = self.session.get(self.space_url(path), **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: Any) -> requests.Response:
        return self.session.post(self.space_url(path), json=body)

    def put(self, path: str, body: Any) -> requests.Response:
        return self.session.put(self.space_url(path), json=body)

    def create(self, path: str, body: Any) -> Any:
        response = self.post(path, body)
        assert response.status_code == 201, response.text
        return response.json()

    def by_name(self, collection: str, name: str) -> Any:
        return next(item for item in self.get(f"{collection}/all") if item["Name"] == name)

    def configure(self, **settings: Any) -> None:
        response = self.session.put(f"{self.url}/api/emulator/config", json=settings)
        assert response.status_code == 200, response.text

    def stats(self) -> Any:
        return self.session.get(f"{self.url}/api/emulator/stats").json()


@contextmanager
def running_emulator(
    *,
    seed: Path | None = None,
    id_offset: int = 0,
    config: Config | None = None,
    server_version: str = "2024.2.9000",
    feature_toggles: dict[str, bool] | None = None,
) -> Iterator[Emulator]:
    """Start an emulator on a free loopback port for the duration of the block."""
    instance = Instance(
        id_offset=id_offset, server_version=server_version, feature_toggles=feature_toggles
    )
    if seed is not None:
        load_file(instance, seed)
    server = serve(instance, API_KEY, config)
    start(server)
    session = requests.Session()
    session.headers["X-Octopus-ApiKey"] = API_KEY
    try:
        yield Emulator(server, session)
    finally:
        session.close()
        server.shutdown()
        server.server_close()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str, expect: int | None = 0) -> CliResult:
    """Run the `snapshotsync` command line in-process; fail with its stderr if the code differs
    (`expect=None` accepts any exit code)."""
    from typer.testing import CliRunner

    from snapshotsync.cli import app

    result = CliRunner().invoke(app, list(args))
    outcome = CliResult(result.exit_code, result.stdout, result.stderr)
    assert expect is None or outcome.exit_code == expect, (
        f"exit {outcome.exit_code}, expected {expect}\nstdout:\n{outcome.stdout}\n"
        f"stderr:\n{outcome.stderr}\n{result.exception!r}"
    )
    return outcome


SOURCE_KEY_ENV = "SOURCE_OCTOPUS_API_KEY"


def init_repo(tmp_path: Path, source: Emulator, target: Emulator | None = None) -> Path:
    """`snapshotsync init` a repo wired to `source` (and `target` as "prod")."""
    repo = tmp_path / "sync"
    args = ["init", str(repo), "--source-url", source.url]
    if target is not None:
        args += ["--target", f"prod={target.url}"]
    run_cli(*args)
    # Tests fail fast: retries are short (the retry logic itself is what is tested).
    config = repo / "snapshotsync.yaml"
    config.write_text(config.read_text() + "http:\n  retries: 4\n  backoff: 0.01\n")
    git(repo, "commit", "-qam", "tests: short retries")
    return repo


def export_with_overlay(repo: Path, overlay: str, message: str = "overlay for prod") -> None:
    """Write and commit the overlay of target "prod", then export the source."""
    (repo / "overlays" / "prod.yaml").write_text(overlay)
    git(repo, "commit", "-qam", message)
    run_cli("export", "--repo", str(repo))


def pushed_repo(tmp_path: Path, source: Emulator, destination: Emulator, overlay: str) -> Path:
    """A sync repo wired to `source` and `destination` ("prod"), after its first push under
    `overlay`."""
    repo = init_repo(tmp_path, source, destination)
    export_with_overlay(repo, overlay)
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    return repo


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` and return its output (for assertions on history and diffs)."""
    import subprocess

    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout


def kill_push_after(repo: Path, destination: Emulator, writes: int) -> None:
    """Run `push` in a process of its own and kill it (SIGKILL) once the destination has
    taken `writes` writes: an interrupted push, as a power cut or a kill -9 leaves it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    destination.configure(latency_ms=40)  # slow enough to stop it half-way
    env = {**os.environ, SOURCE_KEY_ENV: API_KEY, "PROD_OCTOPUS_API_KEY": API_KEY}
    command = [sys.executable, "-m", "snapshotsync", "push", "--target", "prod"]
    process = subprocess.Popen(
        [*command, "--repo", str(repo), "--yes"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while destination.stats()["writes"] < writes:
            assert process.poll() is None, "the push ended before it could be killed"
            assert time.monotonic() < deadline, "the push never got that far"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        destination.configure(latency_ms=0)
    assert process.returncode == -signal.SIGKILL


def with_frozen_copies(seed: Path, directory: Path, releases: int = 2) -> Path:
    """`seed` with `releases` releases in every project and a snapshot of every runbook: the
    emulator keeps frozen copies of their processes and variable sets, listed with the live
    ones (`snapshotsync/emulator/bulk.py`). Returns the new seed's path."""
    import json

    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(seed.read_text(encoding="utf-8"))
    for project in data.get("projects") or []:
        project["Releases"] = [{"Version": f"1.0.{n}"} for n in range(releases)]
        for runbook in project.get("Runbooks") or []:
            runbook["Snapshots"] = [{"Name": "Snapshot 1"}]
    path = directory / f"frozen-{seed.name}"
    # As JSON (which is YAML): it keeps the seed's key order, the documents' field order.
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def mark_frozen_copies(instance: Instance) -> int:
    """Make every frozen copy differ from its live document (as an older release's does), so
    a copy that reached a snapshot would show; returns how many there are."""
    with instance.lock:
        for collection, copies in instance.frozen.items():
            for doc in copies.values():
                if collection == "variables":
                    doc["Variables"] = [
                        *doc["Variables"],
                        {**FROZEN_VARIABLE, "Id": f"frozen-{doc['Id']}"},
                    ]
                else:
                    for step in doc["Steps"]:
                        step["Name"] = f"{step['Name']} (frozen)"
        return sum(len(copies) for copies in instance.frozen.values())


FROZEN_VARIABLE = {
    "Name": "Only.In.A.Frozen.Copy",
    "Value": "frozen",
    "Description": None,
    "Scope": {},
    "IsEditable": True,
    "Prompt": None,
    "Type": "String",
    "IsSensitive": False,
}
