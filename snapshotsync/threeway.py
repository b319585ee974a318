"""Three-way comparison: what snapshotsync wrote last time (base), the destination now (live)
and what it should hold now (desired). Pure.

The sync repo records, after every push, what the destination held of what snapshotsync
placed there (`targets/<T>/base/`). That record is what lets a sync remove and rename what it
wrote, and tell an edit made by hand on the destination from a change on the source:

- in desired, not live: create it;
- in base and live, live unchanged since base: bring it to desired (update it, or remove it
  when desired no longer has it: the source dropped it, or the overlay now leaves it out);
- in base, changed by hand on the destination since: keep it; a conflict when desired
  differs, shown with both values; forcing takes desired;
- in live, never in base: the destination's own, never touched, unless desired has an item
  of the same name, which the sync then takes over (a first sync, or an item made by hand
  before the source had it) by the rules of its kind.

The items are whatever a kind is made of: whole resources, the steps of a process, the
values of a variable set, a tenant's project links and variable values, a team's roles.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Name = TypeVar("Name", bound=Hashable)

# Verdicts, one per item.
CREATE = "create"  # desired, not on the destination
UPDATE = "update"  # ours and unchanged since, or taken over: bring to desired
REMOVE = "remove"  # ours, unchanged since, and no longer desired
SAME = "same"  # already as desired
CONFLICT = "conflict"  # ours, changed by hand since, and desired differs: kept
KEEP = "keep"  # ours, changed by hand, no longer desired: kept (never a wrong delete)
OWN = "own"  # the destination's own: never touched


@dataclass(frozen=True)
class Verdict(Generic[Item]):
    """What happens to one item, and the three versions it was decided from."""

    verdict: str
    name: Hashable
    base: Item | None
    live: Item | None
    desired: Item | None

    @property
    def result(self) -> Item | None:
        """The item as the destination should hold it afterwards (None: not there)."""
        if self.verdict in (CREATE, UPDATE):
            return self.desired
        if self.verdict == REMOVE:
            return None
        return self.live


def holds(live: Any, base: Any) -> bool:
    """Whether `live` still holds what was written (`base`): every field written has the
    value written. Fields the server added on its own (defaults of a newer version, say)
    are not an edit; lists compare whole, item by item."""
    if isinstance(base, dict) and isinstance(live, dict):
        return all(k in live and holds(live[k], v) for k, v in base.items())
    if isinstance(base, list) and isinstance(live, list):
        return len(base) == len(live) and all(holds(a, b) for a, b in zip(live, base, strict=True))
    return bool(live == base)


def decide(
    base: Item | None,
    live: Item | None,
    desired: Item | None,
    *,
    name: Hashable = None,
    force: bool = False,
    same: Callable[[Any, Any], bool] | None = None,
) -> Verdict[Item]:
    """The verdict for one item. `same` compares two versions (equality by default); the
    destination is unchanged since the last push when it `holds` what was written."""
    equal = same or (lambda a, b: a == b)
    if live is None:
        if desired is None:
            return Verdict(SAME, name, base, live, desired)
        return Verdict(CREATE, name, base, live, desired)
    if desired is not None and equal(live, desired):
        return Verdict(SAME, name, base, live, desired)
    if base is None:
        return Verdict(UPDATE if desired is not None else OWN, name, base, live, desired)
    if holds(live, base) or force:
        return Verdict(UPDATE if desired is not None else REMOVE, name, base, live, desired)
    return Verdict(CONFLICT if desired is not None else KEEP, name, base, live, desired)


def by_name(
    base: Mapping[Name, Item],
    live: Mapping[Name, Item],
    desired: Mapping[Name, Item],
    *,
    force: bool = False,
    same: Callable[[Any, Any], bool] | None = None,
) -> list[Verdict[Item]]:
    """Verdicts for named items (names already matched the way Octopus matches them)."""
    names: list[Name] = list(dict.fromkeys([*desired, *live, *base]))
    return [
        decide(base.get(n), live.get(n), desired.get(n), name=n, force=force, same=same)
        for n in names
    ]


# ---------------------------------------------------------------------------------- drift


@dataclass(frozen=True)
class Drift:
    """Something of snapshotsync's that was changed (or deleted) by hand since the last push."""

    key: Any  # model.ResourceKey of the resource
    part: str  # "" for the whole resource, else the step, value, link... that changed
    change: str  # changed | deleted
    base: Any  # what snapshotsync wrote
    live: Any  # what the destination holds now (None: deleted)


