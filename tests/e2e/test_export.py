"""`init` + `export` over real HTTP against the emulator, with a real git repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from snapshotsync import layout
from snapshotsync.errors import ExitCode
from snapshotsync.store import Store
from tests.helpers import API_KEY, SOURCE_KEY_ENV, Emulator, git, init_repo, run_cli

# Any id of any instance: `Environments-1001`, `deploymentprocess-Projects-7`, GUIDs.
ID_PATTERN = re.compile(
    r"\b(?:[A-Z][A-Za-z]+s-\d+|[a-z]+-[A-Z][A-Za-z]+s-\d+|RunbookProcess-Runbooks-\d+|"
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\b"
)


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SOURCE_KEY_ENV, API_KEY)


def _export(repo: Path, expect: int = 0) -> str:
    return run_cli("export", "--repo", str(repo), expect=expect).stdout + ""


def _commits(repo: Path) -> list[str]:
    return git(repo, "log", "--format=%s").splitlines()


def test_export_writes_the_tree_and_commits_once(
    tmp_path: Path, source_emulator: Emulator, keyed: None
) -> None:
    repo = init_repo(tmp_path, source_emulator)
    out = _export(repo)
    assert "committed" in out
    snapshot = repo / "snapshot"
    for expected in [
        "_meta.yaml",
        "environments/Development.yaml",
        "lifecycles/QA.yaml",
        "projects/OctoFX/project.yaml",
        "projects/OctoFX/deployment-process.yaml",
        "projects/OctoFX/variables.yaml",
        "projects/OctoFX/channels/QA.yaml",
        "projects/OctoFX/runbooks/Restart Web Site/process.yaml",
        "tenants/Internal/variables.yaml",
        "teams/Tenant Managers/permissions.yaml",
        "step-templates/Notify Slack.yaml",
        "script-modules/Logging Helpers.yaml",
        "accounts/Dev%2FTest Account.yaml",
    ]:
        assert (snapshot / expected).is_file(), expected
    commits = _commits(repo)
    assert [c for c in commits if c.startswith("export: ")] == commits[:1]
    message = git(repo, "log", "-1", "--format=%B")
    assert f"Source: {source_emulator.url}" in message
    assert "Octopus-Version: 2024.2.9000" in message and "Added: " in message

    process = (snapshot / "projects/OctoFX/deployment-process.yaml").read_text()
    assert "Octopus.Action.Script.ScriptBody: |" in process  # scripts as block scalars
    assert "Channels:\n    - QA" in process
    variables = (snapshot / "projects/OctoFX/variables.yaml").read_text()
    assert "Sensitive: value unknown" in variables
    assert "source-api-key" not in variables


def test_a_second_export_of_an_unchanged_instance_makes_no_commit_and_no_diff(
    tmp_path: Path, source_emulator: Emulator, keyed: None
) -> None:
    repo = init_repo(tmp_path, source_emulator)
    _export(repo)
    before = Store(repo).read_tree("snapshot")
    commits = _commits(repo)
    out = _export(repo)
    assert "no changes" in out
    assert _commits(repo) == commits
    assert Store(repo).read_tree("snapshot") == before  # byte-identical
    assert git(repo, "status", "--porcelain") == ""


def test_a_change_on_the_source_is_a_small_readable_diff(
    tmp_path: Path, source_emulator: Emulator, keyed: None
) -> None:
    repo = init_repo(tmp_path, source_emulator)
    _export(repo)
    project = source_emulator.by_name("projects", "OctoFX")
    process = source_emulator.get(f"projects/{project['Id']}/deploymentprocesses")
    process["Steps"][4]["Name"] = "Smoke Test the Site"
    assert source_emulator.put(f"projects/{project['Id']}/deploymentprocesses", process).ok
    variables = source_emulator.get(f"variables/{project['VariableSetId']}")
    variables["Variables"].append({"Name": "Feature.Flags", "Value": "beta=off"})
    assert source_emulator.put(f"variables/{project['VariableSetId']}", variables).ok

    commits = len(_commits(repo))
    _export(repo)
    assert len(_commits(repo)) == commits + 1
    diff = git(repo, "diff", "HEAD~1", "--unified=0", "--", "snapshot")
    changed = [
        line
        for line in diff.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert sorted(changed) == sorted(
        [
            "-- Name: Smoke Test",
            "+- Name: Smoke Test the Site",
            "+- Name: Feature.Flags",
            "+  Value: beta=off",
        ]
    )
    assert "Changed: 2" in git(repo, "log", "-1", "--format=%B")


def test_no_id_of_any_instance_appears_in_the_snapshot(
    tmp_path: Path, source_emulator: Emulator, keyed: None
) -> None:
    repo = init_repo(tmp_path, source_emulator)
    _export(repo)
    found = {
        path: ID_PATTERN.findall(text)
        for path, text in Store(repo).read_tree("snapshot").items()
        if ID_PATTERN.search(text)
    }
    assert found == {}
    # The scan itself works: an id in a file would have been found.
    assert ID_PATTERN.findall(
        "LifecycleId: Lifecycles-1001 and 0c9ae5d5-0d6b-4fb5-9a55-8e1a50e2b8b3"
    )


def test_awkward_names_round_trip_through_file_names(
    tmp_path: Path, emulator: Emulator, keyed: None
) -> None:
    names = ["Prod/EU", "Prod: US", "Zürich 東京", "Prod", ".hidden", "trailing.", "50% off"]
    for name in names:
        emulator.create("environments", {"Name": name})
    # Octopus refuses names that differ only in case within one scope (so does the
    # emulator); across scopes they happen: two projects with "Release" and "release".
    group = emulator.by_name("projectgroups", "Default Project Group")["Id"]
    lifecycle = emulator.by_name("lifecycles", "Default Lifecycle")["Id"]
    for project, channel in (("Web", "Release"), ("web-api", "release")):
        created = emulator.create(
            "projects", {"Name": project, "ProjectGroupId": group, "LifecycleId": lifecycle}
        )
        emulator.create("channels", {"Name": channel, "ProjectId": created["Id"]})
    repo = init_repo(tmp_path, emulator)
    _export(repo)
    files = Store(repo).read_tree("snapshot")
    environment_files = [p for p in files if p.startswith("environments/")]
    assert len({p.lower() for p in environment_files}) == len(names)
    assert all("/" not in p.removeprefix("environments/") for p in environment_files)
    assert all(":" not in p for p in files)
    assert {p.lower() for p in files if "/channels/" in p} == {
        "projects/web/channels/default.yaml",
        "projects/web/channels/release.yaml",
        "projects/web-api/channels/default.yaml",
        "projects/web-api/channels/release.yaml",
    }
    snapshot = layout.parse(files)
    assert sorted(k.name[0] for k in snapshot.of_kind("environments")) == sorted(names)
    assert sorted(k.name for k in snapshot.of_kind("channels")) == [
        ("Web", "Default"),
        ("Web", "Release"),
        ("web-api", "Default"),
        ("web-api", "release"),
    ]
    for key, document in snapshot.of_kind("environments").items():
        assert document["Name"] == key.name[0]


def test_paging_reads_every_item_of_a_long_collection(
    tmp_path: Path, emulator: Emulator, keyed: None
) -> None:
    for number in range(250):
        emulator.create("environments", {"Name": f"Env {number:03}"})
    emulator.configure(max_take=7)
    repo = init_repo(tmp_path, emulator)
    _export(repo)
    environments = [p for p in Store(repo).read_tree("snapshot") if p.startswith("environments/")]
    assert len(environments) == 250
    assert emulator.stats()["by_route"]["GET environments"] >= 250 // 7


def test_faults_are_retried_and_the_result_equals_the_fault_free_export(
    tmp_path: Path, source_emulator: Emulator, keyed: None
) -> None:
    clean = init_repo(tmp_path / "clean", source_emulator)
    _export(clean)
    source_emulator.configure(
        fault_rate=0.1, fault_kinds=["429", "503"], fault_seed=11, retry_after=0
    )
    faulty = init_repo(tmp_path / "faulty", source_emulator)
    _export(faulty)
    assert source_emulator.stats()["faults"], "no fault was injected: the test proves nothing"
    strip = lambda files: {p: t for p, t in files.items() if p != "_meta.yaml"}  # noqa: E731
    assert strip(Store(faulty).read_tree("snapshot")) == strip(Store(clean).read_tree("snapshot"))


def test_exhausted_retries_fail_in_one_line_and_keep_the_previous_snapshot(
    tmp_path: Path, source_emulator: Emulator, keyed: None
) -> None:
    repo = init_repo(tmp_path, source_emulator)
    _export(repo)
    before = Store(repo).read_tree("snapshot")
    head = git(repo, "rev-parse", "HEAD")
    env = source_emulator.by_name("environments", "Test")
    env["Description"] = "changed, but the export will fail"
    assert source_emulator.put(f"environments/{env['Id']}", env).ok
    source_emulator.configure(fault_rate=1.0, fault_kinds=["503"], retry_after=0)
    result = run_cli("export", "--repo", str(repo), expect=ExitCode.ERROR)
    assert len(result.stderr.strip().splitlines()) == 1
    assert "503" in result.stderr and "Traceback" not in result.stderr
    assert Store(repo).read_tree("snapshot") == before
    assert git(repo, "rev-parse", "HEAD") == head


def test_401_missing_space_and_unreachable_url_are_one_line_exit_1(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = init_repo(tmp_path, emulator)
    monkeypatch.setenv(SOURCE_KEY_ENV, "API-WRONGKEY000000000000000")
    wrong_key = run_cli("export", "--repo", str(repo), expect=ExitCode.ERROR).stderr
    assert "refused the API key in $SOURCE_OCTOPUS_API_KEY" in wrong_key
    assert "API-WRONGKEY" not in wrong_key

    monkeypatch.setenv(SOURCE_KEY_ENV, API_KEY)
    config = repo / "snapshotsync.yaml"
    config.write_text(config.read_text().replace("space: Default", "space: Nowhere"))
    git(repo, "commit", "-qam", "point at a missing space")
    missing = run_cli("export", "--repo", str(repo), expect=ExitCode.ERROR).stderr
    assert "no space named 'Nowhere'" in missing and "Default" in missing

    config.write_text(config.read_text().replace(emulator.url, "http://127.0.0.1:9"))
    unreachable = run_cli("export", "--repo", str(repo), expect=ExitCode.ERROR).stderr
    assert "cannot reach http://127.0.0.1:9" in unreachable
    for stderr in (wrong_key, missing, unreachable):
        assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


def test_an_uncommitted_change_under_snapshot_is_refused(
    tmp_path: Path, source_emulator: Emulator, keyed: None
) -> None:
    repo = init_repo(tmp_path, source_emulator)
    _export(repo)
    edited = repo / "snapshot" / "environments" / "Test.yaml"
    edited.write_text(edited.read_text() + "# hand edit\n")
    result = run_cli("export", "--repo", str(repo), expect=ExitCode.ERROR)
    assert "uncommitted changes" in result.stderr and "snapshot" in result.stderr
    assert edited.read_text().endswith("# hand edit\n")


def test_the_api_key_is_never_written_anywhere(
    tmp_path: Path, source_emulator: Emulator, keyed: None
) -> None:
    repo = init_repo(tmp_path, source_emulator)
    out = run_cli("export", "--repo", str(repo), "-vv")
    source_emulator.configure(fault_rate=1.0, fault_kinds=["503"], retry_after=0)
    failed = run_cli("export", "--repo", str(repo), "-vv", expect=ExitCode.ERROR)
    assert API_KEY not in out.stdout + out.stderr + failed.stdout + failed.stderr
    logs = list((repo / ".snapshotsync" / "logs").glob("*.log"))
    assert len(logs) == 2 and all(log.read_text() for log in logs)
    for path in repo.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert API_KEY not in path.read_text(errors="replace"), path
    assert API_KEY not in git(repo, "log", "-p", "--all")
