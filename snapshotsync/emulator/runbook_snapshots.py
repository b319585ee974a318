"""Runbook snapshots and publishing: what a scheduled runbook trigger runs.

A runbook's process is a draft until a snapshot of it is published; "Only published snapshots
can be used to create a scheduled runbook trigger, draft snapshots cannot be used to create a
scheduled trigger" (Octopus docs, runbooks/scheduled-runbook-trigger), and "Publishing makes a
runbook available to scheduled triggers and consumers" (runbooks/runbook-publishing).

Routes, from Octopus's API reference (OctopusDeploy/docs src/pages/docs/api/_generated/
runbook-snapshots.md): `POST /api/{spaceId}/projects/{projectId}/runbookSnapshots` with
`{Name, Notes, ProjectId, RunbookId, SpaceId, SelectedPackages, Publish}` ("Publishes the
snapshot when set to any non-blank value, making it the snapshot that runbook triggers and
'published' runs use"), answered 201 with the snapshot; `GET` of the same route lists the
project's snapshots, most recent first. Publishing sets the runbook's
`PublishedRunbookSnapshotId`. Octopus.Client and older scripts publish with `?publish=true`
on the same POST (the REST API example "Create and publish a new runbook snapshot"); both
are taken.

Simplification: package versions are not resolved (`SelectedPackages` is stored as sent).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from snapshotsync.emulator import bulk
from snapshotsync.emulator.schema import JsonDict
from snapshotsync.emulator.state import ApiError, Instance, bad_request

FIELDS = frozenset(
    {"Name", "Notes", "ProjectId", "RunbookId", "SpaceId", "SelectedPackages", "Publish"}
    | {"SelectedGitResources", "Id", "Links"}
)


def create(
    instance: Instance, space_id: str, project: JsonDict, body: Any, query: dict[str, str]
) -> JsonDict:
    """`POST .../projects/{id}/runbookSnapshots`: a new snapshot, published when asked."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise bad_request(
            *(f"The property '{u}' is not a known property of RunbookSnapshot." for u in unknown)
        )
    name = body.get("Name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("Please provide a name for the runbook snapshot.")
    runbook = instance.docs["runbooks"].get(str(body.get("RunbookId") or ""))
    if runbook is None or runbook.get("SpaceId") != space_id:
        raise bad_request(f"RunbookId refers to '{body.get('RunbookId')}', which is not a runbook.")
    if runbook["ProjectId"] != project["Id"] or body.get("ProjectId") not in (None, project["Id"]):
        raise bad_request("The runbook does not belong to this project.")
    taken = {
        s["Name"].lower()
        for s in instance.runbook_snapshots.values()
        if s["ProjectId"] == project["Id"]
    }
    if name.lower() in taken:
        # Inferred: snapshot names identify a snapshot within its project (the reference's
        # "Get a single Runbook Snapshot by project ID and name").
        raise bad_request(f"Another runbook snapshot in this project is named '{name}'.")
    with instance.lock:
        number = len(instance.runbook_snapshots) + 1
        snapshot = {
            "Id": f"RunbookSnapshots-{instance.id_offset + number}",
            "SpaceId": space_id,
            "ProjectId": project["Id"],
            "RunbookId": runbook["Id"],
            "Name": name,
            "Notes": body.get("Notes"),
            "Assembled": datetime.now(UTC).isoformat(),
            # Frozen copies of the process and variables, as `bulk.py` keeps them.
            **bulk.freeze_runbook(instance, space_id, runbook["Id"]),
            "SelectedPackages": copy.deepcopy(body.get("SelectedPackages") or []),
            "SelectedGitResources": copy.deepcopy(body.get("SelectedGitResources") or []),
        }
        instance.runbook_snapshots[snapshot["Id"]] = snapshot
        if str(body.get("Publish") or "").strip() or query.get("publish", "").lower() == "true":
            runbook["PublishedRunbookSnapshotId"] = snapshot["Id"]
    return present(space_id, snapshot)


def listing(instance: Instance, space_id: str, project: JsonDict) -> list[JsonDict]:
    """The project's snapshots, most recent first."""
    mine = [s for s in instance.runbook_snapshots.values() if s["ProjectId"] == project["Id"]]
    return [present(space_id, s) for s in reversed(mine)]


def present(space_id: str, snapshot: JsonDict) -> JsonDict:
    return {
        **copy.deepcopy(snapshot),
        "Links": {"Self": f"/api/{space_id}/runbookSnapshots/{snapshot['Id']}"},
    }


def route(
    instance: Instance,
    method: str,
    space_id: str,
    project: JsonDict,
    rest: list[str],
    query: dict[str, str],
    body: Any,
) -> tuple[int, Any]:
    """`/projects/{id}/runbookSnapshots`: POST creates (and publishes), GET lists."""
    if rest:
        found = [s for s in listing(instance, space_id, project) if rest[0] in (s["Id"], s["Name"])]
        if method == "GET" and len(rest) == 1 and found:
            return 200, found[0]
        raise ApiError(404, f"The resource '{rest[0]}' was not found.")
    if method == "POST":
        return 201, create(instance, space_id, project, body, query)
    if method == "GET":
        items = listing(instance, space_id, project)
        return 200, {
            "ItemType": "RunbookSnapshot",
            "TotalResults": len(items),
            "ItemsPerPage": len(items),
            "NumberOfPages": 1,
            "LastPageNumber": 0,
            "Items": items,
            "Links": {},
        }
    raise ApiError(405, "Method not allowed.")
