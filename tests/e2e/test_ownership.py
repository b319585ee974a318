"""Ownership, end to end: a three-way sync that removes, renames and repairs what it wrote,
reports drift, and never touches what people made on the destination by hand.

The guide's scenario between two emulators; every check reads the destination back over
REST, by name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from snapshotsync.errors import ExitCode
from tests.e2e.test_plan import OVERLAY
from tests.helpers import (
    Emulator,
    export_with_overlay,
    git,
    init_repo,
    kill_push_after,
    run_cli,
)


@pytest.fixture
def repo(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> Path:
    """A sync repo after its first push of the guide's scenario."""
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    export_with_overlay(repo, OVERLAY.replace("NEW_OUT_OF_SCOPE", "clone"))
    _push(repo)
    return repo


def _push(repo: Path, *extra: str, expect: int = 0) -> str:
    result = run_cli(
        "push", "--target", "prod", "--repo", str(repo), "--yes", *extra, expect=expect
    )
    return result.stdout + result.stderr


def _plan(repo: Path, *extra: str) -> dict[str, Any]:
    out = run_cli(
        "plan", "--target", "prod", "--repo", str(repo), "--output", "json", *extra
    ).stdout
    return dict(json.loads(out))


def _writes(plan: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    return [
        (c["action"], c["kind"], c["name"])
        for c in plan["changes"]
        if c["action"] in ("create", "update", "delete")
    ]


def _process(emulator: Emulator, project: str = "OctoFX") -> dict[str, Any]:
    found = emulator.by_name("projects", project)
    return dict(emulator.get(f"projects/{found['Id']}/deploymentprocesses"))


def _steps(emulator: Emulator, project: str = "OctoFX") -> list[str]:
    return [step["Name"] for step in _process(emulator, project)["Steps"]]


def _edit_process(emulator: Emulator, edit: Any, project: str = "OctoFX") -> None:
    found = emulator.by_name("projects", project)
    process = emulator.get(f"projects/{found['Id']}/deploymentprocesses")
    edit(process)
    response = emulator.put(f"projects/{found['Id']}/deploymentprocesses", process)
    assert response.ok, response.text


def _edit_variables(emulator: Emulator, edit: Any, project: str = "OctoFX") -> None:
    found = emulator.by_name("projects", project)
    document = emulator.get(f"variables/{found['VariableSetId']}")
    edit(document["Variables"])
    assert emulator.put(f"variables/{found['VariableSetId']}", document).ok


def _values(emulator: Emulator, name: str, project: str = "OctoFX") -> list[Any]:
    found = emulator.by_name("projects", project)
    document = emulator.get(f"variables/{found['VariableSetId']}")
    return [v["Value"] for v in document["Variables"] if v["Name"] == name]


def _step(name: str, environments: list[str] | None = None) -> dict[str, Any]:
    return {
        "Name": name,
        "Condition": "Success",
        "StartTrigger": "StartAfterPrevious",
        "PackageRequirement": "LetOctopusDecide",
        "Properties": {},
        "Actions": [
            {
                "Name": name,
                "ActionType": "Octopus.Script",
                "Environments": environments or [],
                "Properties": {"Octopus.Action.Script.ScriptBody": f"echo {name}"},
            }
        ],
    }


def test_steps_renamed_deleted_and_moved_out_on_the_source_follow_and_a_hand_step_stays(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    assert _steps(destination_emulator) == [
        "Deploy Database",
        "Run Migration Script",
        "Deploy Web Site",
        "Notify Slack",
    ]
    # By hand on the destination: a step of its own, after the migration.
    _edit_process(
        destination_emulator,
        lambda p: p["Steps"].insert(2, _step("Warm Up Cache")),
    )
    environments = {e["Name"]: e["Id"] for e in source_emulator.get("environments/all")}

    def change(process: dict[str, Any]) -> None:
        steps = {step["Name"]: step for step in process["Steps"]}
        steps["Run Migration Script"]["Name"] = "Migrate Database"  # renamed
        steps["Run Migration Script"]["Actions"][0]["Name"] = "Migrate Database"
        process["Steps"].remove(steps["Deploy Web Site"])  # deleted
        steps["Notify Slack"]["Actions"][0]["Environments"] = [environments["Test"]]  # moved out

    _edit_process(source_emulator, change)
    # The variable scoped to the Notify Slack step goes with the step.
    _edit_variables(
        source_emulator,
        lambda vs: vs.remove(next(v for v in vs if v["Name"] == "Slack.Message.Prefix")),
    )
    run_cli("export", "--repo", str(repo))
    _push(repo)

    assert _steps(destination_emulator) == [
        "Deploy Database",
        "Migrate Database",
        "Warm Up Cache",  # the destination's own, where it was
    ]
    assert _plan(repo)["has_changes"] is False


def test_a_source_value_nobody_touched_follows_a_hand_edit_is_kept_and_reported_until_forced(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    # Nobody touches Cache.Size on the destination; someone edits Tenant.Banner there.
    _edit_variables(
        destination_emulator,
        lambda vs: next(v for v in vs if v["Name"] == "Tenant.Banner").update(
            {"Value": "Internal build (set by ops)"}
        ),
    )

    def change(values: list[dict[str, Any]]) -> None:
        for value in values:
            if value["Name"] == "Cache.Size" and value["Value"] == "512":
                value["Value"] = "1024"
            if value["Name"] == "Tenant.Banner":
                value["Value"] = "Internal build v2"

    _edit_variables(source_emulator, change)
    run_cli("export", "--repo", str(repo))
    plan = _plan(repo)
    variables = next(c for c in plan["changes"] if c["kind"] == "project-variables")
    conflicts = [v for v in variables["values"] if v["action"] == "conflict"]
    assert [(c["name"], c["before"]["Value"], c["after"]["Value"]) for c in conflicts] == [
        ("Tenant.Banner", "Internal build (set by ops)", "Internal build v2")
    ]
    text = run_cli("plan", "--target", "prod", "--repo", str(repo)).stdout
    assert "! conflict Tenant.Banner = 'Internal build v2'" in text
    assert "destination has: Tenant.Banner = 'Internal build (set by ops)'" in text

    _push(repo)
    assert sorted(_values(destination_emulator, "Cache.Size")) == ["1024", "2048"]
    assert _values(destination_emulator, "Tenant.Banner") == ["Internal build (set by ops)"]

    _push(repo, "--force-overwrite")
    assert _values(destination_emulator, "Tenant.Banner") == ["Internal build v2"]
    assert _plan(repo)["has_changes"] is False


def test_a_project_the_source_deleted_is_an_orphan_until_pruned_and_a_hand_project_never_is(
    tmp_path: Path, repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    # A project of the destination's own, made by hand.
    destination_emulator.create(
        "projects",
        {
            "Name": "Ops Tools",
            "ProjectGroupId": destination_emulator.by_name(
                "projectgroups", "Default Project Group"
            )["Id"],
            "LifecycleId": destination_emulator.by_name("lifecycles", "Default Lifecycle")["Id"],
        },
    )
    # A project on the source, synced, then deleted on the source.
    source_emulator.create(
        "projects",
        {
            "Name": "Reporting",
            "ProjectGroupId": source_emulator.by_name("projectgroups", "Trading Apps")["Id"],
            "LifecycleId": source_emulator.by_name("lifecycles", "Default Lifecycle")["Id"],
        },
    )
    run_cli("export", "--repo", str(repo))
    _push(repo)
    reporting = destination_emulator.by_name("projects", "Reporting")
    assert source_emulator.session.delete(
        source_emulator.space_url(
            f"projects/{source_emulator.by_name('projects', 'Reporting')['Id']}"
        )
    ).ok
    run_cli("export", "--repo", str(repo))

    plan = _plan(repo)
    orphans = [(c["kind"], c["name"]) for c in plan["changes"] if c["action"] == "orphan"]
    assert orphans == [("projects", ["Reporting"])]
    assert plan["has_changes"] is False
    _push(repo)  # without --prune: nothing is deleted
    assert destination_emulator.by_name("projects", "Reporting")["Id"] == reporting["Id"]

    pruned = _plan(repo, "--prune")
    assert _writes(pruned) == [("delete", "projects", ["Reporting"])]
    _push(repo, "--prune")
    names = {p["Name"] for p in destination_emulator.get("projects/all")}
    assert "Reporting" not in names
    assert {"OctoFX", "Ops Tools"} <= names
    assert _plan(repo, "--prune")["has_changes"] is False
    assert ", 1 deleted" in run_cli("history", "--repo", str(repo)).stdout


def test_drift_is_quiet_after_a_push_names_a_hand_edit_and_changes_nothing(
    repo: Path, destination_emulator: Emulator
) -> None:
    quiet = run_cli("drift", "--target", "prod", "--repo", str(repo))
    assert "nothing changed by hand" in quiet.stdout
    _edit_variables(
        destination_emulator,
        lambda vs: next(v for v in vs if v["Name"] == "Cache.Size" and v["Value"] == "512").update(
            {"Value": "640"}
        ),
    )
    head = git(repo, "rev-parse", "HEAD")
    destination_emulator.session.delete(f"{destination_emulator.url}/api/emulator/stats")
    found = run_cli(
        "drift",
        "--target",
        "prod",
        "--repo",
        str(repo),
        "--output",
        "json",
        expect=ExitCode.CHANGES,
    )
    document = json.loads(found.stdout)
    assert document["has_drift"] is True
    assert [(d["kind"], d["name"], d["part"], d["change"]) for d in document["drift"]] == [
        ("project-variables", ["OctoFX"], "value Cache.Size [Role: OctoFX-Web]", "changed")
    ]
    assert document["drift"][0]["now"]["Value"] == "640"
    text = run_cli("drift", "--target", "prod", "--repo", str(repo), expect=ExitCode.CHANGES)
    assert "changed  project-variables OctoFX value Cache.Size [Role: OctoFX-Web]" in text.stdout
    assert destination_emulator.stats()["writes"] == 0
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""


def test_a_dirty_overlay_stops_the_push_and_the_push_commit_names_the_overlay(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    message = git(repo, "log", "-1", "--format=%B")
    overlay_commit = git(repo, "log", "-1", "--format=%H", "--", "overlays/prod.yaml").strip()
    assert f"Overlay: overlays/prod.yaml@{overlay_commit[:12]}" in message
    overlay = repo / "overlays" / "prod.yaml"
    overlay.write_text(overlay.read_text() + "# an edit nobody committed\n")
    project = source_emulator.by_name("projects", "OctoFX")
    project["Description"] = "changed on the source"
    assert source_emulator.put(f"projects/{project['Id']}", project).ok
    run_cli("export", "--repo", str(repo))
    destination_emulator.session.delete(f"{destination_emulator.url}/api/emulator/stats")
    refused = _push(repo, expect=ExitCode.ERROR)
    assert "overlays/prod.yaml" in refused and "must be committed" in refused
    assert destination_emulator.stats()["requests"] == 0


def test_a_killed_push_leaves_the_base_of_what_it_wrote_and_the_rerun_converges(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    export_with_overlay(repo, OVERLAY.replace("NEW_OUT_OF_SCOPE", "clone"))
    kill_push_after(repo, destination_emulator, writes=12)
    base = repo / "targets" / "prod" / "base"
    recorded = {p.relative_to(base).as_posix() for p in base.rglob("*.yaml")}
    # Scaffolding written before the kill is recorded; what comes last was never reached.
    assert "project-groups/Trading Apps.yaml" in recorded
    assert "projects/OctoFX/variables.yaml" not in recorded
    # What it created is in the journal (the list in _meta.yaml is folded in at the end).
    journal = (base / "_journal.yaml").read_text()
    assert '- ["created", "project-groups", "Trading Apps"]' in journal
    before = {p["Name"] for p in destination_emulator.get("projects/all")}

    for _ in range(3):
        if (
            run_cli("push", "--target", "prod", "--repo", str(repo), "--yes", expect=None).exit_code
            == ExitCode.OK
        ):
            break
    assert _plan(repo)["has_changes"] is False
    projects = [p["Name"] for p in destination_emulator.get("projects/all")]
    assert sorted(projects) == sorted(set(projects)) and before <= set(projects)
    teams = [t["Name"] for t in destination_emulator.get("teams/all")]
    assert len(teams) == len(set(teams))
    assert "projects/OctoFX/variables.yaml" in {
        p.relative_to(base).as_posix() for p in base.rglob("*.yaml")
    }
    assert not (base / "_journal.yaml").exists()
    assert "- - project-groups\n  - Trading Apps\n" in (base / "_meta.yaml").read_text()
    assert git(repo, "status", "--porcelain", "--", "targets") == ""


def test_a_project_renamed_on_the_source_is_renamed_in_place_keeping_its_id(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    synced = destination_emulator.by_name("projects", "OctoFX")
    channels = {
        c["Name"]: c["Id"]
        for c in destination_emulator.get(f"projects/{synced['Id']}/channels")["Items"]
    }
    project = source_emulator.by_name("projects", "OctoFX")
    project["Name"] = "OctoFX Trading"
    assert source_emulator.put(f"projects/{project['Id']}", project).ok
    run_cli("export", "--repo", str(repo))

    text = run_cli("plan", "--target", "prod", "--repo", str(repo)).stdout
    assert "~ rename projects OctoFX Trading  (rename OctoFX -> OctoFX Trading)" in text
    assert "+ create projects" not in text
    _push(repo)
    renamed = destination_emulator.by_name("projects", "OctoFX Trading")
    assert renamed["Id"] == synced["Id"]
    assert "OctoFX" not in {p["Name"] for p in destination_emulator.get("projects/all")}
    kept = destination_emulator.get(f"projects/{renamed['Id']}/channels")["Items"]
    assert {c["Name"]: c["Id"] for c in kept} == channels  # its channels are its own still
    assert _steps(destination_emulator, "OctoFX Trading") == [
        "Deploy Database",
        "Run Migration Script",
        "Deploy Web Site",
        "Notify Slack",
    ]
    assert _plan(repo, "--prune")["has_changes"] is False
    record = (repo / "targets" / "prod" / "last-push.yaml").read_text()
    assert "- projects OctoFX Trading\n" in record.split("updated:")[2]


def test_a_hand_edit_alone_in_its_set_is_a_conflict_never_hidden_as_unchanged(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    def banner(text: str) -> Any:
        return lambda vs: next(v for v in vs if v["Name"] == "Tenant.Banner").update(
            {"Value": text}
        )

    _edit_variables(destination_emulator, banner("set by ops"))
    _edit_variables(source_emulator, banner("Internal build v2"))
    run_cli("export", "--repo", str(repo))
    plan = _plan(repo)
    variables = next(c for c in plan["changes"] if c["kind"] == "project-variables")
    assert variables["action"] == "conflict"
    text = run_cli("plan", "--target", "prod", "--repo", str(repo)).stdout
    assert "! conflict project-variables OctoFX" in text and "1 conflicts" in text
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")  # nothing to write
    assert _values(destination_emulator, "Tenant.Banner") == ["set by ops"]


def test_drift_is_quiet_after_a_push_that_wrote_a_value_from_the_environment(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    keys: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROD_DB_NAME", "octofx-prod-db-7")
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    overlay = OVERLAY.replace("NEW_OUT_OF_SCOPE", "clone") + (
        '  values:\n    "OctoFX/ConnectionString": "Database=${env:PROD_DB_NAME}"\n'
    )
    export_with_overlay(repo, overlay)
    _push(repo)
    assert _values(destination_emulator, "ConnectionString")[:1] == ["Database=octofx-prod-db-7"]
    quiet = run_cli("drift", "--target", "prod", "--repo", str(repo))
    assert "nothing changed by hand" in quiet.stdout
    assert "octofx-prod-db-7" not in quiet.stdout
    record = (repo / "targets" / "prod" / "last-push.yaml").read_text()
    assert "conflicts: 0" in record
