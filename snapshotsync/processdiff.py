"""Pure: what a change to a deployment (or runbook) process does, step by step.

Two versions of a process in normal form -> the steps added (and after which), removed,
renamed, moved, and each field changed, by step and action name. A diff by position
(`Steps.1.Name: "Approve Production" -> "Deploy Billing API Package"`) reads a removed step
as every later step changed; matched by name, it reads as what happened.

Steps match by name regardless of case, as Octopus matches them. A step only in the old
version and one only in the new that are the same but for their names (and the names of
actions named after their step) are one step renamed; failing that, a pair whose actions
are of the same types and whose content is mostly alike is a rename with field changes.
A step is moved when it is not in the longest run of matched steps that kept their order.

No I/O, no printing: `report.py` formats what this returns.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dictdiffer

from snapshotsync.model import JsonDict

# How alike two steps' content must be (difflib's ratio of their JSON) to be read as one
# step renamed and changed, rather than one removed and another added.
ALIKE = 0.8


@dataclass(frozen=True)
class StepChange:
    """One thing that happens to a process's steps.

    `action`: add, remove, rename, move, or change (a field of a step or of one of its
    actions: `action_name` says which action, `path` which field, `old`/`new` its values;
    an action added or removed in a step is a change with `path == ()`).
    """

    action: str
    step: str
    after: str | None = None  # add, move: the step it follows (None: first)
    old_name: str = ""  # rename
    action_name: str = ""
    path: tuple[Any, ...] = ()
    old: Any = None
    new: Any = None

    def as_json(self) -> JsonDict:
        return {
            "action": self.action,
            "step": self.step,
            "after": self.after,
            "old_name": self.old_name or None,
            "action_name": self.action_name or None,
            "path": list(self.path),
            "old": self.old,
            "new": self.new,
        }


def _name(step: JsonDict) -> str:
    return str(step.get("Name", ""))


def _anonymous(step: JsonDict) -> JsonDict:
    """A step without its name, and without the names of actions named after it."""
    name = _name(step).lower()
    actions = [
        {k: v for k, v in action.items() if k != "Name"}
        if str(action.get("Name", "")).lower() == name
        else action
        for action in step.get("Actions") or []
    ]
    return {**{k: v for k, v in step.items() if k != "Name"}, "Actions": actions}


def _types(step: JsonDict) -> list[str]:
    return [str(action.get("ActionType")) for action in step.get("Actions") or []]


def _alike(old: JsonDict, new: JsonDict) -> float:
    if _types(old) != _types(new):
        return 0.0
    a = json.dumps(_anonymous(old), sort_keys=True, default=str)
    b = json.dumps(_anonymous(new), sort_keys=True, default=str)
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def _renames(removed: list[JsonDict], added: list[JsonDict]) -> dict[str, str]:
    """Old lower-cased name -> new lower-cased name, for steps read as renamed."""
    found: dict[str, str] = {}
    taken: set[str] = set()
    for old in removed:
        for new in added:
            if _name(new).lower() not in taken and _anonymous(old) == _anonymous(new):
                found[_name(old).lower()] = _name(new).lower()
                taken.add(_name(new).lower())
                break
    for old in removed:
        if _name(old).lower() in found:
            continue
        candidates = [
            (_alike(old, new), _name(new).lower())
            for new in added
            if _name(new).lower() not in taken
        ]
        best = max(candidates, default=(0.0, ""))
        if best[0] >= ALIKE:
            found[_name(old).lower()] = best[1]
            taken.add(best[1])
    return found


def _kept_order(old_order: list[str], new_order: list[str]) -> set[str]:
    """The longest run of names (in `new_order`) that keeps its order from `old_order`."""
    position = {name: index for index, name in enumerate(old_order)}
    sequence = [position[name] for name in new_order]
    # Longest increasing subsequence, O(n^2): processes have tens of steps.
    best: list[list[int]] = []
    for index, value in enumerate(sequence):
        longest = max((best[j] for j in range(index) if sequence[j] < value), key=len, default=[])
        best.append([*longest, value])
    kept = max(best, key=len, default=[])
    return {old_order[value] for value in kept}


def step_changes(before: JsonDict | None, after: JsonDict | None) -> list[StepChange]:
    """What turns the steps of `before` into those of `after`, in the order of `after`
    (removed steps first)."""
    old_steps = list((before or {}).get("Steps") or [])
    new_steps = list((after or {}).get("Steps") or [])
    old = {_name(s).lower(): s for s in old_steps}
    new = {_name(s).lower(): s for s in new_steps}
    renamed = _renames(
        [s for n, s in old.items() if n not in new], [s for n, s in new.items() if n not in old]
    )
    new_of = {n: n for n in old if n in new} | renamed
    changes = [StepChange("remove", _name(s)) for n, s in old.items() if n not in new_of]
    matched_new = set(new_of.values())
    old_order = [new_of[n] for n in old if n in new_of]
    new_order = [n for n in new if n in matched_new]
    kept = _kept_order(old_order, new_order)
    previous: str | None = None
    for step in new_steps:
        name = _name(step).lower()
        if name not in matched_new:
            changes.append(StepChange("add", _name(step), after=previous))
        else:
            old_name = next(o for o, n in new_of.items() if n == name)
            old_step = old[old_name]
            if old_name != name or _name(old_step) != _name(step):
                changes.append(StepChange("rename", _name(step), old_name=_name(old_step)))
            if name not in kept:
                changes.append(StepChange("move", _name(step), after=previous))
            changes += _fields(old_step, step)
        previous = _name(step)
    return changes


def _fields(old: JsonDict, new: JsonDict) -> Iterator[StepChange]:
    """The fields that differ between two versions of one step, action by action."""
    step = _name(new)
    own_old = {k: v for k, v in old.items() if k not in ("Name", "Actions")}
    own_new = {k: v for k, v in new.items() if k not in ("Name", "Actions")}
    yield from _entries(step, "", own_old, own_new)
    old_actions = {str(a.get("Name", "")).lower(): a for a in old.get("Actions") or []}
    new_actions = {str(a.get("Name", "")).lower(): a for a in new.get("Actions") or []}
    # An action named after its step follows the step's rename.
    was, now = _name(old).lower(), _name(new).lower()
    if was != now and was in old_actions and now in new_actions and now not in old_actions:
        old_actions[now] = old_actions.pop(was)
    for name, action in old_actions.items():
        if name not in new_actions:
            yield StepChange("change", step, action_name=str(action.get("Name")), old=action)
    for name, action in new_actions.items():
        label = str(action.get("Name", ""))
        if name not in old_actions:
            yield StepChange("change", step, action_name=label, new=action)
            continue
        previous = {k: v for k, v in old_actions[name].items() if k != "Name"}
        current = {k: v for k, v in action.items() if k != "Name"}
        yield from _entries(step, label, previous, current)


def _entries(step: str, action: str, old: JsonDict, new: JsonDict) -> Iterator[StepChange]:
    """One change a field: dictdiffer's adds and removes split into one entry a key."""
    for kind, path, detail in dictdiffer.diff(old, new, expand=True):
        where = tuple(path) if isinstance(path, list | tuple) else tuple(str(path).split("."))
        where = tuple(p for p in where if p != "")
        if kind == "change":
            yield StepChange(
                "change", step, action_name=action, path=where, old=detail[0], new=detail[1]
            )
            continue
        for key, value in detail:
            before, after = (None, value) if kind == "add" else (value, None)
            yield StepChange(
                "change", step, action_name=action, path=(*where, key), old=before, new=after
            )


def step_summary(step: JsonDict) -> list[str]:
    """A step as a few lines: each action's type, where it runs, and what it uses."""
    lines = []
    roles = (step.get("Properties") or {}).get("Octopus.Action.TargetRoles")
    if roles:
        lines.append(f"roles: {roles}")
    for action in step.get("Actions") or []:
        text = f"action {action.get('Name')} ({action.get('ActionType')})"
        scope = [
            f"{label} {', '.join(str(v) for v in action.get(field) or [])}"
            for field, label in (
                ("Environments", "environments"),
                ("ExcludedEnvironments", "not in environments"),
                ("Channels", "channels"),
                ("TenantTags", "tenant tags"),
            )
            if action.get(field)
        ]
        properties = action.get("Properties") or {}
        template = properties.get("Octopus.Action.Template.Id")
        if template:
            scope.append(f"template {template}")
        for package in action.get("Packages") or []:
            scope.append(f"package {package.get('PackageId')} from {package.get('FeedId')}")
        if action.get("IsDisabled"):
            scope.append("disabled")
        lines.append(text + (": " + "; ".join(scope) if scope else ""))
    return lines
