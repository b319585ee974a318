"""The variable merge engine: desired values of one variable set against the live ones. Pure.

For each desired value (after transform mapped its scope), in this order of preference
(the Octopus guide "Sync multiple instances", "Variable scoping"):

1. same name, type, value and scope on the destination: unchanged;
2. same name, type and value, and the scope differs only in the dimensions that are the
   same on every instance (roles, tenant tags, steps, process owners): those dimensions are
   updated, the destination's environments, channels and machines are kept;
3. same name, type and scope, different value: never when the destination value is
   sensitive; otherwise by the `overwrite` policy: `true` always (and an explicit overlay
   value always), `false` never (the guide's rule), and by default only when nobody changed
   it on the destination since the last push (it is still what snapshotsync wrote, the
   *base*: see `threeway.py`); a value changed by hand since is kept and reported as a
   conflict, which `--force-overwrite` resolves for the source;
4. otherwise the value is added.

A value snapshotsync placed that no desired value answers for any more (the source dropped
it, or the overlay now leaves it out) is removed when it is unchanged since the last push
(kept, and reported, when someone changed it), except under `overwrite: false`, and never
a secret: its value cannot be read, so nobody can tell it was not replaced. Values written
as placeholders are never in the base: they belong to the person who must replace them.

Names (of variables and in scopes) compare case-insensitively, values case-sensitively;
each destination value answers for at most one desired value, so two source values never
collapse into one. Destination values nobody asked about are kept. A *new* variable (no
value of that name on the destination) whose values were all scoped out by the environment
mapping follows `new-out-of-scope`: clone them without environment scope, write one
placeholder, or skip.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from snapshotsync.model import (
    EXPLICIT,
    OUT_OF_SCOPE,
    SENSITIVE,
    JsonDict,
    copy_json,
    is_sensitive_marker,
)
from snapshotsync.overlay import VariablePolicy

# A secret cannot be read back, so a value written with the sensitive placeholder says so in
# the first line of its description: for `cleanup`, and for a person in the UI. The source's
# description follows it. The note is snapshotsync's, not the value's: descriptions compare
# without it, and a description the source changes keeps it while the value is a placeholder.
PLACEHOLDER_NOTE = "snapshotsync placeholder: replace the value, then remove this note"
INVARIANT = ("Role", "TenantTag", "Action", "ProcessOwner")
SPECIFIC = ("Environment", "Channel", "Machine")
POLICY_OF = {
    "Environment": "environment",
    "Channel": "channel",
    "Machine": "machine",
    "TenantTag": "tenant-tag",
    "Action": "action",
    "ProcessOwner": "process-owner",
}
IGNORING = ("ignore", "ignore-on-new")


@dataclass(frozen=True)
class ValueAction:
    """What happens to one value: same, update-scope, overwrite, add or leave."""

    action: str
    name: str
    before: JsonDict | None
    after: JsonDict | None
    reason: str = ""
    placeholder: str = ""  # why a placeholder was written (for the cleanup ledger)
    # What snapshotsync holds of the value once written, when that is not `after`: an
    # overwrite that kept a person's description records the description it had written.
    record: JsonDict | None = None


WRITING = ("update-scope", "update-meta", "overwrite", "add", "remove")


@dataclass(frozen=True)
class Merged:
    actions: tuple[ValueAction, ...]
    variables: tuple[JsonDict, ...]  # the whole set as it should be written
    base: tuple[JsonDict, ...] = ()  # the values snapshotsync holds there once written

    @property
    def changed(self) -> bool:
        return any(a.action in WRITING for a in self.actions)


def slot(value: JsonDict) -> str:
    """A value's place: its name (any case), type and scope; the value itself aside."""
    scope = {d: sorted(n.lower() for n in names) for d, names in _scope(value).items()}
    return json.dumps([str(value["Name"]).lower(), _type(value), scope], sort_keys=True)


def identity(value: JsonDict) -> str:
    """A value as a whole, for telling whether it is still what was written."""
    return json.dumps([slot(value), value.get("Value")], sort_keys=True)


