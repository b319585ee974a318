"""Bulk reads: the space-wide lists of processes and variable sets, with their frozen copies.

A real server keeps, next to each project's live deployment process and variable set, the
frozen copy every release took of them (and every runbook snapshot of its runbook's process
and variables). They live in the same collections and the unfiltered lists return them:

- `GET /api/{space}/deploymentprocesses{?ids,skip,take}`: "Lists all the deployment
  processes in the supplied Octopus Deploy Space, sorted by Id" (OctopusDeploy/docs
  `src/pages/docs/api/_generated/deployment-processes.md`); a frozen copy is read by its id at
  `/deploymentprocesses/{id}` ("ID of the snapshotted deployment process, for example
  deploymentprocess-Projects-1-s-4-ABCDE", same page);
- `GET /api/{space}/variables/all{?ids}`: "Lists all the Variable Sets in the supplied Space",
  an array (`variables.md`, "Get a list of Variable Sets");
- `GET /api/{space}/runbookProcesses{?skip,take}` (`runbook-processes.md`, "Get a list of
  Runbook Processes"). The reference names no `ids` there; Octopus.Client's
  `BasicRepository.Get(params string[] ids)` adds `{?ids}` to any collection link, the
  runbook processes' included (`RunbookProcessRepository : BasicRepository`), so the emulator
  honours it (not confirmed on a real server: a client must check the reply either way);
- `GET /api/{space}/tenantvariables/all{?projectId}`: every tenant's legacy variable document,
  "sorted alphabetically by id" (`tenants.md`).

The ids of frozen copies follow the ones real servers hand out: a release's
`ProjectDeploymentProcessSnapshotId: deploymentprocess-Projects-1-s-1-TUHUR` and
`ProjectVariableSetSnapshotId: variableset-Projects-1-s-0-4HDVD` (a release document quoted in
public test fixtures, found by searching for `deploymentprocess-Projects-1-s-`). A runbook
snapshot's frozen process id is shaped the same way from the live one (inferred: no reply
showing one was found).

`ignore_ids` (`--ignore-ids`) plays an older server that does not know the `ids` filter: every
list answers as if none had been given, which is what makes a client's subset check and
fallback testable.

A request line longer than `MAX_REQUEST_LINE` is refused with 414 before anything else:
Kestrel, which serves Octopus on Linux, refuses request lines over
`KestrelServerLimits.MaxRequestLineSize`, "Defaults to 8,192 bytes (8 KB)" (Microsoft's API
reference), and NGINX's default buffers refused Octopus's own long `ids=` URLs
(OctopusDeploy/Issues#5161).
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from typing import Any

from snapshotsync.emulator import tenant_variables
from snapshotsync.emulator.schema import JsonDict
from snapshotsync.emulator.state import ApiError, Instance

MAX_REQUEST_LINE = 8192  # bytes, with the method, the target, the version and CRLF
FROZEN = ("deploymentprocesses", "variables", "runbookprocesses")

# What `Handler._page` does: (space, collection, items, query, route) -> the envelope.
Page = Callable[[str | None, str, list[JsonDict], dict[str, str], list[str]], JsonDict]


def without_ids(query: dict[str, str]) -> dict[str, str]:
    """The query an older server acts on: `ids` is not one of its parameters."""
    return {k: v for k, v in query.items() if k.lower() != "ids"}


def serve(
    instance: Instance,
    space_id: str,
    rest: list[str],
    query: dict[str, str],
    page: Page,
) -> tuple[int, Any] | None:
    """Answer a GET this module owns, or None to let the ordinary routes answer."""
    lowered = [p.lower() for p in rest]
    if lowered == ["tenantvariables", "all"]:
        return 200, _all_tenant_variables(instance, space_id, query)
    if not lowered or lowered[0] not in FROZEN:
        return None
    collection = lowered[0]
    if len(lowered) == 1:
        items = _with_frozen(instance, space_id, collection)
        return 200, page(space_id, collection, items, query, [rest[0]])
    if lowered[1:] == ["all"]:
        wanted = _ids(query)
        items = _with_frozen(instance, space_id, collection)
        if wanted is not None:
            items = [d for d in items if str(d["Id"]).lower() in wanted]
        return 200, [
            instance.present(space_id, collection, d)
            for d in sorted(items, key=lambda d: str(d["Id"]))
        ]
    if len(lowered) == 2:
        frozen = _frozen(instance, collection).get(lowered[1])
        if frozen is not None and frozen.get("SpaceId") == space_id:
            return 200, instance.present(space_id, collection, frozen)
    return None


def _ids(query: dict[str, str]) -> set[str] | None:
    value = next((v for k, v in query.items() if k.lower() == "ids"), None)
    if value is None:
        return None
    return {i.strip().lower() for i in value.split(",") if i.strip()}


def _frozen(instance: Instance, collection: str) -> dict[str, JsonDict]:
    """Frozen copies by lowered id."""
    return {i.lower(): d for i, d in instance.frozen[collection].items()}


def _with_frozen(instance: Instance, space_id: str, collection: str) -> list[JsonDict]:
    frozen = [d for d in instance.frozen[collection].values() if d.get("SpaceId") == space_id]
    return instance.space_items(space_id, collection) + frozen


def _all_tenant_variables(
    instance: Instance, space_id: str, query: dict[str, str]
) -> list[JsonDict]:
    project_id = next((v for k, v in query.items() if k.lower() == "projectid"), "")
    tenants = instance.space_items(space_id, "tenants")
    if project_id:
        # "ID of a project that tenants must be connected to ... variables from all projects
        # are still returned" (tenants.md).
        tenants = [
            t
            for t in tenants
            if project_id.lower() in {p.lower() for p in t["ProjectEnvironments"]}
        ]
    documents = [tenant_variables.legacy_document(instance, space_id, t["Id"]) for t in tenants]
    return sorted(documents, key=lambda d: str(d["Id"]))


# ----------------------------------------------------------------- frozen copies


def _suffix(seed: str) -> str:
    """Five capitals, like the random tail of a real snapshot id, but reproducible."""
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(chr(ord("A") + b % 26) for b in digest[:5])


def _freeze(instance: Instance, collection: str, live_id: str, number: int) -> str:
    live = instance.find_any(collection, live_id)
    frozen_id = f"{live_id}-s-{number}-{_suffix(f'{live_id}/{number}')}"
    doc = copy.deepcopy(live)
    doc["Id"] = frozen_id
    instance.frozen[collection][frozen_id] = doc
    return frozen_id


def _next_number(instance: Instance, live_id: str) -> int:
    prefix = f"{live_id}-s-".lower()
    taken = [i for c in FROZEN for i in instance.frozen[c] if i.lower().startswith(prefix)]
    return len(taken)


def _library_sets(instance: Instance, space_id: str, project: JsonDict) -> list[str]:
    return [
        str(instance.find(space_id, "libraryvariablesets", set_id)["VariableSetId"])
        for set_id in project["IncludedLibraryVariableSetIds"]
    ]


def freeze_release(instance: Instance, space_id: str, project_id: str) -> JsonDict:
    """What creating a release freezes: the project's process, its variable set and the
    library variable sets it includes. Returns the ids, named as a release names them."""
    project = instance.find(space_id, "projects", project_id)
    process_id = str(project["DeploymentProcessId"])
    variables_id = str(project["VariableSetId"])
    library = _library_sets(instance, space_id, project)
    return {
        "ProjectDeploymentProcessSnapshotId": _freeze_next(
            instance, "deploymentprocesses", process_id
        ),
        "ProjectVariableSetSnapshotId": _freeze_next(instance, "variables", variables_id),
        "LibraryVariableSetSnapshotIds": [
            _freeze_next(instance, "variables", set_id) for set_id in library
        ],
    }


def freeze_runbook(instance: Instance, space_id: str, runbook_id: str) -> JsonDict:
    """What publishing a runbook snapshot freezes: its process, the project's variables and
    the library variable sets it includes (Octopus.Client `RunbookSnapshotResource`:
    `FrozenRunbookProcessId`, `FrozenProjectVariableSetId`; scripts in the public script
    library read the frozen process at `/runbookprocesses/{FrozenRunbookProcessId}`)."""
    runbook = instance.find(space_id, "runbooks", runbook_id)
    project = instance.find(space_id, "projects", str(runbook["ProjectId"]))
    process_id = str(runbook["RunbookProcessId"])
    variables_id = str(project["VariableSetId"])
    library = _library_sets(instance, space_id, project)
    return {
        "FrozenRunbookProcessId": _freeze_next(instance, "runbookprocesses", process_id),
        "FrozenProjectVariableSetId": _freeze_next(instance, "variables", variables_id),
        "LibraryVariableSetSnapshotIds": [
            _freeze_next(instance, "variables", set_id) for set_id in library
        ],
    }


def _freeze_next(instance: Instance, collection: str, document_id: str) -> str:
    """A new frozen copy of a document (the next in its numbering); its id."""
    return _freeze(instance, collection, document_id, _next_number(instance, document_id))


def refuse_long_line(request_line: str) -> ApiError | None:
    """414 for a request line over the limit (the line as sent, plus its CRLF)."""
    if len(request_line.encode("latin-1", "replace")) + 2 > MAX_REQUEST_LINE:
        return ApiError(414, "Request line too long.")
    return None
