"""The emulator over real HTTP: ids, references, unknown properties, names, secrets, versions.

Every test talks to a running server with `requests`; nothing is mocked. Paging, faults and
counters are in `test_faults.py`, the `python -m snapshotsync.emulator` entry point in
`test_main.py`.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import pytest
import requests
from ruamel.yaml import YAML

from tests.helpers import API_KEY, SAMPLES, Emulator, running_emulator

SENSITIVE = {"Octopus.ControlType": "Sensitive"}
# A secret as the API returns it (`Hint` is in the server's schema: go-octopusdeploy
# api/spec.json, SensitiveValue).
HIDDEN = {"HasValue": True, "NewValue": None, "Hint": None}
SERVER_STAMPS = ("LastModifiedOn", "LastModifiedBy")


def defaults(e: Emulator) -> dict[str, str]:
    return {
        "lifecycle": e.by_name("lifecycles", "Default Lifecycle")["Id"],
        "group": e.by_name("projectgroups", "Default Project Group")["Id"],
    }


def new_project(e: Emulator, name: str, **fields: Any) -> Any:
    ids = defaults(e)
    body = {"Name": name, "LifecycleId": ids["lifecycle"], "ProjectGroupId": ids["group"]}
    return e.create("projects", {**body, **fields})


def assert_400(response: requests.Response, *fragments: str) -> Any:
    """A 400 in Octopus's error shape whose messages mention every fragment."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert isinstance(body["ErrorMessage"], str) and body["ErrorMessage"]
    assert isinstance(body["Errors"], list) and body["Errors"]
    text = " ".join([body["ErrorMessage"], *body["Errors"]])
    for fragment in fragments:
        assert fragment in text, text
    return body


def api(e: Emulator, method: str, path: str, body: Any = None) -> requests.Response:
    """A call to a route outside the default space (`/api/...`)."""
    return e.session.request(method, f"{e.url}/api/{path.lstrip('/')}", json=body)


@functools.cache
def sample_certificate(sample: str) -> str:
    """The real certificate data (base64) of a sample instance: a real server parses it."""
    seed = YAML(typ="safe").load((SAMPLES / f"{sample}.yaml").read_text(encoding="utf-8"))
    return str(seed["certificates"][0]["CertificateData"]["NewValue"])


