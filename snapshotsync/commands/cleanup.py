"""`snapshotsync cleanup --target T`: the placeholder ledger, checked against the destination.

Non-secret placeholders are checked by value, tenant values (`tenants: variables:
placeholder`) at the path the ledger records. Secrets cannot be read, so a secret written
with a placeholder carries a note first in its description (`merge.PLACEHOLDER_NOTE`); the
entry is done once someone replaced the value and removed the note. Secrets outside variables
(account passwords, feed credentials, step secrets) cannot be checked at all and are listed
as "check" for a person to confirm.
"""

from __future__ import annotations

import json
from typing import Any

from snapshotsync import records, report
from snapshotsync.commands.plan import compute, load_inputs, open_client, repo_lock
from snapshotsync.commands.push import (
    created_of,
    found_on,
    intents_path,
    placeholders_found,
    read_intents,
    read_ledger,
    target_dir,
)
from snapshotsync.errors import ExitCode, UserError
from snapshotsync.ledger import status
from snapshotsync.model import Snapshot
from snapshotsync.settings import Settings


def run(settings: Settings, target_name: str, output: str = "text") -> ExitCode:
    with repo_lock(settings, f"cleanup --target {target_name}", exclusive=False) as store:
        records.check(store, target_name)
        return _cleanup(settings, target_name, output)


def _cleanup(settings: Settings, target_name: str, output: str = "text") -> ExitCode:
    inputs = load_inputs(settings, target_name)
    if inputs.store.read_file(f"{target_dir(target_name)}/cleanup.yaml") is None:
        raise UserError(
            f"no ledger for {target_name} yet ({target_dir(target_name)}/cleanup.yaml): push first"
        )
    entries = read_ledger(inputs.store, target_name)
    with open_client(settings, inputs) as client:
        live = compute(settings, inputs, client).live
    # The ledger as rebuilt from the destination: placeholders in what snapshotsync created,
    # also those a push whose reply was lost (or that was killed) never recorded.
    base = inputs.base or Snapshot({}, {})
    intents = read_intents(inputs.store, intents_path(target_name))
    created = [*created_of(base), *found_on(live, intents)]
    seen = {(e.get("resource"), e.get("field")) for e in entries}
    placeholder = inputs.overlay.variables.sensitive_placeholder
    for entry in placeholders_found(created, base.resources, live, placeholder):
        if (entry["resource"], entry["field"]) not in seen:
            entries.append(entry)
            seen.add((entry["resource"], entry["field"]))
    counts = {"pending": 0, "done": 0, "check": 0}
    states = []
    for entry in entries:
        state = status(entry, live)
        counts[state] += 1
        states.append(state)
        if output != "json":
            report.line(
                f"{state:<8} {entry.get('resource')}  {entry.get('field')}  ({entry.get('reason')})"
            )
    if output == "json":
        report.line(_json(target_name, entries, states, counts))
        return ExitCode.OK
    report.line(
        f"cleanup {target_name}: {counts['pending']} pending, {counts['done']} done, "
        f"{counts['check']} to check by hand"
    )
    return ExitCode.OK


def _json(
    target: str, entries: list[dict[str, Any]], states: list[str], counts: dict[str, int]
) -> str:
    document = {
        "format_version": report.FORMAT_VERSION,
        "command": "cleanup",
        "target": target,
        "summary": counts,
        "entries": [
            {
                "status": state,
                "resource": entry.get("resource"),
                "field": entry.get("field"),
                "reason": entry.get("reason"),
            }
            for entry, state in zip(entries, states, strict=True)
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False, default=str)
