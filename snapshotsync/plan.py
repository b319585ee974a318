"""Stage 3: desired state against the destination's live state -> a `Plan`. Pure.

Both sides are in the same normal form, so most of the plan is a per-resource diff
(dictdiffer). What differs by kind is what a sync may do to it:

- `exists` kinds (the guide's "same name, different details": accounts, certificates,
  feeds, worker pools, machine policies, lifecycles, teams, project groups, environments)
  are created when missing and otherwise never touched;
- `identical` kinds (script modules, step templates, tag sets, user roles) are made equal;
- `synced` kinds (projects, channels, processes, runbooks, triggers, tenants, library
  variable sets) are made equal, keeping what only the destination has where the guide
  says so (destination-only steps, tenant links to destination-only projects);
- variable sets go through the merge engine (`merge.py`); tenant variables and team
  permissions are merged the same careful way: add what is missing, overwrite a value only
  when allowed, never touch a secret, never delete.

A plan with errors (a required reference the destination cannot resolve) plans nothing as
writable: `Plan.errors` lists every problem together. References are checked on what would
be written (after the overlay and the merge): a value the merge leaves out demands nothing.

Names match the way Octopus matches them, regardless of case: before comparing, every
reference in the desired state that names something on the destination takes the
destination's spelling (`production` -> `Production`), and so do the names of what the
destination owns (environments and the "exists" kinds), so a case difference never reads as
a change or adds a second value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import dictdiffer

from snapshotsync import prune as pruning
from snapshotsync import tenantvars, threeway
from snapshotsync.merge import METADATA, ValueAction, merge, strip_markers
from snapshotsync.model import JsonDict, ResourceKey, Snapshot, copy_json, is_sensitive_marker
from snapshotsync.octopus.kinds import (
    ACTIONS,
    KINDS,
    PROJECT_SCOPED_REFS,
    PUBLISHED_RUNBOOKS,
    RUNBOOK_PUBLISH,
    is_version_controlled,
    sync_order,
    walk,
)
from snapshotsync.overlay import Overlay
from snapshotsync.transform import Decision, Desired

BEHAVIOUR = {
    "environments": "exists",
    "project-groups": "exists",
    "feeds": "exists",
    "git-credentials": "exists",
    "teams": "exists",
    "machine-policies": "exists",
    "worker-pools": "exists",
    "accounts": "exists",
    "lifecycles": "exists",
    "certificates": "exists",
    "tag-sets": "identical",
    "user-roles": "identical",
    "step-templates": "identical",
    "script-modules": "identical",
    "tenants": "synced",
    "library-variable-sets": "synced",
    "projects": "synced",
    "channels": "synced",
    "runbooks": "synced",
    "triggers": "synced",
    "deployment-processes": "process",
    "runbook-processes": "process",
    "project-variables": "variables",
    "library-variables": "variables",
    "tenant-variables": "tenant-variables",
    "team-permissions": "permissions",
}
# Registry reference targets -> the kinds whose names satisfy them on the destination.
REF_KINDS = {
    "library-sets": ("library-variable-sets", "script-modules"),
}
UNCHECKED_REFS = frozenset({"actions", "process-owners", "machines"})  # settled by transform
WRITES = ("create", "update", "rename", "delete")
ACTIONS_SHOWN = ("create", "update", "rename", "delete", "same", "skip", "conflict", "orphan")
# Not a resource: the order of the destination's environments, set once they exist.
ENVIRONMENT_ORDER = ResourceKey("environment-order", ("environments",))


@dataclass(frozen=True)
class Change:
    """One resource in the plan: create, update, same, or skip (left alone, with why)."""

    action: str
    key: ResourceKey
    before: JsonDict | None
    after: JsonDict | None
    diff: tuple[Any, ...] = ()
    reason: str = ""
    values: tuple[ValueAction, ...] = ()
    # The destination resource's key when it is not `key`: what the source renamed since
    # the last push, still under its old name on the destination until this change.
    live_key: ResourceKey | None = None


@dataclass(frozen=True)
class Placeholder:
    """A value a push writes that a human must replace later (the cleanup ledger)."""

    key: ResourceKey
    field: str
    reason: str
    value: Any = None  # the value written, when it is not a secret (cloned values)
    path: tuple[str, ...] = ()  # where in the document (tenant variables), for cleanup


@dataclass(frozen=True)
class Record:
    """What snapshotsync holds of a resource once its writes are done (its base), under the
    name it has then; None: nothing of snapshotsync's is left there."""

    key: ResourceKey
    document: JsonDict | None
    was: ResourceKey | None = None  # the name it had in the base, when renamed


@dataclass(frozen=True)
class Plan:
    target: str
    changes: tuple[Change, ...] = ()
    decisions: tuple[Decision, ...] = ()
    placeholders: tuple[Placeholder, ...] = ()
    errors: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    # By the key of a change: the base that resource holds once its writes are done, and
    # the resources snapshotsync created (and still holds) once every write is done.
    records: Mapping[ResourceKey, Record] = field(default_factory=dict)
    created: frozenset[ResourceKey] = frozenset()

    @property
    def writes(self) -> tuple[Change, ...]:
        return () if self.errors else tuple(c for c in self.changes if c.action in WRITES)

    @property
    def has_changes(self) -> bool:
        return bool(self.writes)

    @property
    def conflicts(self) -> tuple[Change, ...]:
        """Changes holding a conflict: the whole resource, or a part of it (a value, a step),
        changed by hand since the last push and kept."""
        return tuple(
            c
            for c in self.changes
            if c.action == "conflict" or any(v.action == "conflict" for v in c.values)
        )

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(ACTIONS_SHOWN, 0)
        for change in self.changes:
            counts[change.action] += 1
        return counts