def populate(e: Emulator) -> dict[str, str]:
    """One document of every creatable kind, created over HTTP; returns their ids by role."""
    ids = defaults(e)
    ids["env"] = e.create("environments", {"Name": "Staging", "SortOrder": 1})["Id"]
    ids["env2"] = e.create("environments", {"Name": "Production", "SortOrder": 2})["Id"]
    ids["group2"] = e.create("projectgroups", {"Name": "Apps", "EnvironmentIds": [ids["env"]]})[
        "Id"
    ]
    tagset = e.create(
        "tagsets", {"Name": "Hosting", "Tags": [{"Name": "Cloud"}, {"Name": "On-Prem"}]}
    )
    ids["tagset"] = tagset["Id"]
    ids["feed"] = e.create(
        "feeds",
        {
            "Name": "NuGet.org",
            "FeedType": "NuGet",
            "FeedUri": "https://api.nuget.org/v3/index.json",
            "Username": "ci",
            "Password": {"HasValue": True, "NewValue": "feed-secret"},
        },
    )["Id"]
    ids["policy"] = e.create("machinepolicies", {"Name": "Linux Policy"})["Id"]
    ids["pool"] = e.create("workerpools", {"Name": "Ubuntu Pool"})["Id"]
    ids["account"] = e.create(
        "accounts",
        {
            "Name": "Deploy Account",
            "AccountType": "UsernamePassword",
            "Username": "deployer",
            "Password": {"HasValue": True, "NewValue": "account-secret"},
            "EnvironmentIds": [ids["env"]],
        },
    )["Id"]
    ids["template"] = e.create(
        "actiontemplates",
        {
            "Name": "Notify",
            "ActionType": "Octopus.Script",
            "Properties": {"Octopus.Action.Script.ScriptBody": "echo hi"},
            "Parameters": [{"Name": "Url", "Label": "Webhook"}],
            "Packages": [{"Name": "tool", "PackageId": "Tool", "FeedId": ids["feed"]}],
        },
    )["Id"]
    ids["lvs"] = e.create(
        "libraryvariablesets",
        {"Name": "Shared", "Templates": [{"Name": "Region", "Label": "Region"}]},
    )["Id"]
    ids["lifecycle2"] = e.create(
        "lifecycles",
        {
            "Name": "Two Phases",
            "Phases": [
                {"Name": "Stage", "AutomaticDeploymentTargets": [ids["env"]]},
                {"Name": "Prod", "OptionalDeploymentTargets": [ids["env2"]]},
            ],
        },
    )["Id"]
    ids["certificate"] = e.create(
        "certificates",
        {
            "Name": "Wildcard",
            "CertificateData": {"HasValue": True, "NewValue": sample_certificate("source")},
            "EnvironmentIds": [ids["env"]],
        },
    )["Id"]
    project = new_project(
        e,
        "OctoFX",
        IncludedLibraryVariableSetIds=[ids["lvs"]],
        Templates=[
            {"Name": "Db Password", "Label": "Password", "DisplaySettings": SENSITIVE},
            {"Name": "Db Name", "Label": "Name"},
        ],
    )
    ids["project"] = project["Id"]
    ids["process"] = project["DeploymentProcessId"]
    ids["variableset"] = project["VariableSetId"]
    ids["channel"] = e.create("channels", {"Name": "Hotfix", "ProjectId": ids["project"]})["Id"]
    runbook = e.create("runbooks", {"Name": "Restart", "ProjectId": ids["project"]})
    ids["runbook"] = runbook["Id"]
    ids["runbookprocess"] = runbook["RunbookProcessId"]
    ids["trigger"] = e.create(
        "projecttriggers",
        {
            "Name": "Auto",
            "ProjectId": ids["project"],
            "Filter": {
                "FilterType": "MachineFilter",
                "EnvironmentIds": [ids["env"]],
                "Roles": ["web"],
                "EventGroups": [],
                "EventCategories": [],
            },
        },
    )["Id"]
    ids["tenant"] = e.create(
        "tenants",
        {
            "Name": "Acme",
            "TenantTags": ["Hosting/Cloud"],
            "ProjectEnvironments": {ids["project"]: [ids["env"], ids["env2"]]},
        },
    )["Id"]
    # A role used in a space needs space permissions, and space teams and roles carry their
    # SpaceId (without it a real server makes them system-level).
    role = api(
        e,
        "POST",
        "userroles",
        {"Name": "Approver", "GrantedSpacePermissions": ["InterruptionView", "InterruptionSubmit"]},
    )
    assert role.status_code == 201, role.text
    ids["userrole"] = role.json()["Id"]
    ids["team"] = e.create("teams", {"Name": "Release Managers", "SpaceId": e.space_id})["Id"]
    ids["scopeduserrole"] = e.create(
        "scopeduserroles",
        {
            "TeamId": ids["team"],
            "UserRoleId": ids["userrole"],
            "EnvironmentIds": [ids["env"]],
            "SpaceId": e.space_id,
        },
    )["Id"]
    ids["machine"] = e.create(
        "machines", {"Name": "web-01", "Roles": ["web"], "EnvironmentIds": [ids["env"]]}
    )["Id"]
    ids["worker"] = e.create("workers", {"Name": "worker-01", "WorkerPoolIds": [ids["pool"]]})["Id"]

    process = e.get(f"deploymentprocesses/{ids['process']}")
    process["Steps"] = [
        {
            "Name": "Deploy",
            "Properties": {"Octopus.Action.TargetRoles": "web"},
            "Actions": [
                {
                    "Name": "Deploy",
                    "ActionType": "Octopus.TentaclePackage",
                    "Environments": [ids["env"]],
                    "Channels": [ids["channel"]],
                    "TenantTags": ["Hosting/Cloud"],
                    "Packages": [{"Name": "", "PackageId": "OctoFX", "FeedId": ids["feed"]}],
                    "Properties": {"Octopus.Action.Template.Id": ids["template"]},
                }
            ],
        }
    ]
    assert e.put(f"deploymentprocesses/{ids['process']}", process).status_code == 200
    runbook_process = e.get(f"runbookProcesses/{ids['runbookprocess']}")
    runbook_process["Steps"] = [
        {"Name": "Restart", "Actions": [{"Name": "Restart", "ActionType": "Octopus.Script"}]}
    ]
    put = e.put(f"runbookProcesses/{ids['runbookprocess']}", runbook_process)
    assert put.status_code == 200, put.text
    variables = e.get(f"variables/{ids['variableset']}")
    variables["Variables"] = [
        {"Name": "Greeting", "Value": "hello", "Scope": {"Environment": [ids["env"]]}},
        {"Name": "Db.Password", "Value": "p@ss", "Type": "Sensitive"},
    ]
    assert e.put(f"variables/{ids['variableset']}", variables).status_code == 200
    return ids


# ----------------------------------------------------------------- 1. per-instance ids


def test_two_instances_hand_out_different_ids_for_the_same_creates() -> None:
    with running_emulator(id_offset=1000) as a, running_emulator(id_offset=5000) as b:
        ids_a, ids_b = populate(a), populate(b)
        assert ids_a.keys() == ids_b.keys()
        # Same sequence of creates, and yet no id is shared.
        assert set(ids_a.values()).isdisjoint(ids_b.values())
        assert a.space_id != b.space_id
        assert ids_a["env"] == "Environments-1001"
        assert ids_b["env"] == "Environments-5001"
        paths = {
            "env": "environments",
            "env2": "environments",
            "project": "projects",
            "lifecycle2": "lifecycles",
            "tenant": "tenants",
            "channel": "channels",
            "runbook": "runbooks",
            "process": "deploymentprocesses",
            "variableset": "variables",
            "feed": "feeds",
            "account": "accounts",
            "team": "teams",
            "lvs": "libraryvariablesets",
        }
        for role, collection in paths.items():
            assert a.session.get(a.space_url(f"{collection}/{ids_a[role]}")).status_code == 200
            for one, other_ids in ((a, ids_b), (b, ids_a)):
                response = one.session.get(one.space_url(f"{collection}/{other_ids[role]}"))
                assert response.status_code == 404, (role, response.text)
        # Nor is the other instance's space found.
        assert a.session.get(f"{a.url}/api/{b.space_id}/environments").status_code == 404


def test_generated_step_action_and_variable_ids_are_guids(emulator: Emulator) -> None:
    ids = populate(emulator)
    process = emulator.get(f"deploymentprocesses/{ids['process']}")
    step, action = process["Steps"][0], process["Steps"][0]["Actions"][0]
    variables = emulator.get(f"variables/{ids['variableset']}")["Variables"]
    for generated in (step["Id"], action["Id"], *(v["Id"] for v in variables)):
        assert len(generated) == 36 and generated.count("-") == 4, generated


# ----------------------------------------------------------------- 2. referential integrity


