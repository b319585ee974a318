"""The variable merge engine: desired values of one variable set against the live ones. Pure.

For each desired value (after transform mapped its scope), in this order of preference
(design.md, "Variables"):

1. same name, type, value and scope on the destination: unchanged;
2. same name, type and value, and the scope differs only in the dimensions that are the
   same on every instance (roles, tenant tags, steps, process owners): those dimensions are
   updated, the destination's environments, channels and machines are kept;
3. same name, type and scope, different value: overwritten only with `overwrite: true` (or
   an explicit overlay value), never when the destination value is sensitive;
4. otherwise the value is added.

Names (of variables and in scopes) compare case-insensitively, values case-sensitively;
each destination value answers for at most one desired value, so two source values never
collapse into one. Destination values nobody asked about are kept. A *new* variable (no
value of that name on the destination) whose values were all scoped out by the environment
mapping follows `new-out-of-scope`: clone them without environment scope, write one
placeholder, or skip.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from snapshotsync.model import (
    EXPLICIT,
    OUT_OF_SCOPE,
    SENSITIVE,
    JsonDict,
    is_sensitive_marker,
)
from snapshotsync.overlay import VariablePolicy

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


@dataclass(frozen=True)
class Merged:
    actions: tuple[ValueAction, ...]
    variables: tuple[JsonDict, ...]  # the whole set as it should be written

    @property
    def changed(self) -> bool:
        return any(a.action in ("update-scope", "overwrite", "add") for a in self.actions)


def _scope(value: JsonDict) -> dict[str, list[str]]:
    return {d: sorted(v) for d, v in (value.get("Scope") or {}).items() if v}


def _type(value: JsonDict) -> str:
    return str(value.get("Type") or "String")


def _sensitive(value: JsonDict) -> bool:
    return _type(value) == "Sensitive" or is_sensitive_marker(value.get("Value"))


def _clean(value: JsonDict) -> JsonDict:
    return {k: v for k, v in value.items() if not k.startswith("~")}


def merge(desired: list[JsonDict], live: list[JsonDict], policy: VariablePolicy) -> Merged:
    """Merge `desired` values into `live` ones under `policy`."""
    ignored = {d for d, p in POLICY_OF.items() if policy.scoping.get(p) in IGNORING}
    on_new_only = {d for d, p in POLICY_OF.items() if policy.scoping.get(p) == "ignore-on-new"}
    live_names = {str(v["Name"]).lower() for v in live}
    actions: list[ValueAction] = []
    candidates: list[JsonDict] = []
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
                continue
            candidates += in_scope
        elif in_scope:
            actions += _leave(name, out, "scoped only to excluded environments")
            candidates += in_scope
        elif out:
            candidates += _new_out_of_scope(name, out, policy, actions)
    return _match(candidates, live, policy, ignored, actions)


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
        placeholder: JsonDict = {"Name": name, "Value": policy.placeholder}
        if sensitive:
            placeholder.update({"Value": dict(SENSITIVE), "Type": "Sensitive"})
        placeholder["~Placeholder"] = (
            "new variable scoped only to excluded environments: placeholder value "
            "(new-out-of-scope: placeholder)"
        )
        return [placeholder]
    cloned = []
    for value in values:
        copy_ = copy.deepcopy(value)
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
) -> Merged:
    result = [copy.deepcopy(v) for v in live]
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
            "update-scope",
            lambda a, b: same_value(a, b) and not _sensitive(b) and specific_scope(a, b),
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
            actions.append(_act(outcome, value, existing, result, index, policy))
        pending = still
    for position in pending:
        value = candidates[position]
        added = _clean(value)
        reason = str(value.get("~Placeholder") or "")
        if is_sensitive_marker(added.get("Value")):
            reason = reason or (
                "sensitive value that cannot be read from the source: created "
                "with the sensitive placeholder"
            )
        result.append(added)
        actions.append(
            ValueAction("add", str(value["Name"]), None, added, "new value", placeholder=reason)
        )
    return Merged(tuple(actions), tuple(result))


def _act(
    outcome: str,
    value: JsonDict,
    existing: JsonDict,
    result: list[JsonDict],
    index: int,
    policy: VariablePolicy,
) -> ValueAction:
    name = str(value["Name"])
    before = copy.deepcopy(existing)
    if outcome == "same":
        return ValueAction("same", name, before, before)
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
    if not (policy.overwrite or value.get(EXPLICIT)):
        return ValueAction(
            "leave", name, before, before, "different value on the destination (overwrite is off)"
        )
    updated = {**existing, "Value": value.get("Value")}
    result[index] = updated
    reason = "value set by the overlay" if value.get(EXPLICIT) else "overwrite: true"
    return ValueAction("overwrite", name, before, updated, reason)


def strip_markers(values: list[JsonDict]) -> list[JsonDict]:
    """The values without the transform's working markers."""
    return [_clean(v) for v in values]


def describe(value: JsonDict | None) -> str:
    """`Name = value [Environment: a, b; Role: r]` for reports."""
    if value is None:
        return ""
    shown: Any = value.get("Value")
    text = "<sensitive>" if _sensitive(value) else repr(shown)
    scope = _scope(value)
    where = "; ".join(f"{d}: {', '.join(v)}" for d, v in scope.items())
    return f"{value['Name']} = {text}" + (f" [{where}]" if where else "")