def drift(
    base: Mapping[Any, dict[str, Any]],
    live: Mapping[Any, dict[str, Any]],
    parts: Callable[[Any, dict[str, Any]], Mapping[str, Any]],
    before: Mapping[Any, dict[str, Any]] | None = None,
) -> list[Drift]:
    """Every part of every recorded resource whose live version differs from its base, and
    every part added by hand inside one.

    `base` and `live` map resource keys (already matched the way Octopus matches names) to
    documents; `parts(key, document)` splits a document into its named parts, the same way
    the plan compares them. `before` is the destination as read just before the last push:
    a part it already had that snapshotsync did not place is the destination's own, not an
    addition (without it, no addition is reported).
    """
    found: list[Drift] = []
    for key, recorded in base.items():
        now = live.get(key)
        if now is None:
            found.append(Drift(key, "", "deleted", recorded, None))
            continue
        theirs = parts(key, now)
        current_of = {part_key(part): item for part, item in theirs.items()}
        ours = parts(key, recorded)
        for part, item in ours.items():
            current = current_of.get(part_key(part))
            if current is None:
                found.append(Drift(key, part, "deleted", item, None))
            elif not holds(current, item):
                found.append(Drift(key, part, "changed", item, current))
        if before is None or not part_names_matter(ours):
            continue
        earlier = before.get(key)
        known = {part_key(part) for part in ours}
        known |= {part_key(part) for part in parts(key, earlier)} if earlier is not None else set()
        for part, current in theirs.items():
            if part_key(part) not in known:
                found.append(Drift(key, part, "added", None, current))
    return found


def part_key(part: str) -> str:
    """A part's name as parts are matched, in drift and in the plan's report alike:
    regardless of case, as Octopus matches the names in it (a step `Deploy` a person
    renamed `deploy` is the same step, changed, not one deleted and one added)."""
    return part.lower()


def part_names_matter(parts: Mapping[str, Any]) -> bool:
    """Whether a document splits into named parts (steps, values, links, roles): a whole
    document (one part, "") has nothing to add inside it."""
    return any(name for name in parts)


# ---------------------------------------------------------------------- key by key


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Merged:
    """A document decided key by key (`merge`): what the destination should hold, what
    snapshotsync then holds of it (the next base), and the paths a person changed by hand
    and that are kept: `kept` where the source did not change them, `conflicts` where it
    did too."""

    document: Any
    record: Any
    kept: tuple[tuple[Any, ...], ...] = ()
    conflicts: tuple[tuple[Any, ...], ...] = ()


def merge(base: Any, live: Any, desired: Any, *, force: bool = False) -> Merged:
    """`desired` brought onto `live` key by key, with `base` (None: nothing recorded, as on
    a first sync) telling what snapshotsync placed. At every level, mappings key by key and
    lists of named items (steps, actions, packages) name by name; anything else is a value.

    - a key the source holds takes the source's value, unless a person changed it on the
      destination since the last push (kept: a conflict when the source changed it too;
      `force` takes the source's) or deleted it (kept deleted, a conflict);
    - a key snapshotsync placed that the source dropped is removed, unless a person changed
      it since (kept);
    - a key only the destination has, never placed by snapshotsync, stays as it is.
    """
    kept: list[tuple[Any, ...]] = []
    conflicts: list[tuple[Any, ...]] = []
    document, record = _merge(
        MISSING if base is None else base, live, desired, (), force, kept, conflicts
    )
    return Merged(
        None if document is MISSING else document,
        None if record is MISSING else record,
        tuple(kept),
        tuple(conflicts),
    )