def test_project_with_unknown_lifecycle_is_rejected(emulator: Emulator) -> None:
    body = {
        "Name": "OctoFX",
        "LifecycleId": "Lifecycles-999999",
        "ProjectGroupId": defaults(emulator)["group"],
    }
    assert_400(emulator.post("projects", body), "Lifecycles-999999")
    assert emulator.get("projects/all") == []


@pytest.mark.parametrize(
    ("field", "value", "target"),
    [
        ("Environments", ["Environments-999999"], "environments"),
        ("ExcludedEnvironments", ["Environments-999999"], "environments"),
        ("Channels", ["Channels-999999"], "channels"),
        ("Packages", [{"Name": "", "PackageId": "X", "FeedId": "Feeds-999999"}], "feeds"),
        ("WorkerPoolId", "WorkerPools-999999", "workerpools"),
    ],
)
def test_process_action_with_unknown_reference_is_rejected(
    emulator: Emulator, field: str, value: Any, target: str
) -> None:
    project = new_project(emulator, "OctoFX")
    path = f"projects/{project['Id']}/deploymentprocesses"
    process = emulator.get(path)
    action = {"Name": "Deploy", "ActionType": "Octopus.Script", field: value}
    process["Steps"] = [{"Name": "Deploy", "Actions": [action]}]
    assert_400(emulator.put(path, process), "999999", target)
    after = emulator.get(path)
    assert after["Steps"] == [] and after["Version"] == 0


def test_process_action_with_unknown_template_or_team_is_rejected(emulator: Emulator) -> None:
    project = new_project(emulator, "OctoFX")
    path = f"projects/{project['Id']}/deploymentprocesses"
    team = emulator.by_name("teams", "Space Managers")["Id"]
    for properties, missing in (
        ({"Octopus.Action.Template.Id": "ActionTemplates-999999"}, "ActionTemplates-999999"),
        ({"Octopus.Action.Manual.ResponsibleTeamIds": f"{team},Teams-999999"}, "Teams-999999"),
    ):
        process = emulator.get(path)
        action = {"Name": "A", "ActionType": "Octopus.Manual", "Properties": properties}
        process["Steps"] = [{"Name": "A", "Actions": [action]}]
        assert_400(emulator.put(path, process), missing)
    good = emulator.get(path)
    good["Steps"] = [
        {
            "Name": "A",
            "Actions": [
                {
                    "Name": "A",
                    "ActionType": "Octopus.Manual",
                    "Properties": {"Octopus.Action.Manual.ResponsibleTeamIds": team},
                }
            ],
        }
    ]
    assert emulator.put(path, good).status_code == 200


@pytest.mark.parametrize(
    ("scope", "value"),
    [
        ("Environment", "Environments-999999"),
        ("Channel", "Channels-999999"),
        ("Machine", "Machines-999999"),
        ("Action", "00000000-0000-0000-0000-000000000000"),
        ("TenantTag", "Nope/Missing"),
    ],
)
def test_variable_scoped_to_unknown_id_is_rejected(
    emulator: Emulator, scope: str, value: str
) -> None:
    project = new_project(emulator, "OctoFX")
    path = f"variables/{project['VariableSetId']}"
    variables = emulator.get(path)
    variables["Variables"] = [{"Name": "X", "Value": "1", "Scope": {scope: [value]}}]
    assert_400(emulator.put(path, variables), value)
    assert emulator.get(path)["Variables"] == []


def test_account_variable_must_name_an_existing_account(emulator: Emulator) -> None:
    ids = populate(emulator)
    path = f"variables/{ids['variableset']}"
    variables = emulator.get(path)
    variables["Variables"].append(
        {"Name": "Acct", "Value": "Accounts-999999", "Type": "AmazonWebServicesAccount"}
    )
    assert_400(emulator.put(path, variables), "Accounts-999999")
    variables["Variables"][-1].update({"Value": ids["account"], "Type": "AzureAccount"})
    assert emulator.put(path, variables).status_code == 200


def test_tenant_with_unknown_project_or_environment_is_rejected(emulator: Emulator) -> None:
    env = emulator.create("environments", {"Name": "Production"})["Id"]
    project = new_project(emulator, "OctoFX")["Id"]
    unknown_project = {"Name": "Acme", "ProjectEnvironments": {"Projects-999999": [env]}}
    assert_400(emulator.post("tenants", unknown_project), "Projects-999999")
    unknown_env = {"Name": "Acme", "ProjectEnvironments": {project: ["Environments-999999"]}}
    assert_400(emulator.post("tenants", unknown_env), "Environments-999999")
    assert_400(emulator.post("tenants", {"Name": "Acme", "TenantTags": ["No/Such"]}), "No/Such")
    assert emulator.get("tenants/all") == []
    ok = {"Name": "Acme", "ProjectEnvironments": {project: [env]}}
    assert emulator.create("tenants", ok)["ProjectEnvironments"] == {project: [env]}


def test_lifecycle_phase_with_unknown_environment_is_rejected(emulator: Emulator) -> None:
    body = {"Name": "QA", "Phases": [{"Name": "Dev", "OptionalDeploymentTargets": ["Env-1"]}]}
    assert_400(emulator.post("lifecycles", body), "Env-1")


