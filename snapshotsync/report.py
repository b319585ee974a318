"""What the user sees: result lines on stdout and progress on a terminal. The only printer.

Progress is a rich progress bar when stderr is a terminal, and plain log lines (every
tenth of the way) when it is not, so CI logs stay readable.

Secrets never reach the output: every line goes through `log.redact` (the API keys and every
value read from the environment by `${env:...}`, whatever the variable's type), and the JSON
plan is masked value by value before it is serialized, so it stays valid JSON.
"""

from __future__ import annotations

import difflib
import html
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dictdiffer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from snapshotsync import processdiff, tenantvars, threeway
from snapshotsync.changes import BEHAVIOUR, Change, Plan, describe_slot
from snapshotsync.log import get_logger, mask_secrets, redact
from snapshotsync.merge import METADATA, ValueAction, describe
from snapshotsync.model import JsonDict, Snapshot, is_sensitive_marker

_log = get_logger("progress")


_CAPTURED: list[list[str]] = []


def line(text: str = "") -> None:
    """One line of results on stdout, secrets masked (or kept by `captured`)."""
    if _CAPTURED:
        _CAPTURED[-1].append(redact(text))
        return
    print(redact(text), flush=True)


_PLANS: list[list[Plan]] = []


@contextmanager
def recorded_plans() -> Iterator[list[Plan]]:
    """The plans printed as text in the block (`push --output json` reports its own)."""
    kept: list[Plan] = []
    _PLANS.append(kept)
    try:
        yield kept
    finally:
        _PLANS.pop()


@contextmanager
def captured() -> Iterator[list[str]]:
    """The result lines of the block, kept instead of printed: one JSON document for several
    targets is put together from each target's."""
    kept: list[str] = []
    _CAPTURED.append(kept)
    try:
        yield kept
    finally:
        _CAPTURED.pop()


def warning(text: str) -> None:
    """A warning on stderr, so that stdout stays the result (`plan --output json`)."""
    print(text, file=sys.stderr, flush=True)


def confirm(question: str) -> bool:
    """Ask on the terminal; only an explicit yes counts."""
    answer = input(f"{question} Only 'yes' will be accepted: ")
    return answer.strip().lower() == "yes"


