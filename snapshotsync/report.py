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

from snapshotsync import threeway
from snapshotsync.log import get_logger, mask_secrets, redact
from snapshotsync.merge import ValueAction, describe
from snapshotsync.model import is_sensitive_marker
from snapshotsync.plan import Change, Plan

_log = get_logger("progress")


def line(text: str = "") -> None:
    """One line of results on stdout, secrets masked."""
    print(redact(text), flush=True)


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


def plan_text(plan: Plan) -> str:
    out = [f"Plan for target {plan.target}", ""]
    if plan.errors:
        out.append("Errors (nothing is planned as writable until they are fixed):")
        out += [f"  ! {error}" for error in plan.errors]
        out.append("")
    for change in plan.changes:
        if change.action == "same":
            continue
        line = f"  {SYMBOL[change.action]} {change.key}"
        if change.reason:
            line += f"  ({change.reason})"
        out.append(line)
        if change.values:
            for value in change.values:
                if value.action == "same":
                    continue
                out.append(f"        {VALUE_SYMBOL[value.action]} {_value_text(value)}")
            if change.action in ("update", "rename", "conflict") and change.key.kind in DIFFED:
                out += [f"        {line}" for line in diff_lines(change.diff)]
        elif change.action in ("update", "rename", "conflict"):
            out += [f"        {line}" for line in diff_lines(change.diff)]
    if plan.decisions:
        out += ["", "Left out or changed by the overlay:"]
        out += [f"  - {decision}" for decision in plan.decisions]
    if plan.placeholders and not plan.errors:
        out += ["", "Placeholders a push would write (snapshotsync cleanup lists them):"]
        out += [f"  ! {p.key} {p.field}: {p.reason}" for p in plan.placeholders]
    out += [
        "",
        f"Plan: {counts_line(plan)}" + (f", {len(plan.errors)} errors." if plan.errors else "."),
    ]
    return "\n".join(out)


def plan_json(plan: Plan) -> str:
    def masked(variable: dict[str, Any] | None) -> dict[str, Any] | None:
        """A secret given by the overlay is known, but never printed."""
        if variable is not None and variable.get("Type") == "Sensitive":
            return {**variable, "Value": "<sensitive>"}
        return variable

    def value_json(value: ValueAction) -> dict[str, Any]:
        return {
            "action": value.action,
            "name": value.name,
            "before": masked(value.before),
            "after": masked(value.after),
            "reason": value.reason,
            "placeholder": value.placeholder or None,
        }

    document = {
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
                "values": [value_json(v) for v in c.values],
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


def _change_details(change: Change) -> list[str]:
    if change.values:
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


def plan_markdown(plan: Plan) -> str:
    """The plan as GitHub-flavoured Markdown, for a pull-request comment or a CI job summary.

    A summary line, a table of changes by kind, one collapsible block per resource with its
    per-field diff (variable sets value by value), then the placeholders and the overlay's
    decisions. Secrets are never shown: sensitive values, and anything the log redacts
    (API keys, values the overlay read with `${env:...}`), are masked.
    """
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
    shown = [c for c in plan.changes if c.action != "same"]
    if shown:
        out += ["#### Changes", ""]
        for change in shown:
            block = _change_details(change)
            if block[0] == "<details>" and out[-1] != "":
                out.append("")  # an HTML block after a list needs a blank line before it
            out += block
        if out[-1] != "":
            out.append("")
    if plan.placeholders:
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
    if plan.decisions:
        out += [
            "<details>",
            f"<summary>Left out or changed by the overlay ({len(plan.decisions)})</summary>",
            "",
        ]
        out += [f"- {_cell(str(decision))}" for decision in plan.decisions]
        out += ["", "</details>", ""]
    # Belt and braces: nothing the log would redact leaves through a job summary either.
    return redact("\n".join(out).rstrip()) + "\n"


# ---------------------------------------------------------------------- drift


def _drift_value(value: Any) -> Any:
    """A drifted part as it may be shown: secrets and values from the environment masked."""
    if isinstance(value, dict) and ("Value" in value and value.get("Type") == "Sensitive"):
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
