"""Several targets in one command (`--target` repeated, or `--all-targets`): plan, push or
drift each in turn, then one summary; the exit code is the worst of them.

A target that fails does not stop `plan` or `drift` for the others (each is read-only and
independent); `push` stops at the first target that fails, as a staged rollout would, and
says which targets it did not run. With `--output json` the whole run is one JSON document:
each target's own document (or its error) under `targets`, and the summary.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

from snapshotsync import report
from snapshotsync.errors import ExitCode, UserError
from snapshotsync.log import redact
from snapshotsync.settings import Settings, load_config

# Worst last: an error outweighs pending changes, a bug an error, ^C everything.
SEVERITY = (ExitCode.OK, ExitCode.CHANGES, ExitCode.ERROR, ExitCode.BUG, ExitCode.INTERRUPTED)


def worst(codes: list[ExitCode]) -> ExitCode:
    return max(codes, key=SEVERITY.index, default=ExitCode.OK)


def chosen(settings: Settings, names: list[str], all_targets: bool) -> list[str]:
    """The targets a command runs for, in the order given (or the config's order)."""
    if all_targets and names:
        raise UserError("give either --target (repeatable) or --all-targets, not both")
    config = load_config(settings.repo)
    if all_targets:
        if not config.targets:
            raise UserError(f"{config.path}: no targets to run: add one under `targets:`")
        return list(config.targets)
    if not names:
        raise UserError("name a target: --target T (repeatable), or --all-targets")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UserError(f"--target {repeated[0]} is given twice: name each target once")
    for name in names:
        config.target(name)  # an unknown name is refused before any target runs
    return names


@dataclass(frozen=True)
class Outcome:
    target: str
    code: ExitCode
    error: str = ""


WORDS = {
    "plan": {ExitCode.OK: "up to date", ExitCode.CHANGES: "changes pending"},
    "drift": {ExitCode.OK: "no drift", ExitCode.CHANGES: "drift"},
    "push": {ExitCode.OK: "pushed", ExitCode.CHANGES: "pushed"},
}


def run_each(
    command: str,
    names: list[str],
    output: str,
    one: Callable[[str], ExitCode],
    *,
    stop_on_failure: bool = False,
) -> list[Outcome]:
    """`one(target)` for each target in turn, its output as it comes (or gathered into one
    JSON document), then the summary. `one` must return CHANGES when there is something
    to do (plan is run with a detailed exit code); the caller maps it back."""
    outcomes: list[Outcome] = []
    documents: list[object] = []
    for number, name in enumerate(names):
        if stop_on_failure and outcomes and outcomes[-1].code not in (ExitCode.OK,):
            outcomes += [Outcome(n, ExitCode.ERROR, "not run") for n in names[number:]]
            break
        if output != "json" and len(names) > 1:
            report.line(f"{'' if number == 0 else chr(10)}=== {command} {name}")
        keep = report.captured() if output == "json" else nullcontext(None)
        with keep as kept:
            try:
                code = one(name)
                error = ""
            except UserError as exc:
                code, error = ExitCode.ERROR, redact(str(exc))
                if output != "json":
                    report.warning(f"error: {error}")
        outcomes.append(Outcome(name, code, error))
        if output == "json":
            text = "\n".join(kept or [])
            documents.append(
                json.loads(text)
                if text.strip()
                else {"format_version": report.FORMAT_VERSION, "target": name, "error": error}
            )
    if output == "json":
        report.line(
            json.dumps(
                {
                    "format_version": report.FORMAT_VERSION,
                    "command": command,
                    "targets": documents,
                    "summary": [_summary_json(command, o) for o in outcomes],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    elif len(names) > 1:
        report.line("")
        report.line(summary_text(command, outcomes))
    return outcomes


def _result(command: str, outcome: Outcome) -> str:
    if outcome.error == "not run":
        return "not run"
    if outcome.error or outcome.code not in WORDS[command]:
        return "error"
    return WORDS[command][outcome.code]


def _summary_json(command: str, outcome: Outcome) -> dict[str, object]:
    return {
        "target": outcome.target,
        "result": _result(command, outcome),
        "exit_code": int(outcome.code),
        "error": outcome.error or None,
    }


def summary_text(command: str, outcomes: list[Outcome]) -> str:
    """One row a target: its name, what came of it, and the error if any."""
    width = max(len("target"), *(len(o.target) for o in outcomes))
    rows = [f"{'target'.ljust(width)}  result", f"{'-' * width}  ------"]
    for outcome in outcomes:
        result = _result(command, outcome)
        detail = f": {outcome.error}" if outcome.error and outcome.error != "not run" else ""
        rows.append(f"{outcome.target.ljust(width)}  {result}{detail}")
    return f"{command} summary ({len(outcomes)} targets)\n" + "\n".join(rows)