@contextmanager
def progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A callback `(done, total)` that shows how far a long step has come."""
    if sys.stderr.isatty():
        console = Console(stderr=True)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task(description, total=None)

            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            yield update
        return
    last = [-1]

    def log_line(done: int, total: int) -> None:
        tenth = (10 * done) // total if total else 0
        if tenth != last[0] and (done == total or tenth > last[0]):
            last[0] = tenth
            _log.info("%s: %d/%d documents", description, done, total)

    yield log_line


# ---------------------------------------------------------------------- plans

SYMBOL = {
    "create": "+ create",
    "update": "~ update",
    "rename": "~ rename",
    "delete": "- delete",
    "same": "= same  ",
    "skip": "= leave ",
    "conflict": "! conflict",
    "orphan": "? orphan",
}
VALUE_SYMBOL = {
    "add": "+ add   ",
    "update-scope": "~ scope ",
    "update-meta": "~ about ",
    "overwrite": "~ value ",
    "remove": "- remove",
    "leave": "= leave ",
    "same": "= same  ",
    "conflict": "! conflict",
    "keep": "= keep  ",
}
REASONED = ("leave", "overwrite", "remove", "conflict", "keep")
# Kinds whose parts (steps, tenant links) are listed and whose fields are diffed as well;
# variable sets and tenant values are described value by value only.
DIFFED = frozenset({"deployment-processes", "runbook-processes", "tenants"})


def counts_line(plan: Plan) -> str:
    """`2 to create, 1 to update, ...`: every count that is not zero, in a fixed order."""
    counts = plan.counts()
    parts = [
        f"{counts['create']} to create",
        f"{counts['update']} to update",
        *([f"{counts['rename']} to rename"] if counts["rename"] else []),
        *([f"{counts['delete']} to delete"] if counts["delete"] else []),
        f"{counts['same']} unchanged",
        f"{counts['skip']} left alone",
        *([f"{len(plan.conflicts)} conflicts"] if plan.conflicts else []),
        *([f"{counts['orphan']} orphans"] if counts["orphan"] else []),
    ]
    return ", ".join(parts)


def _value_text(value: ValueAction) -> str:
    """One value (or part) of a change, with what it was where that matters."""
    text = describe(value.after if value.after is not None else value.before)
    if value.action in ("update-scope", "conflict") and value.before is not None:
        label = "was" if value.action == "update-scope" else "destination has"
        text += f"   ({label}: {describe(value.before)})"
    if value.reason and value.action in REASONED:
        text += f"   ({value.reason})"
    return text


def _short(value: Any, width: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


def _path(path: Any) -> str:
    if isinstance(path, list | tuple):
        return ".".join(str(p) for p in path) or "(document)"
    return str(path) or "(document)"


def _multiline(value: Any) -> bool:
    return isinstance(value, str) and "\n" in value.strip("\n")


def _unified(old: str, new: str) -> list[str]:
    """A unified diff of two multi-line values (scripts), without the file header lines."""
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), "before", "after", lineterm="")
    return [f"    {line}" for line in list(lines)[2:]]


def diff_lines(diff: tuple[Any, ...]) -> list[str]:
    """dictdiffer entries as `~ path: old -> new`, `+ path.key: value`, `- path.key`.

    A change of a multi-line value (a script) is shown as a unified diff of its lines, so
    a change past the first few characters is never hidden by truncation."""
    lines = []
    for kind, path, detail in diff:
        if kind == "change":
            old, new = detail
            if _multiline(old) or _multiline(new):
                lines.append(f"~ {_path(path)}:")
                lines += _unified(str(old or ""), str(new or ""))
                continue
            lines.append(f"~ {_path(path)}: {_short(old, 60)} -> {_short(new, 60)}")
        else:
            sign = "+" if kind == "add" else "-"
            for key, value in detail:
                where = f"{_path(path)}.{key}" if _path(path) != "(document)" else str(key)
                lines.append(f"{sign} {where}: {_short(value)}")
    return lines


PROCESSES = frozenset({"deployment-processes", "runbook-processes"})


def _lookup(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        if isinstance(document, dict):
            document = document.get(part)
        elif isinstance(document, list) and isinstance(part, int) and part < len(document):
            document = document[part]
        else:
            return None
    return document


def _field(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path) or "(whole)"


def _step_where(change: processdiff.StepChange) -> str:
    """`step X`, and `action Y` when the action is not named after its step."""
    where = f"step {change.step}"
    if change.action_name and change.action_name.lower() != change.step.lower():
        where += f" action {change.action_name}"
    return where


def _step_line(change: processdiff.StepChange) -> list[str]:
    """One step change as `+ add step X (after Y)`, `~ step X: field a -> b`..."""
    after = f"after {change.after}" if change.after else "first"
    if change.action == "add":
        return [f"+ add step {change.step} ({after})"]
    if change.action == "remove":
        return [f"- remove step {change.step}"]
    if change.action == "rename":
        return [f"~ rename step {change.old_name} -> {change.step}"]
    if change.action == "move":
        return [f"~ move step {change.step} ({after})"]
    where = _step_where(change)
    if not change.path:  # an action added to or removed from a step
        if change.new is not None:
            kind = change.new.get("ActionType")
            return [f"+ step {change.step}: add action {change.action_name} ({kind})"]
        return [f"- step {change.step}: remove action {change.action_name}"]
    old, new = _unmarked(change.old), _unmarked(change.new)
    if _multiline(old) or _multiline(new):
        return [f"~ {where}: {_field(change.path)}:", *_unified(str(old or ""), str(new or ""))]
    if change.old is None:
        return [f"~ {where}: {_field(change.path)}: + {_short(new, 80)}"]
    if change.new is None:
        return [f"~ {where}: {_field(change.path)}: - {_short(old, 80)}"]
    return [f"~ {where}: {_field(change.path)}: {_short(old, 60)} -> {_short(new, 60)}"]


def process_lines(change: Change) -> list[str]:
    """A process's change step by step (a new process: each step, what it runs and where)."""
    if change.action == "create":
        lines = []
        for number, step in enumerate((change.after or {}).get("Steps") or [], start=1):
            lines.append(f"+ step {number}. {step.get('Name')}")
            lines += [f"      {text}" for text in processdiff.step_summary(step)]
        return lines
    if change.action not in ("update", "conflict") or change.after is None:
        return []
    lines = []
    new_steps = {str(s.get("Name", "")).lower(): s for s in change.after.get("Steps") or []}
    for step_change in processdiff.step_changes(change.before, change.after):
        lines += _step_line(step_change)
        if step_change.action == "add":
            step = new_steps.get(step_change.step.lower()) or {}
            lines += [f"      {text}" for text in processdiff.step_summary(step)]
    rest = [
        entry
        for entry in change.diff
        if not (entry[1] == "Steps" or (isinstance(entry[1], list) and entry[1][:1] == ["Steps"]))
        and not (entry[1] in ("", []) and any(key == "Steps" for key, _ in entry[2]))
    ]
    lines += diff_lines(tuple(rest))
    return lines