class _Base:
    """The values snapshotsync wrote last time, as a multiset (None: no push yet)."""

    def __init__(self, values: list[JsonDict] | None) -> None:
        self.known = values is not None
        self.values = Counter(identity(_clean(v)) for v in values or [])
        self.slots = {slot(_clean(v)): _clean(v) for v in values or []}

    def holds(self, value: JsonDict) -> bool:
        return self.values[identity(value)] > 0

    def written_at(self, value: JsonDict) -> JsonDict | None:
        """What snapshotsync wrote in this value's place, if it wrote anything there."""
        return self.slots.get(slot(value))


def _scope(value: JsonDict) -> dict[str, list[str]]:
    return {d: sorted(v) for d, v in (value.get("Scope") or {}).items() if v}


def _type(value: JsonDict) -> str:
    return str(value.get("Type") or "String")


def _sensitive(value: JsonDict) -> bool:
    return _type(value) == "Sensitive" or is_sensitive_marker(value.get("Value"))


def _clean(value: JsonDict) -> JsonDict:
    return {k: v for k, v in value.items() if not k.startswith("~")}


def merge(
    desired: list[JsonDict],
    live: list[JsonDict],
    policy: VariablePolicy,
    *,
    base: list[JsonDict] | None = None,
    force: bool = False,
) -> Merged:
    """Merge `desired` values into `live` ones under `policy`; `base` is what snapshotsync
    wrote to this set last time (None before any push), `force` takes the source's value
    where someone changed it by hand since."""
    ignored = {d for d, p in POLICY_OF.items() if policy.scoping.get(p) in IGNORING}
    on_new_only = {d for d, p in POLICY_OF.items() if policy.scoping.get(p) == "ignore-on-new"}
    live_names = {str(v["Name"]).lower() for v in live}
    actions: list[ValueAction] = []
    candidates: list[JsonDict] = []
    held: set[str] = set()  # names whose destination values the policy leaves alone
    by_name: dict[str, list[JsonDict]] = {}
    for value in desired:
        by_name.setdefault(str(value["Name"]).lower(), []).append(value)
    for lowered, values in by_name.items():
        in_scope = [v for v in values if not v.get(OUT_OF_SCOPE)]
        out = [v for v in values if v.get(OUT_OF_SCOPE)]
        name = str(values[0]["Name"])
        if lowered in live_names:
            actions += _leave(
                name,
                out,
                "scoped only to excluded environments; the destination has its own values",
            )
            if on_new_only and any(set(_scope(v)) & on_new_only for v in in_scope):
                actions += _leave(
                    name,
                    in_scope,
                    "the variable exists on the destination and its scope policy is ignore-on-new",
                )
                held.add(lowered)
                continue
            candidates += in_scope
        elif in_scope:
            actions += _leave(name, out, "scoped only to excluded environments")
            candidates += in_scope
        elif out:
            candidates += _new_out_of_scope(name, out, policy, actions)
    return _match(candidates, live, policy, ignored, actions, _Base(base), force, held)


def _leave(name: str, values: list[JsonDict], reason: str) -> list[ValueAction]:
    """Desired values not written, each with the reason (every decision is recorded)."""
    return [ValueAction("leave", name, None, _clean(v), reason) for v in values]


def _new_out_of_scope(
    name: str, values: list[JsonDict], policy: VariablePolicy, actions: list[ValueAction]
) -> list[JsonDict]:
    mode = policy.new_out_of_scope
    if mode == "skip":
        actions += _leave(
            name,
            values,
            "new variable scoped only to excluded environments (new-out-of-scope: skip)",
        )
        return []
    if mode == "placeholder":
        sensitive = any(_sensitive(v) for v in values)
        # One placeholder for each scope the values have beyond their environments (a
        # tenant tag, a role): a placeholder never applies wider than a source value did.
        scopes: dict[str, dict[str, list[str]]] = {}
        for value in values:
            rest = {d: n for d, n in _scope(value).items() if d != "Environment"}
            scopes.setdefault(json.dumps(rest, sort_keys=True), rest)
        placeholders = []
        for scope in scopes.values():
            placeholder: JsonDict = {"Name": name, "Value": policy.placeholder}
            if sensitive:
                placeholder.update({"Value": dict(SENSITIVE), "Type": "Sensitive"})
            if scope:
                placeholder["Scope"] = scope
            placeholder["~Placeholder"] = (
                "new variable scoped only to excluded environments: placeholder value "
                "(new-out-of-scope: placeholder)"
            )
            placeholders.append(placeholder)
        return placeholders
    cloned = []
    for value in values:
        copy_ = copy_json(value)
        scope = _scope(copy_)
        scope.pop("Environment", None)
        copy_.pop("Scope", None)
        if scope:
            copy_["Scope"] = scope
        copy_["~Placeholder"] = (
            "cloned without its environment scope (new-out-of-scope: "
            "clone): check the value fits the destination"
        )
        cloned.append(copy_)
    return cloned


