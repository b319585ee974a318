"""What the user sees: result lines on stdout and progress on a terminal. The only printer.

Progress is a rich progress bar when stderr is a terminal, and plain log lines (every
tenth of the way) when it is not, so CI logs stay readable.

Secrets never reach the output: every line goes through `log.redact` (the API keys and every
value read from the environment by `${env:...}`, whatever the variable's type), and the JSON
plan is masked value by value before it is serialized, so it stays valid JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from snapshotsync.log import get_logger, mask_secrets, redact
from snapshotsync.merge import ValueAction, describe
from snapshotsync.plan import Plan

_log = get_logger("progress")


def line(text: str = "") -> None:
    """One line of results on stdout, secrets masked."""
    print(redact(text), flush=True)


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

SYMBOL = {"create": "+ create", "update": "~ update", "same": "= same  ", "skip": "= leave "}
VALUE_SYMBOL = {
    "add": "+ add   ",
    "update-scope": "~ scope ",
    "overwrite": "~ value ",
    "leave": "= leave ",
    "same": "= same  ",
}


def _short(value: Any, width: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= width else text[: width - 3] + "..."


def _path(path: Any) -> str:
    if isinstance(path, list | tuple):
        return ".".join(str(p) for p in path) or "(document)"
    return str(path) or "(document)"


def diff_lines(diff: tuple[Any, ...]) -> list[str]:
    """dictdiffer entries as `~ path: old -> new`, `+ path.key: value`, `- path.key`."""
    lines = []
    for kind, path, detail in diff:
        if kind == "change":
            old, new = detail
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
                shown = describe(value.after or value.before)
                text = f"        {VALUE_SYMBOL[value.action]} {shown}"
                if value.action == "update-scope" and value.before is not None:
                    text += f"   (was: {describe(value.before)})"
                if value.reason and value.action in ("leave", "overwrite"):
                    text += f"   ({value.reason})"
                out.append(text)
        elif change.action == "update":
            out += [f"        {line}" for line in diff_lines(change.diff)]
    if plan.decisions:
        out += ["", "Left out or changed by the overlay:"]
        out += [f"  - {decision}" for decision in plan.decisions]
    if plan.placeholders and not plan.errors:
        out += ["", "Placeholders a push would write (snapshotsync cleanup lists them):"]
        out += [f"  ! {p.key} {p.field}: {p.reason}" for p in plan.placeholders]
    counts = plan.counts()
    out += [
        "",
        f"Plan: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['same']} unchanged, {counts['skip']} left alone"
        + (f", {len(plan.errors)} errors." if plan.errors else "."),
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