def _grant(role: JsonDict) -> str:
    """A scoped user role as `Role [environments: a, b; projects: p]`."""
    scope = "; ".join(
        f"{label}: {', '.join(str(v) for v in role.get(field) or [])}"
        for field, label in (
            ("EnvironmentIds", "environments"),
            ("ProjectIds", "projects"),
            ("ProjectGroupIds", "project groups"),
            ("TenantIds", "tenants"),
        )
        if role.get(field)
    )
    return f"{role.get('UserRoleId')}" + (f" [{scope}]" if scope else "")


def permission_lines(change: Change) -> list[str]:
    """The roles a team's permissions gain and lose, by name and scope."""

    def roles(document: JsonDict | None) -> dict[str, JsonDict]:
        return {
            json.dumps(role, sort_keys=True): role
            for role in (document or {}).get("ScopedUserRoles") or []
        }

    before, after = roles(change.before), roles(change.after)
    lines = [f"- revoke {_grant(role)}" for text, role in before.items() if text not in after]
    lines += [f"+ grant  {_grant(role)}" for text, role in after.items() if text not in before]
    return lines


def _shown_value(change: Change, value: ValueAction) -> ValueAction:
    """A value with what it is: a tenant value removed carries its value from the
    destination's document (the merge reports only where it was)."""
    if (
        change.key.kind == "tenant-variables"
        and value.action == "remove"
        and value.before is not None
        and value.before.get("Value") is None
    ):
        for found in tenantvars.per_environment(change.before or {}).values():
            if found.label == value.name:
                return ValueAction(
                    value.action,
                    value.name,
                    {"Name": value.name, "Value": _unmarked(found.value)},
                    None,
                    value.reason,
                )
    return value


def _base_part(base: Snapshot | None, change: Change, value: ValueAction) -> Any:
    """What the last push placed for a conflicting part: a step, a value (None: unknown)."""
    if base is None:
        return None
    document = base.resources.get(change.key)
    if document is None:
        return None
    if change.key.kind in PROCESSES:
        return next(
            (
                s
                for s in document.get("Steps") or []
                if str(s.get("Name")).lower() == value.name.lower()
            ),
            None,
        )
    if isinstance(document.get("Variables"), list) and value.after is not None:
        slot = describe_slot(value.after)
        return next((v for v in document["Variables"] if describe_slot(v) == slot), None)
    if change.key.kind == "tenants" and value.name == "tenant":
        return {k: v for k, v in document.items() if k != "ProjectEnvironments"}
    return None


def conflict_lines(base: Any, live: Any, desired: Any) -> list[str]:
    """Each field of a conflict: what the last push placed, what the destination has now
    (changed by hand, kept), and what the source has."""
    if not (isinstance(live, dict) and isinstance(desired, dict)):
        return [
            f"last push: {_short(_unmarked(base), 60)}; destination: "
            f"{_short(_unmarked(live), 60)}; source: {_short(_unmarked(desired), 60)}"
        ]
    lines = []
    for kind, path, detail in dictdiffer.diff(live, desired, expand=True):
        where = tuple(path) if isinstance(path, list | tuple) else tuple(str(path).split("."))
        where = tuple(p for p in where if p != "")
        fields = (
            [(where, detail[0], detail[1])]
            if kind == "change"
            else [
                (
                    (*where, key),
                    value if kind == "remove" else None,
                    value if kind == "add" else None,
                )
                for key, value in detail
            ]
        )
        for field_path, now, wanted in fields:
            then = _lookup(base, field_path) if base is not None else None
            lines.append(
                f"{_field(field_path)}: last push {_short(_unmarked(then), 40)}, "
                f"destination {_short(_unmarked(now), 40)}, source {_short(_unmarked(wanted), 40)}"
            )
    return lines