def test_an_id_of_another_instance_is_rejected() -> None:
    with running_emulator(id_offset=1000) as a, running_emulator(id_offset=5000) as b:
        env_a = a.create("environments", {"Name": "Production"})["Id"]
        env_b = b.create("environments", {"Name": "Production"})["Id"]
        lifecycle_b = b.create("lifecycles", {"Name": "QA"})["Id"]
        # Same name on both instances, but B's id means nothing on A.
        body = {"Name": "Apps", "EnvironmentIds": [env_b]}
        assert_400(a.post("projectgroups", body), env_b)
        phase = {"Name": "Prod", "AutomaticDeploymentTargets": [env_b]}
        assert_400(a.post("lifecycles", {"Name": "QA", "Phases": [phase]}), env_b)
        project = {
            "Name": "OctoFX",
            "LifecycleId": lifecycle_b,
            "ProjectGroupId": defaults(a)["group"],
        }
        assert_400(a.post("projects", project), lifecycle_b)
        created = a.create("projectgroups", {"Name": "Apps", "EnvironmentIds": [env_a]})
        assert created["EnvironmentIds"] == [env_a]


# ----------------------------------------------------------------- 3. unknown properties


def test_unknown_top_level_property_is_rejected(emulator: Emulator) -> None:
    body = assert_400(emulator.post("environments", {"Name": "Dev", "Colour": "red"}), "Colour")
    assert any("Colour" in error for error in body["Errors"])
    assert emulator.get("environments/all") == []
    env = emulator.create("environments", {"Name": "Dev"})
    assert_400(emulator.put(f"environments/{env['Id']}", {**env, "Owner": "me"}), "Owner")
    assert emulator.get(f"environments/{env['Id']}")["Name"] == "Dev"


@pytest.mark.parametrize("where", ["step", "action", "package"])
def test_unknown_property_nested_in_a_process_is_rejected(emulator: Emulator, where: str) -> None:
    ids = populate(emulator)
    path = f"deploymentprocesses/{ids['process']}"
    process = emulator.get(path)
    step = process["Steps"][0]
    action = step["Actions"][0]
    target = {"step": step, "action": action, "package": action["Packages"][0]}[where]
    target["Frobnicate"] = True
    assert_400(emulator.put(path, process), "Frobnicate")
    assert emulator.get(path)["Version"] == process["Version"]


def test_unknown_property_in_a_variable_or_phase_is_rejected(emulator: Emulator) -> None:
    ids = populate(emulator)
    path = f"variables/{ids['variableset']}"
    variables = emulator.get(path)
    variables["Variables"][0]["Colour"] = "red"
    assert_400(emulator.put(path, variables), "Colour")
    lifecycle = emulator.get(f"lifecycles/{ids['lifecycle2']}")
    lifecycle["Phases"][0]["Colour"] = "red"
    assert_400(emulator.put(f"lifecycles/{ids['lifecycle2']}", lifecycle), "Colour")
    runbook_process = emulator.get(f"runbookProcesses/{ids['runbookprocess']}")
    runbook_process["Steps"][0]["Actions"][0]["Colour"] = "red"
    assert_400(emulator.put(f"runbookProcesses/{ids['runbookprocess']}", runbook_process), "Colour")


def _change(collection: str, doc: dict[str, Any]) -> tuple[str, Any]:
    """A field to change in a whole-document round trip, and its new value."""
    if collection in ("deploymentprocesses", "runbookprocesses"):
        steps = copy.deepcopy(doc["Steps"])
        steps[0]["Name"] = "Renamed step"
        return "Steps", steps
    if collection == "variables":
        variables = copy.deepcopy(doc["Variables"])
        variables[0]["Value"] = "changed"
        return "Variables", variables
    if collection == "scopeduserroles":
        return "EnvironmentIds", []
    if "Description" in doc:
        return "Description", "changed by a round trip"
    return "Name", f"{doc['Name']} renamed"


ROUND_TRIP = [
    ("environments", "env"),
    ("projectgroups", "group2"),
    ("tagsets", "tagset"),
    ("feeds", "feed"),
    ("machinepolicies", "policy"),
    ("workerpools", "pool"),
    ("accounts", "account"),
    ("actiontemplates", "template"),
    ("libraryvariablesets", "lvs"),
    ("lifecycles", "lifecycle2"),
    ("certificates", "certificate"),
    ("projects", "project"),
    ("channels", "channel"),
    ("deploymentprocesses", "process"),
    ("runbooks", "runbook"),
    ("runbookprocesses", "runbookprocess"),
    ("variables", "variableset"),
    ("projecttriggers", "trigger"),
    ("tenants", "tenant"),
    ("teams", "team"),
    ("scopeduserroles", "scopeduserrole"),
    ("machines", "machine"),
    ("workers", "worker"),
]


def test_get_modify_put_of_whole_documents_is_accepted_for_every_kind(
    emulator: Emulator,
) -> None:
    ids = populate(emulator)
    checked = []
    for collection, role in ROUND_TRIP:
        path = f"{collection}/{ids[role]}"
        before = emulator.get(path)
        assert {"Id", "SpaceId", "Links", "LastModifiedOn"} <= set(before), collection
        field, value = _change(collection, before)
        response = emulator.put(path, {**before, field: value})
        assert response.status_code == 200, (collection, response.text)
        after = emulator.get(path)
        assert after[field] == value, collection
        expected = {**before, field: value}
        if collection in ("deploymentprocesses", "runbookprocesses", "variables"):
            expected["Version"] = before["Version"] + 1
        if collection == "variables":
            # The sensitive value comes back hidden, as before.
            assert [v["Value"] for v in after["Variables"]] == ["changed", None]
        for stamp in SERVER_STAMPS:
            expected.pop(stamp), after.pop(stamp)
        assert after == expected, collection
        checked.append(collection)
    # The non-space routes: the default space and a user role.
    for path in (f"spaces/{emulator.space_id}", f"userroles/{ids['userrole']}"):
        doc = api(emulator, "GET", path).json()
        response = api(emulator, "PUT", path, {**doc, "Description": "changed"})
        assert response.status_code == 200, (path, response.text)
        assert api(emulator, "GET", path).json()["Description"] == "changed"
    assert len(checked) == len(ROUND_TRIP)


