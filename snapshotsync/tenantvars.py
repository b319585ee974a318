"""Tenant variables in normal form, and how desired values meet the destination's. Pure.

Octopus keeps a tenant's values in two shapes, by version (OctopusDeploy/Issues #9222,
#9414; the Octopus CLI and the Terraform provider choose by the feature toggle
`CommonVariableScopingFeatureToggle`):

- the legacy document (`/tenants/{id}/variables`): one value per project template per
  environment, and one unscoped value per library ("common") template;
- scoped values (`/tenants/{id}/projectvariables` and `/commonvariables`, 2025.2 and later):
  each value has a scope of environments, none (every environment not given its own value)
  or several, for project and common templates alike.

The normal form holds both, by names:

    ProjectVariables: {project: {template: [entry, ...]}}
    CommonVariables:  {library variable set: {template: [entry, ...]}}
    entry: {Value: value} or {Environments: [names], Value: value}

canonical: the same non-secret value for several environments is one entry with all of them,
so a legacy document (a value per environment) and a scoped one (one value, several
environments) that mean the same read the same. Secrets are never merged: their values are
unknown, so two of them are never known to be equal.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from snapshotsync.model import JsonDict, is_sensitive_marker

OWNERS = ("ProjectVariables", "CommonVariables")
Entry = JsonDict


def environments(entry: Entry) -> tuple[str, ...]:
    return tuple(entry.get("Environments") or ())


def _key(entry: Entry) -> tuple[tuple[str, ...], str]:
    return tuple(e.lower() for e in environments(entry)), json.dumps(entry.get("Value"))


def canonical(entries: Iterable[Entry]) -> list[Entry]:
    """One entry per distinct non-secret scoped value; sorted; no duplicates."""
    merged: dict[Hashable, set[str]] = {}
    order: list[Entry] = []
    for entry in entries:
        value = entry.get("Value")
        scope = environments(entry)
        if scope and not is_sensitive_marker(value):
            shown = _identity(value)
            if shown not in merged:
                merged[shown] = set()
                order.append({"Value": value, "Environments": []})
            merged[shown].update(scope)
        else:
            order.append(_entry(value, scope))
    result = []
    for entry in order:
        if "Environments" in entry and not entry["Environments"]:
            entry = _entry(entry["Value"], merged[_identity(entry["Value"])])
        if entry not in result or is_sensitive_marker(entry.get("Value")):
            result.append(entry)
    return sorted(result, key=_key)


def _identity(value: Any) -> Hashable:
    """Equal for equal values (JSON's equality): a text as it is, anything else as its
    JSON (a tuple, so never equal to a text)."""
    return value if isinstance(value, str) else (json.dumps(value, sort_keys=True),)


def _entry(value: Any, scope: Iterable[str]) -> Entry:
    names = sorted(set(scope), key=str.lower)
    return {"Environments": names, "Value": value} if names else {"Value": value}


def document(values: Mapping[str, Mapping[str, Mapping[str, list[Entry]]]]) -> JsonDict:
    """`{owner kind: {owner: {template: entries}}}` canonical and sorted, empty parts left out."""
    result: JsonDict = {}
    for kind in OWNERS:
        owners = {}
        for owner, templates in sorted((values.get(kind) or {}).items()):
            kept = {t: canonical(e) for t, e in sorted(templates.items()) if e}
            kept = {t: e for t, e in kept.items() if e}
            if kept:
                owners[owner] = kept
        if owners:
            result[kind] = owners
    return result


def entries(document_: JsonDict) -> Iterator[tuple[str, str, str, Entry]]:
    """Every entry of a normal-form document: (owner kind, owner, template, entry)."""
    for kind in OWNERS:
        for owner, templates in (document_.get(kind) or {}).items():
            for template, values in templates.items():
                for entry in values:
                    yield kind, owner, template, entry


@dataclass(frozen=True)
class Value:
    """One tenant value for one environment (None: the unscoped value), from entry `entry`."""

    kind: str
    owner: str
    template: str
    environment: str | None
    value: Any
    entry: tuple[str, int]  # the document ("live", "desired"...) and entry it comes from

    @property
    def label(self) -> str:
        where = f" [{self.environment}]" if self.environment else ""
        return f"{self.owner} {self.template}{where}"


Key = tuple[str, str, str, str]


def per_environment(document_: JsonDict, origin: str = "") -> dict[Key, Value]:
    """A document value by value and environment by environment, keyed regardless of case."""
    result: dict[Key, Value] = {}
    for number, (kind, owner, template, entry) in enumerate(entries(document_)):
        for environment in environments(entry) or (None,):
            key = (kind, owner.lower(), template.lower(), (environment or "").lower())
            result[key] = Value(
                kind, owner, template, environment, entry.get("Value"), (origin, number)
            )
    return result


def from_values(values: Iterable[Value]) -> JsonDict:
    """The normal-form document holding `values` (secrets grouped as their entries were)."""
    grouped: dict[tuple[str, str, str, Hashable], tuple[Any, list[str]]] = {}
    for value in values:
        group: Hashable = (
            ("secret", json.dumps(value.entry))
            if is_sensitive_marker(value.value)
            else _identity(value.value)
        )
        if value.environment is None:
            group = ("unscoped", group)
        key = (value.kind, value.owner, value.template, group)
        grouped.setdefault(key, (value.value, []))[1].extend(
            [value.environment] if value.environment else []
        )
    result: dict[str, dict[str, dict[str, list[Entry]]]] = {}
    for (kind, owner, template, _), (value, scope) in grouped.items():
        entry = _entry(value, scope)
        result.setdefault(kind, {}).setdefault(owner, {}).setdefault(template, []).append(entry)
    return document(result)


@dataclass(frozen=True)
class Outcome:
    """What happened to one value that is not simply the same: for reports."""

    action: str  # add | overwrite | remove | conflict | keep
    value: Value
    before: Any = None
    reason: str = ""


@dataclass(frozen=True)
class Merged:
    document: JsonDict  # the destination's values once written
    base: JsonDict  # the values snapshotsync holds there once written
    outcomes: tuple[Outcome, ...] = ()

    @property
    def added_secrets(self) -> tuple[Value, ...]:
        return tuple(
            o.value
            for o in self.outcomes
            if o.action == "add" and is_sensitive_marker(o.value.value)
        )


def merge(
    desired: JsonDict,
    live: JsonDict,
    *,
    overwrite: bool | None,
    base: JsonDict | None = None,
    force: bool = False,
    placeholder: str | None = None,
) -> Merged:
    """Desired values placed among the destination's, environment by environment.

    A value the destination lacks is added; a different one is overwritten by the policy
    (`merge.py`'s rule: `true` always, `false` never, by default only when nobody changed it
    since the last push, a conflict otherwise), never a secret; one snapshotsync placed that
    the source dropped is removed when unchanged since. The destination's own values, and
    how it splits them between environments, are never touched.
    """
    wanted = per_environment(desired, "desired")
    have = per_environment(live, "live")
    recorded = per_environment(base or {}, "base")
    result = dict(have)
    ours: dict[Key, Value] = {}
    outcomes: list[Outcome] = []
    for key, value in wanted.items():
        current = have.get(key)
        # A placeholder (`tenants: variables: placeholder`) belongs to the person who must
        # replace it: written where nothing is, never over a value, never snapshotsync's.
        held_back = placeholder is not None and value.value == placeholder
        if current is None:
            result[key] = value
            if not held_back:
                ours[key] = value
            outcomes.append(Outcome("add", value))
            continue
        if current.value == value.value:
            if not held_back:
                ours[key] = current
            continue
        if held_back:
            continue
        written = recorded.get(key)
        if is_sensitive_marker(current.value) or is_sensitive_marker(value.value):
            if written is not None:
                ours[key] = written
            continue
        if overwrite is True or (
            overwrite is None and written is not None and (written.value == current.value or force)
        ):
            result[key] = ours[key] = _replaced(current, value.value)
            outcomes.append(Outcome("overwrite", value, current.value))
        elif overwrite is None and written is not None:
            ours[key] = written
            outcomes.append(
                Outcome(
                    "conflict",
                    value,
                    current.value,
                    "changed by hand on the destination since the last push: kept "
                    "(--force-overwrite takes the source's value)",
                )
            )
    if overwrite is not False:
        for key, current in have.items():
            written = recorded.get(key)
            if key in wanted or written is None or is_sensitive_marker(current.value):
                continue
            if written.value == current.value or force:
                del result[key]
                outcomes.append(Outcome("remove", current))
            else:
                ours[key] = written
                outcomes.append(
                    Outcome(
                        "keep",
                        current,
                        current.value,
                        "no longer on the source, but changed by hand on the destination "
                        "since the last push: kept (--force-overwrite removes it)",
                    )
                )
    return Merged(from_values(result.values()), from_values(ours.values()), tuple(outcomes))


def _replaced(current: Value, value: Any) -> Value:
    return Value(
        current.kind,
        current.owner,
        current.template,
        current.environment,
        value,
        current.entry,
    )


def for_legacy(desired: JsonDict, links: Mapping[str, Iterable[str]]) -> tuple[JsonDict, list[str]]:
    """What of `desired` a destination with only the legacy document can hold, and notes on
    what it cannot: a project value for every environment (an unscoped one becomes a value
    for each linked environment that has none of its own) and common values unscoped only
    (a scoped one would apply everywhere there: never widen a scope)."""
    notes: list[str] = []
    result: dict[str, dict[str, dict[str, list[Entry]]]] = {}
    linked = {project.lower(): list(envs) for project, envs in links.items()}
    for kind, owner, template, entry in entries(desired):
        values = result.setdefault(kind, {}).setdefault(owner, {}).setdefault(template, [])
        scope = environments(entry)
        if kind == "ProjectVariables" and not scope:
            explicit = {
                e.lower()
                for other in (desired.get(kind) or {}).get(owner, {}).get(template, [])
                for e in environments(other)
            }
            rest = [e for e in linked.get(owner.lower(), []) if e.lower() not in explicit]
            if rest:
                values.append(_entry(entry.get("Value"), rest))
        elif kind == "CommonVariables" and scope:
            notes.append(
                f"{owner} {template} [{', '.join(scope)}]: the destination keeps common "
                "variables unscoped only (Octopus before 2025.2): left out"
            )
        else:
            values.append(entry)
    return document(result), notes