def detail_lines(
    change: Change, base: Snapshot | None = None, *, verbose: bool = True
) -> list[str]:
    """The lines under a change's header: values, steps, roles or fields."""
    lines: list[str] = []
    for value in change.values:
        if value.action == "same" or (value.action == "leave" and not verbose):
            continue
        if value.action == "remove" and change.key.kind in PROCESSES | {"team-permissions"}:
            continue  # the step or role lines below say it, by name
        value = _shown_value(change, value)
        lines.append(f"{VALUE_SYMBOL[value.action]} {_value_text(value)}")
        if value.action == "conflict":
            part = _base_part(base, change, value)
            lines += [f"    {text}" for text in conflict_lines(part, value.before, value.after)]
    if change.key.kind in PROCESSES:
        return lines + process_lines(change)
    if change.key.kind == "team-permissions" and change.action in ("create", "update"):
        return lines + permission_lines(change)
    if change.action == "conflict" and not change.values:
        document = base.resources.get(change.key) if base is not None else None
        return lines + conflict_lines(document, change.before, change.after)
    if change.action in ("update", "rename", "conflict") and (
        not change.values or change.key.kind in DIFFED
    ):
        lines += diff_lines(change.diff)
    return lines


def _routine(change: Change) -> bool:
    """A resource left alone because it is the destination's own ("exists" kinds: an
    environment, an account...): listed only with --verbose. Anything else left alone (a
    config-as-code project's process, with its reason) is shown in every plan that has
    something to show."""
    return change.action == "skip" and BEHAVIOUR.get(change.key.kind) == "exists"


def quiet_hint(plan: Plan) -> str:
    """What a quiet plan does not list, and how to see it ("" when nothing is hidden)."""
    hidden = []
    kept = _kept_count(plan)
    if kept:
        hidden.append(f"{kept} hand edits kept")
    left = sum(1 for change in plan.changes if _routine(change))
    if left:
        hidden.append(f"{left} resources left alone")
    if plan.decisions:
        hidden.append(f"{len(plan.decisions)} decisions by the overlay")
    return f"{' and '.join(hidden)} not listed: --verbose lists them" if hidden else ""


def _kept(plan: Plan) -> list[Change]:
    """Resources that write nothing but keep a person's hand edit (a `keep` line): the
    plan names them, as `drift` does, with --verbose."""
    return [
        change
        for change in plan.changes
        if change.action == "same" and any(v.action == "keep" for v in change.values)
    ]


def _kept_count(plan: Plan) -> int:
    return sum(v.action == "keep" for change in _kept(plan) for v in change.values)


def is_quiet(plan: Plan) -> bool:
    """Nothing to do and nothing to look at: no write, no error, no conflict, no orphan."""
    return not (plan.errors or plan.has_changes or plan.conflicts or plan.counts()["orphan"])