def test_server_owned_fields_sent_back_are_ignored(emulator: Emulator) -> None:
    project = new_project(emulator, "OctoFX")
    body = {**project, "DeploymentProcessId": "deploymentprocess-Projects-1", "Description": "d"}
    response = emulator.put(f"projects/{project['Id']}", body)
    assert response.status_code == 200, response.text
    assert response.json()["DeploymentProcessId"] == f"deploymentprocess-{project['Id']}"


# ----------------------------------------------------------------- 4. duplicate names


def test_duplicate_names_are_rejected_case_insensitively(emulator: Emulator) -> None:
    emulator.create("environments", {"Name": "Production"})
    assert_400(emulator.post("environments", {"Name": "production"}), "production")
    assert_400(emulator.post("environments", {"Name": "PRODUCTION"}))
    assert [e["Name"] for e in emulator.get("environments/all")] == ["Production"]
    staging = emulator.create("environments", {"Name": "Staging"})
    # Renaming onto another name is a clash too; keeping one's own name is not.
    assert_400(emulator.put(f"environments/{staging['Id']}", {**staging, "Name": "PRODUCTION"}))
    renamed = emulator.put(f"environments/{staging['Id']}", {**staging, "Name": "STAGING"})
    assert renamed.status_code == 200 and renamed.json()["Name"] == "STAGING"
    new_project(emulator, "OctoFX")
    assert_400(
        emulator.post(
            "projects",
            {
                "Name": "octofx",
                "LifecycleId": defaults(emulator)["lifecycle"],
                "ProjectGroupId": defaults(emulator)["group"],
            },
        )
    )
    emulator.create("tenants", {"Name": "Acme"})
    assert_400(emulator.post("tenants", {"Name": "ACME"}))


def test_built_in_names_are_taken_on_a_fresh_instance(emulator: Emulator) -> None:
    assert_400(emulator.post("lifecycles", {"Name": "default lifecycle"}))
    assert_400(emulator.post("projectgroups", {"Name": "Default Project Group"}))


@pytest.mark.parametrize("collection", ["channels", "runbooks"])
def test_channel_and_runbook_names_are_unique_per_project_only(
    emulator: Emulator, collection: str
) -> None:
    first, second = new_project(emulator, "OctoFX"), new_project(emulator, "Payments")
    a = emulator.create(collection, {"Name": "Hotfix", "ProjectId": first["Id"]})
    b = emulator.create(collection, {"Name": "Hotfix", "ProjectId": second["Id"]})
    assert a["Id"] != b["Id"]
    assert_400(emulator.post(collection, {"Name": "hotfix", "ProjectId": first["Id"]}))
    assert_400(emulator.post(f"projects/{second['Id']}/{collection}", {"Name": "HOTFIX"}))
    listed = emulator.get(f"projects/{first['Id']}/{collection}")["Items"]
    assert [item["Name"] for item in listed if item["Name"].lower() == "hotfix"] == ["Hotfix"]


# ----------------------------------------------------------------- 5. sensitive values


def _stored_variables(e: Emulator, variable_set_id: str) -> dict[str, Any]:
    return {v["Name"]: v for v in e.instance.docs["variables"][variable_set_id]["Variables"]}


def test_sensitive_variable_is_hidden_and_kept_when_sent_back_null(emulator: Emulator) -> None:
    project = new_project(emulator, "OctoFX")
    path = f"variables/{project['VariableSetId']}"
    doc = emulator.get(path)
    doc["Variables"] = [
        {"Name": "Db.Password", "Value": "s3cret", "Type": "Sensitive"},
        {"Name": "Api.Key", "Value": "k3y", "IsSensitive": True},
        {"Name": "Plain", "Value": "visible"},
    ]
    response = emulator.put(path, doc)
    assert response.status_code == 200
    assert {v["Name"]: v["Value"] for v in response.json()["Variables"]} == {
        "Db.Password": None,
        "Api.Key": None,
        "Plain": "visible",
    }
    read = emulator.get(path)
    by_name = {v["Name"]: v for v in read["Variables"]}
    assert by_name["Db.Password"]["Value"] is None and by_name["Db.Password"]["IsSensitive"]
    assert by_name["Api.Key"]["Value"] is None and by_name["Api.Key"]["IsSensitive"]
    assert "s3cret" not in emulator.session.get(emulator.space_url(path)).text

    # The round trip sends Value null back: the stored value stays.
    by_name["Plain"]["Value"] = "edited"
    assert emulator.put(path, read).status_code == 200
    stored = _stored_variables(emulator, project["VariableSetId"])
    assert stored["Db.Password"]["Value"] == "s3cret"
    assert stored["Api.Key"]["Value"] == "k3y"
    assert stored["Plain"]["Value"] == "edited"

    # A new value replaces it.
    again = emulator.get(path)
    next(v for v in again["Variables"] if v["Name"] == "Db.Password")["Value"] = "n3w"
    assert emulator.put(path, again).status_code == 200
    assert _stored_variables(emulator, project["VariableSetId"])["Db.Password"]["Value"] == "n3w"


