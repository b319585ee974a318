"""`push` end to end: the worked examples pushed for real, then read back over REST."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from snapshotsync.commands.demo import with_changes
from snapshotsync.errors import ExitCode
from snapshotsync.store import Store
from tests.e2e.test_export import ID_PATTERN
from tests.e2e.test_plan import OVERLAY
from tests.helpers import (
    Emulator,
    export_with_overlay,
    git,
    init_repo,
    run_cli,
    running_emulator,
)


def _repo(tmp_path: Path, source: Emulator, destination: Emulator, mode: str = "clone") -> Path:
    repo = init_repo(tmp_path, source, destination)
    export_with_overlay(repo, OVERLAY.replace("NEW_OUT_OF_SCOPE", mode))
    return repo


def _push(repo: Path, *extra: str, expect: int = 0) -> str:
    result = run_cli(
        "push", "--target", "prod", "--repo", str(repo), "--yes", *extra, expect=expect
    )
    return result.stdout + result.stderr


def _plan(repo: Path) -> dict[str, Any]:
    out = run_cli("plan", "--target", "prod", "--repo", str(repo), "--output", "json").stdout
    return dict(json.loads(out))


def _variables(emulator: Emulator, project: str = "OctoFX") -> list[dict[str, Any]]:
    found = emulator.by_name("projects", project)
    return list(emulator.get(f"variables/{found['VariableSetId']}")["Variables"])


def test_the_worked_examples_land_on_the_destination_and_a_second_plan_is_empty(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    out = _push(repo)
    assert "push: prod done" in out
    dest = destination_emulator
    env = {e["Name"]: e["Id"] for e in dest.get("environments/all")}
    assert set(env) == {"Staging", "Production"}

    project = dest.by_name("projects", "OctoFX")
    tenants = {t["Name"]: t for t in dest.get("tenants/all")}
    assert set(tenants) == {"Internal"}
    assert sorted(tenants["Internal"]["ProjectEnvironments"][project["Id"]]) == sorted(env.values())
    assert [lc["Name"] for lc in dest.get("lifecycles/all")] == ["Default Lifecycle"]
    channels = dest.get(f"projects/{project['Id']}/channels")["Items"]
    assert [c["Name"] for c in channels] == ["Default"]

    process = dest.get(f"projects/{project['Id']}/deploymentprocesses")
    steps = [s["Name"] for s in process["Steps"]]
    assert steps == ["Deploy Database", "Run Migration Script", "Deploy Web Site", "Notify Slack"]
    template = dest.by_name("actiontemplates", "Notify Slack")
    notify = process["Steps"][3]["Actions"][0]
    assert notify["Properties"]["Octopus.Action.Template.Id"] == template["Id"]
    assert sorted(notify["Environments"]) == sorted(env.values())

    values = {(v["Name"], v["Value"]) for v in _variables(dest)}
    assert ("Application.Database.Name", "OctoFx-Dev") in values
    assert ("Application.Database.Name", "OctoFX-Test") in values
    assert ("ConnectionString", "Database=#{Application.Database.Name}") in values
    assert ("Project.AWS.Account", dest.by_name("accounts", "Staging/Prod Account")["Id"]) in values
    assert not any(name == "QA.Dashboard.Url" for name, _ in values)

    stored = destination_emulator.instance.docs["variables"][project["VariableSetId"]]["Variables"]
    api_key = next(v for v in stored if v["Name"] == "Api.Key")
    assert api_key["IsSensitive"] and api_key["Value"] == "CHANGE_ME"

    roles = [r for r in dest.get("scopeduserroles/all") if r["TenantIds"]]
    assert [r["TenantIds"] for r in roles] == [[tenants["Internal"]["Id"]]]

    recorded = Store(repo).read_tree("targets/prod")
    assert {"last-push.yaml", "cleanup.yaml"} <= set(recorded)
    assert any(path.startswith("state/") for path in recorded)
    leaked = {
        path: ID_PATTERN.findall(text) for path, text in recorded.items() if ID_PATTERN.search(text)
    }
    assert leaked == {}  # no id of either instance under targets/ either

    second = _plan(repo)
    assert second["has_changes"] is False, [
        (c["action"], c["kind"], c["name"], c["diff"])
        for c in second["changes"]
        if c["action"] in ("create", "update")
    ]


def test_a_push_with_nothing_to_change_makes_zero_writes(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    _push(repo)
    head = git(repo, "rev-parse", "HEAD")
    destination_emulator.session.delete(f"{destination_emulator.url}/api/emulator/stats")
    out = _push(repo)
    assert "up to date; nothing written" in out
    stats = destination_emulator.stats()
    assert stats["writes"] == 0 and stats["requests"] > 0
    assert git(repo, "rev-parse", "HEAD") == head


def test_sensitive_values_placeholders_ledger_and_cleanup(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    _push(repo)
    ledger = (repo / "targets" / "prod" / "cleanup.yaml").read_text()
    assert "field: variable Api.Key" in ledger and "placeholder: CHANGE_ME" in ledger
    status = run_cli("cleanup", "--target", "prod", "--repo", str(repo)).stdout
    assert "pending  project-variables OctoFX  variable Api.Key" in status

    # A human replaces the secret on the destination (and clears the placeholder note).
    project = destination_emulator.by_name("projects", "OctoFX")
    document = destination_emulator.get(f"variables/{project['VariableSetId']}")
    for variable in document["Variables"]:
        if variable["Name"] == "Api.Key":
            variable["Value"] = "the-real-production-key"
            variable["Description"] = "Key for the pricing API"
    assert destination_emulator.put(f"variables/{project['VariableSetId']}", document).ok
    status = run_cli("cleanup", "--target", "prod", "--repo", str(repo)).stdout
    assert "done     project-variables OctoFX  variable Api.Key" in status

    # The next push leaves the replaced secret alone.
    run_cli("export", "--repo", str(repo))
    _push(repo)
    stored = destination_emulator.instance.docs["variables"][project["VariableSetId"]]["Variables"]
    assert next(v for v in stored if v["Name"] == "Api.Key")["Value"] == "the-real-production-key"


def test_recurring_sync_pushes_only_the_role_scope_and_the_oracle_value(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    _push(repo)
    before = {
        (v["Name"], v["Value"], json.dumps(v["Scope"], sort_keys=True))
        for v in _variables(destination_emulator)
    }
    project = source_emulator.by_name("projects", "OctoFX")
    document = source_emulator.get(f"variables/{project['VariableSetId']}")
    # The guide's two variables change; the others stay (a variable the source dropped
    # would now be removed too: tests/e2e/test_ownership.py).
    document["Variables"] = with_changes(document["Variables"])
    assert source_emulator.put(f"variables/{project['VariableSetId']}", document).ok
    run_cli("export", "--repo", str(repo))
    _push(repo)
    after = {
        (v["Name"], v["Value"], json.dumps(v["Scope"], sort_keys=True))
        for v in _variables(destination_emulator)
    }
    plain = '"Database=#{Application.Database.Name}"'
    assert before - after == {("ConnectionString", json.loads(plain), "{}")}
    assert after - before == {
        ("ConnectionString", "Database=#{Application.Database.Name}", '{"Role": ["SQL-Server"]}'),
        ("ConnectionString", "Data Source=#{Application.Database.Name}", '{"Role": ["Oracle"]}'),
    }
    assert _plan(repo)["has_changes"] is False


def test_an_interrupted_push_finishes_on_the_next_run_without_duplicates(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    keys: None,
) -> None:
    clean_destination = destination_emulator
    repo = _repo(tmp_path, source_emulator, clean_destination)
    clean_destination.configure(drop_on_write=6, drop_after_apply=True)
    failed = _push(repo, expect=ExitCode.ERROR)
    assert "stopped at" in failed and "run push again to finish" in failed
    assert "result: failed" in (repo / "targets/prod/last-push.yaml").read_text()
    assert "(FAILED)" in git(repo, "log", "-1", "--format=%s")
    clean_destination.configure(drop_on_write=0)
    _push(repo)
    assert _plan(repo)["has_changes"] is False
    for collection in ("projects", "tenants", "teams", "tagsets", "accounts", "feeds"):
        names = [item["Name"] for item in clean_destination.get(f"{collection}/all")]
        assert len(names) == len(set(names)), collection
    values = [
        (v["Name"], v["Value"], json.dumps(v["Scope"], sort_keys=True))
        for v in _variables(clean_destination)
    ]
    assert len(values) == len(set(values))


def test_distant_versions_are_refused_before_any_write_unless_overridden(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    destination_emulator.configure(server_version="2024.4.100")
    destination_emulator.session.delete(f"{destination_emulator.url}/api/emulator/stats")
    refused = _push(repo, expect=ExitCode.ERROR)
    assert "more than one minor version apart" in refused
    assert destination_emulator.stats()["writes"] == 0
    _push(repo, "--allow-version-skew")
    assert destination_emulator.stats()["writes"] > 0


def test_history_lists_exports_and_pushes_with_counts(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    _push(repo)
    lines = run_cli("history", "--repo", str(repo)).stdout.splitlines()
    assert any(" export " in line and "resources" in line for line in lines)
    assert any(" push prod " in line and "created" in line for line in lines)
    only_pushes = run_cli("history", "--repo", str(repo), "--target", "prod").stdout
    assert " export " not in only_pushes and " push prod " in only_pushes
    state = Store(repo).read_tree("targets/prod/state")
    assert "environments/Staging.yaml" in state


def test_a_concurrent_edit_on_the_destination_is_re_read_and_retried_once(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    # Someone saves the project's process (the first versioned PUT) while the push runs.
    destination_emulator.configure(concurrent_edit_on_put=1)
    _push(repo)
    last_push = (repo / "targets" / "prod" / "last-push.yaml").read_text()
    assert "stale_version_retries: 1" in last_push
    assert "result: complete" in last_push
    assert _plan(repo)["has_changes"] is False


def test_machine_scoping_lands_with_the_surviving_machine_only(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    _push(_repo(tmp_path, source_emulator, destination_emulator))
    machine = destination_emulator.by_name("machines", "web-prod-01")["Id"]
    log_level = [v for v in _variables(destination_emulator) if v["Name"] == "Log.Level"]
    assert [(v["Value"], v["Scope"]) for v in log_level] == [("Verbose", {"Machine": [machine]})]


def test_a_destination_only_step_stays_after_its_neighbour(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    _push(repo)
    project = destination_emulator.by_name("projects", "OctoFX")
    path = f"projects/{project['Id']}/deploymentprocesses"
    process = destination_emulator.get(path)
    local = {
        "Name": "Production Smoke Test",
        "Actions": [
            {
                "Name": "Production Smoke Test",
                "ActionType": "Octopus.Script",
                "Properties": {
                    "Octopus.Action.Script.ScriptBody": "curl -f https://octofx.example"
                },
            }
        ],
    }
    process["Steps"].insert(2, local)  # after "Run Migration Script"
    assert destination_emulator.put(path, process).ok

    source = source_emulator.by_name("projects", "OctoFX")
    source_path = f"projects/{source['Id']}/deploymentprocesses"
    source_process = source_emulator.get(source_path)
    new_step = {
        "Name": "Warm Cache",
        "Actions": [
            {
                "Name": "Warm Cache",
                "ActionType": "Octopus.Script",
                "Properties": {"Octopus.Action.Script.ScriptBody": "./warm.sh"},
            }
        ],
    }
    source_process["Steps"].insert(1, new_step)  # right after "Deploy Database"
    assert source_emulator.put(source_path, source_process).ok
    run_cli("export", "--repo", str(repo))
    _push(repo)
    steps = [s["Name"] for s in destination_emulator.get(path)["Steps"]]
    assert steps == [
        "Deploy Database",
        "Warm Cache",
        "Run Migration Script",
        "Production Smoke Test",
        "Deploy Web Site",
        "Notify Slack",
    ]
    assert _plan(repo)["has_changes"] is False


def test_an_explicit_secret_from_the_environment_is_written_but_never_printed(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    keys: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRICING_API_KEY", "s3cret-from-the-vault")
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    overlay = OVERLAY.replace("NEW_OUT_OF_SCOPE", "clone") + (
        '  values:\n    "OctoFX/Api.Key": "${env:PRICING_API_KEY}"\n'
    )
    export_with_overlay(repo, overlay, "overlay with an explicit secret")
    text = run_cli("plan", "--target", "prod", "--repo", str(repo)).stdout
    as_json = run_cli("plan", "--target", "prod", "--repo", str(repo), "--output", "json").stdout
    pushed = _push(repo)
    for output in (text, as_json, pushed):
        assert "s3cret-from-the-vault" not in output
    project = destination_emulator.by_name("projects", "OctoFX")
    stored = destination_emulator.instance.docs["variables"][project["VariableSetId"]]["Variables"]
    api_key = next(v for v in stored if v["Name"] == "Api.Key")
    assert api_key["IsSensitive"] and api_key["Value"] == "s3cret-from-the-vault"
    for path in repo.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert "s3cret-from-the-vault" not in path.read_text(errors="replace"), path


def test_without_a_terminal_push_needs_yes_and_writes_nothing(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    destination_emulator.session.delete(f"{destination_emulator.url}/api/emulator/stats")
    result = run_cli("push", "--target", "prod", "--repo", str(repo), expect=ExitCode.ERROR)
    assert "pass --yes" in result.stderr
    assert destination_emulator.stats()["writes"] == 0
    dry = run_cli("push", "--target", "prod", "--repo", str(repo), "--dry-run")
    assert "Plan: " in dry.stdout and destination_emulator.stats()["writes"] == 0


SLASHED_NAMES = """
projects:
  - Name: a
    ProjectGroupId: Default Project Group
    LifecycleId: Default Lifecycle
    Channels:
      - {Name: b/c, Description: "a's channel b/c"}
    Runbooks:
      - Name: b/r
        Process:
          Steps:
            - Name: Step of a's runbook b/r
              Actions:
                - {Name: Step of a's runbook b/r, ActionType: Octopus.Script,
                   Properties: {Octopus.Action.Script.ScriptBody: echo a}}
  - Name: a/b
    ProjectGroupId: Default Project Group
    LifecycleId: Default Lifecycle
    Channels:
      - {Name: c, Description: "a/b's channel c"}
    Runbooks:
      - Name: r
        Process:
          Steps:
            - Name: Step of a/b's runbook r
              Actions:
                - {Name: Step of a/b's runbook r, ActionType: Octopus.Script,
                   Properties: {Octopus.Action.Script.ScriptBody: echo ab}}
