"""Teams and scoped user roles over real HTTP: a team without `SpaceId` is a system team, the
system routes `/api/teams` and `/api/scopeduserroles`, and the role-level rules."""

from __future__ import annotations

from typing import Any

from snapshotsync.emulator import Instance
from snapshotsync.emulator.seed import load
from tests.emulator.test_http import api, assert_400, new_project
from tests.helpers import Emulator

DEPLOYER = "userroles-projectdeployer"


def listed(e: Emulator, path: str) -> list[str]:
    return [str(t["Name"]) for t in e.get(path)["Items"]]


def test_a_team_posted_without_space_id_is_a_system_team(emulator: Emulator) -> None:
    system = emulator.create("teams", {"Name": "Deployers"})
    assert system["SpaceId"] is None
    assert system["Links"]["Self"] == f"/api/teams/{system['Id']}"
    space = emulator.create("teams", {"Name": "Space Deployers", "SpaceId": emulator.space_id})
    assert space["SpaceId"] == emulator.space_id
    # The space lists only its own teams; the system team is not there.
    assert listed(emulator, "teams") == ["Space Deployers", "Space Managers"]
    assert "Deployers" not in [t["Name"] for t in emulator.get("teams/all")]
    missing = emulator.session.get(emulator.space_url(f"teams/{system['Id']}"))
    assert missing.status_code == 404
    # With includeSystem=true, and on the system route, it is.
    assert "Deployers" in listed(emulator, "teams?includeSystem=true")
    everything = api(emulator, "GET", "teams").json()
    assert {"Deployers", "Space Deployers", "Everyone"} <= {t["Name"] for t in everything["Items"]}
    only_space = api(emulator, "GET", f"teams?spaces={emulator.space_id}").json()["Items"]
    assert {t["Name"] for t in only_space} == {"Space Deployers", "Space Managers"}
    both = api(emulator, "GET", f"teams?spaces={emulator.space_id}&includeSystem=true").json()
    assert "Deployers" in {t["Name"] for t in both["Items"]}
    assert api(emulator, "GET", f"teams/{system['Id']}").json()["Name"] == "Deployers"
    # A SpaceId naming another space than the route's is refused.
    assert_400(emulator.post("teams", {"Name": "X", "SpaceId": "Spaces-999999"}), "Spaces-999999")


def test_the_system_routes_create_space_teams_and_roles_from_the_body(emulator: Emulator) -> None:
    """SpaceCloner's requests: POST /api/teams and /api/scopeduserroles with SpaceId set."""
    team = api(emulator, "POST", "teams", {"Name": "Cloned", "SpaceId": emulator.space_id})
    assert team.status_code == 201, team.text
    team_id = team.json()["Id"]
    assert "Cloned" in listed(emulator, "teams")
    body = {"TeamId": team_id, "UserRoleId": DEPLOYER, "SpaceId": emulator.space_id}
    role = api(emulator, "POST", "scopeduserroles", body)
    assert role.status_code == 201, role.text
    assert role.json()["SpaceId"] == emulator.space_id
    assert [r["Id"] for r in emulator.get("scopeduserroles")["Items"]] == [role.json()["Id"]]
    roles = api(emulator, "GET", f"teams/{team_id}/scopeduserroles").json()["Items"]
    assert [r["Id"] for r in roles] == [role.json()["Id"]]
    renamed = api(emulator, "PUT", f"teams/{team_id}", {**team.json(), "Name": "Renamed"})
    assert renamed.status_code == 200, renamed.text
    assert "Renamed" in listed(emulator, "teams")


def test_a_role_without_space_permissions_is_refused_at_space_level(emulator: Emulator) -> None:
    team = emulator.create("teams", {"Name": "Admins", "SpaceId": emulator.space_id})
    body = {
        "TeamId": team["Id"],
        "UserRoleId": "userroles-systemmanager",
        "SpaceId": emulator.space_id,
    }
    # The server's words (OctopusDeployLabs/terraform-provider-octopusdeploy#330).
    assert_400(
        emulator.post("scopeduserroles", body),
        "You cannot use a role without any Space level permissions at the Space level.",
    )
    custom = api(emulator, "POST", "userroles", {"Name": "Empty"}).json()
    assert_400(
        api(emulator, "POST", "scopeduserroles", {**body, "UserRoleId": custom["Id"]}),
        "without any Space level permissions",
    )
    assert emulator.get("scopeduserroles/all") == []


def test_system_teams_take_space_roles_and_space_teams_no_system_roles(emulator: Emulator) -> None:
    system = emulator.create("teams", {"Name": "Everyone Else"})
    space_role = {"TeamId": system["Id"], "UserRoleId": DEPLOYER, "SpaceId": emulator.space_id}
    # A system team is "accessible in all spaces" (OctopusDeploy/docs PR #303).
    assert emulator.create("scopeduserroles", space_role)["TeamId"] == system["Id"]
    system_role = {"TeamId": system["Id"], "UserRoleId": "userroles-systemmanager"}
    created = api(emulator, "POST", "scopeduserroles", system_role)
    assert created.status_code == 201, created.text
    assert created.json()["SpaceId"] is None
    # The server's words (terraform-provider-octopusdeploy resource_team_test.go): a role
    # that grants space permissions is refused at system level.
    assert_400(
        api(emulator, "POST", "scopeduserroles", {**system_role, "UserRoleId": DEPLOYER}),
        "You cannot use a role with Space level permissions at the System level. "
        "Space level permissions: DeploymentCreate",
    )
    granting_nothing = api(emulator, "POST", "userroles", {"Name": "Nothing"}).json()
    assert_400(
        api(
            emulator,
            "POST",
            "scopeduserroles",
            {**system_role, "UserRoleId": granting_nothing["Id"]},
        ),
        "without any System level permissions",
    )
    space_team = emulator.create("teams", {"Name": "Local", "SpaceId": emulator.space_id})
    assert_400(
        api(emulator, "POST", "scopeduserroles", {**system_role, "TeamId": space_team["Id"]}),
        "Local",
    )


def test_processes_may_name_system_teams(emulator: Emulator) -> None:
    project = new_project(emulator, "OctoFX")
    path = f"projects/{project['Id']}/deploymentprocesses"
    process = emulator.get(path)
    action: dict[str, Any] = {
        "Name": "Approve",
        "ActionType": "Octopus.Manual",
        "Properties": {"Octopus.Action.Manual.ResponsibleTeamIds": "teams-managers"},
    }
    process["Steps"] = [{"Name": "Approve", "Actions": [action]}]
    assert emulator.put(path, process).status_code == 200


def test_seed_teams_belong_to_the_space_unless_they_say_otherwise() -> None:
    instance = Instance()
    load(
        instance,
        {
            "teams": [
                {"Name": "Ops", "ScopedUserRoles": [{"UserRoleId": "Project viewer"}]},
                {
                    "Name": "Auditors",
                    "SpaceId": None,
                    "ScopedUserRoles": [{"UserRoleId": "System manager", "SpaceId": None}],
                },
            ]
        },
    )
    space = instance.default_space_id()
    assert [t["Name"] for t in instance.space_items(space, "teams")] == ["Space Managers", "Ops"]
    auditors = instance.find_by_name(None, "teams", "Auditors")
    assert auditors is not None and auditors["SpaceId"] is None
    levels = sorted(str(r["SpaceId"]) for r in instance.docs["scopeduserroles"].values())
    assert levels == sorted([space, "None"])
