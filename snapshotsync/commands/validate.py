"""`snapshotsync validate`: the config and every overlay, checked without any request.

Besides keys and names (with the last recorded destination state, when a push recorded
one), the overlay is applied to the snapshot (pure, no instance): where several source
environments map to one destination environment and their values disagree with no
`prefer:` to settle it, that is an error at the overlay's line.
"""

from __future__ import annotations

from snapshotsync import layout, overlay, report, transform
from snapshotsync.commands.plan import (
    clash_error,
    past_names,
    repo_lock,
    source_identities,
    state_dir,
)
from snapshotsync.errors import ExitCode, OverlayError, UserError
from snapshotsync.settings import Settings, load_config
from snapshotsync.store import SNAPSHOT_DIR, Store


def run(settings: Settings) -> ExitCode:
    with repo_lock(settings, "validate", exclusive=False):
        return _validate(settings)


def _validate(settings: Settings) -> ExitCode:
    config = load_config(settings.repo)
    store = Store(settings.repo)
    files = store.read_tree(SNAPSHOT_DIR)
    snapshot = layout.parse(files, str(settings.repo / SNAPSHOT_DIR)) if files else None
    history = past_names(store) if snapshot else {}
    problems = []
    for name, target in sorted(config.targets.items()):
        last = store.read_tree(state_dir(name))
        last_state = layout.parse(last, state_dir(name)) if last else None
        try:
            loaded, warnings = overlay.load(
                target.overlay,
                snapshot,
                last_state,
                history,
                source_identities(store, target.overlay) if snapshot else None,
            )
        except OverlayError as error:
            problems.append(str(error))
            continue
        for warning in warnings:
            report.line(warning)
        for selection in overlay.selection_lines(loaded):
            report.line(f"{target.overlay}: {selection}")
        if snapshot is not None:
            clashes = transform.apply(snapshot, loaded).clashes
            if clashes:
                problems.append("\n".join(clash_error(loaded, clash) for clash in clashes))
                continue
        report.line(
            f"{target.overlay}: ok"
            + ("" if snapshot else " (keys only: no snapshot yet to check names against)")
        )
    if problems:
        raise UserError("\n".join(problems))
    return ExitCode.OK