@pytest.mark.parametrize(
    ("collection", "body"),
    [
        ("accounts", {"Name": "Acct", "AccountType": "UsernamePassword", "Username": "u"}),
        ("feeds", {"Name": "Feed", "FeedType": "NuGet", "FeedUri": "https://example.com/nuget"}),
    ],
)
def test_password_is_hidden_kept_on_round_trip_and_replaced_by_new_value(
    emulator: Emulator, collection: str, body: dict[str, Any]
) -> None:
    created = emulator.create(
        collection, {**body, "Password": {"HasValue": True, "NewValue": "first"}}
    )
    assert created["Password"] == HIDDEN
    path = f"{collection}/{created['Id']}"
    read = emulator.get(path)
    assert read["Password"] == HIDDEN
    assert "first" not in emulator.session.get(emulator.space_url(path)).text
    listed = {d["Id"]: d for d in emulator.get(f"{collection}/all")}
    assert listed[created["Id"]]["Password"] == HIDDEN

    read["Name"] = f"{body['Name']} renamed"
    response = emulator.put(path, read)
    assert response.status_code == 200 and response.json()["Password"] == HIDDEN
    stored = emulator.instance.docs[collection][created["Id"]]
    assert stored["Password"] == {"HasValue": True, "NewValue": "first", "Hint": None}
    assert stored["Name"] == f"{body['Name']} renamed"

    replace = {**emulator.get(path), "Password": {"HasValue": True, "NewValue": "second"}}
    assert emulator.put(path, replace).json()["Password"] == HIDDEN
    assert emulator.instance.docs[collection][created["Id"]]["Password"]["NewValue"] == "second"


def test_a_new_account_without_a_secret_has_none(emulator: Emulator) -> None:
    body = {"Name": "Acct", "AccountType": "UsernamePassword", "Username": "u"}
    assert emulator.create("accounts", body)["Password"] == {
        "HasValue": False,
        "NewValue": None,
        "Hint": None,
    }


def test_sensitive_tenant_variable_is_hidden_and_kept(emulator: Emulator) -> None:
    env = emulator.create("environments", {"Name": "Production"})["Id"]
    project = new_project(
        emulator,
        "OctoFX",
        Templates=[
            {"Name": "Db Password", "Label": "Password", "DisplaySettings": SENSITIVE},
            {"Name": "Db Name", "Label": "Name"},
        ],
    )
    secret_id, plain_id = (t["Id"] for t in project["Templates"])
    tenant = emulator.create(
        "tenants", {"Name": "Acme", "ProjectEnvironments": {project["Id"]: [env]}}
    )
    path = f"tenants/{tenant['Id']}/variables"
    doc = emulator.get(path)
    doc["ProjectVariables"][project["Id"]]["Variables"][env] = {
        secret_id: {"HasValue": True, "NewValue": "tenant-secret"},
        plain_id: "acme_db",
    }
    response = emulator.put(path, doc)
    assert response.status_code == 200, response.text
    values = response.json()["ProjectVariables"][project["Id"]]["Variables"][env]
    assert values == {secret_id: HIDDEN, plain_id: "acme_db"}
    assert "tenant-secret" not in emulator.session.get(emulator.space_url(path)).text

    def stored() -> Any:
        values = emulator.instance.tenant_values[tenant["Id"]]
        return {
            v["TemplateId"]: v["Value"]
            for v in values
            if v.get("ProjectId") == project["Id"] and env in v["Scope"]["EnvironmentIds"]
        }

    # The whole document back, secret hidden: the stored secret stays.
    read = emulator.get(path)
    read["ProjectVariables"][project["Id"]]["Variables"][env][plain_id] = "acme_db2"
    assert emulator.put(path, read).status_code == 200
    assert stored()[secret_id] == {"HasValue": True, "NewValue": "tenant-secret", "Hint": None}
    assert stored()[plain_id] == "acme_db2"

    # A new value replaces it (read again: the document's ConcurrencyToken changed).
    read = emulator.get(path)
    read["ProjectVariables"][project["Id"]]["Variables"][env][secret_id] = {
        "HasValue": True,
        "NewValue": "rotated",
    }
    assert emulator.put(path, read).status_code == 200
    assert stored()[secret_id]["NewValue"] == "rotated"


# ----------------------------------------------------------------- 6. stale versions


@pytest.mark.parametrize("kind", ["deploymentprocesses", "runbookprocesses", "variables"])
def test_stale_version_is_rejected_and_current_version_increments(
    emulator: Emulator, kind: str
) -> None:
    ids = populate(emulator)
    path = {
        "deploymentprocesses": f"projects/{ids['project']}/deploymentprocesses",
        "runbookprocesses": f"projects/{ids['project']}/runbookProcesses/{ids['runbookprocess']}",
        "variables": f"variables/{ids['variableset']}",
    }[kind]
    first = emulator.get(path)
    version = first["Version"]
    assert version >= 1  # populate wrote it once
    field, value = _change(kind, first)

    ok = emulator.put(path, {**first, field: value})
    assert ok.status_code == 200, ok.text
    assert ok.json()["Version"] == version + 1
    current = emulator.get(path)
    assert current["Version"] == version + 1

    # A second writer still holding the first read.
    _, other = _change(kind, {**first, field: value})
    if kind == "variables":
        other[0]["Value"] = "other writer"
    else:
        other[0]["Name"] = "Other writer"
    stale = emulator.put(path, {**first, field: other})
    body = assert_400(stale)
    assert "version" in " ".join(body["Errors"]).lower() or "changes" in body["ErrorMessage"]
    unchanged = emulator.get(path)
    assert unchanged == current

    again = emulator.put(path, {**current, field: other})
    assert again.status_code == 200, again.text
    assert emulator.get(path)["Version"] == version + 2


# ----------------------------------------------------------------- 7. auth and root


