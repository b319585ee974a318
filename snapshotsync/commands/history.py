"""`snapshotsync history [--target T]`: the audit trail, from the commits' trailers."""

from __future__ import annotations

import re

from snapshotsync import report
from snapshotsync.errors import ExitCode
from snapshotsync.settings import Settings, load_config
from snapshotsync.store import Store

_TRAILER = re.compile(r"^([A-Za-z-]+): (.*)$", re.MULTILINE)


def trailers(message: str) -> dict[str, str]:
    return {key: value.strip() for key, value in _TRAILER.findall(message)}


def run(settings: Settings, target: str | None) -> ExitCode:
    if target is not None:
        load_config(settings.repo).target(target)  # an unknown target is named, not "no pushes"
    store = Store(settings.repo)
    shown = 0
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
            )
        else:
            text = (
                f"push {facts.get('Target', '?')}  {facts.get('Created', 0)} created, "
                f"{facts.get('Updated', 0)} updated, {facts.get('Skipped', 0)} left alone, "
                f"{facts.get('Placeholders', 0)} placeholders ({facts.get('Result', '?')}) "
                f"from snapshot {facts.get('Snapshot', '?')[:10]}"
            )
        report.line(f"{when} {sha[:10]} {text}")
        shown += 1
    if not shown:
        report.line(f"no pushes to {target} yet" if target else "no exports or pushes yet")
    return ExitCode.OK
