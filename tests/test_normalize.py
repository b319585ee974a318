"""Normalizing what the API returned (pure): ids to names, secrets masked, stable order."""

from __future__ import annotations

import functools
import itertools
from typing import Any

from snapshotsync.model import SENSITIVE, Raw, ResourceKey
from snapshotsync.normalize import Normalizing, normalize

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
        "ProjectVariables": {
            "Web": {
                "Db.Password": [{"Environments": ["Prod"], "Value": dict(SENSITIVE)}],
                "Db.Server": [{"Environments": ["Prod"], "Value": "sql1"}],
            }
        }
    }


def _feeds_and_projects() -> dict[str, Any]:
    return {
        **BASE,
        "feeds": [
            {"Id": "Feeds-3", "Name": "NuGet.org", "FeedType": "NuGet"},
            {
                "Id": "feeds-builtin-releases",
                "Name": "Octopus Server Releases (built-in)",
                "FeedType": "OctopusProject",
            },
        ],
        "teams": [{"Id": "Teams-2", "Name": "Ops"}, {"Id": "Teams-3", "Name": "Dev"}],
        "projects": [
            _project(),
            _project(Id="Projects-2", Name="Database", VariableSetId="variableset-Projects-2"),
        ],
    }


def _one_action(action: dict[str, Any]) -> dict[str, Any]:
    raw = _raw(
        **_feeds_and_projects(),
        documents=[
            _process([{"Id": "s1", "Name": action["Name"], "Actions": [action]}]),
            _variables([]),
            {"_path": f"api/{SPACE}/projects/Projects-2/deploymentprocesses", "Steps": []},
            {"_path": f"api/{SPACE}/variables/variableset-Projects-2", "Variables": []},
        ],
    )
    result = normalize(raw, SPACE)
    assert result.problems == []
    process = result.resources[ResourceKey("deployment-processes", ("Web",))]
    return dict(process["Steps"][0]["Actions"][0])


def test_a_deploy_a_release_step_names_its_project_not_its_id() -> None:
    action = _one_action(
        {
            "Id": "a1",
            "Name": "Deploy the database",
            "ActionType": "Octopus.DeployRelease",
            "Packages": [
                {"Name": "", "PackageId": "Projects-2", "FeedId": "feeds-builtin-releases"}
            ],
            "Properties": {"Octopus.Action.DeployRelease.ProjectId": "Projects-2"},
        }
    )
    assert action["Packages"][0]["PackageId"] == "Database"
    assert action["Packages"][0]["FeedId"] == "Octopus Server Releases (built-in)"
    assert action["Properties"]["Octopus.Action.DeployRelease.ProjectId"] == "Database"


def test_a_package_id_on_an_ordinary_feed_is_a_package_name_and_stays() -> None:
    action = _one_action(
        {
            "Id": "a1",
            "Name": "Deploy",
            "ActionType": "Octopus.TentaclePackage",
            "Packages": [{"Name": "", "PackageId": "Projects-2", "FeedId": "Feeds-3"}],
            "Properties": {},
        }
    )
    assert action["Packages"][0] == {"Name": "", "PackageId": "Projects-2", "FeedId": "NuGet.org"}


def test_a_package_parameter_keeps_its_package_name_and_names_its_feed() -> None:
    action = _one_action(
        {
            "Id": "a1",
            "Name": "Template step",
            "ActionType": "Octopus.Script",
            "Properties": {
                "App.Package": '{"PackageId":"OctoFX.Web","FeedId":"Feeds-3"}',
                "Not.Json": "{not json",
                "No.Ids": '{"PackageId":"Feeds-3x"}',
            },
        }
    )
    assert action["Properties"]["App.Package"] == {
        "Json": {
            "PackageId": "OctoFX.Web",
            "FeedId": {"Ref": {"kind": "feeds", "name": "NuGet.org"}},
        }
    }
    assert action["Properties"]["Not.Json"] == "{not json"
    assert action["Properties"]["No.Ids"] == '{"PackageId":"Feeds-3x"}'


