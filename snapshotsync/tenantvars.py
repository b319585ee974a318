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
from collections.abc import Iterable, Iterator, Mapping
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
    merged: dict[str, set[str]] = {}
    order: list[Entry] = []
    for entry in entries:
        value = entry.get("Value")
        scope = environments(entry)
        if scope and not is_sensitive_marker(value):
            shown = json.dumps(value, sort_keys=True)
            if shown not in merged:
                merged[shown] = set()
                order.append({"Value": value, "Environments": []})
            merged[shown].update(scope)
        else:
            order.append(_entry(value, scope))
    result = []
    for entry in order:
        if "Environments" in entry and not entry["Environments"]:
            entry = _entry(entry["Value"], merged[json.dumps(entry["Value"], sort_keys=True)])
        if entry not in result or is_sensitive_marker(entry.get("Value")):
            result.append(entry)
    return sorted(result, key=_key)


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
class Merged:
    document: JsonDict
    added_secrets: tuple[tuple[str, str, str, Entry], ...]  # written with the placeholder


def merge(desired: JsonDict, live: JsonDict, *, overwrite: bool) -> Merged:
    """Desired values placed among the destination's: add what no value covers, overwrite a
    value of the same scope only when allowed, never touch a secret, never delete.

    A desired value is covered where the destination already has values for every one of
    its environments (an unscoped one: where it has an unscoped value), however they are
    split: a value the destination keeps per environment and one the source keeps for
    several are the same values, and a destination's own split is its own.
    """
    result: dict[str, dict[str, dict[str, list[Entry]]]] = {}
    for kind, owner, template, entry in entries(live):
        result.setdefault(kind, {}).setdefault(owner, {}).setdefault(template, []).append(entry)
    lowered = {kind: {owner.lower(): owner for owner in result.get(kind, {})} for kind in OWNERS}
    added: list[tuple[str, str, str, Entry]] = []
    for kind, owner, template, entry in entries(desired):
        owner = lowered[kind].get(owner.lower(), owner)
        templates = result.setdefault(kind, {}).setdefault(owner, {})
        template = next((t for t in templates if t.lower() == template.lower()), template)
        values = templates.setdefault(template, [])
        placed = _place(entry, values, overwrite=overwrite)
        if placed is not None and is_sensitive_marker(placed.get("Value")):
            added.append((kind, owner, template, placed))
    return Merged(document(result), tuple(added))


def _place(entry: Entry, values: list[Entry], *, overwrite: bool) -> Entry | None:
    """Put `entry` among a template's `values`; the entry added, if one was."""
    scope = {e.lower() for e in environments(entry)}
    same_scope = next(
        (i for i, v in enumerate(values) if {e.lower() for e in environments(v)} == scope), None
    )
    value = entry.get("Value")
    if same_scope is not None:
        current = values[same_scope].get("Value")
        if (
            current != value
            and overwrite
            and not is_sensitive_marker(current)
            and not is_sensitive_marker(value)
        ):
            values[same_scope] = {**values[same_scope], "Value": value}
        return None
    if not scope:
        values.append(_entry(value, ()))
        return values[-1]
    covered = {e.lower() for v in values for e in environments(v)}
    missing = [e for e in environments(entry) if e.lower() not in covered]
    if not missing:
        return None
    values.append(_entry(value, missing))
    return values[-1]


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
