"""Normalizing what the API returned (pure): ids to names, secrets masked, stable order."""

from __future__ import annotations

from typing import Any

from snapshotsync.model import SENSITIVE, Raw, ResourceKey
from snapshotsync.normalize import normalize

SPACE = "Spaces-9"


def _raw(**collections: list[dict[str, Any]]) -> Raw:
    documents = collections.pop("documents", [])
    raw = Raw(version="2024.2.1", collections=dict(collections))
    for document in documents:
        raw.documents[document.pop("_path")] = document
    return raw


def _project(**extra: Any) -> dict[str, Any]:
    return {
        "Id": "Projects-1",
        "Name": "Web",
        "ProjectGroupId": "ProjectGroups-1",
        "LifecycleId": "Lifecycles-1",
        "DeploymentProcessId": "deploymentprocess-Projects-1",
        "VariableSetId": "variableset-Projects-1",
        "IncludedLibraryVariableSetIds": [],
        "Links": {"Self": "/api"},
        "SpaceId": SPACE,
        "Slug": "web",
        **extra,
    }


def _process(steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "_path": f"api/{SPACE}/projects/Projects-1/deploymentprocesses",
        "Id": "deploymentprocess-Projects-1",
        "ProjectId": "Projects-1",
        "Version": 7,
        "Steps": steps,
    }


def _variables(variables: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "_path": f"api/{SPACE}/variables/variableset-Projects-1",
        "Id": "variableset-Projects-1",
        "OwnerId": "Projects-1",
        "Version": 3,
        "Variables": variables,
        "ScopeValues": {},
    }


BASE = {
    "environments": [
        {"Id": "Environments-1", "Name": "Prod"},
        {"Id": "Environments-2", "Name": "Dev"},
    ],
    "projectgroups": [{"Id": "ProjectGroups-1", "Name": "All"}],
    "lifecycles": [{"Id": "Lifecycles-1", "Name": "Default", "Phases": []}],
    "accounts": [
        {
            "Id": "Accounts-4",
            "Name": "AWS",
            "AccountType": "AmazonWebServicesAccount",
            "SecretKey": {"HasValue": True, "NewValue": None},
            "EnvironmentIds": [],
            "TenantIds": [],
            "TenantTags": [],
        }
    ],
}


def test_ids_become_names_and_server_fields_go() -> None:
    raw = _raw(**BASE, projects=[_project()], documents=[_process([]), _variables([])])
    result = normalize(raw, SPACE)
    project = result.resources[ResourceKey("projects", ("Web",))]
    assert project["ProjectGroupId"] == "All" and project["LifecycleId"] == "Default"
    for server_field in ("Id", "Links", "SpaceId", "Slug", "DeploymentProcessId", "VariableSetId"):
        assert server_field not in project
    assert result.problems == []


def test_secrets_become_the_sensitive_marker() -> None:
    result = normalize(_raw(**BASE), SPACE)
    assert result.resources[ResourceKey("accounts", ("AWS",))]["SecretKey"] == dict(SENSITIVE)


def test_a_dangling_id_is_dropped_and_reported() -> None:
    step = {
        "Id": "s1",
        "Name": "Run",
        "Actions": [
            {
                "Id": "a1",
                "Name": "Run",
                "ActionType": "Octopus.Script",
                "Environments": ["Environments-1", "Environments-404"],
                "Properties": {},
            }
        ],
    }
    raw = _raw(**BASE, projects=[_project()], documents=[_process([step]), _variables([])])
    result = normalize(raw, SPACE)
    process = result.resources[ResourceKey("deployment-processes", ("Web",))]
    assert process["Steps"][0]["Actions"][0]["Environments"] == ["Prod"]
    assert [p.message for p in result.problems] == [
        "drops a reference to unknown id Environments-404 at Steps.Actions.Environments"
    ]


