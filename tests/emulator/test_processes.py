"""Deployment and runbook processes over real HTTP: unique action names, and ids hidden in
action packages and properties (deploy-a-release steps, step-template package parameters)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from snapshotsync.emulator import Instance
from snapshotsync.emulator.seed import load
from tests.emulator.test_http import assert_400, new_project
from tests.helpers import Emulator

SCRIPT = "Octopus.Script"


def step(name: str, *actions: dict[str, Any]) -> dict[str, Any]:
    return {"Name": name, "Actions": list(actions) or [{"Name": name, "ActionType": SCRIPT}]}


def action(name: str, **fields: Any) -> dict[str, Any]:
    return {"Name": name, "ActionType": SCRIPT, **fields}


def put_steps(e: Emulator, project: dict[str, Any], steps: list[dict[str, Any]]) -> Any:
    path = f"projects/{project['Id']}/deploymentprocesses"
    process = e.get(path)
    return e.put(path, {**process, "Steps": steps})


# ----------------------------------------------------------------- unique action names


def test_two_actions_of_one_name_are_refused_with_the_servers_words(emulator: Emulator) -> None:
    project = new_project(emulator, "OctoFX")
    response = put_steps(
        emulator,
        project,
        [step("Deploy"), step("Smoke Test", action("Smoke Test"), action("deploy"))],
    )
    assert_400(
        response,
        "Action name 'deploy' is already in use by another action in this deployment process. "
        "Action names must be unique.",
    )
    assert emulator.get(f"projects/{project['Id']}/deploymentprocesses")["Steps"] == []


def test_an_action_may_not_take_the_name_of_another_step(emulator: Emulator) -> None:
    project = new_project(emulator, "OctoFX")
    # A step and its own action share a name; an action named after another step does not.
    ok = put_steps(emulator, project, [step("Deploy"), step("Verify")])
    assert ok.status_code == 200, ok.text
    response = put_steps(
        emulator,
        project,
        [step("Deploy"), step("Checks", action("Check A"), action("DEPLOY"))],
    )
    assert_400(
        response,
        "Actions names 'DEPLOY' are already in use by other steps in this deployment process.",
    )


def test_runbook_processes_have_the_same_rule(emulator: Emulator) -> None:
    project = new_project(emulator, "OctoFX")
    runbook = emulator.create("runbooks", {"Name": "Restart", "ProjectId": project["Id"]})
    path = f"runbookProcesses/{runbook['RunbookProcessId']}"
    process = emulator.get(path)
    process["Steps"] = [step("A", action("One"), action("one"))]
    assert_400(emulator.put(path, process), "already in use by another action in this runbook")


# ----------------------------------------------------------------- ids in packages/properties


def release_action(project_id: str, feed: str = "feeds-builtin-releases") -> dict[str, Any]:
    """A "Deploy a release" action as octoterra's test fixture shows one."""
    return action(
        "Deploy Payments",
        ActionType="Octopus.DeployRelease",
        Packages=[
            {
                "Name": "",
                "PackageId": project_id,
                "FeedId": feed,
                "AcquisitionLocation": "NotAcquired",
            }
        ],
        Properties={
            "Octopus.Action.DeployRelease.ProjectId": project_id,
            "Octopus.Action.DeployRelease.DeploymentCondition": "Always",
        },
    )


def test_the_releases_feed_is_built_in(emulator: Emulator) -> None:
    feed = emulator.get("feeds/feeds-builtin-releases")
    assert (feed["Name"], feed["FeedType"]) == (
        "Octopus Server Releases (built-in)",
        "OctopusProject",
    )


def test_a_deploy_release_step_must_name_an_existing_project(emulator: Emulator) -> None:
    project = new_project(emulator, "OctoFX")
    payments = new_project(emulator, "Payments")
    ok = put_steps(emulator, project, [step("Deploy Payments", release_action(payments["Id"]))])
    assert ok.status_code == 200, ok.text
    bad = release_action("Projects-999999")
    assert_400(put_steps(emulator, project, [step("Deploy Payments", bad)]), "Projects-999999")
    only_property = release_action(payments["Id"])
    only_property["Properties"]["Octopus.Action.DeployRelease.ProjectId"] = "Projects-999998"
    assert_400(
        put_steps(emulator, project, [step("Deploy Payments", only_property)]),
        "Octopus.Action.DeployRelease.ProjectId",
        "Projects-999998",
    )
    # A package of another feed holds a package name, not a project id.
    nuget = emulator.create(
        "feeds", {"Name": "NuGet", "FeedType": "NuGet", "FeedUri": "https://nuget.example"}
    )
    package = action(
        "Deploy Web",
        ActionType="Octopus.TentaclePackage",
        Packages=[{"Name": "", "PackageId": "Projects-999999", "FeedId": nuget["Id"]}],
    )
    assert put_steps(emulator, project, [step("Deploy Web", package)]).status_code == 200
    # A variable expression is resolved at deployment time: not checked.
    expression = release_action("#{Upstream.Project}")
    assert put_steps(emulator, project, [step("Deploy Payments", expression)]).status_code == 200


