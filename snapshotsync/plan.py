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
destination's spelling (`spelling.py`), so a case difference never reads as a change or adds
a second value.

This module decides across resources (renames and the names they free, references, tags
still in use, runbooks to publish, what is pruned); each resource's own document is decided
in `documents.py`, and what a plan is made of is in `changes.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from snapshotsync import prune as pruning
from snapshotsync.changes import (
    BEHAVIOUR,
    ENVIRONMENT_ORDER,
    REF_KINDS,
    UNCHECKED_REFS,
    WRITES,
    Change,
    Placeholder,
    Plan,
    Record,
    comparable_exists,
)
from snapshotsync.documents import (
    GONE_BY_HAND,
    NO_BASE,
    WHOLE,
    decide,
    deleted_by_hand,
    diff,
    duplicate_names,
    tenant_variables,
    without_deleted_steps,
)
from snapshotsync.model import JsonDict, ResourceKey, Snapshot, is_sensitive_marker, lowered
from snapshotsync.octopus.kinds import (
    KINDS,
    PROJECT_SCOPED_REFS,
    PUBLISHED_RUNBOOKS,
    RUNBOOK_PUBLISH,
    is_version_controlled,
    sync_order,
    walk,
)
from snapshotsync.overlay import Overlay
from snapshotsync.spelling import canonical, respelled
from snapshotsync.transform import Decision, Desired


class _Index:
    """Live documents by kind and lower-cased name (names match case-insensitively)."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.by_name: dict[tuple[str, tuple[str, ...]], ResourceKey] = {}
        self.resources = snapshot.resources
        for key in snapshot.resources:
            self.by_name[lowered(key)] = key

    def get(self, key: ResourceKey) -> tuple[ResourceKey | None, JsonDict | None]:
        found = self.by_name.get(lowered(key))
        return (found, self.resources[found]) if found else (None, None)


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
    created = {lowered(k): k for k in _created(base)}
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
        lowered(found)
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
            if old is None and live_key is not None and lowered(live_key) in taken:
                live_key, before = None, None  # the old name's holder is renamed, not reused
            if old is not None and before is None:
                live_key, before = index.get(old)
            elif old is not None and not KINDS[kind.name].singleton:
                synced = index.get(old)[0]
                if (
                    synced is not None
                    and live_key is not None
                    and lowered(synced) != lowered(live_key)
                ):
                    errors.append(_taken(synced, key))
                    continue
            if old is not None and (live_key is not None or recorded is not None):
                claimed.add(lowered(old))
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
            elif old is None and before is None and lowered(key) in taken:
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
                gone_by_hand.add(lowered(key))
                changes.append(Change("conflict", key, None, after, reason=GONE_BY_HAND))
                records[key] = Record(key, base_doc)
                continue
            parent = KINDS[kind.name].parent
            if parent is not None and (parent, (key.name[0].lower(),)) in gone_by_hand:
                records[key] = Record(key, base_doc)  # goes unwritten with its parent
                continue
            if kind.name == "tenant-variables":
                tenant = desired.snapshot.resources.get(ResourceKey("tenants", key.name)) or {}
                change, notes, marks, record = tenant_variables(
                    live_key or key,
                    before,
                    after,
                    overlay,
                    tenant.get("ProjectEnvironments") or {},
                    live.meta.get("tenant_variables") == "legacy",
                    base_doc,
                    force,
                )
                if old is not None and live_key is not None and lowered(live_key) != lowered(key):
                    change = replace(change, key=key, live_key=live_key)
                changes.append(change)
                records[change.key] = Record(key, record, was=old)
                decisions += notes
                placeholders += marks
                continue
            if kind.name == "project-variables" and key.name[0].lower() in kept_deleted:
                after, notes = without_deleted_steps(key, after, kept_deleted[key.name[0].lower()])
                decisions += notes
            change, kept = decide(
                BEHAVIOUR[kind.name],
                live_key or key,
                before,
                after,
                overlay,
                base_doc if recorded is not None else NO_BASE,
                force,
                earlier.steps(key),
            )
            if BEHAVIOUR[kind.name] == "process":
                for action in deleted_by_hand(key, change):
                    kept_deleted.setdefault(key.name[0].lower(), set()).add(action.lower())
            renamed = old is not None and live_key is not None and lowered(live_key) != lowered(key)
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
                if lowered(live_key) in created:
                    del created[lowered(live_key)]
                    created[lowered(key)] = key
            records[change.key] = Record(key, kept, was=old if renamed else None)
            if change.action == "create" and BEHAVIOUR[kind.name] in WHOLE:
                created[lowered(key)] = key
            if BEHAVIOUR[kind.name] == "process" and change.after is not None:
                errors += duplicate_names(key, after, change.after)
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
            {k: v for k, v in base.resources.items() if lowered(k) not in claimed}, base.meta
        )
        orphans, dropped = pruning.orphans(
            desired.snapshot,
            live,
            kept_on,
            frozenset(created.values()),
            whole=frozenset(k for k, b in BEHAVIOUR.items() if b in WHOLE),
            prune=prune,
            comparable=comparable_exists,
        )
        changes += [Change(o.action, o.key, o.live, None, reason=o.reason) for o in orphans]
        for key in dropped:
            records[key] = Record(key, None)
            created.pop(lowered(key), None)
        # A part snapshotsync wrote (a tenant's values, a team's roles) that the source no
        # longer gives (a tenant unlinked from its last project: the server drops its values
        # for that project itself) is no longer snapshotsync's to record: what is left of it
        # on the destination is not reported as deleted by hand, nor touched.
        wanted = {lowered(k) for k in desired.snapshot.resources}
        for key in kept_on.resources:
            if (
                BEHAVIOUR.get(key.kind) not in WHOLE
                and KINDS[key.kind].parent not in (None, "projects")
                and lowered(key) not in wanted
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
        key: respelled(key, document, spelling) for key, document in live.resources.items()
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
            change = replace(change, after=after, diff=diff(change.before, after))
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
    return Change("update", ENVIRONMENT_ORDER, before, after, diff(before, after))


def _by_sort_order(snapshot: Snapshot) -> list[ResourceKey]:
    environments = snapshot.of_kind("environments")
    return sorted(
        environments,
        key=lambda key: (int(environments[key].get("SortOrder") or 0), key.name[0].lower()),
    )


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