class _Index:
    """Live documents by kind and lower-cased name (names match case-insensitively)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.by_name: dict[tuple[str, tuple[str, ...]], ResourceKey] = {}
        self.resources = snapshot.resources
        for key in snapshot.resources:
            self.by_name[_lower(key)] = key

    def get(self, key: ResourceKey) -> tuple[ResourceKey | None, JsonDict | None]:
        found = self.by_name.get(_lower(key))
        return (found, self.resources[found]) if found else (None, None)


def _lower(key: ResourceKey) -> tuple[str, tuple[str, ...]]:
    return key.kind, tuple(part.lower() for part in key.name)


def make_plan(
    desired: Desired,
    live: Snapshot,
    overlay: Overlay,
    *,
    target: str = "",
    facts: Mapping[str, frozenset[str]] | None = None,
    base: Snapshot | None = None,
    force: bool = False,
    prune: bool = False,
    renames: Mapping[str, Mapping[tuple[str, ...], tuple[str, ...]]] | None = None,
) -> Plan:
    """Compare the desired state with the destination's and decide every write.

    `base` is what the last push recorded of what snapshotsync placed on this destination
    (None before the first push), with the resources it created in `base.meta["created"]`;
    `force` takes the source's version of what someone changed by hand since; `prune`
    deletes the resources snapshotsync created that the source no longer has; `renames` is
    what the source renamed since the last push (`normalize.renames`): a renamed resource is
    renamed in place on the destination, keeping its id, never created a second time.
    """
    desired = replace(desired, snapshot=canonical(desired.snapshot, live, facts or {}))
    index = _Index(live)
    recorded = _Index(base) if base is not None else None
    created = {_lower(k): k for k in _created(base)}
    records: dict[ResourceKey, Record] = {}
    earlier = _Renamed(renames or {})
    # What this plan renames, the destination's documents name by the new name already:
    # the references to it are then compared (and written) as they will be after the push.
    live = _renamed_references(live, _renaming(desired.snapshot, index, earlier))
    index = _Index(live)
    claimed: set[tuple[str, tuple[str, ...]]] = set()  # base names a rename carried on
    changes: list[Change] = []
    renamed_to: list[ResourceKey] = []  # the new names of what this plan renames
    # project (lower-cased) -> the actions of its steps a person deleted and that stay so
    kept_deleted: dict[str, set[str]] = {}
    gone_by_hand: set[tuple[str, tuple[str, ...]]] = set()  # placed, then gone by hand
    placeholders: list[Placeholder] = []
    errors: list[str] = []
    decisions = list(desired.decisions)
    version_controlled = {
        key.name[0].lower()
        for key, doc in live.resources.items()
        if key.kind == "projects" and is_version_controlled(doc)
    }
    # What the source renamed holds on to the destination resource it was synced to: a new
    # resource that took the old name on the source is another resource (created).
    taken = {
        _lower(found)
        for key in desired.snapshot.resources
        if (old := earlier.old_key(key)) is not None
        and index.get(key)[0] is None
        and (found := index.get(old)[0]) is not None
    }
    for kind in sync_order():
        ours = [k for k in desired.snapshot.resources if k.kind == kind.name]
        # Renames first: the name each frees may be the name of something created after it.
        for key in sorted(ours, key=lambda k: (earlier.old_key(k) is None, k)):
            after = desired.snapshot.resources[key]
            live_key, before = index.get(key)
            old = earlier.old_key(key)
            if old is None and live_key is not None and _lower(live_key) in taken:
                live_key, before = None, None  # the old name's holder is renamed, not reused
            if old is not None and before is None:
                live_key, before = index.get(old)
            elif old is not None and not KINDS[kind.name].singleton:
                synced = index.get(old)[0]
                if (
                    synced is not None
                    and live_key is not None
                    and _lower(synced) != _lower(live_key)
                ):
                    errors.append(_taken(synced, key))
                    continue
            if old is not None and (live_key is not None or recorded is not None):
                claimed.add(_lower(old))
            if (
                kind.name in ("deployment-processes", "project-variables", "runbook-processes")
                and key.name[0].lower() in version_controlled
            ):
                changes.append(
                    Change(
                        "skip",
                        key,
                        before,
                        None,
                        reason="config-as-code project "
                        "on the destination: its process and variables live in git",
                    )
                )
                continue
            _, base_doc = recorded.get(key) if recorded is not None else (None, None)
            if base_doc is None and old is not None and recorded is not None:
                _, base_doc = recorded.get(old)
            elif old is None and before is None and _lower(key) in taken:
                base_doc = None  # the base under this name is the renamed resource's
            if (
                before is None
                and base_doc is not None
                and not force
                and BEHAVIOUR[kind.name] in WHOLE
                and not KINDS[kind.name].singleton
            ):
                # Placed by snapshotsync, and gone from the destination since: deleted or
                # renamed by hand. Never re-created on a guess (a second project beside the
                # one a person renamed); what is in it goes unwritten with it.
                gone_by_hand.add(_lower(key))
                changes.append(Change("conflict", key, None, after, reason=GONE_BY_HAND))
                records[key] = Record(key, base_doc)
                continue
            parent = KINDS[kind.name].parent
            if parent is not None and (parent, (key.name[0].lower(),)) in gone_by_hand:
                records[key] = Record(key, base_doc)  # goes unwritten with its parent
                continue
            if kind.name == "tenant-variables":
                tenant = desired.snapshot.resources.get(ResourceKey("tenants", key.name)) or {}
                change, notes, marks, record = _tenant_variables(
                    live_key or key,
                    before,
                    after,
                    overlay,
                    tenant.get("ProjectEnvironments") or {},
                    live.meta.get("tenant_variables") == "legacy",
                    base_doc,
                    force,
                )
                if old is not None and live_key is not None and _lower(live_key) != _lower(key):
                    change = replace(change, key=key, live_key=live_key)
                changes.append(change)
                records[change.key] = Record(key, record, was=old)
                decisions += notes
                placeholders += marks
                continue
            if kind.name == "project-variables" and key.name[0].lower() in kept_deleted:
                after, notes = _without_deleted_steps(key, after, kept_deleted[key.name[0].lower()])
                decisions += notes
            change, kept = _plan_one(
                BEHAVIOUR[kind.name],
                live_key or key,
                before,
                after,
                overlay,
                base_doc if recorded is not None else _NO_BASE,
                force,
                earlier.steps(key),
            )
            if BEHAVIOUR[kind.name] == "process":
                for action in _deleted_by_hand(key, change):
                    kept_deleted.setdefault(key.name[0].lower(), set()).add(action.lower())
            renamed = old is not None and live_key is not None and _lower(live_key) != _lower(key)
            if renamed and live_key is not None:
                # Keyed by its new name, written to the resource it was synced to.
                change = replace(change, key=key, live_key=live_key)
                if change.action == "update":
                    renamed_to.append(key)
                    change = replace(
                        change,
                        action="rename",
                        reason=f"rename {'/'.join(live_key.name)} -> {'/'.join(key.name)}"
                        + (f"; {change.reason}" if change.reason else ""),
                    )
                if _lower(live_key) in created:
                    del created[_lower(live_key)]
                    created[_lower(key)] = key
            records[change.key] = Record(key, kept, was=old if renamed else None)
            if change.action == "create" and BEHAVIOUR[kind.name] in WHOLE:
                created[_lower(key)] = key
            if BEHAVIOUR[kind.name] == "process" and change.after is not None:
                errors += _duplicate_names(key, after, change.after)
            if kind.name == "certificates" and change.action == "create":
                errors.append(
                    f"{key}: not on the destination, and a certificate cannot be made from the "
                    "source (its data cannot be read back, and a real server refuses placeholder "
                    "data): upload it on the destination under this name, or map it to one the "
                    "destination has (rename.certificates), or leave it out "
                    "(exclude.certificates)"
                )
            if kind.name == "accounts" and change.action == "create":
                errors += _parsed_secrets(change)
            changes.append(change)
            if change.action in WRITES:
                placeholders += _placeholders(change)
        if kind.name == "environments":
            order = _environment_order(desired.snapshot, live, changes)
            if order is not None:
                changes.append(order)
    publishes, notes, blocked = _runbook_publishing(changes, overlay, facts or {})
    changes[_before_triggers(changes) : _before_triggers(changes)] = publishes
    decisions += notes
    errors += blocked
    if base is not None:
        kept_on = Snapshot(
            {k: v for k, v in base.resources.items() if _lower(k) not in claimed}, base.meta
        )
        orphans, dropped = pruning.orphans(
            desired.snapshot,
            live,
            kept_on,
            frozenset(created.values()),
            whole=frozenset(k for k, b in BEHAVIOUR.items() if b in WHOLE),
            prune=prune,
            comparable=_comparable_exists,
        )
        changes += [Change(o.action, o.key, o.live, None, reason=o.reason) for o in orphans]
        for key in dropped:
            records[key] = Record(key, None)
            created.pop(_lower(key), None)
        # A part snapshotsync wrote (a tenant's values, a team's roles) that the source no
        # longer gives (a tenant unlinked from its last project: the server drops its values
        # for that project itself) is no longer snapshotsync's to record: what is left of it
        # on the destination is not reported as deleted by hand, nor touched.
        wanted = {_lower(k) for k in desired.snapshot.resources}
        for key in kept_on.resources:
            if (
                BEHAVIOUR.get(key.kind) not in WHOLE
                and KINDS[key.kind].parent not in (None, "projects")
                and _lower(key) not in wanted
                and key not in records
            ):
                records[key] = Record(key, None)
    changes, tag_notes = _tags_in_use(changes, live)
    decisions += tag_notes
    # References are checked on what would be written, after the overlay and the merge.
    errors = [
        *desired.errors,
        *errors,
        *_shared_collection(desired.snapshot, live),
        *_unresolved(changes, live, facts or {}, renamed_to, gone_by_hand),
    ]
    return Plan(
        target,
        tuple(changes),
        tuple(decisions),
        tuple(placeholders),
        tuple(dict.fromkeys(errors)),  # one line per problem, however many fields show it
        {"source": desired.snapshot.meta, "destination": live.meta},
        records,
        frozenset(created.values()),
    )


def _taken(ours: ResourceKey, key: ResourceKey) -> str:
    """A source rename onto a name the destination uses for a resource of its own."""
    new = "/".join(key.name)
    return (
        f"{ours} was renamed `{new}` on the source, and the destination has a {key.kind} "
        f"`{new}` of its own: rename or remove the destination's `{new}`, or rename it back "
        f"on the source; nothing was written (the two are never merged)"
    )


def _shared_collection(desired: Snapshot, live: Snapshot) -> list[str]:
    """Script modules and library variable sets share one Octopus collection
    (`/libraryvariablesets`, told apart by `ContentType`), and its names are unique across
    both: a name one kind holds on the destination cannot be created as the other."""
    pairs = (
        ("script-modules", "library-variable-sets"),
        ("library-variable-sets", "script-modules"),
    )
    names = {
        kind: {k.name[0].lower(): k.name[0] for k in live.of_kind(kind)} for kind in dict(pairs)
    }
    errors = []
    for kind, other in pairs:
        for key in desired.of_kind(kind):
            held = names[other].get(key.name[0].lower())
            if held is not None and key.name[0].lower() not in names[kind]:
                shown = (
                    "library variable set" if other == "library-variable-sets" else "script module"
                )
                errors.append(
                    f"{key}: the destination has a {shown} `{held}`, and script modules and "
                    "library variable sets share one collection whose names are unique: rename "
                    "one of them (on the source or on the destination); nothing was written"
                )
    return errors


def _renaming(desired: Snapshot, index: _Index, earlier: _Renamed) -> dict[str, dict[str, str]]:
    """kind -> the destination's lower-cased name of what this plan renames -> its new
    name (`<project>/<name>` for a project's parts)."""
    found: dict[str, dict[str, str]] = {}
    for key in desired.resources:
        spec = KINDS.get(key.kind)
        old = earlier.old_key(key)
        if old is None or spec is None or spec.singleton or index.get(key)[0] is not None:
            continue
        live_key = index.get(old)[0]
        if live_key is not None:
            found.setdefault(key.kind, {})["/".join(live_key.name).lower()] = "/".join(key.name)
    return found


def _renamed_references(live: Snapshot, renaming: Mapping[str, Mapping[str, str]]) -> Snapshot:
    """`live` with every reference to what `renaming` renames under its new name."""
    if not renaming:
        return live
    spelling = {kind: dict(names) for kind, names in renaming.items()}
    for target, kinds in REF_KINDS.items():
        for kind in kinds:
            spelling.setdefault(target, {}).update(spelling.get(kind, {}))
    resources = {
        key: _respelled(key, document, spelling) for key, document in live.resources.items()
    }
    return Snapshot(resources, live.meta)


class _Renamed:
    """What the source renamed since the last push, looked up from the new names."""

    def __init__(self, renames: Mapping[str, Mapping[tuple[str, ...], tuple[str, ...]]]) -> None:
        self.old_of = {
            kind: {tuple(p.lower() for p in new): old for old, new in pairs.items()}
            for kind, pairs in renames.items()
        }

    def old_key(self, key: ResourceKey) -> ResourceKey | None:
        """The name `key` had on the source at the last push, if the source renamed it (or,
        for a project's process or variables, the project)."""
        spec = KINDS.get(key.kind)
        owner = spec.parent if spec is not None and spec.singleton else key.kind
        old = self.old_of.get(owner or key.kind, {}).get(tuple(p.lower() for p in key.name))
        return ResourceKey(key.kind, old) if old is not None else None

    def steps(self, key: ResourceKey) -> dict[str, str]:
        """Old name -> new name (lower-cased) of the steps of `key`'s process it renamed."""
        prefix = tuple(p.lower() for p in key.name)
        return {
            old[-1]: new[-1]
            for new, old in self.old_of.get("steps", {}).items()
            if len(old) == len(prefix) + 1
            and (new[:-1] == prefix or old[:-1] == prefix)
            and old[-1] != new[-1]
        }


class _NoBase:
    """No push has recorded a base yet: every comparison is two-way, as on a first sync."""


_NO_BASE: Any = _NoBase()
WHOLE = ("exists", "identical", "synced")  # kinds whose resources are whole items
GONE_BY_HAND = (
    "placed by snapshotsync, and gone from the destination since the last push (deleted or "
    "renamed by hand): not re-created; rename it back, or --force-overwrite creates it again"
)
CHANGED_BY_HAND = (
    "changed by hand on the destination since the last push: kept "
    "(--force-overwrite takes the source's)"
)


def _plan_one(
    behaviour: str,
    key: ResourceKey,
    before: JsonDict | None,
    after: JsonDict,
    overlay: Overlay,
    base: JsonDict | None,
    force: bool,
    renamed_steps: Mapping[str, str] | None = None,
) -> tuple[Change, JsonDict | None]:
    """The change of one resource, and the base it holds once the change is written."""
    first_push = isinstance(base, _NoBase)
    if first_push:
        base = None
    if behaviour == "variables":
        return _variables(key, before, after, overlay, base, force, first_push)
    if key.kind == "projects":
        after = _project(after, before)
    if before is None:
        if key.kind == "environments":
            # Created last, as the server places it; `_environment_order` then sorts.
            after = {**after, "SortOrder": 0}
        created = _without_markers(after)
        return Change("create", key, None, created), _recorded(behaviour, created)
    if behaviour == "exists":
        same = _diff(_comparable_exists(before), _comparable_exists(after)) == ()
        return Change(
            "same" if same else "skip",
            key,
            before,
            before,
            reason=""
            if same
            else "exists on the destination; its details are its own and are never overwritten",
        ), base  # ours only if snapshotsync created it
    if behaviour == "process":
        return _process(key, before, after, base, force, renamed_steps or {})
    if key.kind == "tenants":
        return _tenant(key, before, after, base, force)
    if behaviour == "permissions":
        return _permissions(key, before, after, base)
    merged = threeway.merge(base, before, after, force=force)
    values = _hand_edits(merged, before, after)
    if merged.document == before:
        if merged.conflicts:
            return Change(
                "conflict",
                key,
                before,
                after,
                _diff(before, after),
                reason=CHANGED_BY_HAND,
                values=values,
            ), merged.record
        return Change(_quiet(values), key, before, before, values=values), merged.record
    document = merged.document
    return Change("update", key, before, document, _diff(before, document), values=values), (
        merged.record
    )


def _tags_in_use(changes: list[Change], live: Snapshot) -> tuple[list[Change], list[Decision]]:
    """A tag snapshotsync placed and the source dropped stays while anything on the
    destination still uses it once this push is done (its own tenants, steps, values): a
    real server refuses to remove a tag in use (OctopusDeploy/Issues#3436). The others go
    in a late write, after everything that stops using them (`schedule.writes`)."""
    written = {c.key: c.after for c in changes if c.action in WRITES and c.after is not None}
    documents = [
        written.get(key, document)
        for key, document in live.resources.items()
        if key.kind != "tag-sets"
    ]
    documents += [d for k, d in written.items() if k not in live.resources and k.kind != "tag-sets"]
    result, notes = [], []
    for change in changes:
        if change.key.kind != "tag-sets" or change.action not in WRITES or not change.before:
            result.append(change)
            continue
        after = change.after or {}
        staying = {str(t.get("Name", "")).lower() for t in after.get("Tags") or []}
        kept = []
        for tag in change.before.get("Tags") or []:
            name = str(tag.get("Name", ""))
            canonical = f"{change.key.name[0]}/{name}".lower()
            if name.lower() in staying:
                continue
            users = [d for d in documents if _uses_tag(d, canonical)]
            if users:
                kept.append(tag)
                notes.append(
                    Decision(
                        f"{change.key} tag {name}",
                        "no longer on the source, but still used on the destination: kept",
                    )
                )
        if kept:
            after = {**after, "Tags": [*(after.get("Tags") or []), *kept]}
            change = replace(change, after=after, diff=_diff(change.before, after))
            if not change.diff:
                change = replace(change, action="same", after=change.before)
        result.append(change)
    return result, notes


def _uses_tag(document: Any, canonical: str) -> bool:
    """Whether a document names the tag `canonical` (`Set/Tag`, lower-cased) in a field of
    tags (TenantTags, a TenantTag scope, ProjectTags, RunbookTags, EnvironmentTags)."""
    if isinstance(document, dict):
        for key, value in document.items():
            if "Tag" in key and not isinstance(value, dict):
                values = value if isinstance(value, list) else [value]
                if any(isinstance(v, str) and v.lower() == canonical for v in values):
                    return True
            elif _uses_tag(value, canonical):
                return True
    elif isinstance(document, list):
        return any(_uses_tag(item, canonical) for item in document)
    return False


def _deleted_by_hand(key: ResourceKey, change: Change) -> list[str]:
    """How other documents name the actions of the steps of `key`'s process that a person
    deleted and that stay deleted (`kinds.action_name`)."""
    runbook = f"{key.name[1]}/" if key.kind == "runbook-processes" else ""
    return [
        f"{runbook}{action.get('Name')}"
        for value in change.values
        if value.action == "conflict" and value.before is None and isinstance(value.after, dict)
        for action in value.after.get("Actions") or []
    ]


def _without_deleted_steps(
    key: ResourceKey, desired: JsonDict, gone: set[str]
) -> tuple[JsonDict, list[Decision]]:
    """The values of a variable set scoped only to steps a person deleted on the destination
    (kept deleted) leave with them: they could not be scoped to anything there."""
    kept, notes = [], []
    for value in desired.get("Variables") or []:
        actions = (value.get("Scope") or {}).get("Action") or []
        if actions and all(str(a).lower() in gone for a in actions):
            notes.append(
                Decision(
                    f"{key} {value.get('Name')}",
                    f"scoped only to {', '.join(actions)}, deleted by hand on the destination "
                    "(kept deleted): left out with it",
                )
            )
            continue
        kept.append(value)
    return {**desired, "Variables": kept}, notes


def _hand_edits(merged: threeway.Merged, live: Any, desired: Any) -> tuple[ValueAction, ...]:
    """The keys a person changed on the destination that a merge kept, as plan lines."""
    lines = []
    for path in merged.kept:
        lines.append(
            ValueAction(
                "keep",
                _path_text(path),
                _item(_path_text(path), _at(live, path)),
                _item(_path_text(path), _at(live, path)),
                "changed by hand on the destination since the last push: kept",
            )
        )
    for path in merged.conflicts:
        now = _at(live, path)
        lines.append(
            ValueAction(
                "conflict",
                _path_text(path),
                None if now is threeway.MISSING else _item(_path_text(path), now),
                _item(_path_text(path), _at(desired, path)),
                (
                    "deleted by hand on the destination since the last push: kept deleted "
                    "(--force-overwrite restores it)"
                    if now is threeway.MISSING
                    else CHANGED_BY_HAND
                ),
            )
        )
    return tuple(lines)


def _path_text(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path)


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    """The value at `path` (named list items by name); `threeway.MISSING` if none."""
    for part in path:
        if isinstance(document, dict):
            document = document.get(part, threeway.MISSING)
        elif isinstance(document, list):
            document = next(
                (
                    i
                    for i in document
                    if isinstance(i, dict) and str(i.get("Name", "")).lower() == str(part).lower()
                ),
                threeway.MISSING,
            )
        else:
            return threeway.MISSING
    return document


def _recorded(behaviour: str, document: JsonDict) -> JsonDict | None:
    """What a created resource's base holds: all of it, but for variable sets (`merge`)."""
    return None if behaviour in ("variables",) else document


def _created(base: Snapshot | None) -> list[ResourceKey]:
    if base is None:
        return []
    return [
        ResourceKey(str(item[0]), tuple(str(part) for part in item[1:]))
        for item in base.meta.get("created") or []
    ]


def _environment_order(desired: Snapshot, live: Snapshot, changes: list[Change]) -> Change | None:
    """The destination's environment order once this push has created environments.

    A real server puts an environment created with `SortOrder` 0 last (OctopusDeploy/Issues
    #8940, whose workaround is `/environments/sortorder`), in creation order. Environments
    are an order people read every dashboard by, so the synced ones are put in the source's
    relative order; the destination's own keep their places. Nothing is reordered when
    nothing is created: an order someone chose on the destination is theirs.
    """
    created = [
        c.key.name[0] for c in changes if c.key.kind == "environments" and c.action == "create"
    ]
    if not created:
        return None
    current = [key.name[0] for key in _by_sort_order(live)] + created
    synced = [key.name[0] for key in _by_sort_order(desired)]
    spelling = {name.lower(): name for name in current}
    wanted = iter(spelling[name.lower()] for name in synced if name.lower() in spelling)
    synced_lower = {name.lower() for name in synced}
    order = [next(wanted) if name.lower() in synced_lower else name for name in current]
    if order == current:
        return None
    before, after = {"Order": current}, {"Order": order}
    return Change("update", ENVIRONMENT_ORDER, before, after, _diff(before, after))


def _by_sort_order(snapshot: Snapshot) -> list[ResourceKey]:
    environments = snapshot.of_kind("environments")
    return sorted(
        environments,
        key=lambda key: (int(environments[key].get("SortOrder") or 0), key.name[0].lower()),
    )


def _diff(before: JsonDict, after: JsonDict) -> tuple[Any, ...]:
    if before == after:
        return ()  # most documents of a recurring sync: compared in C, not walked
    return tuple(dictdiffer.diff(before, after))


def _comparable_exists(document: JsonDict) -> JsonDict:
    """An environment's place in the order is not one of its details: see
    `_environment_order`."""
    return {k: v for k, v in document.items() if k != "SortOrder"}


def _without_markers(document: JsonDict) -> JsonDict:
    if "Variables" in document and isinstance(document["Variables"], list):
        return {**document, "Variables": strip_markers(document["Variables"])}
    return document


def _variables(
    key: ResourceKey,
    before: JsonDict | None,
    after: JsonDict,
    overlay: Overlay,
    base: JsonDict | None,
    force: bool,
    first_push: bool,
) -> tuple[Change, JsonDict | None]:
    live_values = list((before or {}).get("Variables") or [])
    merged = merge(
        list(after.get("Variables") or []),
        live_values,
        overlay.variables,
        # A set snapshotsync never wrote to follows the guide's two-way rules, as any first
        # sync does; once written, what it wrote is the base of a three-way comparison.
        base=None if first_push or base is None else list(base.get("Variables") or []),
        force=force,
    )
    document = {**(before or {}), "Variables": list(merged.variables)}
    record = {"Variables": list(merged.base)}
    if before is None:
        # A variable set always exists with its owner: "create" means the owner is new.
        return Change("create", key, None, document, values=merged.actions), record
    if not merged.changed:
        return Change(_quiet(merged.actions), key, before, before, values=merged.actions), record
    change = Change("update", key, before, document, _diff(before, document), values=merged.actions)
    return change, record


def _named(steps: list[JsonDict]) -> dict[str, JsonDict]:
    return {str(step.get("Name", "")).lower(): step for step in steps}


def _process(
    key: ResourceKey,
    before: JsonDict,
    after: JsonDict,
    base: JsonDict | None,
    force: bool,
    renamed: Mapping[str, str],
) -> tuple[Change, JsonDict | None]:
    """Steps three ways: ours follow the source (and go when it drops them), ones changed
    by hand since are kept and reported, the destination's own stay where they are. A step
    the source renamed (`renamed`, old lower-cased name -> new) is the same step."""
    desired_steps = list(after.get("Steps") or [])
    live_steps = list(before.get("Steps") or [])

    def named(steps: list[JsonDict]) -> dict[str, JsonDict]:
        return {renamed.get(name, name): step for name, step in _named(steps).items()}

    verdicts = threeway.by_name(
        named(list((base or {}).get("Steps") or [])),
        named(live_steps),
        named(desired_steps),
        force=force,
    )
    by_name = {v.name: v for v in verdicts}

    def step_name(step: JsonDict) -> str:
        name = str(step.get("Name", "")).lower()
        return renamed.get(name, name)

    # A step on both sides is decided key by key (a property the source dropped goes, one
    # a person added or changed stays); a step of snapshotsync's that a person deleted
    # stays deleted, a conflict, until forced.
    merged = {
        v.name: threeway.merge(v.base, v.live, v.desired, force=force)
        for v in verdicts
        if v.live is not None and v.desired is not None
    }
    deleted = {
        v.name
        for v in verdicts
        if v.live is None and v.base is not None and v.desired is not None and not force
    }
    placed = []
    for step in desired_steps:
        name = step_name(step)
        if name in merged:
            placed.append(merged[name].document)
        elif name not in deleted:
            placed.append(step)
    staying = [step for step in live_steps if by_name[step_name(step)].verdict != threeway.REMOVE]
    result = {**after, "Steps": _steps(placed, staying, renamed)}
    record_steps = [
        merged[v.name].record
        if v.name in merged
        else (v.base if v.name in deleted or v.verdict == threeway.KEEP else v.desired)
        for v in verdicts
        if v.desired is not None or v.verdict == threeway.KEEP
    ]
    record = {**after, "Steps": [s for s in record_steps if s is not None]}
    values = tuple(
        _part(v, "step") for v in verdicts if v.verdict in (threeway.KEEP, threeway.REMOVE)
    )
    for v in verdicts:
        if v.name in deleted:
            values += (
                ValueAction(
                    "conflict",
                    str((v.base or {}).get("Name", v.name)),
                    None,
                    v.desired,
                    "step deleted by hand on the destination since the last push: kept deleted "
                    "(--force-overwrite restores it)",
                ),
            )
        elif v.name in merged:
            edits = _hand_edits(merged[v.name], v.live, v.desired)
            values += tuple(
                replace(e, name=f"step {(v.desired or {}).get('Name')}: {e.name}") for e in edits
            )
    difference = _diff(before, result)
    if not difference:
        return Change(_quiet(values), key, before, before, values=values), record
    return Change("update", key, before, result, difference, values=values), record


REPORTED = (threeway.CONFLICT, threeway.KEEP, threeway.REMOVE)


def _quiet(values: tuple[ValueAction, ...]) -> str:
    """The action of a change that writes nothing: a conflict when a part of it is one
    (so a hand edit is never hidden behind "unchanged"), else the same."""
    return "conflict" if any(v.action == "conflict" for v in values) else "same"


def _item(name: str, part: Any) -> JsonDict | None:
    """A part as reports show it: a step as it is, a tenant link as `{Name, Value}`."""
    if part is None or isinstance(part, dict):
        return part
    if isinstance(part, tuple) and len(part) == 2:
        return {"Name": str(part[0]), "Value": part[1]}
    return {"Name": name, "Value": part}


def _part(verdict: threeway.Verdict[Any], what: str) -> ValueAction:
    """A part of a document (a step, a tenant link) that is not simply created or updated."""
    name = str(verdict.name)
    verdict = threeway.Verdict(
        verdict.verdict,
        verdict.name,
        _item(name, verdict.base),
        _item(name, verdict.live),
        _item(name, verdict.desired),
    )
    if verdict.verdict == threeway.REMOVE:
        return ValueAction(
            "remove",
            name,
            verdict.live,
            None,
            f"{what} placed by snapshotsync and no longer on the source (or left out by the "
            "overlay); unchanged on the destination since the last push",
        )
    if verdict.verdict == threeway.KEEP:
        return ValueAction(
            "keep",
            name,
            verdict.live,
            verdict.live,
            f"{what} no longer on the source, but changed by hand on the destination since "
            "the last push: kept (--force-overwrite removes it)",
        )
    return ValueAction("conflict", name, verdict.live, verdict.desired, CHANGED_BY_HAND)


def _steps(
    desired: list[JsonDict], live: list[JsonDict], renamed: Mapping[str, str] | None = None
) -> list[JsonDict]:
    """Desired steps in source order; steps only the destination has stay after the step
    they followed there (never removed by a sync). `renamed`: old name -> new name of the
    steps the source renamed (a step that followed one of them follows it still)."""
    renamed = renamed or {}
    result = [copy_json(step) for step in desired]
    names = [str(step.get("Name", "")).lower() for step in result]
    for position, step in enumerate(live):
        name = str(step.get("Name", "")).lower()
        if renamed.get(name, name) in names:
            continue
        anchor = 0
        for previous in reversed(live[:position]):
            previous_name = str(previous.get("Name", "")).lower()
            previous_name = renamed.get(previous_name, previous_name)
            if previous_name in names:
                anchor = names.index(previous_name) + 1
                break
        result.insert(anchor, copy_json(step))
        names.insert(anchor, name)
    return result


# Deployment settings: on a config-as-code project they live in git, and the project route
# refuses them ("Cannot update deployment settings for a version controlled project with this
# endpoint", OctopusDeployLabs/terraform-provider-octopusdeploy#467). The set is the one the
# Terraform provider clears before that PUT (resource_project.go) and Octopus.Client marks
# obsolete on ProjectResource.
DEPLOYMENT_SETTINGS = (
    "DefaultGuidedFailureMode",
    "DefaultToSkipIfAlreadyInstalled",
    "DeploymentChangesTemplate",
    "ReleaseNotesTemplate",
    "ProjectConnectivityPolicy",
    "VersioningStrategy",
    "ForcePackageDownload",
)


def _project(desired: JsonDict, live: JsonDict | None) -> JsonDict:
    """Where a project is kept is the destination's own business: `PersistenceSettings` is
    never written (a create carrying it is refused: go-octopusdeploy project_service.go,
    "Persistence settings are available AFTER the project has been created or converted").
    On a config-as-code destination project the deployment settings are its git's."""
    result = {k: v for k, v in desired.items() if k != "PersistenceSettings"}
    if live is None:
        return result
    if "PersistenceSettings" in live:
        result["PersistenceSettings"] = live["PersistenceSettings"]
    if is_version_controlled(live):
        for name in DEPLOYMENT_SETTINGS:
            if name in live:
                result[name] = live[name]
            else:
                result.pop(name, None)
    return result


DESTINATION_OWN = "the destination's own"


def _duplicate_names(key: ResourceKey, desired: JsonDict, merged: JsonDict) -> list[str]:
    """Step and action names a process would hold twice (the server refuses them).

    Octopus: "Action name 'X' is already in use by another action in this deployment
    process. Action names must be unique." and "... are already in use by other steps"
    (OctopusDeployLabs/terraform-provider-octopusdeploy#276, #457); step names compare
    case-insensitively (OctopusDeploy/Issues#4459). A step and its own actions may share
    a name; two steps may not share one, through their names or their actions'.
    """
    synced = {str(step.get("Name", "")).lower() for step in desired.get("Steps") or []}
    owners: dict[str, list[str]] = {}
    for step in merged.get("Steps") or []:
        step_name = str(step.get("Name", ""))
        names = {step_name.lower()} | {
            str(action.get("Name", "")).lower() for action in step.get("Actions") or []
        }
        for name in names:
            owners.setdefault(name, []).append(step_name)
    errors = []
    for name, steps in sorted(owners.items()):
        if len(steps) < 2:
            continue
        described = [
            f"{'synced' if step.lower() in synced else DESTINATION_OWN} step {step!r}"
            for step in steps
        ]
        errors.append(
            f"{key}: {' and '.join(described)} both use the name {name!r}, and Octopus needs "
            "step and action names unique within a process: rename the destination's step, "
            "or exclude the synced one (exclude.steps)"
        )
    return errors


def _tenant(
    key: ResourceKey, before: JsonDict, after: JsonDict, base: JsonDict | None, force: bool
) -> tuple[Change, JsonDict | None]:
    """A tenant's own fields, and its project links one by one: links to projects the source
    does not sync (destination-only projects) are the destination's own and kept."""
    links = "ProjectEnvironments"

    def fields(document: JsonDict | None) -> JsonDict | None:
        return None if document is None else {k: v for k, v in document.items() if k != links}

    def linked(document: JsonDict | None) -> dict[str, Any]:
        return {p.lower(): (p, e) for p, e in ((document or {}).get(links) or {}).items()}

    own = threeway.decide(fields(base), fields(before), fields(after), force=force)
    verdicts = threeway.by_name(linked(base), linked(before), linked(after), force=force)
    result_links = dict(v.result for v in verdicts if v.result is not None)
    result = {**(own.result or {}), links: dict(sorted(result_links.items()))}
    ours = [
        v.desired if v.verdict in (threeway.CREATE, threeway.UPDATE, threeway.SAME) else v.base
        for v in verdicts
        if v.desired is not None or v.verdict == threeway.KEEP
    ]
    own_record = own.desired if own.verdict != threeway.CONFLICT else own.base
    record = {**(own_record or {}), links: dict(sorted(p for p in ours if p is not None))}
    values = tuple(_part(v, "link to project") for v in verdicts if v.verdict in REPORTED)
    if own.verdict == threeway.CONFLICT:
        values = (
            ValueAction("conflict", "tenant", fields(before), fields(after), CHANGED_BY_HAND),
            *values,
        )
    difference = _diff(before, result)
    if not difference:
        return Change(_quiet(values), key, before, before, values=values), record
    return Change("update", key, before, result, difference, values=values), record


def _tenant_variables(
    key: ResourceKey,
    before: JsonDict | None,
    desired: JsonDict,
    overlay: Overlay,
    links: Mapping[str, list[str]],
    legacy: bool,
    base: JsonDict | None = None,
    force: bool = False,
) -> tuple[Change, list[Decision], list[Placeholder], JsonDict]:
    """A tenant's values merged into the destination's (`tenantvars.merge`). A destination
    that keeps only the legacy document gets what it can hold, and a note on the rest.
    Returns the change, decisions, placeholders and the base to record."""
    decisions: list[Decision] = []
    if legacy:
        desired, notes = tenantvars.for_legacy(desired, links)
        decisions = [Decision(str(key), note) for note in notes]
    merged = tenantvars.merge(
        desired,
        before or {},
        overwrite=overlay.variables.overwrite,
        base=base,
        force=force,
        placeholder=(
            overlay.variables.placeholder if overlay.tenant_variables == "placeholder" else None
        ),
    )
    placeholders = [
        Placeholder(
            key,
            value.label,
            "secret that cannot be read from the source: written with the sensitive placeholder",
        )
        for value in merged.added_secrets
    ]
    if overlay.tenant_variables == "placeholder":
        placeholders += _tenant_placeholders(key, before or {}, merged.document, overlay)
    values = tuple(
        ValueAction(
            outcome.action,
            outcome.value.label,
            None
            if outcome.action == "add"
            else {"Name": outcome.value.label, "Value": outcome.before},
            None
            if outcome.action == "remove"
            else {"Name": outcome.value.label, "Value": outcome.value.value},
            outcome.reason,
        )
        for outcome in merged.outcomes
    )
    if before is None:
        change = Change("create", key, None, merged.document, values=values)
        return change, decisions, placeholders, merged.base
    difference = _diff(before, merged.document)
    if not difference:
        change = Change(_quiet(values), key, before, before, values=values)
        return change, decisions, [], merged.base
    change = Change("update", key, before, merged.document, difference, values=values)
    return change, decisions, placeholders, merged.base


def _tenant_placeholders(
    key: ResourceKey, before: JsonDict, after: JsonDict, overlay: Overlay
) -> list[Placeholder]:
    """Tenant values a push writes with the placeholder (`tenants: variables: placeholder`),
    where the destination had none: into the cleanup ledger, like variables."""
    text = overlay.variables.placeholder
    existing = list(tenantvars.entries(before))
    marks = []
    for kind, owner, template, entry in tenantvars.entries(after):
        if entry.get("Value") != text or (kind, owner, template, entry) in existing:
            continue
        scope = tenantvars.environments(entry)
        marks.append(
            Placeholder(
                key,
                f"{owner} {template}" + (f" [{', '.join(scope)}]" if scope else ""),
                "placeholder value for a tenant variable (tenants.variables: placeholder)",
                text,
                (kind, owner, template, *scope),
            )
        )
    return marks


def _permissions(
    key: ResourceKey, before: JsonDict, after: JsonDict, base: JsonDict | None
) -> tuple[Change, JsonDict | None]:
    """Scoped roles: the ones the source gives are added; one snapshotsync added that the
    source no longer gives is removed; the destination may grant more (its own)."""

    def shown(role: JsonDict) -> str:
        return json.dumps(role, sort_keys=True)

    wanted = {shown(r): r for r in after.get("ScopedUserRoles") or []}
    ours = {shown(r) for r in (base or {}).get("ScopedUserRoles") or []}
    roles = []
    values = []
    for role in before.get("ScopedUserRoles") or []:
        if shown(role) in ours and shown(role) not in wanted:
            values.append(
                ValueAction(
                    "remove",
                    str(role.get("UserRoleId")),
                    role,
                    None,
                    "role added by snapshotsync and no longer given on the source",
                )
            )
            continue
        roles.append(role)
    present = {shown(r) for r in roles}
    roles += [role for text, role in wanted.items() if text not in present]
    result = {**before, "ScopedUserRoles": roles}
    record = {"ScopedUserRoles": list(wanted.values())}
    difference = _diff(before, result)
    if not difference:
        return Change("same", key, before, before), record
    return Change("update", key, before, result, difference, values=tuple(values)), record


def _placeholders(change: Change) -> Iterator[Placeholder]:
    for value in change.values:
        if value.action == "add" and value.placeholder:
            shown = (value.after or {}).get("Value")
            yield Placeholder(
                change.key,
                f"variable {value.name}",
                value.placeholder,
                None if is_sensitive_marker(shown) else shown,
            )
    if change.values:
        return
    before = change.before or {}
    for path, marker in _markers(change.after or {}, ()):
        if _lookup(before, path) != marker:
            yield Placeholder(
                change.key,
                ".".join(str(p) for p in path),
                "secret that cannot be read from the source: written with the "
                "sensitive placeholder",
            )


def _markers(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    if is_sensitive_marker(value):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _markers(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            name = item.get("Name") if isinstance(item, dict) else None
            yield from _markers(item, (*path, name if name is not None else index))


def _lookup(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        if isinstance(document, list):
            document = next(
                (i for i in document if isinstance(i, dict) and i.get("Name") == part), None
            )
        elif isinstance(document, dict):
            document = document.get(part)
        else:
            return None
    return document


def _written(change: Change) -> JsonDict | None:
    """What a change writes: a variable set's added and changed values, a document's new
    state; nothing for what is left alone."""
    if change.values:
        written = [
            v.after
            for v in change.values
            if v.action in ("add", "overwrite", "update-scope", "update-meta")
        ]
        return {"Variables": [v for v in written if v is not None]}
    return change.after if change.action in WRITES else None


def _unresolved(
    changes: list[Change],
    live: Snapshot,
    facts: Mapping[str, frozenset[str]],
    renamed_to: Iterable[ResourceKey] = (),
    gone_by_hand: set[tuple[str, tuple[str, ...]]] | None = None,
) -> list[str]:
    """Required references the destination cannot resolve, in what would be written: what
    it has, what this plan creates, and the new names of what this plan renames."""
    known: dict[str, set[str]] = {}
    for key in live.resources:
        known.setdefault(key.kind, set()).add("/".join(key.name).lower())
    for key in [*renamed_to, *(c.key for c in changes if c.action == "create")]:
        known.setdefault(key.kind, set()).add("/".join(key.name).lower())
    for kind, names in facts.items():
        known.setdefault(kind, set()).update(n.lower() for n in names)
    errors = []
    for change in changes:
        document = _written(change)
        if document is None or change.key.kind not in KINDS:
            continue
        key = change.key
        for ref in KINDS[key.kind].refs:
            if ref.target in UNCHECKED_REFS:
                continue
            targets = REF_KINDS.get(ref.target, (ref.target,))
            for container, _, value in walk(document, ref.path):
                if ref.when is not None and not ref.when(container):
                    continue
                wanted: list[Any] = [value]
                if ref.separator:
                    wanted = str(value).split(ref.separator)
                for name in wanted:
                    if not isinstance(name, str) or not name:
                        continue
                    lookup = f"{key.name[0]}/{name}" if ref.target in PROJECT_SCOPED_REFS else name
                    if not any(lookup.lower() in known.get(t, set()) for t in targets):
                        gone = any(
                            (t, tuple(lookup.lower().split("/"))) in (gone_by_hand or set())
                            for t in targets
                        )
                        errors.append(
                            f"{key}: needs {ref.target} {name!r}, which "
                            + (
                                "snapshotsync placed and someone deleted or renamed on the "
                                "destination since the last push: rename it back, or "
                                "--force-overwrite creates it again"
                                if gone
                                else "is not on the destination and not synced"
                            )
                        )
    return errors


# ---------------------------------------------------------------- names as the server has them

OWNED = frozenset({"environments", *(kind for kind, b in BEHAVIOUR.items() if b == "exists")})
PROJECT_PARTS = frozenset({"channels", "actions", "runbooks"})


def canonical(desired: Snapshot, live: Snapshot, facts: Mapping[str, frozenset[str]]) -> Snapshot:
    """`desired` with every name the destination has spelled as the destination spells it.

    References of every kind, tenant variables' project and environment keys, and the names
    (keys) of what the destination owns; a name the destination lacks keeps its spelling."""
    spelling = _spellings(live, facts)
    resources: dict[ResourceKey, JsonDict] = {}
    for key, document in desired.resources.items():
        document = _respelled(key, document, spelling)
        if key.kind in OWNED:
            name = spelling.get(key.kind, {}).get(key.name[0].lower(), key.name[0])
            if "Name" in document:
                document["Name"] = name
            key = ResourceKey(key.kind, (name,))
        resources[key] = document
    return Snapshot(resources, desired.meta)


def _respelled(
    key: ResourceKey, document: JsonDict, spelling: Mapping[str, Mapping[str, str]]
) -> JsonDict:
    """A copy of `document` with the names it refers to spelled as `spelling` says."""
    document = copy_json(document)
    project = key.name[0] if "projects" in (key.kind, KINDS[key.kind].parent) else None
    _respell_refs(key.kind, document, spelling, project)
    if key.kind == "tenant-variables":
        _respell_tenant_values(document, spelling)
    return document


def _spellings(live: Snapshot, facts: Mapping[str, frozenset[str]]) -> dict[str, dict[str, str]]:
    """kind -> lower-cased name -> the destination's spelling (`<project>/<name>` for a
    project's channels and steps)."""
    spelling: dict[str, dict[str, str]] = {}
    for kind, names in facts.items():
        for name in names:
            spelling.setdefault(kind, {})[name.lower()] = name
    for key, document in live.resources.items():
        name = "/".join(key.name)
        spelling.setdefault(key.kind, {})[name.lower()] = name
        if key.kind == "deployment-processes":
            for _, _, action in walk(document, ACTIONS):
                step = f"{key.name[0]}/{action.get('Name')}"
                spelling.setdefault("actions", {})[step.lower()] = step
    for target, kinds in REF_KINDS.items():
        for kind in kinds:
            spelling.setdefault(target, {}).update(spelling.get(kind, {}))
    return spelling


def _respell(
    target: str, name: Any, spelling: Mapping[str, Mapping[str, str]], project: str | None
) -> Any:
    if not isinstance(name, str) or not name:
        return name
    if target in PROJECT_PARTS:
        if project is None:
            return name
        found = spelling.get(target, {}).get(f"{project}/{name}".lower())
        return found.split("/", 1)[1] if found else name
    return spelling.get(target, {}).get(name.lower(), name)


def _runbook_publishing(
    changes: list[Change], overlay: Overlay, facts: Mapping[str, frozenset[str]]
) -> tuple[list[Change], list[Decision], list[str]]:
    """Runbooks whose process this push writes, and the run-runbook triggers it writes.

    A runbook runs its published snapshot for triggers and consumers; a process written
    through the API is a draft until a snapshot is published (Octopus docs, runbook
    publishing). With `runbooks: {publish: true}` each such runbook gets a new published
    snapshot (a write of its own, after the runbook's process and variables, before the
    triggers); without it each is listed, as left with an older published snapshot or none.
    A run-runbook trigger written for a runbook that has no published snapshot, and will not
    get one from this push, stops the plan: the server refuses it ("Only published snapshots
    can be used to create a scheduled runbook trigger", scheduled runbook triggers).
    """
    published = {name.lower() for name in facts.get(PUBLISHED_RUNBOOKS, ())}
    publishes: list[Change] = []
    notes: list[Decision] = []
    for change in changes:
        if change.key.kind != "runbook-processes" or change.action not in WRITES[:3]:
            continue
        runbook = "/".join(change.key.name)
        if overlay.publish_runbooks:
            publishes.append(
                Change(
                    "create",
                    ResourceKey(RUNBOOK_PUBLISH, change.key.name),
                    None,
                    {"Publish": True},
                    reason="publish a new snapshot: this push writes its process",
                )
            )
            continue
        state = (
            "its published snapshot is now older than its process"
            if runbook.lower() in published
            else "it has no published snapshot"
        )
        notes.append(
            Decision(
                f"runbooks {runbook}",
                f"this push writes its process as a draft; {state}, which scheduled triggers "
                "and consumers run (publish it on the destination, or set "
                "`runbooks: {publish: true}` in the overlay)",
            )
        )
    will_run = published | {"/".join(c.key.name).lower() for c in publishes}
    errors = []
    for change in changes:
        action = (change.after or {}).get("Action") or {}
        if (
            change.key.kind == "triggers"
            and change.action in WRITES[:3]
            and action.get("ActionType") == "RunRunbook"
            and action.get("RunbookId")
            and f"{change.key.name[0]}/{action['RunbookId']}".lower() not in will_run
        ):
            errors.append(
                f"{change.key}: runs runbook {action['RunbookId']!r}, which has no published "
                "snapshot on the destination, and a real server refuses a scheduled trigger "
                "for it: set `runbooks: {publish: true}` in the overlay to publish the synced "
                "process, or publish the runbook on the destination first"
            )
    return publishes, notes, errors


def _before_triggers(changes: list[Change]) -> int:
    """Where runbook publishing goes: after every runbook part, before the first trigger."""
    last = KINDS["project-variables"].order
    return next(
        (
            i
            for i, c in enumerate(changes)
            if c.key.kind in KINDS and KINDS[c.key.kind].order > last
        ),
        len(changes),
    )


# Account secrets a real server parses when they are written, so no placeholder text will do:
# an SSH key pair's private key file (the base64 of a key file, OctopusDeployLabs/terraform-
# provider-octopusdeploy#343) and an Azure subscription's management certificate.
PARSED_SECRETS = {
    "SshKeyPair": ("PrivateKeyFile", "an SSH private key file"),
    "AzureSubscription": ("CertificateBytes", "a management certificate"),
}


def _parsed_secrets(change: Change) -> list[str]:
    """A new account whose secret the server parses: the plan stops, naming both fixes."""
    after = change.after or {}
    found = PARSED_SECRETS.get(str(after.get("AccountType")))
    if found is None or not is_sensitive_marker(after.get(found[0])):
        return []
    field, what = found
    return [
        f"{change.key}: not on the destination, and its {field} cannot be written as a "
        f"placeholder (the source's value cannot be read back, and a real server reads it as "
        f"{what}): create the account on the destination under this name with its own "
        "secret, or map it to an account the destination has (rename.accounts)"
    ]


def _respell_refs(
    kind: str,
    document: JsonDict,
    spelling: Mapping[str, Mapping[str, str]],
    project: str | None,
) -> None:
    for ref in KINDS[kind].refs:
        if ref.target == "process-owners":
            continue
        if ref.path[-1] == "~keys":
            for container, _, _ in walk(document, ref.path)[:1]:
                renamed = {
                    _respell(ref.target, k, spelling, project): v for k, v in container.items()
                }
                container.clear()
                container.update(renamed)
            continue
        for container, field_name, value in walk(document, ref.path):
            if ref.when is not None and not ref.when(container):
                continue
            if ref.separator and isinstance(value, str):
                parts = [
                    _respell(ref.target, p, spelling, project) for p in value.split(ref.separator)
                ]
                container[field_name] = ref.separator.join(parts)
            else:
                container[field_name] = _respell(ref.target, value, spelling, project)
    for _, _, action in walk(document, ACTIONS):
        for value in (action.get("Properties") or {}).values():
            if isinstance(value, dict) and isinstance(value.get("Ref"), dict):
                ref_ = value["Ref"]
                ref_["name"] = _respell(str(ref_.get("kind")), ref_.get("name"), spelling, project)


def _respell_tenant_values(document: JsonDict, spelling: Mapping[str, Mapping[str, str]]) -> None:
    """Tenant values' owners (projects, library variable sets) and environments."""
    for kind, target in (("ProjectVariables", "projects"), ("CommonVariables", "library-sets")):
        owners = document.get(kind)
        if not isinstance(owners, dict):
            continue
        document[kind] = {
            _respell(target, owner, spelling, None): {
                template: [
                    {
                        **entry,
                        "Environments": [
                            _respell("environments", e, spelling, None)
                            for e in entry["Environments"]
                        ],
                    }
                    if entry.get("Environments")
                    else entry
                    for entry in entries
                ]
                for template, entries in templates.items()
            }
            for owner, templates in owners.items()
        }


# ---------------------------------------------------------------- parts, for drift


def parts(key: ResourceKey, document: JsonDict) -> dict[str, Any]:
    """A document split into the parts the plan compares one by one (`threeway.drift`)."""
    behaviour = BEHAVIOUR.get(key.kind)
    if behaviour == "exists":
        return {"": _comparable_exists(document)}
    if behaviour == "process":
        found: dict[str, Any] = {
            f"step {step.get('Name')}": step for step in document.get("Steps") or []
        }
        rest = {k: v for k, v in document.items() if k != "Steps"}
        return {**({"": rest} if rest else {}), **found}
    if key.kind == "tenants":
        links = document.get("ProjectEnvironments") or {}
        return {
            "": {k: v for k, v in document.items() if k != "ProjectEnvironments"},
            **{f"link to project {p}": sorted(e) for p, e in links.items()},
        }
    if behaviour == "variables":
        found = {}
        for value in document.get("Variables") or []:
            label = f"value {describe_slot(value)}"
            while label in found:
                label += " (again)"
            # A description or prompt is the plan's to compare (`merge._metadata`), as the
            # value is: one a person added is a change, not a field the server added.
            found[label] = {**value, **{k: value.get(k) for k in METADATA}}
        return found
    if behaviour == "tenant-variables":
        return {
            f"value {value.label}": value.value
            for value in tenantvars.per_environment(document).values()
        }
    if behaviour == "permissions":
        return {
            f"role {json.dumps(role, sort_keys=True)}": role
            for role in document.get("ScopedUserRoles") or []
        }
    return {"": document}


HAND_EDITS = ("keep", "conflict")  # the plan lines that report a hand edit the push keeps


def hand_edit_parts(plan: Plan) -> set[tuple[ResourceKey, str]]:
    """Every part (as `parts` names it) that `plan` reports a hand edit in, and keeps.

    It is the same partition as `drift`'s because both cut a document where the plan decides
    it: a process by step (a key changed inside a step is the step's), a variable set by
    value slot (name and scope), a tenant into its own fields and one link a project, a team
    by role, anything else whole. Parts compare regardless of case, as names do
    (`threeway.part_key`)."""
    found: set[tuple[ResourceKey, str]] = set()
    for change in plan.changes:
        if change.action == "conflict" and not change.values:
            found.add((change.key, ""))  # the whole resource
        for line in change.values:
            if line.action in HAND_EDITS:
                found.add((change.key, threeway.part_key(_part_of(change.key, line))))
    return found


def _part_of(key: ResourceKey, line: ValueAction) -> str:
    """The part a plan line about a hand edit is about, named as `parts` names it."""
    behaviour = BEHAVIOUR.get(key.kind)
    if behaviour == "process":
        # A whole step (kept deleted, or kept after the source dropped it) is named by the
        # step's name; a key inside one as `step <name>: <path>` (`_process`).
        whole = any(
            isinstance(d, dict) and str(d.get("Name", "")).lower() == line.name.lower()
            for d in (line.before, line.after)
        )
        return f"step {line.name}" if whole else line.name.split(": ", 1)[0]
    if behaviour == "variables":
        return f"value {describe_slot(line.before or line.after or {})}"
    if behaviour == "tenant-variables":
        return f"value {line.name}"
    if key.kind == "tenants":
        if line.name == "tenant":
            return ""  # its own fields
        project = (line.before or line.after or {}).get("Name", line.name)
        return f"link to project {project}"
    if behaviour == "permissions":
        return f"role {json.dumps(line.before or line.after, sort_keys=True)}"
    return ""  # a whole resource, decided key by key


def describe_slot(value: JsonDict) -> str:
    """`Name [Environment: a; Role: r]`: where a value applies, not what it is."""
    scope = "; ".join(f"{d}: {', '.join(v)}" for d, v in sorted((value.get("Scope") or {}).items()))
    return f"{value.get('Name')}" + (f" [{scope}]" if scope else "")
