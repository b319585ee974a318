"""Seeds written by names: the samples load, names become ids, mistakes name the item."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapshotsync.emulator import Instance
from snapshotsync.emulator.seed import SeedError, load, load_file
from tests.helpers import SAMPLES, Emulator


def test_the_source_sample_holds_the_guides_scenarios(source_emulator: Emulator) -> None:
    env = {e["Name"]: e["Id"] for e in source_emulator.get("environments/all")}
    assert list(env) == ["Development", "Test", "Staging", "Production"]
    lifecycles = {lc["Name"]: lc for lc in source_emulator.get("lifecycles/all")}
    assert set(lifecycles) == {"Default Lifecycle", "QA"}
    qa_targets = [
        t
        for p in lifecycles["QA"]["Phases"]
        for t in p["AutomaticDeploymentTargets"] + p["OptionalDeploymentTargets"]
    ]
    assert sorted(qa_targets) == sorted([env["Development"], env["Test"]])

    tenants = {t["Name"]: t for t in source_emulator.get("tenants/all")}
    project = source_emulator.by_name("projects", "OctoFX")
    assert sorted(tenants["Internal"]["ProjectEnvironments"][project["Id"]]) == sorted(env.values())
    assert sorted(tenants["Development Team A"]["ProjectEnvironments"][project["Id"]]) == sorted(
        [env["Development"], env["Test"]]
    )

    channels = {
        c["Name"]: c for c in source_emulator.get(f"projects/{project['Id']}/channels")["Items"]
    }
    assert set(channels) == {"Default", "QA"}
    assert channels["QA"]["LifecycleId"] == lifecycles["QA"]["Id"]
    process = source_emulator.get(f"projects/{project['Id']}/deploymentprocesses")
    actions = {a["Name"]: a for s in process["Steps"] for a in s["Actions"]}
    assert actions["QA Sign-off"]["ActionType"] == "Octopus.Manual"
    assert actions["QA Sign-off"]["Channels"] == [channels["QA"]["Id"]]
    template = source_emulator.by_name("actiontemplates", "Notify Slack")
    assert actions["Notify Slack"]["Properties"]["Octopus.Action.Template.Id"] == template["Id"]
    assert actions["Notify Slack"]["Properties"]["Slack.Webhook"] == {
        "HasValue": True,
        "NewValue": None,
        "Hint": None,
    }
    team = source_emulator.by_name("teams", "QA Team")
    assert (
        actions["QA Sign-off"]["Properties"]["Octopus.Action.Manual.ResponsibleTeamIds"]
        == team["Id"]
    )

    variables = source_emulator.get(f"variables/{project['VariableSetId']}")["Variables"]
    by_name: dict[str, list[dict[str, object]]] = {}
    for variable in variables:
        by_name.setdefault(str(variable["Name"]), []).append(variable)
    assert sorted(
        (v["Value"], v["Scope"]["Environment"][0]) for v in by_name["Application.Database.Name"]
    ) == [  # type: ignore[index]
        ("OctoFX-Test", env["Test"]),
        ("OctoFx-Dev", env["Development"]),
    ]
    assert by_name["ConnectionString"][0]["Scope"] == {}
    assert by_name["Api.Key"][0]["IsSensitive"] is True and by_name["Api.Key"][0]["Value"] is None
    account = source_emulator.by_name("accounts", "Dev/Test Account")
    assert by_name["Project.AWS.Account"][0]["Value"] == account["Id"]
    assert by_name["QA.Dashboard.Url"][0]["Scope"] == {"Channel": [channels["QA"]["Id"]]}

    tenant_variables = source_emulator.get(f"tenants/{tenants['Internal']['Id']}/variables")
    per_env = tenant_variables["ProjectVariables"][project["Id"]]["Variables"]
    assert len(per_env) == 4

    roles = source_emulator.get("scopeduserroles/all")
    tenant_role = next(r for r in roles if r["TenantIds"])
    assert sorted(tenant_role["TenantIds"]) == sorted(t["Id"] for t in tenants.values())


def test_the_destination_sample_has_only_staging_and_production(
    destination_emulator: Emulator,
) -> None:
    assert [e["Name"] for e in destination_emulator.get("environments/all")] == [
        "Staging",
        "Production",
    ]
    assert [a["Name"] for a in destination_emulator.get("accounts/all")] == ["Staging/Prod Account"]
    assert destination_emulator.get("projects/all") == []
    assert destination_emulator.get("tenants/all") == []


def test_a_built_in_resource_named_in_a_seed_is_updated_not_duplicated() -> None:
    instance = Instance()
    load_file(instance, SAMPLES / "destination.yaml")
    lifecycles = instance.space_items(instance.default_space_id(), "lifecycles")
    assert [lc["Name"] for lc in lifecycles] == ["Default Lifecycle"]
    assert len(lifecycles[0]["Phases"]) == 2


def test_an_unknown_name_is_reported_with_the_item(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        "environments: [{Name: Production}]\n"
        "projects:\n  - {Name: Web, ProjectGroupId: Default Project Group, LifecycleId: Nope}\n",
        encoding="utf-8",
    )
    with pytest.raises(SeedError, match=r"seed.yaml: projects 'Web': no lifecycles named 'Nope'"):
        load_file(Instance(), seed)


def test_an_invalid_item_fails_like_the_api_would() -> None:
    with pytest.raises(SeedError, match=r"environments 'Prod'.*'Colour' is not a known property"):
        load(Instance(), {"environments": [{"Name": "Prod", "Colour": "red"}]})


def test_unknown_top_level_keys_are_refused() -> None:
    with pytest.raises(SeedError, match="unknown top-level keys"):
        load(Instance(), {"enviroments": []})