def _comparable(
    scope: dict[str, list[str]], dimensions: tuple[str, ...] | None, ignored: set[str]
) -> dict[str, list[str]]:
    """The scope as compared: names of environments, roles, steps... match regardless of
    case, as Octopus matches them."""
    return {
        d: sorted(n.lower() for n in v)
        for d, v in scope.items()
        if d not in ignored and (dimensions is None or d in dimensions)
    }


def _match(
    candidates: list[JsonDict],
    live: list[JsonDict],
    policy: VariablePolicy,
    ignored: set[str],
    actions: list[ValueAction],
    base: _Base,
    force: bool,
    held: set[str],
) -> Merged:
    result = [copy_json(v) for v in live]
    ours: list[JsonDict] = []  # the new base
    used: set[int] = set()
    pending = list(range(len(candidates)))

    def find(test: Callable[[JsonDict, JsonDict], bool], value: JsonDict) -> int | None:
        for index, existing in enumerate(result):
            if (
                index not in used
                and str(existing["Name"]).lower() == str(value["Name"]).lower()
                and _type(existing) == _type(value)
                and test(value, existing)
            ):
                return index
        return None

    def same_value(a: JsonDict, b: JsonDict) -> bool:
        return a.get("Value") == b.get("Value")

    def full_scope(a: JsonDict, b: JsonDict) -> bool:
        return _comparable(_scope(a), None, ignored) == _comparable(_scope(b), None, ignored)

    def specific_scope(a: JsonDict, b: JsonDict) -> bool:
        return _comparable(_scope(a), SPECIFIC, ignored) == _comparable(
            _scope(b), SPECIFIC, ignored
        )

    passes: list[tuple[str, Callable[[JsonDict, JsonDict], bool]]] = [
        ("same", lambda a, b: same_value(a, b) and full_scope(a, b)),
        (
            # Roles, tags, steps or owners of a value follow the source only where the value
            # is still what snapshotsync wrote (or before any push, the guide's rule 2).
            "update-scope",
            lambda a, b: (
                same_value(a, b)
                and not _sensitive(b)
                and specific_scope(a, b)
                and (not base.known or base.holds(b) or force)
            ),
        ),
        ("differs", full_scope),
    ]
    for outcome, test in passes:
        still = []
        for position in pending:
            value = candidates[position]
            index = find(test, value)
            if index is None:
                still.append(position)
                continue
            used.add(index)
            existing = result[index]
            action = _act(outcome, value, existing, result, index, policy, base, force)
            actions.append(action)
            if action.action == "overwrite" and action.record is not None:
                actions.append(_kept_words(action))
            if action.action in ("same", "update-scope", "update-meta", "overwrite"):
                ours.append(result[index] if action.record is None else action.record)
            elif base.written_at(existing) is not None:
                ours.append(base.written_at(existing) or {})  # still ours, still edited
        pending = still
    for position in pending:
        value = candidates[position]
        added = _clean(value)
        shadowed = _shadowed(added, result) if is_sensitive_marker(added.get("Value")) else None
        if shadowed is not None:
            # Octopus takes the most specific value: a placeholder scoped inside a real
            # secret's scope would replace that secret where it applies.
            actions.append(
                ValueAction(
                    "leave",
                    str(value["Name"]),
                    None,
                    added,
                    f"a new secret, and the destination's secret {describe(shadowed)} applies "
                    "wherever it would: the placeholder would shadow it there, so it is not "
                    "written (give the value in the overlay, or set it on the destination)",
                )
            )
            continue
        reason = str(value.get("~Placeholder") or "")
        if is_sensitive_marker(added.get("Value")):
            reason = reason or (
                "sensitive value that cannot be read from the source: created "
                "with the sensitive placeholder"
            )
            added["Description"] = with_note(added.get("Description"))
        result.append(added)
        actions.append(
            ValueAction("add", str(value["Name"]), None, added, "new value", placeholder=reason)
        )
        if not reason:
            ours.append(added)
    # Only the destination's values can have been dropped: not those just added after them.
    removed = _dropped(result[: len(live)], used, policy, base, force, held, actions, ours)
    kept = tuple(v for i, v in enumerate(result) if i not in removed)
    # A secret is recorded as the destination shows it: a value exists, unknown.
    recorded = tuple({**v, "Value": dict(SENSITIVE)} if _sensitive(v) else v for v in ours)
    return Merged(tuple(actions), kept, recorded)


