"""What a killed run leaves behind, put right by the next run that writes the repo.

A run killed between writing its record and committing it (a kill -9, a power cut, a full
disk during `git commit`) leaves uncommitted changes that every later run would refuse. The
run announced the write first (`Store.begin_write`), so the next export or push can tell its
record from a hand edit: exactly what was announced is committed as a recovered record
(said in the commit message and the output); anything else is still refused.
"""

from __future__ import annotations

from snapshotsync import report, yamlio
from snapshotsync.errors import DirtyStoreError
from snapshotsync.log import get_logger
from snapshotsync.store import SNAPSHOT_DIR, Changes, Store

_log = get_logger("commands.recover")
EXPORT = "export"
EXPORT_INDEX = "export-index"  # the export's index of source ids, beside the snapshot


def push_marker(target: str) -> str:
    """The name under which a push to `target` announces its record."""
    return "push-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in target)


def export_message(
    count: int, source: str, space: str, version: str, staged: Changes, note: str = ""
) -> str:
    """The commit message of an export (its trailers are what `history` reads)."""
    return (
        f"export: {count} resources from {source} ({space}, Octopus {version}): "
        f"{staged}{note}\n\n"
        f"Snapshotsync-Event: export\nSource: {source}\nSpace: {space}\n"
        f"Octopus-Version: {version}\nResources: {count}\nAdded: {staged.added}\n"
        f"Changed: {staged.changed}\nRemoved: {staged.removed}"
    )


RECOVERED_NOTE = " (recovered: the run that wrote it was interrupted before its commit)"


def interrupted_writes(store: Store) -> None:
    """Commit the records interrupted runs wrote and did not commit; refuse hand edits
    made on top of them. Call with the repo's lock held, before anything else is written."""
    store.clean_scratch()
    for pending in store.pending_writes():
        state, path = store.pending_state(pending)
        if state == "committed":
            store.end_write(pending.name)
            continue
        if state == "not-written":
            _log.warning(
                "an interrupted %s stopped before writing its record to %s: nothing to recover",
                pending.name,
                pending.subdir,
            )
            store.end_write(pending.name)
            continue
        if state == "edited":
            raise DirtyStoreError(
                f"{store.path / pending.subdir} has uncommitted changes that an interrupted "
                f"{pending.name} did not write (e.g. {path}): commit or discard them first "
                f"(git -C {store.path} status {pending.subdir}); the interrupted run's own "
                "record is recovered on the next run"
            )
        staged = store.stage([pending.subdir])
        if pending.message:
            subject, _, body = pending.message.partition("\n")
            message = f"{subject}{RECOVERED_NOTE}\n{body}\nRecovered: yes"
        else:
            message = _export_message(store, staged) + "\nRecovered: yes"
        committed = store.commit([pending.subdir], message, staged)
        store.end_write(pending.name)
        sha = committed[0][:10] if committed else store.head()[:10]
        report.line(
            f"recovered: the {pending.subdir} record of an interrupted {pending.name} is "
            f"committed as {sha}"
        )


def _export_message(store: Store, staged: Changes) -> str:
    """An interrupted export's message, rebuilt from the snapshot it wrote."""
    files = store.read_tree(SNAPSHOT_DIR)
    meta = yamlio.loads_fast(files.get("_meta.yaml", "{}"), f"{SNAPSHOT_DIR}/_meta.yaml") or {}
    count = sum(1 for path in files if not path.startswith("_"))
    return export_message(
        count,
        str(meta.get("source", "?")),
        str(meta.get("space", "?")),
        str(meta.get("octopus_version", "?")),
        staged,
        RECOVERED_NOTE,
    )
