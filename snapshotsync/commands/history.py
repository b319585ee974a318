"""`snapshotsync history [--target T]`: the audit trail, from the commits' trailers."""

from __future__ import annotations

import json
import re
from typing import Any

from snapshotsync import report
from snapshotsync.errors import ExitCode
from snapshotsync.settings import Settings, load_config
from snapshotsync.store import Store

_TRAILER = re.compile(r"^([A-Za-z-]+): (.*)$", re.MULTILINE)


def trailers(message: str) -> dict[str, str]:
    return {key: value.strip() for key, value in _TRAILER.findall(message)}


def run(settings: Settings, target: str | None, output: str = "text") -> ExitCode:
    if target is not None:
        load_config(settings.repo).target(target)  # an unknown target is named, not "no pushes"
    store = Store(settings.repo)
    shown = 0
    events: list[dict[str, Any]] = []
    for sha, date, message in reversed(store.log(["."])):
        facts = trailers(message)
        event = facts.get("Snapshotsync-Event")
        if event not in ("export", "push") or (
            target and (event != "push" or facts.get("Target") != target)
        ):
            continue
        when = date[:16].replace("T", " ")
        if event == "export":
            text = (
                f"export  {facts.get('Resources', '?')} resources, +{facts.get('Added', 0)} "
                f"~{facts.get('Changed', 0)} -{facts.get('Removed', 0)} files from "
                f"{facts.get('Source', '?')} (Octopus {facts.get('Octopus-Version', '?')})"
                f"{marks(facts)}"
            )
        else:
            extra = "".join(
                f", {facts[name]} {label}"
                for name, label in (
                    ("Deleted", "deleted"),
                    ("Conflicts", "conflicts"),
                    ("Orphans", "orphans"),
                )
                if facts.get(name, "0") != "0"
            )
            overlay = f", overlay {facts['Overlay']}" if facts.get("Overlay") else ""
            overlay += marks(facts)
            text = (
                f"push {facts.get('Target', '?')}  {facts.get('Created', 0)} created, "
                f"{facts.get('Updated', 0)} updated, {facts.get('Skipped', 0)} left alone"
                f"{extra}, {facts.get('Placeholders', 0)} placeholders "
                f"({facts.get('Result', '?')}) from snapshot {facts.get('Snapshot', '?')[:10]}"
                f"{overlay}"
            )
        shown += 1
        if output == "json":
            events.append(_event(sha, date, event, facts))
            continue
        report.line(f"{when} {sha[:10]} {text}")
    if output == "json":
        document = {
            "format_version": report.FORMAT_VERSION,
            "command": "history",
            "target": target,
            "events": events,
        }
        report.line(json.dumps(document, indent=2, ensure_ascii=False))
        return ExitCode.OK
    if not shown:
        report.line(f"no pushes to {target} yet" if target else "no exports or pushes yet")
    return ExitCode.OK


# Trailers that say how a push ran (`commands.push.push_marks`, `commands.recover`).
MARKS = (
    ("Force-Overwrite", "--force-overwrite"),
    ("Prune", "--prune"),
    ("After-Killed-Push", "after a killed push"),
    ("Recovered", "recovered after it was killed"),
)


def marks(facts: dict[str, str]) -> str:
    """` [--force-overwrite, --prune]`: how a push ran, when anything but plainly."""
    found = [label for trailer, label in MARKS if facts.get(trailer) == "yes"]
    return f" [{', '.join(found)}]" if found else ""


def _event(sha: str, date: str, event: str, facts: dict[str, str]) -> dict[str, Any]:
    """One export or push, with the facts its commit's trailers hold (numbers as numbers)."""
    found: dict[str, Any] = {"commit": sha, "date": date, "event": event}
    for key, value in facts.items():
        if key == "Snapshotsync-Event":
            continue
        name = key.lower().replace("-", "_")
        found[name] = int(value) if value.isdigit() else value
    return found
