"""`snapshotsync validate`: the config and every overlay, checked without any request."""

from __future__ import annotations

from snapshotsync import layout, overlay, report
from snapshotsync.commands.plan import repo_lock, state_dir
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
    problems = []
    for name, target in sorted(config.targets.items()):
        last = store.read_tree(state_dir(name))
        last_state = layout.parse(last, state_dir(name)) if last else None
        try:
            _, warnings = overlay.load(target.overlay, snapshot, last_state)
        except OverlayError as error:
            problems.append(str(error))
            continue
        for warning in warnings:
            report.line(warning)
        report.line(
            f"{target.overlay}: ok"
            + ("" if snapshot else " (keys only: no snapshot yet to check names against)")
        )
    if problems:
        raise UserError("\n".join(problems))
    return ExitCode.OK
