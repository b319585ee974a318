"""The writes of a push, in the order they can be made. Pure: decided from the plan alone.

The plan lists changes in the guide's syncing order. Most are one write each. Some fields
point at things that do not exist yet when their resource is written, so the write is split
in two, as the guide's "Tenants (Tenant name only)" ... "Tenant / Project relationship" is:

- a tenant's project links (`ProjectEnvironments`) need the projects;
- a project's versioning and release-creation strategies name its own steps and channels,
  and its provisioning runbooks its own runbooks: the project is written before any of them
  exists (the Terraform provider keeps these in a resource of their own,
  `octopusdeploy_project_versioning_strategy`, for the same reason);
- a channel's version rules name steps of its project's deployment process, which is written
  after the channels (octoterra makes channels depend on the process: "Octopus will reject
  the channel rules" otherwise, `channel_converter.go`).

The first part writes everything else, with the deferred fields as the destination has them
(empty for a new resource); the second, just before the tenants' variables (after every
project part is written), writes the deferred fields. Either part is left out when it would
change nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from snapshotsync.changes import Change, Plan
from snapshotsync.model import JsonDict, copy_json, lowered
from snapshotsync.octopus.kinds import KINDS, RUNBOOK_PUBLISH

Path = tuple[str, ...]

# Deferred fields per kind, with the value a new resource gets until they are written.
DEFERRED: Mapping[str, Mapping[Path, Any]] = {
    "tenants": {("ProjectEnvironments",): {}},
    "projects": {
        # Automatic release creation needs its package in the process (OctopusDeploy/Issues
        # #9483, #5610): SpaceCloner creates projects with it off and turns it on last
        # (src/Cloners/ProjectCloner.ps1).
        ("AutoCreateRelease",): False,
        ("VersioningStrategy", "DonorPackage"): None,
        ("VersioningStrategy", "DonorPackageStepId"): None,
        ("ReleaseCreationStrategy", "ChannelId"): None,
        ("ReleaseCreationStrategy", "ReleaseCreationPackage"): None,
        ("ReleaseCreationStrategy", "ReleaseCreationPackageStepId"): None,
        ("ProvisioningRunbookId",): None,
        ("DeprovisioningRunbookId",): None,
    },
    # Version rules name steps (and their package references) of the deployment process, and
    # Git resource rules its actions' Git dependencies.
    "channels": {("Rules",): [], ("GitResourceRules",): []},
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
    late: list[Write] = []
    deletes: list[Write] = []
    for change in plan.writes:
        if change.action == "delete":
            # Last, dependents first (the plan lists them so): by then nothing this push
            # writes refers to them any more.
            deletes.append(Write(change, {}, "delete"))
            continue
        if change.key.kind == "tag-sets" and change.before is not None:
            # New tags first, for what is about to use them; the tags the source dropped
            # only once everything written has stopped using them (a server refuses to
            # remove a tag in use, OctopusDeploy/Issues#3436).
            after = change.after or {}
            names = {str(t.get("Name", "")).lower() for t in after.get("Tags") or []}
            dropped = [
                t
                for t in change.before.get("Tags") or []
                if str(t.get("Name", "")).lower() not in names
            ]
            if dropped:
                main.append(
                    Write(change, {**after, "Tags": [*after.get("Tags", []), *dropped]}, "main")
                )
                late.append(Write(change, after, "late"))
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
    return (*_placed(main, links), *late, *deletes)


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
    result = copy_json(document)
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
    document[path[-1]] = copy_json(value)


# ---------------------------------------------------------------------------------- waves
#
# Writes that do not depend on each other go out together. A write depends on the kinds its
# documents name (the registry's references), on its parent (a channel on its project), and
# on what the guide's order puts first for it (a tenant's values on its project links).
# `waves` cuts the ordered writes into runs of consecutive writes none of which needs a kind
# written earlier in the same run, and never two writes to one document in a run: every
# write still comes after everything it needs, and the order within a wave is kept for
# reports.

REF_KINDS: Mapping[str, tuple[str, ...]] = {
    "library-sets": ("library-variable-sets", "script-modules"),
    "actions": ("deployment-processes", "runbook-processes"),
    "process-owners": ("projects", "runbooks"),
    "tags": ("tag-sets",),
}
EXTRA_NEEDS: Mapping[str, tuple[str, ...]] = {
    # A tenant's values are for its linked projects' templates and library sets.
    "tenant-variables": ("projects", "library-variable-sets", "environments"),
    # A step names step templates, feeds, worker pools, teams, accounts: the registry has
    # them; a runbook's process needs its runbook (its parent) and the project.
    "runbook-processes": ("projects",),
    "project-variables": ("deployment-processes", "runbook-processes", "channels"),
    "library-variables": ("library-variable-sets",),
    # A run-runbook trigger needs its runbook's published snapshot (`plan._runbook_publishing`).
    "triggers": (RUNBOOK_PUBLISH,),
    # A snapshot freezes the runbook's process and the project's variables.
    RUNBOOK_PUBLISH: ("runbooks", "runbook-processes", "project-variables"),
}
# Kinds whose documents name tags by their canonical names (`Tag set/Tag`): TenantTags,
# variable scopes, and the newer ProjectTags, RunbookTags, EnvironmentTags. These are not
# ids, so the registry holds no reference for them; the tag must exist all the same
# (the emulator refuses "the tag ... does not exist", as a real server does).
TAGGED = frozenset(
    {
        "environments",
        "tenants",
        "accounts",
        "certificates",
        "projects",
        "channels",
        "runbooks",
        "deployment-processes",
        "runbook-processes",
        "project-variables",
        "library-variables",
        "triggers",
    }
)
# What the deferred (links) writes of a kind name: see DEFERRED.
LINK_NEEDS: Mapping[str, tuple[str, ...]] = {
    "tenants": ("projects", "environments"),
    "projects": ("deployment-processes", "runbook-processes", "channels", "runbooks"),
    "channels": ("deployment-processes",),
}


def needs(write: Write) -> frozenset[str]:
    """The kinds `write` must find written before it is made."""
    kind = write.change.key.kind
    if write.part == "links":
        return frozenset(LINK_NEEDS.get(kind, ()))
    if write.part == "delete":
        return frozenset()
    if write.part == "late":  # after everything that may have used what it removes
        return frozenset(k for k in KINDS if k != write.change.key.kind)
    spec = KINDS.get(kind)
    if kind in EXTRA_NEEDS and spec is None:  # publishing a runbook
        return frozenset(EXTRA_NEEDS[kind])
    if spec is None:  # the environments' order
        return frozenset({"environments"})
    found: set[str] = set(EXTRA_NEEDS.get(kind, ()))
    if kind in TAGGED:
        found.add("tag-sets")
    if spec.parent is not None:
        found.add(spec.parent)
    for ref in spec.refs:
        found.update(REF_KINDS.get(ref.target, (ref.target,)))
    for target in _typed_refs(write.document):
        found.update(REF_KINDS.get(target, (target,)))
    found.discard(kind)
    return frozenset(found)


def _typed_refs(document: Any) -> set[str]:
    """The kinds a document names through typed references (`{"Ref": {kind, name}}`: the ids
    normalizing found where no registry reference is, e.g. a step template's own properties
    or a Git dependency's credential)."""
    found: set[str] = set()
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("Ref")
            if len(node) == 1 and isinstance(ref, dict) and "kind" in ref:
                found.add(str(ref["kind"]))
                continue
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def waves(scheduled: tuple[Write, ...]) -> list[list[Write]]:
    """`scheduled` (in `writes` order) cut into waves of writes that may go out together."""
    result: list[list[Write]] = []
    current: list[Write] = []
    kinds: set[tuple[str, str]] = set()  # (kind, part) written in the current wave
    documents: set[tuple[str, tuple[str, ...]]] = set()  # lower-cased: names match so
    for write in scheduled:
        kind = write.change.key.kind
        clash = (
            lowered(write.change.key) in documents
            or any(k in needs(write) for k, _ in kinds)
            or (write.part == "delete") != any(p == "delete" for _, p in kinds)
            or (write.part == "delete" and kinds and (kind, "delete") not in kinds)
            or _after_links(write, kinds)
        )
        if current and clash:
            result.append(current)
            current, kinds, documents = [], set(), set()
        current.append(write)
        kinds.add((kind, write.part))
        documents.add(lowered(write.change.key))
        if write.change.live_key is not None:
            # A rename frees its old name: a write that takes the name comes after it.
            documents.add(lowered(write.change.live_key))
    if current:
        result.append(current)
    return result


def _after_links(write: Write, kinds: set[tuple[str, str]]) -> bool:
    """Links go out in a wave of their own kind: they are few, and what follows needs them."""
    links = {k for k, p in kinds if p == "links"}
    return bool(links) and (write.part != "links" or write.change.key.kind not in links)