"""


def test_names_holding_a_slash_never_share_an_id(
    tmp_path: Path, emulator: Emulator, keys: None
) -> None:
    """Project `a` runbook `b/r` and project `a/b` runbook `r` are two runbooks everywhere."""
    seed = tmp_path / "slashes.yaml"
    seed.write_text(SLASHED_NAMES)
    with running_emulator(seed=seed, id_offset=3000) as source:
        repo = init_repo(tmp_path, source, emulator)
        export_with_overlay(repo, "environments: {}\n")
        _push(repo)
    for project, runbook, channel, step in (
        ("a", "b/r", "b/c", "Step of a's runbook b/r"),
        ("a/b", "r", "c", "Step of a/b's runbook r"),
    ):
        found = emulator.by_name("projects", project)
        runbooks = emulator.get(f"projects/{found['Id']}/runbooks")["Items"]
        assert [r["Name"] for r in runbooks] == [runbook]
        process = emulator.get(f"runbookProcesses/{runbooks[0]['RunbookProcessId']}")
        assert [s["Name"] for s in process["Steps"]] == [step]
        channels = emulator.get(f"projects/{found['Id']}/channels")["Items"]
        assert sorted(c["Name"] for c in channels) == sorted(["Default", channel])
    assert _plan(repo)["has_changes"] is False
