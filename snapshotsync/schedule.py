"""The writes of a push, in the order they can be made. Pure: decided from the plan alone.

The plan lists changes in the guide's syncing order. Most are one write each. Some fields
point at things that do not exist yet when their resource is written, so the write is split
in two, as the guide's "Tenants (Tenant name only)" ... "Tenant / Project relationship" is:

- a tenant's project links (`ProjectEnvironments`) need the projects;
- a project's versioning and release-creation strategies name its own steps and channels,
  and its provisioning runbooks its own runbooks: the project is written before any of them
  exists (the Terraform provider keeps these in a resource of their own,
  `octopusdeploy_project_versioning_strategy`, for the same reason).

The first part writes everything else, with the deferred fields as the destination has them
(empty for a new resource); the second, just before the tenants' variables (after every
project part is written), writes the deferred fields. Either part is left out when it would
change nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from snapshotsync.model import JsonDict
from snapshotsync.octopus.kinds import KINDS
from snapshotsync.plan import Change, Plan

Path = tuple[str, ...]

# Deferred fields per kind, with the value a new resource gets until they are written.
DEFERRED: Mapping[str, Mapping[Path, Any]] = {
    "tenants": {("ProjectEnvironments",): {}},
    "projects": {
        ("VersioningStrategy", "DonorPackage"): None,
        ("VersioningStrategy", "DonorPackageStepId"): None,
        ("ReleaseCreationStrategy", "ChannelId"): None,
        ("ReleaseCreationStrategy", "ReleaseCreationPackage"): None,
        ("ReleaseCreationStrategy", "ReleaseCreationPackageStepId"): None,
        ("ProvisioningRunbookId",): None,
        ("DeprovisioningRunbookId",): None,
    },
}
# The deferred parts go out right before the first write of this kind or a later one.
LINKS_BEFORE = KINDS["tenant-variables"].order


@dataclass(frozen=True)
class Write:
    """One write: which change, and the normal-form document this write sends."""

    change: Change
    document: JsonDict
    # whole | main (deferred fields held back) | links (deferred fields) | delete
    part: str = "whole"


def writes(plan: Plan) -> tuple[Write, ...]:
    """Every write of `plan`, in the order they can be made."""
    main: list[Write] = []
    links: list[Write] = []
    deletes: list[Write] = []
    for change in plan.writes:
        if change.action == "delete":
            # Last, dependents first (the plan lists them so): by then nothing this push
            # writes refers to them any more.
            deletes.append(Write(change, {}, "delete"))
            continue
        paths = DEFERRED.get(change.key.kind)
        if not paths:
            main.append(Write(change, change.after or {}))
            continue
        before = change.before
        after = change.after or {}
        held = _with(after, paths, before)
        if before is None or held != before:
            main.append(Write(change, held, "main"))
        if any(_get(after, path) != _get(held, path) for path in paths):
            links.append(Write(change, after, "links"))
    return (*_placed(main, links), *deletes)


def _placed(main: list[Write], links: list[Write]) -> Iterator[Write]:
    pending = list(links)
    for write in main:
        if pending and _order(write) >= LINKS_BEFORE:
            yield from pending
            pending = []
        yield write
    yield from pending


def _order(write: Write) -> int:
    kind = KINDS.get(write.change.key.kind)
    return kind.order if kind is not None else 0


def _with(document: JsonDict, paths: Mapping[Path, Any], source: JsonDict | None) -> JsonDict:
    """`document` with each path's value taken from `source` (its empty value if none)."""
    result = copy.deepcopy(document)
    for path, empty in paths.items():
        if _get(document, path) is _MISSING:
            continue
        value = _get(source, path) if source is not None else _MISSING
        _set(result, path, empty if value is _MISSING else value)
    return result


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def _get(document: Any, path: Path) -> Any:
    for part in path:
        if not isinstance(document, dict) or part not in document:
            return _MISSING
        document = document[part]
    return document


def _set(document: JsonDict, path: Path, value: Any) -> None:
    for part in path[:-1]:
        document = document.setdefault(part, {})
    document[path[-1]] = copy.deepcopy(value)
