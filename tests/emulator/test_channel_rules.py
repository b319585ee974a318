"""Channel version rules name steps of the project's deployment process, so the server
refuses a rule whose step (or package reference) the process does not have: octoterra makes
every channel depend on the process because "Octopus will reject the channel rules"
otherwise (OctopusTerraformExport cmd/internal/converters/channel_converter.go)."""

from __future__ import annotations

from typing import Any

from tests.emulator.test_http import assert_400, new_project
from tests.helpers import Emulator


def _rule(step: str, reference: str = "") -> dict[str, Any]:
    return {
        "VersionRange": "[1.0,2.0)",
        "Tag": "",
        "ActionPackages": [{"DeploymentAction": step, "PackageReference": reference}],
    }


def _with_step(emulator: Emulator, project: dict[str, Any], step: str) -> None:
    path = f"projects/{project['Id']}/deploymentprocesses"
    process = emulator.get(path)
    process["Steps"] = [
        {
            "Name": step,
            "Actions": [
                {
                    "Name": step,
                    "ActionType": "Octopus.TentaclePackage",
                    "Packages": [{"Name": "", "PackageId": "Web", "FeedId": "feeds-builtin"}],
                }
            ],
        }
    ]
    assert emulator.put(path, process).status_code == 200


def test_a_rule_naming_a_step_the_process_lacks_is_refused(emulator: Emulator) -> None:
    project = new_project(emulator, "Web")
    body = {"Name": "Beta", "ProjectId": project["Id"], "Rules": [_rule("Deploy Web")]}
    assert_400(
        emulator.post("channels", body),
        "The channel version rule names the step 'Deploy Web', which is not in the deployment "
        "process of project 'Web'.",
    )
    _with_step(emulator, project, "Deploy Web")
    created = emulator.create("channels", body)
    rule = created["Rules"][0]
    assert rule["Id"] and rule["ActionPackages"] == body["Rules"][0]["ActionPackages"]
    # The package reference must be one the step has (the unnamed primary package here).
    wrong = {**created, "Rules": [_rule("Deploy Web", "Extra")]}
    assert_400(emulator.put(f"channels/{created['Id']}", wrong), "package reference 'Extra'")


def test_a_channel_without_rules_needs_no_process(emulator: Emulator) -> None:
    project = new_project(emulator, "Api")
    assert emulator.create("channels", {"Name": "Hotfix", "ProjectId": project["Id"]})


def test_a_git_resource_rule_names_an_action_slug_and_git_dependency_of_the_process(
    emulator: Emulator,
) -> None:
    project = new_project(emulator, "Scripts")
    path = f"projects/{project['Id']}/deploymentprocesses"
    process = emulator.get(path)
    process["Steps"] = [
        {
            "Name": "Run",
            "Actions": [
                {
                    "Name": "Run",
                    "Slug": "run-v1",
                    "ActionType": "Octopus.Script",
                    "GitDependencies": [
                        {
                            "Name": "",
                            "RepositoryUri": "https://example.com/s.git",
                            "DefaultBranch": "main",
                            "GitCredentialType": "Anonymous",
                            "FilePathFilters": [],
                        }
                    ],
                }
            ],
        }
    ]
    assert emulator.put(path, process).status_code == 200
    rule = {
        "GitDependencyActions": [{"DeploymentActionSlug": "run", "GitDependencyName": ""}],
        "Rules": ["refs/heads/main"],
    }
    body = {"Name": "Git", "ProjectId": project["Id"], "GitResourceRules": [rule]}
    # The action's slug is the one it was given, not one made from its name now.
    assert_400(emulator.post("channels", body), "names the action 'run'")
    rule["GitDependencyActions"][0]["DeploymentActionSlug"] = "run-v1"
    assert emulator.create("channels", body)["GitResourceRules"][0]["Rules"] == ["refs/heads/main"]