def test_team_lists_in_email_steps_are_named_and_expressions_are_kept() -> None:
    action = _one_action(
        {
            "Id": "a1",
            "Name": "Mail",
            "ActionType": "Octopus.Email",
            "Properties": {
                "Octopus.Action.Email.ToTeamIds": "Teams-3,Teams-2",
                "Octopus.Action.DeployRelease.ProjectId": "#{Release.Project}",
            },
        }
    )
    assert action["Properties"]["Octopus.Action.Email.ToTeamIds"] == "Dev,Ops"
    assert action["Properties"]["Octopus.Action.DeployRelease.ProjectId"] == "#{Release.Project}"


def test_trigger_actions_name_their_runbook_environments_and_tenants() -> None:
    runbook = {
        "Id": "Runbooks-1",
        "Name": "Nightly",
        "ProjectId": "Projects-1",
        "RunbookProcessId": "RunbookProcess-Runbooks-1",
    }
    trigger = {
        "Id": "ProjectTriggers-1",
        "Name": "Nightly run",
        "ProjectId": "Projects-1",
        "Filter": {"FilterType": "CronExpressionSchedule", "CronExpression": "0 0 2 * * *"},
        "Action": {
            "ActionType": "RunRunbook",
            "RunbookId": "Runbooks-1",
            "EnvironmentIds": ["Environments-1", "Environments-2"],
            "TenantIds": ["Tenants-1"],
            "TenantTags": [],
        },
    }
    raw = _raw(
        **BASE,
        projects=[_project()],
        runbooks=[runbook],
        projecttriggers=[trigger],
        tenants=[{"Id": "Tenants-1", "Name": "Internal", "ProjectEnvironments": {}}],
        documents=[
            _process([]),
            _variables([]),
            {"_path": f"api/{SPACE}/runbookProcesses/RunbookProcess-Runbooks-1", "Steps": []},
            {"_path": f"api/{SPACE}/tenants/Tenants-1/variables"},
        ],
    )
    result = normalize(raw, SPACE)
    action = result.resources[ResourceKey("triggers", ("Web", "Nightly run"))]["Action"]
    assert action["RunbookId"] == "Nightly"
    assert action["EnvironmentIds"] == ["Dev", "Prod"]
    assert action["TenantIds"] == ["Internal"]


# ---------------------------------------------------------------- one document at a time


def _steps_everywhere() -> Raw:
    """A project whose release versioning, variables and a step property name steps by id,
    a dangling reference (a problem) and a config-as-code project (a note)."""
    step = {
        "Id": "s1",
        "Name": "Build",
        "Actions": [
            {
                "Id": "a1",
                "Name": "Build",
                "ActionType": "Octopus.Script",
                "Environments": ["Environments-1", "Environments-404"],
                "Properties": {"Octopus.Action.Docker.RemoveSteps": "a1"},
            }
        ],
    }
    project = _project(VersioningStrategy={"DonorPackageStepId": "s1", "Template": None})
    cac = _project(
        Id="Projects-2",
        Name="Git",
        PersistenceSettings={"Type": "VersionControlled"},
        IsVersionControlled=True,
    )
    variables = [
        {"Id": "v1", "Name": "A", "Value": "1", "Scope": {"Action": ["a1"], "Environment": []}},
        {"Id": "v2", "Name": "B", "Value": "2", "Scope": {"Environment": ["Environments-2"]}},
    ]
    return _raw(
        **BASE,
        projects=[project, cac],
        documents=[_process([step]), _variables(variables)],
    )


def _hear(heard: dict[ResourceKey, list[dict[str, Any]]], key: ResourceKey, doc: Any) -> None:
    heard.setdefault(key, []).append(doc)