def plan_text(plan: Plan, *, verbose: bool = False, base: Snapshot | None = None) -> str:
    """The plan for people. Quiet by default: a plan with nothing to do is one line, and
    the resources left alone, the values left as they are and the overlay's decisions are
    listed only with `verbose` (Terraform prints "No changes." the same way)."""
    if _PLANS:
        _PLANS[-1].append(plan)
    if not verbose and is_quiet(plan):
        counts = plan.counts()
        kept = _kept_count(plan)
        edits = f", {kept} hand edits kept" if kept else ""
        decisions = f", {len(plan.decisions)} decisions by the overlay" if plan.decisions else ""
        listed = ": --verbose lists them" if counts["skip"] or plan.decisions or kept else ""
        return (
            f"No changes. Target {plan.target} is up to date ({counts['same']} unchanged"
            f"{edits}, {counts['skip']} left alone{decisions}{listed})."
        )
    out = [f"Plan for target {plan.target}", ""]
    if plan.errors:
        out.append("Errors (nothing is planned as writable until they are fixed):")
        out += [f"  ! {error}" for error in plan.errors]
        out.append("")
    for change in plan.changes:
        if change.action == "same" and not (verbose and change in _kept(plan)):
            continue
        if _routine(change) and not verbose:
            continue
        line = f"  {SYMBOL[change.action]} {change.key}"
        if change.reason:
            line += f"  ({change.reason})"
        out.append(line)
        out += [f"        {text}" for text in detail_lines(change, base, verbose=verbose)]
    if plan.decisions and verbose:
        out += ["", "Left out or changed by the overlay:"]
        out += [f"  - {decision}" for decision in plan.decisions]
    if plan.placeholders and not plan.errors:
        out += ["", "Placeholders a push would write (snapshotsync cleanup lists them):"]
        out += [f"  ! {p.key} {p.field}: {p.reason}" for p in plan.placeholders]
    out += [
        "",
        f"Plan: {counts_line(plan)}" + (f", {len(plan.errors)} errors." if plan.errors else "."),
    ]
    if not verbose and quiet_hint(plan):
        out.append(f"({quiet_hint(plan)}.)")
    return "\n".join(out)


# The version of every JSON document the commands print (`--output json`): a program
# reading it checks this first. It changes only when a field changes meaning or goes.
FORMAT_VERSION = 1


def plan_json(plan: Plan, *, base: Snapshot | None = None) -> str:
    def masked(variable: dict[str, Any] | None) -> dict[str, Any] | None:
        """A secret given by the overlay is known, but never printed."""
        if variable is not None and variable.get("Type") == "Sensitive":
            return {**variable, "Value": "<sensitive>"}
        return variable

    def value_json(change: Change, value: ValueAction) -> dict[str, Any]:
        value = _shown_value(change, value)
        found: dict[str, Any] = {
            "action": value.action,
            "name": value.name,
            "before": masked(value.before),
            "after": masked(value.after),
            "reason": value.reason,
            "placeholder": value.placeholder or None,
        }
        if value.action == "conflict":  # what the last push placed there
            found["base"] = _unmarked(_base_part(base, change, value))
        return found

    def parts(change: Change) -> dict[str, Any]:
        if change.key.kind in PROCESSES and change.action in ("update", "conflict"):
            steps = processdiff.step_changes(change.before, change.after)
            return {"steps": [_unmarked(step.as_json()) for step in steps]}
        if change.key.kind == "team-permissions" and change.action in ("create", "update"):
            lines = permission_lines(change)
            return {
                "roles": {
                    "grant": [line[len("+ grant  ") :] for line in lines if line[0] == "+"],
                    "revoke": [line[len("- revoke ") :] for line in lines if line[0] == "-"],
                }
            }
        return {}

    document = {
        "format_version": FORMAT_VERSION,
        "command": "plan",
        "target": plan.target,
        "has_changes": plan.has_changes,
        "errors": list(plan.errors),
        "summary": plan.counts(),
        "changes": [
            {
                "action": c.action,
                "kind": c.key.kind,
                "name": list(c.key.name),
                # The name the destination has until this change renames it.
                "renamed_from": list(c.live_key.name) if c.live_key is not None else None,
                "reason": c.reason or None,
                # Variable sets are described value by value (masked), never as a raw diff.
                "diff": [] if c.values else [list(entry) for entry in c.diff],
                "after": _masked_document(c.after) if c.action == "create" else None,
                "values": [value_json(c, v) for v in c.values],
                **parts(c),
            }
            for c in plan.changes
        ],
        "decisions": [{"where": d.where, "message": d.message} for d in plan.decisions],
        "placeholders": [
            {"kind": p.key.kind, "name": list(p.key.name), "field": p.field, "reason": p.reason}
            for p in plan.placeholders
        ],
    }
    masked_document = mask_secrets(json.loads(json.dumps(document, default=str)), key_shapes=True)
    return json.dumps(masked_document, indent=2, ensure_ascii=False)