def _shadowed(value: JsonDict, live: list[JsonDict]) -> JsonDict | None:
    """A destination secret of the same name whose scope holds all of `value`'s (a wider
    scope, or none at all), if there is one."""
    wanted = _scope(value)
    for existing in live:
        if str(existing["Name"]).lower() != str(value["Name"]).lower() or not _sensitive(existing):
            continue
        theirs = _scope(existing)
        if all(
            dimension in wanted
            and {n.lower() for n in wanted[dimension]} <= {n.lower() for n in names}
            for dimension, names in theirs.items()
        ):
            return existing
    return None


def _dropped(
    result: list[JsonDict],
    used: set[int],
    policy: VariablePolicy,
    base: _Base,
    force: bool,
    held: set[str],
    actions: list[ValueAction],
    ours: list[JsonDict],
) -> set[int]:
    """Values snapshotsync placed that nothing desired answers for any more: removed when
    unchanged since (or forced), kept and reported when changed by hand."""
    removed: set[int] = set()
    if not base.known or policy.overwrite is False:
        return removed
    claimed = Counter(identity(v) for v in ours)
    for index, value in enumerate(result):
        if index in used or str(value["Name"]).lower() in held or _sensitive(value):
            continue
        name = str(value["Name"])
        written = base.written_at(value)
        # A description or prompt a person changed is a change by hand, as the value is.
        same_words = written is None or _meta(written) == _meta(value)
        if base.values[identity(value)] > claimed[identity(value)] and same_words:
            claimed[identity(value)] += 1
            removed.add(index)
            actions.append(
                ValueAction(
                    "remove",
                    name,
                    value,
                    None,
                    "placed by snapshotsync and no longer on the source (or left out by the "
                    "overlay); unchanged on the destination since the last push",
                )
            )
        elif written is not None and not (base.holds(value) and same_words):
            if force:
                removed.add(index)
                actions.append(
                    ValueAction(
                        "remove", name, value, None, "no longer on the source (--force-overwrite)"
                    )
                )
            else:
                actions.append(
                    ValueAction(
                        "keep",
                        name,
                        value,
                        value,
                        "no longer on the source, but changed by hand on the destination "
                        "since the last push: kept (--force-overwrite removes it)",
                    )
                )
                ours.append(written)
    return removed


METADATA = ("Description", "Prompt")


def with_note(description: Any) -> str:
    """A placeholder's description: the note, then the source's description, if any."""
    return PLACEHOLDER_NOTE + (f"\n\n{description}" if description else "")


def has_note(description: Any) -> bool:
    return isinstance(description, str) and description.startswith(PLACEHOLDER_NOTE)


def _meta(value: JsonDict | None) -> dict[str, Any]:
    """A value's description and prompt, the placeholder note aside."""
    meta = {k: value[k] for k in METADATA if value is not None and k in value}
    if has_note(meta.get("Description")):
        rest = str(meta.pop("Description"))[len(PLACEHOLDER_NOTE) :].strip("\n")
        if rest:
            meta["Description"] = rest
    return meta


def _metadata(
    value: JsonDict,
    existing: JsonDict,
    result: list[JsonDict],
    index: int,
    base: _Base,
    force: bool,
) -> ValueAction:
    """The same value on both sides: its description and prompt follow the source, under
    the same three-way rule as values (a person's own wording since the last push is kept)."""
    name = str(value["Name"])
    before = copy_json(existing)
    wanted, now = _meta(_clean(value)), _meta(existing)
    if wanted == now:
        return ValueAction("same", name, before, before)
    written = base.written_at(existing)
    if base.known and written is not None and _meta(written) != now and not force:
        return ValueAction(
            "keep",
            name,
            before,
            before,
            "description or prompt changed by hand on the destination since the last push: kept",
        )
    updated = {k: v for k, v in existing.items() if k not in METADATA} | wanted
    if has_note(existing.get("Description")):  # still a placeholder: the note stays
        updated["Description"] = with_note(wanted.get("Description"))
    result[index] = updated
    return ValueAction(
        "update-meta", name, before, updated, "same value; description or prompt changed"
    )