def test_documents_normalize_alike_in_any_order_they_arrive() -> None:
    raw = _steps_everywhere()
    expected = normalize(raw, SPACE)
    assert expected.resources[ResourceKey("projects", ("Web",))]["VersioningStrategy"] == {
        "DonorPackageStepId": "Build",
        "Template": None,
    }
    assert len(expected.problems) == 2
    for order in itertools.permutations(raw.documents):
        heard: dict[ResourceKey, list[dict[str, Any]]] = {}
        bare = Raw(raw.version, raw.scoped_tenant_variables, raw.collections, {})
        normalizing = Normalizing(bare, SPACE, functools.partial(_hear, heard))
        for path in order:
            normalizing.add(path, raw.documents[path])
        result = normalizing.finish(raw)
        assert list(result.resources.items()) == list(expected.resources.items())
        assert result.problems == expected.problems
        assert result.ids == expected.ids and result.ids["steps"] == {"s1": ["Web", "Build"]}
        for key, document in result.resources.items():
            assert heard[key][-1] is document  # the last one heard is the one that counts


def test_a_document_normalized_before_the_steps_it_names_is_normalized_again() -> None:
    """Variables that arrive before the process whose step they are scoped to: the early
    result (the step unknown, so not named) is redone by `finish`."""
    raw = _steps_everywhere()
    variables_path, process_path = [p for p in raw.documents if "/variables/" in p] + [
        p for p in raw.documents if p.endswith("/deploymentprocesses")
    ]
    heard: list[dict[str, Any]] = []
    key = ResourceKey("project-variables", ("Web",))
    bare = Raw(raw.version, raw.scoped_tenant_variables, raw.collections, {})
    normalizing = Normalizing(bare, SPACE, lambda k, d: heard.append(d) if k == key else None)
    normalizing.processes.clear()  # as if every process were in: no waiting for them
    normalizing.add(variables_path, raw.documents[variables_path])
    assert heard and heard[-1]["Variables"][0]["Scope"] != {"Action": ["Build"]}  # unknown
    normalizing.add(process_path, raw.documents[process_path])
    result = normalizing.finish(raw)
    assert result.resources[key]["Variables"][0]["Scope"] == {"Action": ["Build"]}
    assert heard[-1] is result.resources[key]
    assert result.resources == normalize(raw, SPACE).resources


def test_config_as_code_runbooks_are_left_out_with_a_note() -> None:
    """Runbooks in git (ConversionState.RunbooksAreInGit) go through the git routes; the
    database routes refuse them (OctopusDeploy/Issues#9249), so they are left out, said so."""
    git_runbooks = _project(
        Id="Projects-3",
        Name="Ops",
        IsVersionControlled=True,
        PersistenceSettings={
            "Type": "VersionControlled",
            "ConversionState": {"VariablesAreInGit": True, "RunbooksAreInGit": True},
        },
    )
    runbook = {"Id": "Runbooks-1", "Name": "Restart", "ProjectId": "Projects-3"}
    raw = _raw(**BASE, projects=[git_runbooks], runbooks=[runbook])
    result = normalize(raw, SPACE)
    assert not result.resources.keys() & {
        ResourceKey("runbooks", ("Ops", "Restart")),
        ResourceKey("runbook-processes", ("Ops", "Restart")),
    }
    assert any(
        p.where == "projects Ops" and "config-as-code runbooks" in p.message
        for p in result.problems
    )


def test_a_process_template_step_is_copied_with_a_note() -> None:
    step = {
        "Id": "s1",
        "Name": "Sign-off",
        "Actions": [
            {
                "Id": "a1",
                "Name": "Sign-off",
                "ActionType": "Octopus.ProcessTemplate",
                "Properties": {
                    "Octopus.Action.ProcessTemplate.Reference.Slug": "sign-off",
                    "Octopus.Action.ProcessTemplate.Reference.VersionMask": "1.X",
                },
            }
        ],
    }
    documents = [_process([step]), _variables([])]
    result = normalize(_raw(**BASE, projects=[_project()], documents=documents), SPACE)
    action = result.resources[ResourceKey("deployment-processes", ("Web",))]["Steps"][0]
    assert action["Actions"][0]["ActionType"] == "Octopus.ProcessTemplate"
    assert any(
        "Platform Hub process template 'sign-off' (version 1.X)" in p.message
        and "not checked" in p.message
        for p in result.problems
    )
