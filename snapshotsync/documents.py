"""One resource's change, decided: the whole document to write (in names), its plan lines
and what snapshotsync then holds of it (the next base), from base, live and desired. Pure.

Each kind's rule is a function here (`decide` picks it by `changes.BEHAVIOUR`): variable
sets through the merge engine (`merge.py`), processes step by step and key by key
(`threeway.py`), projects keeping the destination's deployment settings, tenants link by
link, tenant variables value by value (`tenantvars.py`), team roles role by role. The plan
(`plan.py`) decides across resources: renames, references, tags in use, what is pruned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import dictdiffer

from snapshotsync import tenantvars, threeway
from snapshotsync.changes import Change, Placeholder, comparable_exists
from snapshotsync.merge import ValueAction, merge, strip_markers
from snapshotsync.model import JsonDict, ResourceKey, copy_json
from snapshotsync.octopus.kinds import is_version_controlled
from snapshotsync.overlay import Overlay
from snapshotsync.transform import Decision


class _NoBase:
    """No push has recorded a base yet: every comparison is two-way, as on a first sync."""


NO_BASE: Any = _NoBase()
WHOLE = ("exists", "identical", "synced")  # kinds whose resources are whole items
GONE_BY_HAND = (
    "placed by snapshotsync, and gone from the destination since the last push (deleted or "
    "renamed by hand): not re-created; rename it back, or --force-overwrite creates it again"
)
CHANGED_BY_HAND = (
    "changed by hand on the destination since the last push: kept "
    "(--force-overwrite takes the source's)"
)


def decide(
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
        same = diff(comparable_exists(before), comparable_exists(after)) == ()
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
                diff(before, after),
                reason=CHANGED_BY_HAND,
                values=values,
            ), merged.record
        return Change(_quiet(values), key, before, before, values=values), merged.record
    document = merged.document
    return Change("update", key, before, document, diff(before, document), values=values), (
        merged.record
    )


def deleted_by_hand(key: ResourceKey, change: Change) -> list[str]:
    """How other documents name the actions of the steps of `key`'s process that a person
    deleted and that stay deleted (`kinds.action_name`)."""
    runbook = f"{key.name[1]}/" if key.kind == "runbook-processes" else ""
    return [
        f"{runbook}{action.get('Name')}"
        for value in change.values
        if value.action == "conflict" and value.before is None and isinstance(value.after, dict)
        for action in value.after.get("Actions") or []
    ]


def without_deleted_steps(
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


def diff(before: JsonDict, after: JsonDict) -> tuple[Any, ...]:
    if before == after:
        return ()  # most documents of a recurring sync: compared in C, not walked
    return tuple(dictdiffer.diff(before, after))


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
    change = Change("update", key, before, document, diff(before, document), values=merged.actions)
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
    difference = diff(before, result)
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


def duplicate_names(key: ResourceKey, desired: JsonDict, merged: JsonDict) -> list[str]:
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
    difference = diff(before, result)
    if not difference:
        return Change(_quiet(values), key, before, before, values=values), record
    return Change("update", key, before, result, difference, values=values), record


def tenant_variables(
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
    difference = diff(before, merged.document)
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
    difference = diff(before, result)
    if not difference:
        return Change("same", key, before, before), record
    return Change("update", key, before, result, difference, values=tuple(values)), record
