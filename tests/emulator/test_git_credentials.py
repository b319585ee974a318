"""Git credentials (`/api/{space}/git-credentials`), the ids that name them (an action's Git
dependencies), and the other ids the third review found hidden: a machine policy's Tentacle
update account and a step template's own properties."""

from __future__ import annotations

from typing import Any

from tests.emulator.test_http import HIDDEN, assert_400, new_project
from tests.helpers import Emulator

CREDENTIAL = {
    "Name": "GitHub",
    "Description": "read-only token",
    "Details": {
        "Type": "UsernamePassword",
        "Username": "bot",
        "Password": {"HasValue": True, "NewValue": "t0k"},
    },
}


def test_git_credentials_keep_their_password_hidden(emulator: Emulator) -> None:
    created = emulator.create("git-credentials", CREDENTIAL)
    assert created["Id"].startswith("GitCredentials-")
    read = emulator.get(f"git-credentials/{created['Id']}")
    assert read["Details"]["Password"] == {**HIDDEN, "HasValue": True}
    assert [c["Name"] for c in emulator.get("git-credentials")["Items"]] == ["GitHub"]


def _git_action(credential_id: str) -> dict[str, Any]:
    return {
        "Name": "Run",
        "ActionType": "Octopus.Script",
        "GitDependencies": [
            {
                "Name": "",
                "RepositoryUri": "https://github.com/example/scripts.git",
                "DefaultBranch": "main",
                "GitCredentialType": "Library",
                "GitCredentialId": credential_id,
                "FilePathFilters": [],
            }
        ],
    }


def test_a_git_dependency_must_name_a_git_credential_of_the_space(emulator: Emulator) -> None:
    project = new_project(emulator, "Scripts")
    path = f"projects/{project['Id']}/deploymentprocesses"
    process = emulator.get(path)
    process["Steps"] = [{"Name": "Run", "Actions": [_git_action("GitCredentials-999")]}]
    assert_400(
        emulator.put(path, process),
        "GitCredentialId refers to 'GitCredentials-999', which is not a known git-credentials id",
    )
    credential = emulator.create("git-credentials", CREDENTIAL)
    process["Steps"] = [{"Name": "Run", "Actions": [_git_action(credential["Id"])]}]
    assert emulator.put(path, process).status_code == 200


def test_a_machine_policy_names_its_tentacle_update_account(emulator: Emulator) -> None:
    body = {
        "Name": "Updating",
        "MachineUpdatePolicy": {
            "CalamariUpdateBehavior": "UpdateOnDeployment",
            "TentacleUpdateBehavior": "Update",
            "KubernetesAgentUpdateBehavior": "Update",
            "TentacleUpdateAccountId": "Accounts-999",
        },
    }
    assert_400(emulator.post("machinepolicies", body), "TentacleUpdateAccountId refers to")
    account = emulator.create(
        "accounts", {"Name": "Updater", "AccountType": "UsernamePassword", "Username": "u"}
    )
    body["MachineUpdatePolicy"]["TentacleUpdateAccountId"] = account["Id"]
    assert emulator.create("machinepolicies", body)


def test_a_step_templates_own_properties_name_feeds_and_accounts(emulator: Emulator) -> None:
    body = {
        "Name": "Publish",
        "ActionType": "Octopus.AzureAppService",
        "Properties": {
            "Octopus.Action.Azure.AccountId": "Accounts-999",
            "Octopus.Action.Package.FeedId": "Feeds-999",
        },
    }
    assert_400(
        emulator.post("actiontemplates", body),
        "Properties.Octopus.Action.Azure.AccountId refers to 'Accounts-999'",
        "Properties.Octopus.Action.Package.FeedId refers to 'Feeds-999'",
    )
    # A variable expression is resolved at deployment: not an id.
    body["Properties"] = {"Octopus.Action.Package.FeedId": "#{Feed}"}
    assert emulator.create("actiontemplates", body)
