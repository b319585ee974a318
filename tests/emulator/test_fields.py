"""Fields of a 2025 server that the contracts predate, over real HTTP: their defaults, and the
ids and tags they hold checked like every other reference."""

from __future__ import annotations

from typing import Any

from tests.emulator.test_http import assert_400, new_project
from tests.helpers import Emulator


def tag_sets(e: Emulator) -> None:
    for scope in ("Project", "Runbook", "Environment", "Tenant"):
        e.create("tagsets", {"Name": scope, "Scopes": [scope], "Tags": [{"Name": "Gold"}]})


def test_new_fields_come_back_with_their_defaults(emulator: Emulator) -> None:
    project = new_project(emulator, "OctoFX")
    assert project["ProjectTags"] == [] and project["DeploymentChangesTemplate"] is None
    assert project["AllowIgnoreChannelRules"] is False
    assert project["ProvisioningRunbookId"] is None and project["DeprovisioningRunbookId"] is None
    channel = emulator.get(f"projects/{project['Id']}/channels")["Items"][0]
    assert channel["Type"] == "Lifecycle" and channel["GitReferenceRules"] == []
    assert channel["ParentEnvironmentId"] is None
    runbook = emulator.create("runbooks", {"Name": "Restart", "ProjectId": project["Id"]})
    assert runbook["RunbookTags"] == []
    assert runbook["RunRetentionPolicy"]["Strategy"] == "Default"
    assert emulator.create("environments", {"Name": "Dev"})["EnvironmentTags"] == []
    account = emulator.create("accounts", {"Name": "A", "AccountType": "UsernamePassword"})
    assert account["Password"] == {"HasValue": False, "NewValue": None, "Hint": None}


def test_provisioning_runbooks_are_the_projects_own(emulator: Emulator) -> None:
    project = new_project(emulator, "OctoFX")
    other = new_project(emulator, "Payments")
    mine = emulator.create("runbooks", {"Name": "Provision", "ProjectId": project["Id"]})
    theirs = emulator.create("runbooks", {"Name": "Provision", "ProjectId": other["Id"]})
    path = f"projects/{project['Id']}"
    body = {**project, "ProvisioningRunbookId": mine["Id"], "DeprovisioningRunbookId": mine["Id"]}
    response = emulator.put(path, body)
    assert response.status_code == 200, response.text
    assert response.json()["ProvisioningRunbookId"] == mine["Id"]
    assert_400(emulator.put(path, {**body, "DeprovisioningRunbookId": theirs["Id"]}), "another")
    assert_400(emulator.put(path, {**body, "ProvisioningRunbookId": "Runbooks-999999"}), "999999")


def test_tags_must_come_from_a_tag_set_of_the_right_scope(emulator: Emulator) -> None:
    tag_sets(emulator)
    project = new_project(emulator, "OctoFX", ProjectTags=["Project/Gold"])
    assert project["ProjectTags"] == ["Project/Gold"]
    assert_400(
        emulator.put(f"projects/{project['Id']}", {**project, "ProjectTags": ["Tenant/Gold"]}),
        "Tenant/Gold",
        "Project tags",
    )
    runbook: dict[str, Any] = {"Name": "R", "ProjectId": project["Id"]}
    assert emulator.create("runbooks", {**runbook, "RunbookTags": ["Runbook/Gold"]})
    assert_400(emulator.post("runbooks", {**runbook, "Name": "S", "RunbookTags": ["Project/Gold"]}))
    assert emulator.create("environments", {"Name": "Dev", "EnvironmentTags": ["Environment/Gold"]})
    assert_400(emulator.post("environments", {"Name": "Test", "EnvironmentTags": ["No/Such"]}))


def test_a_channels_parent_environment_must_exist(emulator: Emulator) -> None:
    project = new_project(emulator, "OctoFX")
    parent = emulator.create("environments", {"Name": "Previews"})
    body = {"Name": "Preview", "ProjectId": project["Id"], "Type": "EphemeralEnvironment"}
    created = emulator.create("channels", {**body, "ParentEnvironmentId": parent["Id"]})
    assert created["ParentEnvironmentId"] == parent["Id"]
    bad = {**body, "Name": "Other", "ParentEnvironmentId": "Environments-999999"}
    assert_400(emulator.post("channels", bad), "Environments-999999")
