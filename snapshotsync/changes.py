"""What a plan is made of: its changes, placeholders and records, and the parts a document
is cut into where hand edits are named (by the plan and by `drift` alike). Pure values.

`BEHAVIOUR` says how the plan treats each kind (see `plan.py`); `parts` cuts a document the
way the plan compares it: a process by step, a variable set by value (name and scope), a
tenant into its own fields and one link a project, a team by role, anything else whole.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from snapshotsync import tenantvars, threeway
from snapshotsync.merge import METADATA, ValueAction
from snapshotsync.model import JsonDict, LoweredKey, ResourceKey, lowered
from snapshotsync.transform import Decision

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


def comparable_exists(document: JsonDict) -> JsonDict:
    """An environment's place in the order is not one of its details: see
    `_environment_order`."""
    return {k: v for k, v in document.items() if k != "SortOrder"}


def parts(key: ResourceKey, document: JsonDict) -> dict[str, Any]:
    """A document split into the parts the plan compares one by one (`threeway.drift`)."""
    behaviour = BEHAVIOUR.get(key.kind)
    if behaviour == "exists":
        return {"": comparable_exists(document)}
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


# ------------------------------------------------------------- hand edits a push kept


def fingerprint(part: Any) -> str:
    """A part as a short digest: what the records keep of a hand edit a push left as it was
    (the repo holds no copy of what a person wrote there)."""
    text = json.dumps(part, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def kept_marks(
    found: Iterable[threeway.Drift],
    left: Mapping[LoweredKey, JsonDict | None],
    recorded: Mapping[LoweredKey, JsonDict | None],
    renamed: Mapping[LoweredKey, ResourceKey] | None = None,
) -> list[dict[str, Any]]:
    """The parts among `found` (drift as a push meets it) changed or deleted by hand, as the
    push leaves them, as the records keep them: resource, part and a fingerprint of the
    part then. `drift` sets a
    part aside while it still holds that (`since_kept`): what the push kept, alone or beside
    what it wrote there, is not drift again until a person changes it again.

    `left` holds each document as the push leaves the destination (the plan's document
    where it writes, None where it deletes; read as it is elsewhere), `recorded` each as
    the push records it (its next base): a part that then holds what is recorded (a write
    the last run made and did not record, say) is no hand edit and is not marked.
    `renamed` maps a resource the plan renames to its new key, which the records use."""
    marks = []
    for item in found:
        if item.change == "added":
            continue  # the destination as read for the push (`state/`) holds it from now on
        key = (renamed or {}).get(lowered(item.key), item.key)
        document = left.get(lowered(item.key), left.get(lowered(key)))
        now = _part(key, document, item.part)
        base = _part(key, recorded.get(lowered(key)), item.part)
        if base is not None and threeway.holds(now, base):
            continue
        marks.append(
            {"resource": [key.kind, *key.name], "part": item.part, "holds": fingerprint(now)}
        )
    return sorted(marks, key=lambda mark: json.dumps(mark, sort_keys=True))


def since_kept(found: Iterable[threeway.Drift], marks: Iterable[Any]) -> list[threeway.Drift]:
    """`found` without the hand edits the last push kept, where they are still as they were
    then (`kept_marks`): what changed by hand since that push."""
    kept = {
        (
            str(mark["resource"][0]),
            tuple(str(p).lower() for p in mark["resource"][1:]),
            threeway.part_key(str(mark["part"])),
            str(mark["holds"]),
        )
        for mark in marks
    }
    return [
        item
        for item in found
        if (*lowered(item.key), threeway.part_key(item.part), fingerprint(item.live)) not in kept
    ]


def _part(key: ResourceKey, document: JsonDict | None, part: str) -> Any:
    if document is None:
        return None
    wanted = threeway.part_key(part)
    found = parts(key, document).items()
    return next((value for name, value in found if threeway.part_key(name) == wanted), None)
