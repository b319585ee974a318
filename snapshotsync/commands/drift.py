"""`snapshotsync drift --target T`: what changed by hand on the destination since the last
push. Read-only: the destination is read, compared with `targets/T/base/` (what the last push
recorded that snapshotsync placed there), and nothing is written anywhere.
"""

from __future__ import annotations

from snapshotsync import plan as planning
from snapshotsync import records, report, threeway
from snapshotsync.commands.plan import (
    base_dir,
    load_inputs,
    open_client,
    read_destination,
    repo_lock,
)
from snapshotsync.errors import ExitCode, UserError
from snapshotsync.log import mask_secrets
from snapshotsync.model import JsonDict, ResourceKey
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
    by_name = {_lower(key): key for key in live.resources}
    matched: dict[ResourceKey, JsonDict] = {}
    for key in inputs.base.resources:
        found = by_name.get(_lower(key))
        if found is not None:
            # The base holds values from the environment masked (the repo never holds a
            # secret): the destination's are masked the same way before they are compared.
            matched[key] = mask_secrets(live.resources[found])
    found_drift = threeway.drift(inputs.base.resources, matched, planning.parts)
    report.line(
        report.drift_json(target_name, found_drift)
        if output == "json"
        else report.drift_text(target_name, found_drift)
    )
    return ExitCode.CHANGES if found_drift else ExitCode.OK


def _lower(key: ResourceKey) -> tuple[str, tuple[str, ...]]:
    return key.kind, tuple(part.lower() for part in key.name)
