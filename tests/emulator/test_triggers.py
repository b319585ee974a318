"""Project triggers over real HTTP: filter and action shapes by type, and every id they hold
checked (runbooks and channels of the trigger's own project, environments, tenants, tags,
process actions named by feed, ARC and Git filters)."""

from __future__ import annotations

from typing import Any

import pytest

from snapshotsync.emulator import Instance
from snapshotsync.emulator.seed import load
from tests.emulator.test_http import assert_400, new_project
from tests.helpers import Emulator

SCHEDULE = {"FilterType": "CronExpressionSchedule", "CronExpression": "0 0 6 * * Mon-Fri"}


def setup(e: Emulator) -> dict[str, Any]:
    ids: dict[str, Any] = {}
    ids["dev"] = e.create("environments", {"Name": "Dev"})["Id"]
    ids["prod"] = e.create("environments", {"Name": "Prod"})["Id"]
    e.create("tagsets", {"Name": "Tier", "Tags": [{"Name": "Gold"}]})
    project = new_project(e, "OctoFX", TenantedDeploymentMode="TenantedOrUntenanted")
    other = new_project(e, "Payments")
    ids["project"], ids["other"] = project["Id"], other["Id"]
    ids["runbook"] = e.create("runbooks", {"Name": "Restart", "ProjectId": project["Id"]})["Id"]
    ids["other_runbook"] = e.create("runbooks", {"Name": "Restart", "ProjectId": other["Id"]})["Id"]
    # Run-runbook triggers run a published snapshot (see test_runbook_snapshots.py).
    for runbook, owner in ((ids["runbook"], project), (ids["other_runbook"], other)):
        published = {"Name": "First", "RunbookId": runbook, "Publish": "true"}
        e.create(f"projects/{owner['Id']}/runbookSnapshots", published)
    ids["channel"] = e.create("channels", {"Name": "Hotfix", "ProjectId": project["Id"]})["Id"]
    ids["other_channel"] = e.create("channels", {"Name": "Hotfix", "ProjectId": other["Id"]})["Id"]
    ids["tenant"] = e.create(
        "tenants", {"Name": "Acme", "ProjectEnvironments": {project["Id"]: [ids["dev"]]}}
    )["Id"]
    path = f"projects/{project['Id']}/deploymentprocesses"
    process = e.get(path)
    process["Steps"] = [
        {
            "Name": "Deploy Web",
            "Actions": [
                {
                    "Name": "Deploy Web",
                    "ActionType": "Octopus.TentaclePackage",
                    "Packages": [
                        {"Name": "", "PackageId": "OctoFX.Web", "FeedId": "feeds-builtin"},
                        {"Name": "tools", "PackageId": "Tools", "FeedId": "feeds-builtin"},
                    ],
                    "GitDependencies": [{"Name": "manifests"}],
                }
            ],
        }
    ]
    written = e.put(path, process)
    assert written.status_code == 200, written.text
    action = written.json()["Steps"][0]["Actions"][0]
    ids["action"], ids["slug"] = action["Id"], action["Slug"]
    ids["package"] = action["Packages"][0]["Id"]
    return ids


def trigger(ids: dict[str, Any], action: dict[str, Any], filter_: Any = None) -> dict[str, Any]:
    return {
        "Name": "Nightly",
        "ProjectId": ids["project"],
        "Filter": filter_ or SCHEDULE,
        "Action": action,
    }


def run_runbook(ids: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "ActionType": "RunRunbook",
        "RunbookId": ids["runbook"],
        "EnvironmentIds": [ids["dev"]],
        "TenantIds": [ids["tenant"]],
        "TenantTags": ["Tier/Gold"],
        **changes,
    }