def _act(
    outcome: str,
    value: JsonDict,
    existing: JsonDict,
    result: list[JsonDict],
    index: int,
    policy: VariablePolicy,
    base: _Base,
    force: bool,
) -> ValueAction:
    name = str(value["Name"])
    before = copy_json(existing)
    if outcome == "same":
        return _metadata(value, existing, result, index, base, force)
    if outcome == "update-scope":
        scope = _scope(existing)
        for dimension in INVARIANT:
            scope.pop(dimension, None)
        for dimension, names in _scope(value).items():
            if dimension in INVARIANT:
                scope[dimension] = names
        updated = {k: v for k, v in existing.items() if k != "Scope"}
        if scope:
            updated["Scope"] = dict(sorted(scope.items()))
        result[index] = updated
        return ValueAction(
            "update-scope",
            name,
            before,
            updated,
            "same value; roles, tenant tags, steps or process owners changed",
        )
    if _sensitive(existing):
        return ValueAction(
            "leave", name, before, before, "the destination value is sensitive: never overwritten"
        )
    if is_sensitive_marker(value.get("Value")):
        return ValueAction(
            "leave", name, before, before, "the source value is sensitive and cannot be read"
        )
    if value.get(EXPLICIT):
        reason = "value set by the overlay"
    elif policy.overwrite is True:
        reason = "overwrite: true"
    elif policy.overwrite is False:
        return ValueAction(
            "leave", name, before, before, "different value on the destination (overwrite: false)"
        )
    elif base.holds(existing):
        reason = "changed on the source; unchanged on the destination since the last push"
    elif base.written_at(existing) is None:
        return ValueAction(
            "leave",
            name,
            before,
            before,
            "different value on the destination, which snapshotsync does not hold (the "
            "destination's own, or a placeholder left for a person to replace): left alone",
        )
    elif force:
        reason = "changed by hand on the destination since the last push (--force-overwrite)"
    else:
        return ValueAction(
            "conflict",
            name,
            before,
            _clean(value),
            "changed by hand on the destination since the last push: kept "
            "(--force-overwrite takes the source's value)",
        )
    # The description and prompt come with the value, under the same rule: a person's own
    # wording since the last push is kept (and still recorded as what was written).
    written, now, wanted = base.written_at(existing), _meta(existing), _meta(_clean(value))
    own_words = base.known and written is not None and now not in (_meta(written), wanted)
    meta = now if own_words and not force else wanted
    updated = {k: v for k, v in existing.items() if k not in METADATA}
    updated |= meta | {"Value": value.get("Value")}
    result[index] = updated
    record = None
    if own_words and not force:
        held = {k: v for k, v in updated.items() if k not in METADATA}
        record = held | _meta(written)
    return ValueAction("overwrite", name, before, updated, reason, record=record)


def _kept_words(overwrite: ValueAction) -> ValueAction:
    """The plan line for a description or prompt a person wrote, kept beside an overwrite."""
    return ValueAction(
        "keep",
        overwrite.name,
        overwrite.after,
        overwrite.after,
        "description or prompt changed by hand on the destination since the last push: kept",
    )


def strip_markers(values: list[JsonDict]) -> list[JsonDict]:
    """The values without the transform's working markers."""
    return [_clean(v) for v in values]


def describe(value: JsonDict | None) -> str:
    """`Name = value [Environment: a, b; Role: r]` for reports."""
    if value is None:
        return ""
    if "Value" not in value:  # a part that is not a value: a step, a tenant's fields
        return str(value.get("Name", ""))
    shown: Any = value.get("Value")
    text = "<sensitive>" if _sensitive(value) else repr(shown)
    scope = _scope(value)
    where = "; ".join(f"{d}: {', '.join(v)}" for d, v in scope.items())
    return f"{value['Name']} = {text}" + (f" [{where}]" if where else "")