def test_requests_without_or_with_a_wrong_api_key_are_401(emulator: Emulator) -> None:
    url = emulator.space_url("environments")
    for headers in ({}, {"X-Octopus-ApiKey": "API-WRONG"}, {"X-Octopus-ApiKey": ""}):
        response = requests.get(url, headers=headers, timeout=5)
        assert response.status_code == 401, headers
        assert response.json()["ErrorMessage"]
    post = requests.post(url, json={"Name": "Dev"}, headers={"X-Octopus-ApiKey": "nope"}, timeout=5)
    assert post.status_code == 401
    assert emulator.get("environments/all") == []
    ok = requests.get(url, headers={"X-Octopus-ApiKey": API_KEY}, timeout=5)
    assert ok.status_code == 200
    assert requests.get(f"{emulator.url}/api/spaces", timeout=5).status_code == 401


def test_root_works_without_a_key_and_names_the_server_version() -> None:
    with running_emulator(server_version="2025.1.4321") as e:
        response = requests.get(f"{e.url}/api", timeout=5)
        assert response.status_code == 200
        root = response.json()
        assert root["Application"] == "Octopus Deploy"
        assert root["Version"] == "2025.1.4321"
        assert root["ApiVersion"]
        assert root["Links"]["Self"] == "/api"


def test_spaces_list_the_default_space(emulator: Emulator) -> None:
    spaces = api(emulator, "GET", "spaces?partialName=Default&skip=0&take=2147483647").json()
    assert [(s["Name"], s["IsDefault"]) for s in spaces["Items"]] == [("Default", True)]
    assert spaces["Items"][0]["Id"] == emulator.space_id
    assert [s["Name"] for s in api(emulator, "GET", "spaces/all").json()] == ["Default"]


def test_a_fresh_instance_holds_the_built_in_documents(emulator: Emulator) -> None:
    assert emulator.get("environments/all") == []
    assert emulator.get("projects/all") == []
    assert emulator.get("tenants/all") == []
    feeds = emulator.get("feeds/all")
    # The package feed and the releases feed "Deploy a release" steps use.
    assert [(f["Id"], f["FeedType"]) for f in feeds] == [
        ("feeds-builtin", "BuiltIn"),
        ("feeds-builtin-releases", "OctopusProject"),
    ]
    assert emulator.by_name("machinepolicies", "Default Machine Policy")["IsDefault"] is True
    assert emulator.by_name("workerpools", "Default Worker Pool")["IsDefault"] is True
    roles = {r["Name"] for r in api(emulator, "GET", "userroles/all").json()}
    assert {"System administrator", "Project deployer"} <= roles


# ----------------------------------------------------------------- 11. sub-documents


def test_a_new_project_gets_its_process_variable_set_and_default_channel(
    emulator: Emulator,
) -> None:
    project = new_project(emulator, "OctoFX")
    pid = project["Id"]
    assert project["DeploymentProcessId"] == f"deploymentprocess-{pid}"
    assert project["VariableSetId"] == f"variableset-{pid}"
    process = emulator.get(f"projects/{pid}/deploymentprocesses")
    assert process["Id"] == f"deploymentprocess-{pid}"
    assert (process["ProjectId"], process["Steps"], process["Version"]) == (pid, [], 0)
    assert emulator.get(f"deploymentprocesses/{process['Id']}") == process
    variables = emulator.get(f"variables/variableset-{pid}")
    assert (variables["OwnerId"], variables["Variables"]) == (pid, [])
    assert {"Environments", "Channels", "Processes"} <= set(variables["ScopeValues"])
    channels = emulator.get(f"projects/{pid}/channels")
    assert channels["TotalResults"] == 1
    assert [(c["Name"], c["IsDefault"]) for c in channels["Items"]] == [("Default", True)]
    assert emulator.session.get(emulator.url + project["Links"]["DeploymentProcess"]).ok
    # Server-created documents cannot be created by a client.
    response = emulator.post("deploymentprocesses", {"ProjectId": pid})
    assert response.status_code == 405


def test_a_new_default_channel_takes_over_from_the_old_one(emulator: Emulator) -> None:
    pid = new_project(emulator, "OctoFX")["Id"]
    emulator.create(f"projects/{pid}/channels", {"Name": "Main", "IsDefault": True})
    channels = emulator.get(f"projects/{pid}/channels")["Items"]
    assert {c["Name"]: c["IsDefault"] for c in channels} == {"Default": False, "Main": True}


def test_project_channel_listing_holds_only_that_projects_channels(emulator: Emulator) -> None:
    first, second = new_project(emulator, "OctoFX"), new_project(emulator, "Payments")
    emulator.create("channels", {"Name": "Hotfix", "ProjectId": second["Id"]})
    listed = emulator.get(f"projects/{first['Id']}/channels")
    assert [c["ProjectId"] for c in listed["Items"]] == [first["Id"]]
    everything = emulator.session.get(emulator.url + listed["Links"]["Page.All"])
    assert everything.status_code == 200, everything.text
    assert [c["ProjectId"] for c in everything.json()] == [first["Id"]]


def test_a_runbook_gets_its_process_on_both_routes(emulator: Emulator) -> None:
    pid = new_project(emulator, "OctoFX")["Id"]
    runbook = emulator.create(f"projects/{pid}/runbooks", {"Name": "Restart"})
    assert runbook["ProjectId"] == pid
    process_id = runbook["RunbookProcessId"]
    nested = emulator.get(f"projects/{pid}/runbookProcesses/{process_id}")
    root = emulator.get(f"runbookProcesses/{process_id}")
    assert nested == root
    assert (root["RunbookId"], root["ProjectId"], root["Steps"]) == (runbook["Id"], pid, [])
    assert emulator.session.get(emulator.url + runbook["Links"]["RunbookProcesses"]).ok
    assert [r["Id"] for r in emulator.get(f"projects/{pid}/runbooks")["Items"]] == [runbook["Id"]]
    assert emulator.get(f"projects/{pid}/runbooks/{runbook['Id']}")["Name"] == "Restart"
    # The nested route only knows the project's own runbook processes.
    other = new_project(emulator, "Payments")["Id"]
    wrong = emulator.session.get(
        emulator.space_url(f"projects/{other}/runbookProcesses/{process_id}")
    )
    assert wrong.status_code == 404


