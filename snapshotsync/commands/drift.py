"""`snapshotsync drift --target T`: what changed by hand on the destination since the last
push. Read-only: the destination is read, compared with `targets/T/base/` (what the last push
recorded that snapshotsync placed there), and nothing is written anywhere.
"""

from __future__ import annotations

from snapshotsync import changes, layout, records, report, threeway
from snapshotsync.commands.plan import (
    base_dir,
    load_inputs,
    open_client,
    read_destination,
    repo_lock,
    state_dir,
)
from snapshotsync.commands.push import read_ledger
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
    last = inputs.store.read_tree(state_dir(target_name))
    before = layout.parse(last, state_dir(target_name)).resources if last else None
    found_drift = threeway.drift(
        inputs.base.resources,
        matched,
        changes.parts,
        {key: mask_secrets(doc) for key, doc in (before or {}).items()} if before else None,
    )
    # Values the last push wrote for a person to replace (placeholders, clones: the cleanup
    # ledger) are not snapshotsync's to hold, and not added by hand either.
    placeholders = {
        (
            str(e.get("kind")),
            tuple(str(n).lower() for n in e.get("name") or []),
            str(e.get("field", "")).removeprefix("variable ").lower(),
        )
        for e in read_ledger(inputs.store, target_name)
    }
    found_drift = [
        d
        for d in found_drift
        if not (
            d.change == "added"
            and isinstance(d.live, dict)
            and (d.key.kind, _lower(d.key)[1], str(d.live.get("Name", "")).lower()) in placeholders
        )
    ]
    report.line(
        report.drift_json(target_name, found_drift)
        if output == "json"
        else report.drift_text(target_name, found_drift)
    )
    return ExitCode.CHANGES if found_drift else ExitCode.OK


def _lower(key: ResourceKey) -> tuple[str, tuple[str, ...]]:
    return key.kind, tuple(part.lower() for part in key.name)