def test_a_run_runbook_trigger_reads_back_with_its_types_defaults(emulator: Emulator) -> None:
    ids = setup(emulator)
    created = emulator.create("projecttriggers", trigger(ids, run_runbook(ids)))
    assert created["Action"] == {
        "ActionType": "RunRunbook",
        "RunbookId": ids["runbook"],
        "RunbookTags": [],
        "EnvironmentIds": [ids["dev"]],
        "TenantIds": [ids["tenant"]],
        "TenantTags": ["Tier/Gold"],
        "FormValues": {},
    }
    assert created["Filter"] == {**SCHEDULE, "Timezone": "UTC"}
    again = emulator.put(f"projecttriggers/{created['Id']}", created)
    assert again.status_code == 200, again.text


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"RunbookId": "Runbooks-999999"}, "Runbooks-999999"),
        ({"RunbookId": "{other_runbook}"}, "another project"),
        ({"EnvironmentIds": ["Environments-999999"]}, "Environments-999999"),
        ({"TenantIds": ["Tenants-999999"]}, "Tenants-999999"),
        ({"TenantTags": ["Tier/Silver"]}, "Tier/Silver"),
        ({"ShouldRedeployWhenMachineHasBeenDeployedTo": True}, "ShouldRedeploy"),
    ],
)
def test_run_runbook_trigger_ids_are_checked(
    emulator: Emulator, changes: dict[str, Any], fragment: str
) -> None:
    ids = setup(emulator)
    changes = {k: v.format(**ids) if isinstance(v, str) else v for k, v in changes.items()}
    assert_400(
        emulator.post("projecttriggers", trigger(ids, run_runbook(ids, **changes))), fragment
    )
    assert emulator.get("projecttriggers/all") == []


@pytest.mark.parametrize(
    ("action", "fragment"),
    [
        ({"ActionType": "DeployNewRelease", "EnvironmentId": "Environments-999999"}, "999999"),
        (
            {
                "ActionType": "DeployLatestRelease",
                "SourceEnvironmentIds": ["Environments-999999"],
                "DestinationEnvironmentId": "{prod}",
            },
            "999999",
        ),
        (
            {
                "ActionType": "DeployLatestRelease",
                "SourceEnvironmentIds": ["{dev}"],
                "DestinationEnvironmentId": "Environments-999998",
            },
            "999998",
        ),
        (
            {
                "ActionType": "DeployNewRelease",
                "EnvironmentId": "{dev}",
                "ChannelId": "{other_channel}",
            },
            "another project",
        ),
        (
            {
                "ActionType": "DeployNewRelease",
                "EnvironmentId": "{dev}",
                "TenantIds": ["Tenants-9"],
            },
            "Tenants-9",
        ),
        ({"ActionType": "CreateRelease", "ChannelId": "Channels-999999"}, "Channels-999999"),
        ({"ActionType": "Teleport"}, "ActionType"),
    ],
)
def test_scoped_deployment_trigger_ids_are_checked(
    emulator: Emulator, action: dict[str, Any], fragment: str
) -> None:
    ids = setup(emulator)
    action = {
        k: ([x.format(**ids) for x in v] if isinstance(v, list) else v.format(**ids))
        for k, v in action.items()
    }
    assert_400(emulator.post("projecttriggers", trigger(ids, action)), fragment)


def test_a_scoped_deployment_trigger_in_its_own_channel_is_accepted(emulator: Emulator) -> None:
    ids = setup(emulator)
    action = {
        "ActionType": "DeployLatestRelease",
        "SourceEnvironmentIds": [ids["dev"]],
        "DestinationEnvironmentId": ids["prod"],
        "ChannelId": ids["channel"],
        "TenantIds": [ids["tenant"]],
    }
    created = emulator.create("projecttriggers", trigger(ids, action))
    assert created["Action"]["ShouldRedeployWhenReleaseIsCurrent"] is True
    assert created["Action"]["TenantTags"] == [] and created["Action"]["Variables"] is None