def _masked_document(document: dict[str, Any] | None) -> dict[str, Any] | None:
    if document is None or not isinstance(document.get("Variables"), list):
        return document
    return {
        **document,
        "Variables": [
            {**v, "Value": "<sensitive>"} if v.get("Type") == "Sensitive" else v
            for v in document["Variables"]
        ],
    }


# ---------------------------------------------------------------------- markdown

MASK = "<sensitive>"
ACTION_HEADING = {
    "create": "create",
    "update": "update",
    "rename": "rename",
    "delete": "delete",
    "skip": "left alone",
    "same": "unchanged",
    "conflict": "conflict",
    "orphan": "orphan",
}


def _secret(value: Any) -> bool:
    """A value the log would redact: an API key, or one the overlay read with `${env:...}`."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return redact(text) != text


def _masked_value(variable: dict[str, Any] | None) -> dict[str, Any] | None:
    """A variable value as it may be shown: secrets, and values from the environment, masked."""
    if variable is None:
        return None
    if variable.get("Type") == "Sensitive" or _secret(variable.get("Value")):
        return {**variable, "Value": MASK, "Type": "Sensitive"}
    return variable


def _cell(text: str) -> str:
    """Text for a Markdown table cell or list item: no pipes, no HTML, no line breaks."""
    escaped = html.escape(text, quote=False).replace("|", "\\|")
    return " ".join(escaped.split())


def _fenced(lines: list[str], language: str = "diff") -> list[str]:
    """A code block whose fence is longer than any run of backticks inside it."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", *lines, fence]


def _unmarked(value: Any) -> Any:
    """`value` with every secret marker (a value the API would not reveal) as `<sensitive>`."""
    if is_sensitive_marker(value):
        return MASK
    if isinstance(value, dict):
        return {k: _unmarked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unmarked(v) for v in value]
    return value


def _document_lines(document: dict[str, Any] | None) -> list[str]:
    """A new document as `+ field: value` lines (each value shortened, secrets masked)."""
    shown = _masked_document(document) or {}
    return [f"+ {key}: {_short(_unmarked(value))}" for key, value in shown.items()]


def _value_lines(values: tuple[ValueAction, ...]) -> list[str]:
    lines = []
    for value in values:
        if value.action == "same":
            continue
        sign = {
            "add": "+",
            "leave": " ",
            "keep": " ",
            "update-scope": "!",
            "overwrite": "!",
            "conflict": "!",
            "remove": "-",
        }[value.action]
        shown = value.after if value.after is not None else value.before
        text = f"{sign} {value.action:<12} {describe(_masked_value(shown))}"
        if value.action in ("update-scope", "overwrite", "conflict") and value.before is not None:
            text += f"   (was: {describe(_masked_value(value.before))})"
        if value.reason and value.action in REASONED:
            text += f"   ({value.reason})"
        lines.append(text)
    return lines


def _change_details(change: Change, base: Snapshot | None = None) -> list[str]:
    if (
        change.key.kind in PROCESSES
        or change.key.kind == "team-permissions"
        or change.action == "conflict"
        or any(v.action == "conflict" for v in change.values)
    ):
        lines = detail_lines(change, base)
    elif change.values:
        lines = _value_lines(change.values)
    elif change.action == "create":
        lines = _document_lines(change.after)
    elif change.action in ("update", "rename", "conflict"):
        lines = diff_lines(change.diff)
    else:
        lines = []
    summary = f"<code>{SYMBOL[change.action].strip()}</code> {html.escape(str(change.key))}"
    if change.reason:
        summary += f" <em>({html.escape(change.reason)})</em>"
    if not lines:
        return [f"- {summary}"]
    return [
        "<details>",
        f"<summary>{summary}</summary>",
        "",
        *_fenced(lines),
        "",
        "</details>",
        "",
    ]


# A pull-request comment holds at most 65,536 characters: GitHub's REST API refuses a
# longer body with 422 "Body is too long (maximum is 65536 characters)" (reported in
# danger/danger#424 and telia-oss/github-pr-resource#259); a job summary holds 1 MiB
# (GitHub's docs on GITHUB_STEP_SUMMARY). The default budget fits the smaller of the two.
MARKDOWN_BUDGET = 65_536
# How a plan larger than its budget is shortened, in this order (`plan_markdown`).
LEVELS = ("full", "collapsed", "summarised", "truncated")