def test_a_step_template_package_parameter_must_name_an_existing_feed(emulator: Emulator) -> None:
    project = new_project(emulator, "OctoFX")

    def with_parameter(feed: str) -> dict[str, Any]:
        value = json.dumps({"PackageId": "Acme.Tool", "FeedId": feed})
        return action(
            "Run Tool",
            Packages=[
                {
                    "Name": "Tool",
                    "PackageId": "Acme.Tool",
                    "FeedId": "feeds-builtin",
                    "Properties": {"PackageParameterName": "Tool", "SelectionMode": "deferred"},
                }
            ],
            Properties={"Tool": value, "Other": '{"not": "a package"}'},
        )

    ok = put_steps(emulator, project, [step("Run Tool", with_parameter("feeds-builtin"))])
    assert ok.status_code == 200, ok.text
    assert_400(
        put_steps(emulator, project, [step("Run Tool", with_parameter("Feeds-999999"))]),
        "Properties.Tool",
        "Feeds-999999",
    )


@pytest.mark.parametrize(
    ("properties", "missing"),
    [
        ({"Octopus.Action.Email.ToTeamIds": "teams-managers,Teams-999999"}, "Teams-999999"),
        ({"Octopus.Action.Email.BccTeamIds": "Teams-999998"}, "Teams-999998"),
        ({"Octopus.Action.Azure.AccountId": "Accounts-999999"}, "Accounts-999999"),
        ({"Octopus.Action.Package.NuGetFeedId": "Feeds-999999"}, "Feeds-999999"),
    ],
)
def test_other_ids_in_action_properties_are_checked(
    emulator: Emulator, properties: dict[str, str], missing: str
) -> None:
    project = new_project(emulator, "OctoFX")
    response = put_steps(emulator, project, [step("A", action("A", Properties=properties))])
    assert_400(response, missing)


def test_a_container_image_feed_must_exist(emulator: Emulator) -> None:
    project = new_project(emulator, "OctoFX")
    container = {"Image": "nginx", "FeedId": "Feeds-999999"}
    assert_400(
        put_steps(emulator, project, [step("A", action("A", Container=container))]), "Feeds-999999"
    )


def test_seeds_name_projects_and_feeds_inside_actions() -> None:
    instance = Instance()
    load(
        instance,
        {
            "feeds": [{"Name": "NuGet", "FeedType": "NuGet", "FeedUri": "https://nuget.example"}],
            "projects": [
                {
                    "Name": "Payments",
                    "LifecycleId": "Default Lifecycle",
                    "ProjectGroupId": "Default Project Group",
                },
                {
                    "Name": "OctoFX",
                    "LifecycleId": "Default Lifecycle",
                    "ProjectGroupId": "Default Project Group",
                    "DeploymentProcess": {
                        "Steps": [
                            step(
                                "Deploy Payments",
                                {
                                    **release_action(
                                        "Payments", "Octopus Server Releases (built-in)"
                                    ),
                                    "Properties": {
                                        "Octopus.Action.DeployRelease.ProjectId": "Payments"
                                    },
                                },
                            ),
                            step(
                                "Run Tool",
                                action(
                                    "Run Tool",
                                    Properties={"Tool": '{"PackageId": "T", "FeedId": "NuGet"}'},
                                ),
                            ),
                        ]
                    },
                },
            ],
        },
    )
    space = instance.default_space_id()
    payments = instance.find_by_name(space, "projects", "Payments")
    octofx = instance.find_by_name(space, "projects", "OctoFX")
    nuget = instance.find_by_name(space, "feeds", "NuGet")
    assert payments and octofx and nuget
    steps = instance.docs["deploymentprocesses"][octofx["DeploymentProcessId"]]["Steps"]
    release = steps[0]["Actions"][0]
    assert release["Packages"][0]["PackageId"] == payments["Id"]
    assert release["Packages"][0]["FeedId"] == "feeds-builtin-releases"
    assert release["Properties"]["Octopus.Action.DeployRelease.ProjectId"] == payments["Id"]
    assert json.loads(steps[1]["Actions"][0]["Properties"]["Tool"]) == {
        "PackageId": "T",
        "FeedId": nuget["Id"],
    }
