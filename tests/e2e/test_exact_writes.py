"""The push writes exactly what the plan shows, end to end: what the source removes goes,
what a person changed by hand stays (and is reported), and the next plan is empty.

The guide's scenario between two emulators; every check reads the destination back over
REST.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_identity import GUIDE, _edit_process, _plan, _process, _push, _writes
from tests.helpers import Emulator, export_with_overlay, init_repo, pushed_repo, run_cli


@pytest.fixture
def repo(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> Path:
    """A sync repo after its first push of the guide's scenario."""
    return pushed_repo(tmp_path, source_emulator, destination_emulator, GUIDE)


def _step(emulator: Emulator, name: str) -> dict[str, Any]:
    return next(s for s in _process(emulator)["Steps"] if s["Name"] == name)


def _settled(repo: Path) -> None:
    """The next plan writes nothing, and says so in its exit code."""
    run_cli("plan", "--target", "prod", "--repo", str(repo), "--detailed-exitcode")


def test_a_step_converted_on_the_source_to_run_on_the_server_loses_its_roles(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    assert (
        "Octopus.Action.TargetRoles" in _step(destination_emulator, "Deploy Web Site")["Properties"]
    )

    def convert(process: dict[str, Any]) -> None:
        step = next(s for s in process["Steps"] if s["Name"] == "Deploy Web Site")
        del step["Properties"]["Octopus.Action.TargetRoles"]
        step["Actions"][0]["Properties"]["Octopus.Action.RunOnServer"] = "true"

    _edit_process(source_emulator, convert)
    run_cli("export", "--repo", str(repo))
    _push(repo)
    step = _step(destination_emulator, "Deploy Web Site")
    assert "Octopus.Action.TargetRoles" not in step["Properties"]
    assert step["Actions"][0]["Properties"]["Octopus.Action.RunOnServer"] == "true"
    _settled(repo)


def test_a_tenant_unlinked_from_a_project_on_the_source_is_unlinked(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    tenant = source_emulator.by_name("tenants", "Internal")
    tenant["ProjectEnvironments"] = {}
    assert source_emulator.put(f"tenants/{tenant['Id']}", tenant).ok
    run_cli("export", "--repo", str(repo))
    _push(repo)
    assert destination_emulator.by_name("tenants", "Internal")["ProjectEnvironments"] == {}
    _settled(repo)
    # The server dropped the tenant's values for the project with the link: the record of
    # them goes too, so drift does not report them as deleted by hand.
    run_cli("drift", "--target", "prod", "--repo", str(repo))


def test_a_hand_change_inside_a_step_is_kept_beside_a_source_change_and_reported(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    def by_hand(process: dict[str, Any]) -> None:
        step = next(s for s in process["Steps"] if s["Name"] == "Deploy Web Site")
        step["Actions"][0]["Properties"]["Octopus.Action.IISWebSite.WebSiteName"] = "OctoFX-Blue"

    def on_source(process: dict[str, Any]) -> None:
        step = next(s for s in process["Steps"] if s["Name"] == "Deploy Web Site")
        step["Condition"] = "Always"

    _edit_process(destination_emulator, by_hand)
    _edit_process(source_emulator, on_source)
    run_cli("export", "--repo", str(repo))
    plan = _plan(repo)
    process = next(c for c in plan["changes"] if c["kind"] == "deployment-processes")
    assert [(v["action"], v["name"]) for v in process["values"]] == [
        (
            "keep",
            "step Deploy Web Site: Actions.Deploy Web Site.Properties."
            "Octopus.Action.IISWebSite.WebSiteName",
        )
    ]
    _push(repo)
    step = _step(destination_emulator, "Deploy Web Site")
    assert step["Condition"] == "Always"
    assert step["Actions"][0]["Properties"]["Octopus.Action.IISWebSite.WebSiteName"] == (
        "OctoFX-Blue"
    )
    _settled(repo)


def test_a_step_deleted_by_hand_stays_deleted_as_a_conflict_until_forced(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    _edit_process(
        destination_emulator,
        lambda p: p["Steps"].remove(next(s for s in p["Steps"] if s["Name"] == "Notify Slack")),
    )
    plan = _plan(repo)
    assert ("update", "deployment-processes", "OctoFX") not in _writes(plan)
    process = next(c for c in plan["changes"] if c["kind"] == "deployment-processes")
    assert process["action"] == "conflict"
    assert [(v["action"], v["name"]) for v in process["values"]] == [("conflict", "Notify Slack")]
    _push(repo)
    assert "Notify Slack" not in [s["Name"] for s in _process(destination_emulator)["Steps"]]

    _push(repo, "--force-overwrite")
    assert "Notify Slack" in [s["Name"] for s in _process(destination_emulator)["Steps"]]
    _settled(repo)


@pytest.mark.parametrize("by_hand", ["step", "runbook", "variable"])
def test_prune_keeps_a_project_a_person_added_to_and_says_why(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator, by_hand: str
) -> None:
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
    # A person's work inside the project snapshotsync created.
    if by_hand == "step":
        _edit_process(
            destination_emulator,
            lambda p: p["Steps"].append(
                {
                    "Name": "Hand Step",
                    "Properties": {},
                    "Actions": [
                        {
                            "Name": "Hand Step",
                            "ActionType": "Octopus.Script",
                            "Properties": {"Octopus.Action.Script.ScriptBody": "echo hi"},
                        }
                    ],
                }
            ),
            "Reporting",
        )
        part = "deployment-processes Reporting changed by hand"
    elif by_hand == "runbook":
        destination_emulator.create(
            "runbooks", {"Name": "Rebuild Cache", "ProjectId": reporting["Id"]}
        )
        part = "runbooks Reporting/Rebuild Cache added by hand"
    else:
        document = destination_emulator.get(f"variables/{reporting['VariableSetId']}")
        document["Variables"].append({"Name": "Hand.Value", "Value": "1"})
        assert destination_emulator.put(f"variables/{reporting['VariableSetId']}", document).ok
        part = "project-variables Reporting changed by hand"
    project = source_emulator.by_name("projects", "Reporting")
    assert source_emulator.session.delete(source_emulator.space_url(f"projects/{project['Id']}")).ok
    run_cli("export", "--repo", str(repo))

    pruned = _plan(repo, "--prune")
    assert _writes(pruned) == []
    orphan = next(c for c in pruned["changes"] if c["action"] == "orphan")
    assert part in orphan["reason"] and "never deleted" in orphan["reason"]
    _push(repo, "--prune")
    assert destination_emulator.by_name("projects", "Reporting")["Id"] == reporting["Id"]


def test_a_project_renamed_by_hand_is_a_conflict_not_a_second_project(
    repo: Path, destination_emulator: Emulator
) -> None:
    project = destination_emulator.by_name("projects", "OctoFX")
    project["Name"] = "OctoFX (retired)"
    assert destination_emulator.put(f"projects/{project['Id']}", project).ok
    writes = destination_emulator.stats()["writes"]

    out = _push(repo, expect=1)
    assert "conflict projects OctoFX" in out
    assert "deleted or renamed by hand" in out  # the plan says what happened, and the fixes
    assert destination_emulator.stats()["writes"] == writes
    assert [p["Name"] for p in destination_emulator.get("projects/all")] == ["OctoFX (retired)"]

    _push(repo, "--force-overwrite")  # a person's decision: make it again
    names = sorted(p["Name"] for p in destination_emulator.get("projects/all"))
    assert names == ["OctoFX", "OctoFX (retired)"]
    _settled(repo)


def test_drift_lists_a_step_a_value_and_a_link_added_by_hand(
    repo: Path, destination_emulator: Emulator
) -> None:
    run_cli("drift", "--target", "prod", "--repo", str(repo))  # quiet after a push
    _edit_process(
        destination_emulator,
        lambda p: p["Steps"].append(
            {
                "Name": "Warm Up",
                "Properties": {},
                "Actions": [
                    {
                        "Name": "Warm Up",
                        "ActionType": "Octopus.Script",
                        "Properties": {"Octopus.Action.Script.ScriptBody": "echo warm"},
                    }
                ],
            }
        ),
    )
    project = destination_emulator.by_name("projects", "OctoFX")
    document = destination_emulator.get(f"variables/{project['VariableSetId']}")
    document["Variables"].append({"Name": "Hand.Value", "Value": "mine"})
    assert destination_emulator.put(f"variables/{project['VariableSetId']}", document).ok

    out = run_cli("drift", "--target", "prod", "--repo", str(repo), expect=2).stdout
    assert "+ added    deployment-processes OctoFX step Warm Up" in out
    assert "+ added    project-variables OctoFX value Hand.Value" in out
    # The plan keeps both (the destination's own from now on) and writes nothing.
    _settled(repo)


def test_a_description_and_a_prompt_changed_on_the_source_reach_the_destination(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    export_with_overlay(
        repo, GUIDE + '  values:\n    "OctoFX/Application.Database.Name": "OctoFX-Regional"\n'
    )
    project = source_emulator.by_name("projects", "OctoFX")
    document = source_emulator.get(f"variables/{project['VariableSetId']}")
    for variable in document["Variables"]:
        if variable["Name"] == "Application.Database.Name":
            variable["Description"] = "The database this release migrates"
    assert source_emulator.put(f"variables/{project['VariableSetId']}", document).ok
    run_cli("export", "--repo", str(repo))
    _push(repo)  # the first push: the explicit value keeps the source's description

    def described(name: str) -> set[Any]:
        synced = destination_emulator.by_name("projects", "OctoFX")
        values = destination_emulator.get(f"variables/{synced['VariableSetId']}")["Variables"]
        return {(v.get("Description"), str(v.get("Prompt"))) for v in values if v["Name"] == name}

    assert described("Application.Database.Name") == {
        ("The database this release migrates", "None")
    }
    # Later, on the source: a new description, and a prompt on another value.
    document = source_emulator.get(f"variables/{project['VariableSetId']}")
    for variable in document["Variables"]:
        if variable["Name"] == "Application.Database.Name":
            variable["Description"] = "Per region"
        if variable["Name"] == "Log.Level":
            variable["Prompt"] = {"Label": "Log level", "Required": True}
    assert source_emulator.put(f"variables/{project['VariableSetId']}", document).ok
    run_cli("export", "--repo", str(repo))
    _push(repo)
    assert described("Application.Database.Name") == {("Per region", "None")}
    prompts = {p for _, p in described("Log.Level")}
    assert any("Log level" in p for p in prompts), prompts
    _settled(repo)


def test_a_new_placeholder_never_shadows_the_destinations_secret(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    synced = destination_emulator.by_name("projects", "OctoFX")
    document = destination_emulator.get(f"variables/{synced['VariableSetId']}")
    for variable in document["Variables"]:
        if variable["Name"] == "Api.Key":
            variable["Value"] = "the real production key"  # a person replaced the placeholder
    assert destination_emulator.put(f"variables/{synced['VariableSetId']}", document).ok
    # On the source, the secret is narrowed to Production.
    project = source_emulator.by_name("projects", "OctoFX")
    production = source_emulator.by_name("environments", "Production")["Id"]
    document = source_emulator.get(f"variables/{project['VariableSetId']}")
    for variable in document["Variables"]:
        if variable["Name"] == "Api.Key":
            variable["Scope"] = {"Environment": [production]}
            variable["Value"] = None  # kept: the source's secret is not rewritten
    assert source_emulator.put(f"variables/{project['VariableSetId']}", document).ok
    run_cli("export", "--repo", str(repo))

    plan = _plan(repo)
    variables = next(c for c in plan["changes"] if c["kind"] == "project-variables")
    left = [v for v in variables["values"] if v["name"] == "Api.Key" and v["action"] == "leave"]
    assert left and "would shadow it" in left[0]["reason"]
    assert not [p for p in plan["placeholders"] if "Api.Key" in p["field"]]
    _push(repo)
    values = destination_emulator.get(f"variables/{synced['VariableSetId']}")["Variables"]
    assert [v["Scope"] for v in values if v["Name"] == "Api.Key"] == [{}]
    _settled(repo)


def test_tag_sets_keep_the_destinations_own_tags_and_drop_the_sources_last(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    # The destination's own tag in a set the source also has, on a tenant of its own.
    destination_emulator.create(
        "tagsets", {"Name": "Hosting", "Tags": [{"Name": "Cloud"}, {"Name": "GovCloud"}]}
    )
    destination_emulator.create("tenants", {"Name": "Agency", "TenantTags": ["Hosting/GovCloud"]})
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    export_with_overlay(repo, GUIDE)
    _push(repo)

    def tags() -> list[str]:
        hosting = destination_emulator.by_name("tagsets", "Hosting")
        return sorted(t["Name"] for t in hosting["Tags"])

    assert tags() == ["Cloud", "GovCloud", "On-Premises"]
    # The source drops On-Premises (nothing uses it) and Cloud, which a synced tenant
    # stops using in the same push.
    hosting = source_emulator.by_name("tagsets", "Hosting")
    hosting["Tags"] = []
    internal = source_emulator.by_name("tenants", "Internal")
    internal["TenantTags"] = [t for t in internal["TenantTags"] if not t.startswith("Hosting/")]
    assert source_emulator.put(f"tenants/{internal['Id']}", internal).ok
    assert source_emulator.put(f"tagsets/{hosting['Id']}", hosting).ok
    run_cli("export", "--repo", str(repo))
    _push(repo)
    assert tags() == ["GovCloud"]
    assert destination_emulator.by_name("tenants", "Agency")["TenantTags"] == ["Hosting/GovCloud"]
    _settled(repo)


MANY_TO_ONE = """\
environments:
  Development: Staging
  Staging: Staging
  Production: Production
prefer:
  Staging: Staging
exclude:
  tenants: ["Development Team A"]
  lifecycles: ["QA"]
  channels: ["OctoFX/QA"]
rename:
  accounts: {"Dev/Test Account": "Staging/Prod Account"}
variables:
  new-out-of-scope: placeholder
"""


def test_several_source_environments_on_one_follow_prefer_and_merge_their_phases(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    environments = {e["Name"]: e["Id"] for e in source_emulator.get("environments/all")}

    def exclude_from_development(process: dict[str, Any]) -> None:
        step = next(s for s in process["Steps"] if s["Name"] == "Notify Slack")
        step["Actions"][0]["ExcludedEnvironments"] = [environments["Development"]]

    _edit_process(source_emulator, exclude_from_development)
    project = source_emulator.by_name("projects", "OctoFX")
    document = source_emulator.get(f"variables/{project['VariableSetId']}")
    document["Variables"].append(
        {
            "Name": "Test.Banner",
            "Value": "test build",
            "Scope": {"Environment": [environments["Test"]], "TenantTag": ["Tenant Type/Internal"]},
        }
    )
    assert source_emulator.put(f"variables/{project['VariableSetId']}", document).ok
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    export_with_overlay(repo, MANY_TO_ONE)
    text = run_cli("plan", "--target", "prod", "--repo", str(repo), "--verbose").stdout
    assert "not excluded from Staging (prefer: Staging)" in text
    assert "merged into that phase" in text
    _push(repo)

    staging = destination_emulator.by_name("environments", "Staging")["Id"]
    step = _step(destination_emulator, "Notify Slack")
    assert staging not in (step["Actions"][0].get("ExcludedEnvironments") or [])
    lifecycle = destination_emulator.by_name("lifecycles", "Default Lifecycle")
    holding = [
        p["Name"]
        for p in lifecycle["Phases"]
        if staging in p["AutomaticDeploymentTargets"] + p["OptionalDeploymentTargets"]
    ]
    assert len(holding) == 1, lifecycle["Phases"]
    synced = destination_emulator.by_name("projects", "OctoFX")
    values = destination_emulator.get(f"variables/{synced['VariableSetId']}")["Variables"]
    banner = [v for v in values if v["Name"] == "Test.Banner"]
    assert [v["Scope"].get("TenantTag") for v in banner] == [["Tenant Type/Internal"]]
    _settled(repo)


def test_a_secrets_description_is_synced_and_the_placeholder_note_stays_first_until_replaced(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    synced = destination_emulator.by_name("projects", "OctoFX")
    path = f"variables/{synced['VariableSetId']}"

    def api_key() -> dict[str, Any]:
        return next(
            v for v in destination_emulator.get(path)["Variables"] if v["Name"] == "Api.Key"
        )

    note = "snapshotsync placeholder: replace the value, then remove this note"
    # Written with the placeholder: the note first, then the source's description.
    assert api_key()["Description"] == f"{note}\n\nKey for the pricing API"

    def describe_on_source(words: str) -> None:
        project = source_emulator.by_name("projects", "OctoFX")
        document = source_emulator.get(f"variables/{project['VariableSetId']}")
        for variable in document["Variables"]:
            if variable["Name"] == "Api.Key":
                variable["Description"] = words
                variable["Value"] = None  # kept: the source's secret is not rewritten
        assert source_emulator.put(f"variables/{project['VariableSetId']}", document).ok
        run_cli("export", "--repo", str(repo))

    describe_on_source("Key for the pricing API (rotated yearly)")
    _push(repo)
    assert api_key()["Description"] == f"{note}\n\nKey for the pricing API (rotated yearly)"
    _settled(repo)

    # A person replaces the value and removes the note, as it says.
    document = destination_emulator.get(path)
    for variable in document["Variables"]:
        if variable["Name"] == "Api.Key":
            variable["Value"] = "the real production key"
            variable["Description"] = "Key for the pricing API (rotated yearly)"
    assert destination_emulator.put(path, document).ok
    cleanup = run_cli("cleanup", "--target", "prod", "--repo", str(repo)).stdout
    assert any(line.startswith("done") and "Api.Key" in line for line in cleanup.splitlines()), (
        cleanup
    )
    _settled(repo)

    describe_on_source("Key for the pricing API v2")
    _push(repo)
    assert api_key()["Description"] == "Key for the pricing API v2"
    secret = next(
        v
        for v in destination_emulator.instance.docs["variables"][synced["VariableSetId"]][
            "Variables"
        ]
        if v["Name"] == "Api.Key"
    )
    assert secret["Value"] == "the real production key"  # the description moved, not the secret
    _settled(repo)