def plan_markdown(
    plan: Plan,
    *,
    budget: int = MARKDOWN_BUDGET,
    full_plan: str | None = None,
    base: Snapshot | None = None,
) -> str:
    """The plan as GitHub-flavoured Markdown, for a pull-request comment or a CI job summary.

    A summary line, a table of changes by kind, one collapsible block per resource with its
    per-field diff (variable sets value by value), then the placeholders, and, collapsed, the
    resources left alone and the overlay's decisions. Secrets are never shown: sensitive
    values, and anything the log redacts (API keys, values the overlay read with
    `${env:...}`), are masked.

    At most `budget` characters: a larger plan is shortened in order, each step only when
    the one before is not enough: the left-alone resources and the decisions collapse to
    counts by kind; then each resource is one line (placeholders counted by kind); then the
    list is cut, with a pointer to the full plan (`full_plan`: where it was written).
    """
    for level in LEVELS[:-1]:
        text = _markdown(plan, level, base)
        if len(text) <= budget:
            return text
    return _truncated(plan, budget, full_plan)


def _markdown_head(plan: Plan) -> list[str]:
    out = [f"### snapshotsync plan for `{plan.target}`", ""]
    if plan.errors:
        verdict = f"**{len(plan.errors)} errors: nothing can be pushed until they are fixed.**"
    elif plan.has_changes:
        verdict = "**Changes to push.**"
    else:
        verdict = "**No changes: the target is up to date.**"
    out += [
        f"{verdict} {counts_line(plan)}; "
        f"{len(plan.placeholders)} placeholders, {len(plan.decisions)} decisions by the overlay.",
        "",
    ]
    if plan.errors:
        out += ["#### Errors", ""]
        out += [f"- {_cell(error)}" for error in plan.errors]
        out.append("")
    by_kind: dict[str, dict[str, int]] = {}
    for change in plan.changes:
        row = by_kind.setdefault(change.key.kind, dict.fromkeys(ACTION_HEADING, 0))
        row[change.action] += 1
    if by_kind:
        out += [
            "| kind | " + " | ".join(ACTION_HEADING.values()) + " |",
            "|---|" + "---:|" * len(ACTION_HEADING),
        ]
        for kind, row in by_kind.items():
            out.append(f"| {kind} | " + " | ".join(str(row[a]) for a in ACTION_HEADING) + " |")
        out.append("")
    return out


def _one_line(change: Change) -> str:
    """A resource as one list item: its action, kind and name, and why."""
    text = f"- <code>{SYMBOL[change.action].strip()}</code> {_cell(str(change.key))}"
    return text + (f" <em>({_cell(change.reason)})</em>" if change.reason else "")


def _collapsed(title: str, lines: list[str]) -> list[str]:
    return ["<details>", f"<summary>{title}</summary>", "", *lines, "", "</details>", ""]


def _by_kind(keys: list[str]) -> list[str]:
    """`- tenants: 12` lines: how many of each kind, in first-seen order."""
    counts: dict[str, int] = {}
    for kind in keys:
        counts[kind] = counts.get(kind, 0) + 1
    return [f"- {_cell(kind)}: {count}" for kind, count in counts.items()]


def _markdown(plan: Plan, level: str, base: Snapshot | None = None) -> str:
    out = _markdown_head(plan)
    shown = [c for c in plan.changes if c.action not in ("same", "skip")]
    left = [c for c in plan.changes if c.action == "skip"]
    if shown:
        out += ["#### Changes", ""]
        for change in shown:
            block = _change_details(change, base) if level != "summarised" else [_one_line(change)]
            if block[0] == "<details>" and out[-1] != "":
                out.append("")  # an HTML block after a list needs a blank line before it
            out += block
        if out[-1] != "":
            out.append("")
    if plan.placeholders and level != "summarised":
        out += [
            "#### Placeholders a push would write",
            "",
            "A person replaces these on the destination afterwards; "
            "`snapshotsync cleanup` lists the ones still there.",
            "",
            "| resource | field | why |",
            "|---|---|---|",
        ]
        out += [
            f"| {_cell(str(p.key))} | {_cell(p.field)} | {_cell(p.reason)} |"
            for p in plan.placeholders
        ]
        out.append("")
    elif plan.placeholders:
        out += ["#### Placeholders a push would write", ""]
        out += _by_kind([p.key.kind for p in plan.placeholders])
        out.append("")
    if left:
        title = f"Left alone: on the destination with details of its own ({len(left)})"
        lines = (
            [_one_line(c) for c in left]
            if level == "full"
            else _by_kind([c.key.kind for c in left])
        )
        out += _collapsed(title, lines)
    if plan.decisions:
        title = f"Left out or changed by the overlay ({len(plan.decisions)})"
        if level == "full":
            lines = [f"- {_cell(str(decision))}" for decision in plan.decisions]
        else:
            lines = _by_kind([d.where.split(" ")[0] for d in plan.decisions])
        out += _collapsed(title, lines)
    # Belt and braces: nothing the log would redact leaves through a job summary either.
    return redact("\n".join(out).rstrip()) + "\n"


