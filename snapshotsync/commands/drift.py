"""`snapshotsync drift --target T`: what changed by hand on the destination since the last
push. Read-only: the destination is read, compared with `targets/T/base/` (what the last push
recorded that snapshotsync placed there), and nothing is written anywhere.
"""

from __future__ import annotations

from snapshotsync import changes, records, report
from snapshotsync.commands.plan import (
    base_dir,
    hand_edits,
    load_inputs,
    open_client,
    read_destination,
    repo_lock,
)
from snapshotsync.commands.push import read_ledger
from snapshotsync.errors import ExitCode, UserError
from snapshotsync.settings import Settings


def run(settings: Settings, target_name: str, output: str) -> ExitCode:
    # Shared, like plan: export and push rewrite the records this reads.
    with repo_lock(settings, f"drift --target {target_name}", exclusive=False) as store:
        records.check(store, target_name)
        return _drift(settings, target_name, output)


def _drift(settings: Settings, target_name: str, output: str) -> ExitCode:
    inputs = load_inputs(settings, target_name)
    if inputs.base is None:
        raise UserError(
            f"no record of what snapshotsync placed on {target_name} yet "
            f"({base_dir(target_name)}/): push first"
        )
    with open_client(settings, inputs) as client:
        live, _, _ = read_destination(settings, inputs, client)
    # What the last push kept as a person left it is not drift while it stays so.
    found_drift = changes.since_kept(
        hand_edits(inputs, live, read_ledger(inputs.store, target_name)),
        inputs.base.meta.get("kept") or [],
    )
    report.line(
        report.drift_json(target_name, found_drift)
        if output == "json"
        else report.drift_text(target_name, found_drift)
    )
    return ExitCode.CHANGES if found_drift else ExitCode.OK