def test_a_library_variable_set_gets_a_variable_set(emulator: Emulator) -> None:
    lvs = emulator.create("libraryvariablesets", {"Name": "Shared"})
    assert lvs["VariableSetId"] == f"variableset-{lvs['Id']}"
    variables = emulator.get(f"variables/{lvs['VariableSetId']}")
    assert (variables["OwnerId"], variables["Variables"], variables["Version"]) == (
        lvs["Id"],
        [],
        0,
    )
    variables["Variables"] = [{"Name": "Region", "Value": "eu-west-1"}]
    assert emulator.put(f"variables/{lvs['VariableSetId']}", variables).status_code == 200
    assert emulator.get(f"variables/{lvs['VariableSetId']}")["Variables"][0]["Value"] == (
        "eu-west-1"
    )


def test_deleting_a_project_deletes_its_sub_documents(emulator: Emulator) -> None:
    ids = populate(emulator)
    project = ids["project"]
    assert emulator.session.delete(emulator.space_url(f"projects/{project}")).status_code == 200
    for path in (
        f"projects/{project}",
        f"deploymentprocesses/{ids['process']}",
        f"variables/{ids['variableset']}",
        f"channels/{ids['channel']}",
        f"runbooks/{ids['runbook']}",
        f"runbookProcesses/{ids['runbookprocess']}",
    ):
        assert emulator.session.get(emulator.space_url(path)).status_code == 404, path
    # The tenant loses its connection, so the tenant it returns can be PUT back as it is.
    tenant = emulator.get(f"tenants/{ids['tenant']}")
    assert tenant["ProjectEnvironments"] == {}
    assert emulator.put(f"tenants/{ids['tenant']}", tenant).status_code == 200
    assert emulator.get(f"tenants/{ids['tenant']}/variables")["ProjectVariables"] == {}


def test_deleting_an_environment_drops_it_from_tenant_connections(emulator: Emulator) -> None:
    ids = populate(emulator)
    assert emulator.session.delete(emulator.space_url(f"environments/{ids['env2']}")).ok
    tenant = emulator.get(f"tenants/{ids['tenant']}")
    assert tenant["ProjectEnvironments"] == {ids["project"]: [ids["env"]]}
    assert emulator.put(f"tenants/{ids['tenant']}", tenant).status_code == 200


def test_tenant_variables_follow_project_environments_and_templates(emulator: Emulator) -> None:
    staging = emulator.create("environments", {"Name": "Staging"})["Id"]
    production = emulator.create("environments", {"Name": "Production"})["Id"]
    lvs = emulator.create(
        "libraryvariablesets", {"Name": "Shared", "Templates": [{"Name": "Region"}]}
    )
    project = new_project(
        emulator,
        "OctoFX",
        Templates=[{"Name": "Db Name", "Label": "Name"}],
        IncludedLibraryVariableSetIds=[lvs["Id"]],
    )
    other = new_project(emulator, "Payments", Templates=[{"Name": "Other"}])
    template_id = project["Templates"][0]["Id"]
    region_id = emulator.get(f"libraryvariablesets/{lvs['Id']}")["Templates"][0]["Id"]
    tenant = emulator.create(
        "tenants", {"Name": "Acme", "ProjectEnvironments": {project["Id"]: [staging]}}
    )
    path = f"tenants/{tenant['Id']}/variables"
    doc = emulator.get(path)
    assert doc["TenantId"] == tenant["Id"]
    assert list(doc["ProjectVariables"]) == [project["Id"]]
    entry = doc["ProjectVariables"][project["Id"]]
    assert [t["Id"] for t in entry["Templates"]] == [template_id]
    assert entry["Variables"] == {staging: {}}
    assert list(doc["LibraryVariables"]) == [lvs["Id"]]

    # Values for an environment or project the tenant is not linked to are rejected.
    entry["Variables"][production] = {template_id: "prod_db"}
    assert_400(emulator.put(path, doc), production)
    del entry["Variables"][production]
    doc["ProjectVariables"][other["Id"]] = {"Variables": {staging: {}}}
    assert_400(emulator.put(path, doc), other["Id"])
    del doc["ProjectVariables"][other["Id"]]
    entry["Variables"][staging] = {"Templates-none": "x"}
    assert_400(emulator.put(path, doc), "Templates-none")
    assert_400(emulator.put(path, {**doc, "Extra": 1}), "Extra")

    entry["Variables"][staging] = {template_id: "staging_db"}
    doc["LibraryVariables"][lvs["Id"]]["Variables"] = {region_id: "eu"}
    response = emulator.put(path, doc)
    assert response.status_code == 200, response.text
    assert response.json()["ProjectVariables"][project["Id"]]["Variables"] == {
        staging: {template_id: "staging_db"}
    }
    assert emulator.get(path)["LibraryVariables"][lvs["Id"]]["Variables"] == {region_id: "eu"}

    # Linking another environment makes it appear; values already set stay.
    linked = {**tenant, "ProjectEnvironments": {project["Id"]: [staging, production]}}
    assert emulator.put(f"tenants/{tenant['Id']}", linked).status_code == 200
    variables = emulator.get(path)["ProjectVariables"][project["Id"]]["Variables"]
    assert variables == {staging: {template_id: "staging_db"}, production: {}}
