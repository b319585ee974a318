"""Runbook snapshots and publishing over real HTTP: a scheduled run-runbook trigger needs a
published snapshot ("Only published snapshots can be used to create a scheduled runbook
trigger", Octopus docs runbooks/scheduled-runbook-trigger); `POST .../runbookSnapshots` with
`Publish` (or `?publish=true`) publishes one (API reference runbook-snapshots.md)."""

from __future__ import annotations

from tests.emulator.test_http import assert_400, new_project
from tests.helpers import Emulator

SCHEDULE = {"FilterType": "CronExpressionSchedule", "CronExpression": "0 0 2 * * *"}


def test_a_run_runbook_trigger_needs_a_published_snapshot(emulator: Emulator) -> None:
    project = new_project(emulator, "Ops")
    runbook = emulator.create("runbooks", {"Name": "Backup", "ProjectId": project["Id"]})
    assert runbook["PublishedRunbookSnapshotId"] is None
    trigger = {
        "Name": "Nightly",
        "ProjectId": project["Id"],
        "Filter": SCHEDULE,
        "Action": {"ActionType": "RunRunbook", "RunbookId": runbook["Id"]},
    }
    assert_400(
        emulator.post("projecttriggers", trigger),
        "The runbook 'Backup' has no published snapshot",
    )
    snapshots = f"projects/{project['Id']}/runbookSnapshots"
    draft = emulator.create(snapshots, {"Name": "Draft", "RunbookId": runbook["Id"]})
    assert emulator.get(f"runbooks/{runbook['Id']}")["PublishedRunbookSnapshotId"] is None
    assert_400(emulator.post("projecttriggers", trigger), "no published snapshot")
    published = emulator.create(
        snapshots, {"Name": "Snapshot 1", "RunbookId": runbook["Id"], "Publish": "true"}
    )
    assert published["Id"] != draft["Id"]
    assert (
        emulator.get(f"runbooks/{runbook['Id']}")["PublishedRunbookSnapshotId"] == (published["Id"])
    )
    assert emulator.create("projecttriggers", trigger)["Action"]["RunbookId"] == runbook["Id"]
    listed = emulator.get(snapshots)["Items"]
    assert [s["Name"] for s in listed] == ["Snapshot 1", "Draft"]  # most recent first
    assert_400(
        emulator.post(snapshots, {"Name": "snapshot 1", "RunbookId": runbook["Id"]}),
        "Another runbook snapshot",
    )


def test_publish_may_be_asked_in_the_query(emulator: Emulator) -> None:
    project = new_project(emulator, "Ops")
    runbook = emulator.create("runbooks", {"Name": "Backup", "ProjectId": project["Id"]})
    url = emulator.space_url(f"projects/{project['Id']}/runbookSnapshots") + "?publish=true"
    created = emulator.session.post(url, json={"Name": "Q", "RunbookId": runbook["Id"]})
    assert created.status_code == 201, created.text
    assert (
        emulator.get(f"runbooks/{runbook['Id']}")["PublishedRunbookSnapshotId"]
        == (created.json()["Id"])
    )