def test_ids_hidden_in_action_properties_become_typed_references() -> None:
    step = {
        "Id": "s1",
        "Name": "Deploy",
        "Actions": [
            {
                "Id": "a1",
                "Name": "Deploy",
                "ActionType": "Octopus.AwsRunScript",
                "Properties": {
                    "Octopus.Action.Aws.Account": "Accounts-4",
                    "Plain": "Accounts-xyz",
                    "Octopus.Action.Template.Version": "3",
                },
            }
        ],
    }
    raw = _raw(**BASE, projects=[_project()], documents=[_process([step]), _variables([])])
    process = normalize(raw, SPACE).resources[ResourceKey("deployment-processes", ("Web",))]
    properties = process["Steps"][0]["Actions"][0]["Properties"]
    assert properties == {
        "Octopus.Action.Aws.Account": {"Ref": {"kind": "accounts", "name": "AWS"}},
        "Plain": "Accounts-xyz",
    }


def test_variables_are_concise_sorted_and_named() -> None:
    step = {"Id": "s1", "Name": "Run", "Actions": [{"Id": "a1", "Name": "Run", "ActionType": "x"}]}
    variables = [
        {
            "Id": "v1",
            "Name": "B",
            "Value": "2",
            "Type": "String",
            "IsSensitive": False,
            "Scope": {"Environment": ["Environments-1", "Environments-2"], "Role": []},
            "IsEditable": True,
            "Prompt": None,
            "Description": None,
        },
        {
            "Id": "v2",
            "Name": "A",
            "Value": None,
            "Type": "Sensitive",
            "IsSensitive": True,
            "Scope": {"Action": ["a1"]},
        },
        {
            "Id": "v3",
            "Name": "Account",
            "Value": "Accounts-4",
            "Type": "AmazonWebServicesAccount",
            "Scope": {},
        },
    ]
    raw = _raw(**BASE, projects=[_project()], documents=[_process([step]), _variables(variables)])
    document = normalize(raw, SPACE).resources[ResourceKey("project-variables", ("Web",))]
    assert document == {
        "Variables": [
            {
                "Name": "A",
                "Value": dict(SENSITIVE),
                "Type": "Sensitive",
                "Scope": {"Action": ["Run"]},
            },
            {"Name": "Account", "Value": "AWS", "Type": "AmazonWebServicesAccount"},
            {"Name": "B", "Value": "2", "Scope": {"Environment": ["Dev", "Prod"]}},
        ]
    }


def test_config_as_code_projects_are_marked_not_half_exported() -> None:
    project = _project(PersistenceSettings={"Type": "VersionControlled"}, IsVersionControlled=True)
    result = normalize(_raw(**BASE, projects=[project]), SPACE)
    assert ResourceKey("projects", ("Web",)) in result.resources
    assert ResourceKey("deployment-processes", ("Web",)) not in result.resources
    assert any("config-as-code" in p.message for p in result.problems)


def test_built_in_things_that_exist_everywhere_are_left_out() -> None:
    raw = _raw(
        feeds=[{"Id": "feeds-builtin", "Name": "Octopus Server (built-in)", "FeedType": "BuiltIn"}],
        userroles=[{"Id": "userroles-x", "Name": "Project viewer", "CanBeDeleted": False}],
        teams=[{"Id": "teams-spacemanagers", "Name": "Space Managers", "CanBeDeleted": False}],
    )
    assert normalize(raw, SPACE).resources == {}


def test_tenant_variables_are_keyed_by_names() -> None:
    project = _project(
        Templates=[{"Id": "t-1", "Name": "Db.Server"}, {"Id": "t-2", "Name": "Db.Password"}]
    )
    tenant = {
        "Id": "Tenants-1",
        "Name": "Acme",
        "TenantTags": [],
        "ProjectEnvironments": {"Projects-1": ["Environments-1"]},
    }
    variables = {
        "_path": f"api/{SPACE}/tenants/Tenants-1/variables",
        "ProjectVariables": {
            "Projects-1": {
                "Variables": {
                    "Environments-1": {"t-1": "sql1", "t-2": {"HasValue": True, "NewValue": None}}
                }
            }
        },
        "LibraryVariables": {},
    }
    raw = _raw(
        **BASE,
        projects=[project],
        tenants=[tenant],
        documents=[_process([]), _variables([]), variables],
    )
    resources = normalize(raw, SPACE).resources
    assert resources[ResourceKey("tenants", ("Acme",))]["ProjectEnvironments"] == {"Web": ["Prod"]}
    assert resources[ResourceKey("tenant-variables", ("Acme",))] == {
        "ProjectVariables": {"Web": {"Prod": {"Db.Password": dict(SENSITIVE), "Db.Server": "sql1"}}}
    }
