"""Pruning: what snapshotsync created that the source no longer has. Pure.

A resource snapshotsync placed on a destination and the source dropped (or the overlay now
leaves out) is an orphan: every plan lists it, and `--prune` deletes it, but only when
snapshotsync created it (the base's record says so), nobody changed it by hand since the
last push, and nothing left on the destination refers to it. Its parts (a project's
process, variables, channels) go with it; an environment is never deleted by a sync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from snapshotsync import threeway
from snapshotsync.model import JsonDict, ResourceKey, Snapshot, lowered
from snapshotsync.octopus.kinds import KINDS, PROJECT_SCOPED_REFS, walk

REF_KINDS = {"library-variable-sets": "library-sets", "script-modules": "library-sets"}


@dataclass(frozen=True)
class Orphan:
    """A resource snapshotsync placed that nothing desired answers for any more."""

    action: str  # delete | orphan (listed, left)
    key: ResourceKey  # as the destination spells it
    live: JsonDict
    reason: str


PROJECT_KINDS = frozenset(
    kind.name for kind in KINDS.values() if kind.parent == "projects" and not kind.singleton
)


def orphans(
    desired: Snapshot,
    live: Snapshot,
    base: Snapshot,
    created: frozenset[ResourceKey],
    *,
    whole: frozenset[str],
    prune: bool,
    comparable: Callable[[JsonDict], JsonDict],
) -> tuple[list[Orphan], list[ResourceKey]]:
    """Whole resources snapshotsync placed that the source no longer has (or the overlay
    now leaves out): listed by every plan; deleted with `prune` when snapshotsync created
    them, nobody changed them since, and nothing left on the destination uses them. Parts
    of a resource (its process, variables, tenant values) go with it.

    `whole` are the kinds whose resources are whole items (`changes.BEHAVIOUR`), `comparable`
    what of a document counts when telling whether it changed since. Returns the orphans,
    and the resources that stop being snapshotsync's either way."""
    wanted = {lowered(key) for key in desired.resources}
    mine_all = {lowered(key) for key in created}
    live_by_name = {lowered(key): key for key in live.resources}
    gone = [key for key in base.resources if lowered(key) not in wanted and key.kind in whole]
    gone_projects = {key.name[0].lower() for key in gone if key.kind == "projects"}
    gone_lower = {lowered(key) for key in gone}
    found: list[Orphan] = []
    # The parts of a resource that goes (a project's process and variables, a tenant's
    # values, a team's roles) go with it.
    dropped: list[ResourceKey] = [
        key
        for key in base.resources
        if lowered(key) not in wanted
        and KINDS[key.kind].parent is not None
        and (KINDS[key.kind].parent, (key.name[0].lower(),)) in gone_lower
        and key not in gone
    ]
    deleted: set[tuple[str, tuple[str, ...]]] = set()
    for key in sorted(gone, key=lambda k: (-KINDS[k.kind].order, k.name)):
        live_key = live_by_name.get(lowered(key))
        now = live.resources[live_key] if live_key is not None else None
        if now is None or (key.kind in PROJECT_KINDS and key.name[0].lower() in gone_projects):
            dropped.append(key)  # gone already, or goes with its project
            continue
        mine = lowered(key) in mine_all
        unchanged = threeway.holds(comparable(now), comparable(base.resources[key]))
        touched = _touched_parts(live, base, live_key or key, comparable) if unchanged else []
        used_by = users(live, live_key or key, deleted)
        if not mine:
            reason = (
                "no longer on the source, and it was on the destination before snapshotsync: "
                "left as the destination's own"
            )
            dropped.append(key)
        elif key.kind == "environments":
            reason = (
                "created by snapshotsync and no longer on the source; environments are never "
                "deleted by a sync (deployments and targets hang off them): delete it by hand"
            )
        elif not unchanged:
            reason = (
                "created by snapshotsync and no longer on the source, but changed by hand on "
                "the destination since the last push: never deleted"
            )
        elif touched:
            reason = (
                "created by snapshotsync and no longer on the source, but a person changed "
                f"what goes with it on the destination since the last push ({'; '.join(touched)}): "
                "never deleted"
            )
        elif used_by:
            reason = (
                "created by snapshotsync and no longer on the source, but still used on the "
                f"destination by {', '.join(used_by)}: left"
            )
        elif prune:
            deleted.add(lowered(key))
            found.append(
                Orphan(
                    "delete",
                    live_key or key,
                    now,
                    "created by snapshotsync, no longer on the source (or left out by the "
                    "overlay) and unchanged since the last push (--prune)",
                )
            )
            dropped.append(key)
            continue
        else:
            reason = (
                "created by snapshotsync and no longer on the source (or left out by the "
                "overlay): push --prune deletes it"
            )
        found.append(Orphan("orphan", live_key or key, now, reason))
    return found, dropped


def _touched_parts(
    live: Snapshot,
    base: Snapshot,
    key: ResourceKey,
    comparable: Callable[[JsonDict], JsonDict],
) -> list[str]:
    """What goes with `key` when it is deleted (a project's process, variables, channels,
    runbooks and their processes, triggers) that a person added or changed on the
    destination since the last push: a part the base does not hold, or one that no longer
    holds what was written (an added step or value counts: lists compare whole)."""
    if key.kind != "projects":
        return []
    project = key.name[0].lower()
    recorded = {lowered(k): doc for k, doc in base.resources.items()}
    found = []
    for part, document in live.resources.items():
        spec = KINDS.get(part.kind)
        if spec is None or spec.parent != "projects" or part.name[0].lower() != project:
            continue
        was = recorded.get(lowered(part))
        if was is None:
            found.append(f"{part} added by hand")
        elif not threeway.holds(comparable(document), comparable(was)):
            found.append(f"{part} changed by hand")
    return sorted(found)


def users(live: Snapshot, key: ResourceKey, deleted: set[tuple[str, tuple[str, ...]]]) -> list[str]:
    """What on the destination refers to `key` by name (deleting it would break them)."""
    target = REF_KINDS.get(key.kind, key.kind)
    name = key.name[-1].lower()
    users = []
    for other, document in live.resources.items():
        if other == key or lowered(other) in deleted or other.kind not in KINDS:
            continue
        if target in PROJECT_SCOPED_REFS and other.name[0].lower() != key.name[0].lower():
            continue
        for ref in KINDS[other.kind].refs:
            if ref.target != target:
                continue
            for container, _, value in walk(document, ref.path):
                if ref.when is not None and not ref.when(container):
                    continue
                values = str(value).split(ref.separator) if ref.separator else [value]
                if any(isinstance(v, str) and v.strip().lower() == name for v in values):
                    users.append(str(other))
                    break
    return sorted(set(users))