def _named(items: Any) -> dict[str, Any] | None:
    """A list of named dicts by lower-cased name (None: not such a list)."""
    if not isinstance(items, list):
        return None
    if not all(isinstance(i, dict) and isinstance(i.get("Name"), str) for i in items):
        return None
    found = {str(i["Name"]).lower(): i for i in items}
    return found if len(found) == len(items) else None  # two of one name: a plain value


def _merge(
    base: Any,
    live: Any,
    desired: Any,
    path: tuple[Any, ...],
    force: bool,
    kept: list[tuple[Any, ...]],
    conflicts: list[tuple[Any, ...]],
) -> tuple[Any, Any]:
    """(what the destination should hold, what snapshotsync then holds) at `path`."""
    if live == desired:
        return desired, desired
    if isinstance(desired, dict) and isinstance(live, dict):
        return _merge_dicts(
            base if isinstance(base, dict) else MISSING, live, desired, path, force, kept, conflicts
        )
    if _named(desired) is not None and _named(live) is not None and (desired or live):
        return _merge_named(base, live, desired, path, force, kept, conflicts)
    if desired is MISSING:
        if base is MISSING:
            return live, MISSING  # the destination's own
        if live is MISSING or live == base or force:
            return MISSING, MISSING  # placed by snapshotsync, dropped by the source
        kept.append(path)
        return live, base  # changed by hand since: kept, still a hand edit next time
    if live is MISSING:
        if base is MISSING or force:
            return desired, desired
        conflicts.append(path)  # deleted by hand since the last push: kept deleted
        return MISSING, base
    if base is MISSING or live == base or force:
        return desired, desired
    if desired == base:
        kept.append(path)  # changed by hand, unchanged on the source: kept
        return live, base
    conflicts.append(path)
    return live, base


def _merge_dicts(
    base: Any,
    live: dict[str, Any],
    desired: dict[str, Any],
    path: tuple[Any, ...],
    force: bool,
    kept: list[tuple[Any, ...]],
    conflicts: list[tuple[Any, ...]],
) -> tuple[Any, Any]:
    document: dict[str, Any] = {}
    record: dict[str, Any] = {}
    old = base if isinstance(base, dict) else {}
    for key in dict.fromkeys([*desired, *live]):
        value, held = _merge(
            old.get(key, MISSING) if base is not MISSING else MISSING,
            live.get(key, MISSING),
            desired.get(key, MISSING),
            (*path, key),
            force,
            kept,
            conflicts,
        )
        if value is not MISSING:
            document[key] = value
        if held is not MISSING:
            record[key] = held
    return document, record


def _merge_named(
    base: Any,
    live: list[Any],
    desired: list[Any],
    path: tuple[Any, ...],
    force: bool,
    kept: list[tuple[Any, ...]],
    conflicts: list[tuple[Any, ...]],
) -> tuple[Any, Any]:
    """Named items in the source's order; the destination's own stay after the item they
    followed there."""
    olds = (_named(base) or {}) if base is not MISSING else {}
    lives = _named(live) or {}
    document: list[Any] = []
    record: list[Any] = []

    def merged(name: Any, now: Any, wanted: Any) -> tuple[Any, Any]:
        """The item named `name`, decided (`_merge`) at its place under `path`."""
        old = olds.get(str(name).lower(), MISSING) if base is not MISSING else MISSING
        return _merge(old, now, wanted, (*path, name), force, kept, conflicts)

    for item in desired:
        value, held = merged(item["Name"], lives.get(str(item["Name"]).lower(), MISSING), item)
        if value is not MISSING:
            document.append(value)
        if held is not MISSING:
            record.append(held)
    wanted = {str(i["Name"]).lower() for i in desired}
    for position, item in enumerate(live):
        name = str(item["Name"]).lower()
        if name in wanted:
            continue
        value, held = merged(item["Name"], item, MISSING)
        if held is not MISSING:
            record.append(held)
        if value is MISSING:
            continue
        anchor = 0
        for previous in reversed(live[:position]):
            previous_name = str(previous["Name"]).lower()
            at = next(
                (i for i, d in enumerate(document) if str(d["Name"]).lower() == previous_name), None
            )
            if at is not None:
                anchor = at + 1
                break
        document.insert(anchor, value)
    return document, record