def _truncated(plan: Plan, budget: int, full_plan: str | None) -> str:
    """The head, then one line a resource for as long as the budget lasts, then a pointer."""
    shown = [c for c in plan.changes if c.action not in ("same", "skip")]
    where = (
        f"the full plan is in `{_cell(full_plan)}`"
        if full_plan
        else f"`snapshotsync plan --target {_cell(plan.target)}` prints the full plan"
    )

    def pointer(rest: int) -> str:
        what = f"{rest} more changes" if rest else "The placeholders and decisions"
        return f"\n**{what} are not listed here (too long for a comment): {where}.**\n"

    text = redact("\n".join([*_markdown_head(plan), "#### Changes", ""])) + "\n"
    room = budget - len(pointer(len(shown)))
    if len(text) > room:  # even the head is too long (thousands of errors): cut it at a line
        text = text[: text.rfind("\n", 0, max(room, 0)) + 1]
    for listed, change in enumerate(shown):
        item = redact(_one_line(change)) + "\n"
        if len(text) + len(item) + len(pointer(len(shown) - listed)) > budget:
            return text + pointer(len(shown) - listed)
        text += item
    return text + pointer(0)


# ---------------------------------------------------------------------- drift


def _drift_value(value: Any) -> Any:
    """A drifted part as it may be shown: secrets and values from the environment masked."""
    if isinstance(value, dict) and "Value" in value:
        # A variable value's description and prompt are compared even when it has none
        # (`changes.parts`); one it does not have is not shown.
        value = {k: v for k, v in value.items() if k not in METADATA or v is not None}
        if value.get("Type") == "Sensitive":
            return {**value, "Value": MASK}
    return _unmarked(value)


def drift_text(target: str, found: list[threeway.Drift]) -> str:
    """What changed by hand on `target` since the last push, resource by resource."""
    if not found:
        return f"drift {target}: nothing changed by hand since the last push"
    out = [f"Drift on target {target}: changed by hand since the last push", ""]
    for item in found:
        where = f"{item.key}" + (f" {item.part}" if item.part else "")
        if item.change == "deleted":
            out.append(f"  - deleted  {where}")
            continue
        if item.change == "added":
            out.append(f"  + added    {where}")
            continue
        out.append(f"  ~ changed  {where}")
        if isinstance(item.base, dict) and isinstance(item.live, dict):
            difference = tuple(dictdiffer.diff(_drift_value(item.base), _drift_value(item.live)))
            out += [f"        {line}" for line in diff_lines(difference)]
        else:
            out.append(
                f"        {_short(_drift_value(item.base))} -> {_short(_drift_value(item.live))}"
            )
    out += ["", f"{len(found)} changes by hand on {target}."]
    return redact("\n".join(out))


def drift_json(target: str, found: list[threeway.Drift]) -> str:
    document = {
        "format_version": FORMAT_VERSION,
        "command": "drift",
        "target": target,
        "has_drift": bool(found),
        "drift": [
            {
                "kind": item.key.kind,
                "name": list(item.key.name),
                "part": item.part or None,
                "change": item.change,
                "recorded": _drift_value(item.base),
                "now": _drift_value(item.live),
            }
            for item in found
        ],
    }
    return redact(json.dumps(document, indent=2, ensure_ascii=False, default=str))