def test_filters_of_unknown_type_or_with_unknown_fields_are_refused(emulator: Emulator) -> None:
    ids = setup(emulator)
    action = run_runbook(ids)
    assert_400(emulator.post("projecttriggers", trigger(ids, action, {"FilterType": "Lunar"})))
    bad = {**SCHEDULE, "Roles": ["web"]}
    assert_400(emulator.post("projecttriggers", trigger(ids, action, bad)), "Roles")
    machine = {"FilterType": "MachineFilter", "EnvironmentIds": ["Environments-999999"]}
    assert_400(
        emulator.post("projecttriggers", trigger(ids, {"ActionType": "AutoDeploy"}, machine)),
        "Environments-999999",
    )


SLUG, ACTION = "DeploymentActionSlug", "DeploymentAction"


@pytest.mark.parametrize(
    ("kind", "key", "action", "reference", "ok"),
    [
        ("FeedFilter", SLUG, "{slug}", "", True),
        ("FeedFilter", SLUG, "{slug}", "tools", True),
        ("FeedFilter", SLUG, "nope", "", False),
        ("FeedFilter", SLUG, "{slug}", "x", False),
        ("FeedFilter", ACTION, "{slug}", "", False),  # the field's old name
        ("ArcFeedFilter", ACTION, "Deploy Web", "", True),
        ("ArcFeedFilter", ACTION, "{action}", "{package}", True),
        ("ArcFeedFilter", ACTION, "Other", "", False),
        ("GitFilter", SLUG, "{slug}", "manifests", True),
        ("GitFilter", SLUG, "{slug}", "charts", False),
    ],
)
def test_feed_arc_and_git_filters_name_actions_of_the_process(
    emulator: Emulator, kind: str, key: str, action: str, reference: str, ok: bool
) -> None:
    ids = setup(emulator)
    field, reference_key = (
        ("Sources", "GitDependencyName")
        if kind == "GitFilter"
        else ("Packages", "PackageReference")
    )
    item = {key: action.format(**ids), reference_key: reference.format(**ids)}
    response = emulator.post(
        "projecttriggers",
        trigger(
            ids,
            {"ActionType": "CreateRelease", "ChannelId": ids["channel"]},
            {"FilterType": kind, field: [item]},
        ),
    )
    if ok:
        assert response.status_code == 201, response.text
    else:
        assert_400(response)


def test_seeds_give_trigger_ids_by_name() -> None:
    instance = Instance()
    load(
        instance,
        {
            "environments": [{"Name": "Dev"}],
            "tenants": [{"Name": "Acme", "ProjectEnvironments": {"OctoFX": ["Dev"]}}],
            "projects": [
                {
                    "Name": "OctoFX",
                    "LifecycleId": "Default Lifecycle",
                    "ProjectGroupId": "Default Project Group",
                    "TenantedDeploymentMode": "TenantedOrUntenanted",
                    "Runbooks": [{"Name": "Restart", "Published": True}],
                    "Channels": [{"Name": "Hotfix"}],
                    "Triggers": [
                        {
                            "Name": "Nightly restart",
                            "Filter": SCHEDULE,
                            "Action": {
                                "ActionType": "RunRunbook",
                                "RunbookId": "Restart",
                                "EnvironmentIds": ["Dev"],
                                "TenantIds": ["Acme"],
                            },
                        },
                        {
                            "Name": "Hotfix to Dev",
                            "Filter": SCHEDULE,
                            "Action": {
                                "ActionType": "DeployNewRelease",
                                "EnvironmentId": "Dev",
                                "ChannelId": "Hotfix",
                            },
                        },
                    ],
                }
            ],
        },
    )
    space = instance.default_space_id()
    runbook = instance.find_by_name(space, "runbooks", "Restart")
    channel = instance.find_by_name(space, "channels", "Hotfix")
    tenant = instance.find_by_name(space, "tenants", "Acme")
    assert runbook and channel and tenant
    actions = {t["Name"]: t["Action"] for t in instance.docs["projecttriggers"].values()}
    assert actions["Nightly restart"]["RunbookId"] == runbook["Id"]
    assert actions["Nightly restart"]["TenantIds"] == [tenant["Id"]]
    assert actions["Hotfix to Dev"]["ChannelId"] == channel["Id"]
