"""`snapshotsync push --target T`: plan, confirm, write, record, commit.

Before the first write: the config and overlay are valid, the versions are close enough,
the plan has no errors, and the destination as read is saved under `targets/T/state/`.
After the push (complete or not) `last-push.yaml` and the placeholder ledger
`cleanup.yaml` are committed, so `git log` says what happened. A push that stopped half-way
says so; running it again plans from the destination's new state and finishes the job.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from snapshotsync import changes, layout, push, records, report, yamlio
from snapshotsync.changes import Placeholder, Plan
from snapshotsync.commands import recover, savedplan
from snapshotsync.commands.export import note_detached
from snapshotsync.commands.history import trailers
from snapshotsync.commands.plan import (
    Inputs,
    base_dir,
    compute,
    hand_edits,
    load_inputs,
    open_client,
    repo_lock,
    state_dir,
)
from snapshotsync.errors import DirtyStoreError, ExitCode, UserError
from snapshotsync.ledger import status
from snapshotsync.log import get_logger, mask_secrets
from snapshotsync.merge import has_note
from snapshotsync.model import (
    JsonDict,
    LoweredKey,
    ResourceKey,
    Snapshot,
    is_sensitive_marker,
    lowered,
)
from snapshotsync.octopus.kinds import KINDS
from snapshotsync.overlay import VariablePolicy
from snapshotsync.settings import Settings
from snapshotsync.store import PENDING_DIR, SNAPSHOT_DIR, Store
from snapshotsync.versions import version_skew

_log = get_logger("commands.push")

LEDGER_NOTE = (
    "# Placeholders snapshotsync wrote that a human must replace.\n"
    "# `snapshotsync cleanup --target {target}` shows which are still on the destination.\n"
)


def target_dir(target: str) -> str:
    return f"targets/{target}"


def run(
    settings: Settings,
    target_name: str,
    *,
    assume_yes: bool,
    dry_run: bool,
    allow_version_skew: bool,
    prune: bool = False,
    force: bool = False,
    saved_plan: Path | None = None,
) -> ExitCode:
    command = f"push --target {target_name}{' --dry-run' if dry_run else ''}"
    saved = None
    if saved_plan is not None:
        saved = savedplan.read(saved_plan, target_name)
        options = savedplan.options_of(saved)
        if (prune and not options.prune) or (force and not options.force):
            raise UserError(
                f"--plan {saved_plan} was planned without --prune/--force-overwrite: a "
                "saved plan is pushed with the options it was made with"
            )
        prune, force = options.prune, options.force
    with repo_lock(settings, command, exclusive=not dry_run) as store:
        records.check(store, target_name)
        if not dry_run:  # a dry run is a plan: it reads, and writes nothing, not even git
            store.ensure_index_unlocked()
            recover.interrupted_writes(store)
            # The record names the snapshot commit pushed: edits not in it are refused.
            store.ensure_clean(SNAPSHOT_DIR)
        return _push(
            settings,
            target_name,
            assume_yes=assume_yes,
            dry_run=dry_run,
            allow_version_skew=allow_version_skew,
            prune=prune,
            force=force,
            saved=(saved_plan, saved) if saved_plan is not None and saved is not None else None,
        )


def run_json(settings: Settings, target_name: str, **options: Any) -> ExitCode:
    """`push --output json`: one JSON document with the plan pushed (or planned, with
    `--dry-run`), what the push said, and the record it committed. An error is the CLI's
    JSON error document (the record of a push that stopped half-way is committed all the
    same, and `history --output json` shows it)."""
    with report.captured() as lines, report.recorded_plans() as plans:
        code = run(settings, target_name, **options)
    planned = plans[-1] if plans else None
    record = None
    if not options.get("dry_run") and planned is not None and planned.has_changes:
        text = Store(settings.repo).read_file(f"{target_dir(target_name)}/last-push.yaml")
        record = yamlio.loads_fast(text, "last-push.yaml") if text else None
    document = {
        "format_version": report.FORMAT_VERSION,
        "command": "push",
        "target": target_name,
        "dry_run": bool(options.get("dry_run")),
        "exit_code": int(code),
        "plan": json.loads(report.plan_json(planned)) if planned is not None else None,
        "messages": [line for line in lines if line.startswith("push")],
        "record": mask_secrets(record) if record is not None else None,
    }
    report.line(json.dumps(document, indent=2, ensure_ascii=False, default=str))
    return code


def _push(
    settings: Settings,
    target_name: str,
    *,
    assume_yes: bool,
    dry_run: bool,
    allow_version_skew: bool,
    prune: bool,
    force: bool,
    saved: tuple[Path, dict[str, Any]] | None = None,
) -> ExitCode:
    inputs = load_inputs(settings, target_name, need_env=not dry_run)
    ledger: list[dict[str, Any]] = []
    overlay_version = ""
    if not dry_run:
        # state/ and base/ are snapshotsync's own records, rewritten by every push (a push
        # killed while writing leaves them uncommitted); the ledger is where people write.
        # The records a push reads are read now, before anything is written.
        for recorded in ("last-push.yaml", "cleanup.yaml"):
            inputs.store.ensure_clean(f"{target_dir(target_name)}/{recorded}")
        ledger = read_ledger(inputs.store, target_name)
        overlay_version = _complete_record(inputs)
    marks = push_marks(inputs, force=force, prune=prune)
    for warning in inputs.warnings:
        report.line(warning)
    with open_client(settings, inputs) as client:
        computed = compute(settings, inputs, client, force=force, prune=prune)
        refound = False
        if not dry_run:
            confirmed = _with_confirmed_intents(inputs, computed.live)
            if confirmed is not inputs:
                # What an earlier run created and never saw confirmed (a lost reply, a kill)
                # is snapshotsync's: planned again as such (the destination read again).
                inputs, refound = confirmed, True
                _log.info("push: what an interrupted run created is planned again as ours")
                computed = compute(settings, inputs, client, force=force, prune=prune)
        plan = computed.plan
        source_version = str(inputs.snapshot.meta.get("octopus_version", ""))
        skew = version_skew(source_version, computed.raw.version)
        if skew and not allow_version_skew:
            raise UserError(f"{skew} (--allow-version-skew overrides; nothing was written)")
        if saved is not None:
            check_saved_plan(saved, inputs, computed.live, plan)
        report.line(report.plan_text(plan, verbose=settings.verbose > 0, base=inputs.base))
        if plan.errors:
            return ExitCode.ERROR
        if dry_run:
            return ExitCode.OK  # like `plan`: exit 2 is only for --detailed-exitcode
        # The hand edits this push leaves as they are, recorded so that `drift` after it
        # names only what changes by hand from now on (the plan goes on naming them); what
        # was added by hand is the destination's as read for the push (`state/`).
        masked = _masked(computed.live)  # as the records hold it
        found = hand_edits(inputs, computed.live, ledger)
        kept = changes.kept_marks(
            found,
            _left(plan, masked),
            _recorded(plan, inputs.base),
            {lowered(c.live_key): c.key for c in plan.changes if c.live_key},
        )
        newly_kept = any(d.change == "added" for d in found) or kept != (
            (inputs.base.meta.get("kept") if inputs.base else None) or []
        )
        unrecorded = refound or records_pending(inputs.store, target_name, computed.live, ledger)
        if not plan.has_changes and not unrecorded and not newly_kept:
            forget_announced(inputs.store, target_name)  # looked for, and all recorded
            report.line(f"push: {target_name} is up to date; nothing written")
            return ExitCode.OK
        if plan.has_changes and not assume_yes:
            if not sys.stdin.isatty():
                raise UserError("not a terminal, so no one can confirm: pass --yes to push")
            if not report.confirm(f"Push these changes to {target_name}?"):
                report.line("push cancelled; nothing written")
                return ExitCode.OK
        # The destination as read, recorded before anything is written to it (values read
        # from the environment are secrets: masked, like everything recorded); then what
        # snapshotsync holds there, resource by resource as each one's writes are made.
        inputs.store.write_tree(state_dir(target_name), layout.render(masked))
        base = BaseRecord(inputs, plan, kept)
        with report.progress(f"push {inputs.target.url}") as tick:
            result = push.push(
                plan,
                client,
                computed.space_id,
                computed.raw,
                inputs.overlay,
                progress=tick,
                written=base.written,
                concurrency=settings.concurrency,
                landed=base.landed,
            )
        calls = dict(sorted(client.stats.by_method.items()))
    base.finish()
    sha = _record(
        inputs,
        plan,
        result,
        source_version,
        computed.raw.version,
        calls,
        computed.live,
        ledger,
        overlay_version,
        marks,
        base,
    )
    base.settle_intents()
    if not plan.has_changes:
        what = (
            "the record of an interrupted push is"
            if unrecorded
            else "the record of the hand edits it keeps is"
        )
        report.line(
            f"push: {target_name} is up to date; nothing written; {what} committed as {sha[:10]}"
        )
        return ExitCode.OK
    done = f"{len(result.applied)} writes"
    if result.failed:
        raise push.PushError(
            f"push to {target_name} stopped at {result.failed}; {done} before it are recorded "
            f"in commit {sha[:10]}: fix the cause and run push again to finish"
        )
    report.line(
        f"push: {target_name} done, {done}, {len(plan.placeholders)} placeholders, "
        f"committed {sha[:10]}"
    )
    note_detached(inputs.store, sha)
    return ExitCode.OK


def check_saved_plan(
    saved: tuple[Path, dict[str, Any]], inputs: Inputs, live: Snapshot, plan: Plan
) -> None:
    """`push --plan FILE`: refuse, before any write, unless the plan made now is the saved
    one, from the same snapshot, overlay, config, records and destination."""
    path, document = saved
    commits = savedplan.inputs_of(inputs.store, inputs.target.name, inputs.target.overlay)
    savedplan.refuse_if_stale(path, savedplan.differences(document, commits, live, plan))


def push_marks(inputs: Inputs, *, force: bool, prune: bool) -> tuple[str, ...]:
    """Trailers that say how a push ran, for `history` and for whoever reads `git log`:
    with `--force-overwrite` (hand edits overwritten), with `--prune` (deletions), and
    after a push that was killed half-way (it left its `state/` or `base/` records written
    and not committed: only a push writes them, and a push that ends commits them)."""
    marks = []
    if force:
        marks.append("Force-Overwrite: yes")
    if prune:
        marks.append("Prune: yes")
    target = inputs.target.name
    if any(inputs.store.uncommitted(folder) for folder in (state_dir(target), base_dir(target))):
        marks.append("After-Killed-Push: yes")
    return tuple(marks)


def _complete_record(inputs: Inputs) -> str:
    """Refuse a push whose record would not explain it; the overlay version it uses.

    The commit of a push names the snapshot and the overlay it pushed, so the overlay and
    `snapshotsync.yaml` must be committed; and `snapshot/` must be what an export wrote: a
    hand edit there is pushed without a word and undone by the next export.
    """
    store = inputs.store
    overlay_path = _relative(inputs, inputs.target.overlay)
    for path, what in ((overlay_path, "the overlay"), ("snapshotsync.yaml", "the config")):
        try:
            store.ensure_clean(path)
        except DirtyStoreError as error:
            raise DirtyStoreError(
                f"{error} ({what} a push uses must be committed, so the push's record names "
                "it; nothing was written)"
            ) from None
    last = store.log([SNAPSHOT_DIR], limit=1)
    if last and trailers(last[0][2]).get("Snapshotsync-Event") != "export":
        sha = last[0][0]
        raise UserError(
            f"{SNAPSHOT_DIR}/ was last changed by commit {sha[:10]}, not by an export: a hand "
            "edit there would be pushed unreviewed and undone by the next export. Run "
            "`snapshotsync export` to bring the snapshot back to the source (change the "
            "destination through the overlay instead); nothing was written"
        )
    return store.last_commit(overlay_path)


def _relative(inputs: Inputs, path: Path) -> str:
    try:
        return path.resolve().relative_to(inputs.store.path.resolve()).as_posix()
    except ValueError:
        return str(path)


class BaseRecord:
    """`targets/<T>/base/`: what snapshotsync holds on the destination, kept current file by
    file as a push goes, so a push that stops (or is killed) leaves exactly what it wrote.

    Resources whose change makes no write (the same, a conflict kept, an orphan left) take
    their new base before the first write; the others once all their writes are made.
    `_meta.yaml` lists the resources snapshotsync created (only those may ever be deleted);
    during a push, what it creates or deletes is appended to `_journal.yaml` (a line a
    resource, so the cost of a write does not grow with the instance), folded into
    `_meta.yaml` when the push ends, or by the next run if this one is killed.
    """

    def __init__(self, inputs: Inputs, plan: Plan, kept: Iterable[dict[str, Any]] = ()) -> None:
        self.store = inputs.store
        self.kept = list(kept)  # the hand edits this push leaves as they are (`_meta.yaml`)
        self.folder = base_dir(inputs.target.name)
        self.plan = plan
        self.lock = threading.Lock()  # `landed` comes from the threads that write
        old = inputs.base or Snapshot({}, {})
        self.documents: dict[ResourceKey, JsonDict] = dict(old.resources)
        self.by_name = {lowered(key): key for key in self.documents}
        self.created = {lowered(key): key for key in created_of(old)}
        self.intents = intents_path(inputs.target.name)
        keys = sorted({*self.documents, *(r.key for r in plan.records.values())})
        self.paths = layout.paths(keys)
        writing = {change.key for change in plan.writes}
        for key in plan.records:
            if key not in writing:
                self._apply(key)
        self._write_meta(layout.long_names(keys))
        self.store.write_file(f"{self.folder}/{JOURNAL_FILE}", None)
        # Announced before the first write: what this run is about to create, and the
        # placeholders it is about to write (with those earlier runs left unconfirmed,
        # which this run's record looks for on the destination).
        self._write_intents([k for k in plan.created if lowered(k) not in self.created])
        self.target = inputs.target.name
        policy = inputs.overlay.variables
        self.announced = [_entry(p, policy) for p in plan.placeholders]
        earlier = read_announced(self.store, self.target)
        _announce(self.store, self.target, _unique([*earlier, *self.announced]))

    def written(self, key: ResourceKey) -> None:
        """Every write of `key`'s change has been made."""
        with self.lock:
            event = self._apply(key)
            if event is not None:
                self.store.append_file(f"{self.folder}/{JOURNAL_FILE}", event)

    def landed(self, key: ResourceKey) -> None:
        """The server created `key` (called on the thread that wrote it, as it lands)."""
        with self.lock:
            if key in self.plan.created and lowered(key) not in self.created:
                self.created[lowered(key)] = key
                self.store.append_file(f"{self.folder}/{JOURNAL_FILE}", _event("created", key))

    def _write_intents(self, keys: list[ResourceKey]) -> None:
        text = "".join(_event("creating", key) for key in sorted(keys)) or None
        self.store.write_file(self.intents, text)

    def settle_intents(self) -> None:
        """After the record: only what was set out to be created and never confirmed stays
        announced, for the next run to look for on the destination."""
        left = [
            key
            for key in read_intents(self.store, self.intents)
            if lowered(key) not in self.created
        ]
        self._write_intents(left)
        recorded = {_mark(e) for e in read_ledger(self.store, self.target)}
        _announce(self.store, self.target, [e for e in self.announced if _mark(e) not in recorded])

    def _apply(self, change_key: ResourceKey) -> str | None:
        """Record `change_key`'s new base; the journal line of a creation or deletion."""
        record = self.plan.records.get(change_key)
        if record is None:
            return None
        events = []
        for old in (change_key, record.key, *([record.was] if record.was else [])):
            found = self.by_name.get(lowered(old))
            if found is not None and (found != record.key or record.document is None):
                del self.documents[found]
                del self.by_name[lowered(found)]
                self.store.write_file(f"{self.folder}/{self.paths[found]}", None)
        if record.was is not None and record.document is not None:
            # Renamed on the source, and so on the destination: what it created it still did.
            moved = self.created.pop(lowered(record.was), None)
            if moved is not None and moved != record.key:
                events.append(_event("gone", moved))
        if record.document is None:
            if self.created.pop(lowered(record.key), None) is not None:
                return _event("gone", record.key)
            return None
        # Every secret the run knows (values the overlay read from the environment, API
        # keys) masked: the repo never holds one. A masked value no longer reads as
        # unchanged since the last push, so it is never overwritten or removed on that
        # ground; explicit values are written whatever the base says.
        document = mask_secrets(record.document)
        self.documents[record.key] = document
        self.by_name[lowered(record.key)] = record.key
        text = yamlio.dumps(document)
        self.store.write_file(f"{self.folder}/{self.paths[record.key]}", text)
        if record.key in self.plan.created and lowered(record.key) not in self.created:
            self.created[lowered(record.key)] = record.key
            events.append(_event("created", record.key))
        return "".join(events) or None

    def _meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "created": [[key.kind, *key.name] for key in sorted(self.created.values())]
        }
        if self.kept:
            meta["kept"] = self.kept
        return meta

    def _write_meta(self, shortened: dict[str, str]) -> None:
        self.store.write_file(f"{self.folder}/{layout.META_FILE}", yamlio.dumps(self._meta()))
        if shortened:  # names too long for a file name, as `layout.render` keeps them
            self.store.write_file(
                f"{self.folder}/{layout.NAMES_FILE}", yamlio.dumps({"names": shortened})
            )

    def finish(self) -> None:
        """The whole record, rewritten in one go (file names settle on the final set, the
        journal folded into `_meta.yaml`)."""
        self.store.write_tree(self.folder, layout.render(Snapshot(self.documents, self._meta())))


JOURNAL_FILE = "_journal.yaml"


def _recorded(plan: Plan, base: Snapshot | None) -> dict[LoweredKey, JsonDict | None]:
    """Each document as the push records it (its next base), masked as the records are."""
    recorded: dict[LoweredKey, JsonDict | None] = {
        lowered(key): document for key, document in (base.resources if base else {}).items()
    }
    for record in plan.records.values():
        document = None if record.document is None else mask_secrets(record.document)
        recorded[lowered(record.key)] = document
    return recorded


def _left(plan: Plan, masked: Snapshot) -> dict[LoweredKey, JsonDict | None]:
    """Each document as the push leaves the destination: the plan's where it writes (None
    where it deletes), as read (`masked`) elsewhere; masked as the records are."""
    left: dict[LoweredKey, JsonDict | None] = {
        lowered(key): document for key, document in masked.resources.items()
    }
    for change in plan.writes:
        document = None if change.action == "delete" else mask_secrets(change.after or {})
        for key in (change.key, change.live_key or change.key):
            left[lowered(key)] = document
    return left


def _unique(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({_mark(e): e for e in entries}.values())


def intents_path(target: str) -> str:
    """Where a push to `target` announces the resources it is about to create (git-ignored,
    beside the notes of interrupted writes)."""
    return f"{PENDING_DIR}/{recover.push_marker(target)}.creating"


def read_intents(store: Store, path: str) -> list[ResourceKey]:
    """The resources a push announced it would create (a torn last line is ignored: it
    was being written when the run ended)."""
    keys = []
    for line in (store.read_file(path) or "").splitlines():
        try:
            item = json.loads(line.removeprefix("- "))
        except ValueError:
            continue
        if isinstance(item, list) and len(item) >= 3 and all(isinstance(p, str) for p in item):
            keys.append(ResourceKey(item[1], tuple(item[2:])))
    return keys


def found_on(live: Snapshot | None, keys: list[ResourceKey]) -> list[ResourceKey]:
    """Those of `keys` the destination has, under the name it has them (any case)."""
    if live is None or not keys:
        return []
    there = {lowered(key): key for key in live.resources}
    return [there[lowered(key)] for key in keys if lowered(key) in there]


def _with_confirmed_intents(inputs: Inputs, live: Snapshot) -> Inputs:
    """`inputs` whose base counts as created what an earlier push announced it would create
    and the destination has, and records a document for every created resource whose run
    ended before recording one; `inputs` itself when there is nothing to add."""
    base = inputs.base or Snapshot({}, {})
    known = {lowered(key) for key in created_of(base)}
    intents = read_intents(inputs.store, intents_path(inputs.target.name))
    found = [key for key in found_on(live, intents) if lowered(key) not in known]
    created = sorted([*created_of(base), *found])
    # The record of a resource created by a run that ended before writing it (its reply
    # lost, or killed between the write and the record) is what the destination holds:
    # what that run sent, in the same normal form.
    recorded = {lowered(key) for key in base.resources}
    missing = [key for key in found_on(live, created) if lowered(key) not in recorded]
    if not found and not missing:
        return inputs
    meta = {**base.meta, "created": [[key.kind, *key.name] for key in created]}
    resources = {**base.resources, **{key: live.resources[key] for key in missing}}
    return dataclasses.replace(inputs, base=Snapshot(resources, meta))


def records_pending(
    store: Store, target: str, live: Snapshot, ledger: list[dict[str, Any]]
) -> bool:
    """Whether an earlier push to `target` left records this one must commit: files under
    `targets/<T>/` it wrote and never committed (killed, or out of disk, after its last
    write), or placeholders it announced that the destination holds and the ledger lacks."""
    if store.uncommitted(target_dir(target)):
        return True
    recorded = {_mark(e) for e in ledger}
    return any(
        _mark(e) not in recorded and _still_there(e, live) for e in read_announced(store, target)
    )


def forget_announced(store: Store, target: str) -> None:
    """Drop what earlier pushes announced: looked for on the destination and recorded, or
    never written."""
    store.write_file(intents_path(target), None)
    store.write_file(announced_path(target), None)


def _owner(key: ResourceKey) -> ResourceKey:
    """The resource a singleton document belongs to (a project's process), else `key`."""
    kind = KINDS.get(key.kind)
    if kind is not None and kind.singleton and kind.parent is not None:
        return ResourceKey(kind.parent, key.name)
    return key


def _event(what: str, key: ResourceKey) -> str:
    return "- " + json.dumps([what, key.kind, *key.name], ensure_ascii=False) + "\n"


def created_of(base: Snapshot) -> list[ResourceKey]:
    """The resources snapshotsync created, as a base records them."""
    return [
        ResourceKey(str(item[0]), tuple(str(p) for p in item[1:]))
        for item in base.meta.get("created") or []
    ]


def _same(a: ResourceKey, b: ResourceKey) -> bool:
    return lowered(a) == lowered(b)


def _masked(snapshot: Snapshot) -> Snapshot:
    resources = {key: mask_secrets(document) for key, document in snapshot.resources.items()}
    return Snapshot(resources, snapshot.meta)


def read_ledger(store: Store, target: str) -> list[dict[str, Any]]:
    """The entries of `targets/<target>/cleanup.yaml` ([] when there is none yet)."""
    where = f"{target_dir(target)}/cleanup.yaml"
    text = store.read_file(where)
    if text is None:
        return []
    data = yamlio.loads_fast(text, where)
    entries = data.get("entries") if isinstance(data, dict) else None
    if data is not None and (
        not isinstance(data, dict)
        or not isinstance(entries, list | None)
        or not all(isinstance(e, dict) for e in entries or [])
        or any(
            isinstance(e.get(k), dict | list)
            for e in entries or []
            for k in ("resource", "field", "cloned_value")
        )
    ):
        raise UserError(
            f"{where}: expected `entries:`, a list of mappings: fix the hand edit or restore "
            f"it (git -C {store.path} checkout -- {where}); nothing was written"
        )
    return list(entries or [])


def _record(
    inputs: Inputs,
    plan: Plan,
    result: push.PushResult,
    source_version: str,
    destination_version: str,
    calls: dict[str, int],
    live: Snapshot,
    ledger: list[dict[str, Any]],
    overlay_version: str = "",
    marks: tuple[str, ...] = (),
    record: BaseRecord | None = None,
) -> str:
    target = inputs.target.name
    store = inputs.store
    # Counted as the plan counted them ("N to create"): a resource the plan creates is
    # "created" even when the server made it along with its owner (a project's Default
    # channel) and the push then updated it; tenants written in two passes count once.
    planned = {str(c.key): c.action for c in plan.writes}
    applied = {str(a.key) for a in result.applied}
    created = sorted(k for k in applied if planned.get(k) == "create")
    updated = sorted(k for k in applied if planned.get(k) in ("update", "rename"))
    deleted = sorted(k for k in applied if planned.get(k) == "delete")
    skipped = [
        {"resource": str(c.key), "reason": c.reason} for c in plan.changes if c.action == "skip"
    ]
    snapshot_commit = store.last_commit(SNAPSHOT_DIR)
    last: dict[str, Any] = {
        "target": target,
        "result": "failed" if result.failed else "complete",
    }
    if result.failed:
        last["failed"] = result.failed
    last.update(
        {
            "snapshot_commit": snapshot_commit,
            "overlay": _relative(inputs, inputs.target.overlay),
            "overlay_commit": overlay_version,
            "source_version": source_version,
            "destination_version": destination_version,
            "counts": {
                "created": len(created),
                "updated": len(updated),
                "deleted": len(deleted),
                "skipped": len(skipped),
                "unchanged": plan.counts()["same"],
                "conflicts": len(plan.conflicts),
                "orphans": plan.counts()["orphan"],
                "placeholders": len(plan.placeholders),
            },
            "created": created,
            "updated": updated,
            "deleted": deleted,
            "skipped": skipped,
            "conflicts": [
                {
                    "resource": str(c.key),
                    "parts": [v.name for v in c.values if v.action == "conflict"],
                }
                for c in plan.conflicts
            ],
            "orphans": [
                {"resource": str(c.key), "reason": c.reason}
                for c in plan.changes
                if c.action == "orphan"
            ],
            "left_out_by_overlay": [str(d) for d in plan.decisions],
            "api_calls": calls,
            "stale_version_retries": result.retried_stale,
            "duration_seconds": round(result.seconds, 2),
        }
    )
    files = {
        path: text
        for path, text in store.read_tree(target_dir(target)).items()
        if path.startswith(("state/", "base/"))
    }
    files["last-push.yaml"] = yamlio.dumps(mask_secrets(last))
    ours = list(record.created.values()) if record is not None else []
    documents = record.documents if record is not None else {}
    files["cleanup.yaml"] = _ledger(ledger, plan, result, inputs, live, ours, documents)
    message = (
        f"push {target}: {len(created)} created, {len(updated)} updated, {len(deleted)} "
        f"deleted, {len(skipped)} left alone{' (FAILED)' if result.failed else ''}\n\n"
        f"Snapshotsync-Event: push\nTarget: {target}\nSnapshot: {snapshot_commit}\n"
        f"Overlay: {last['overlay']}@{overlay_version[:12] or 'uncommitted'}\n"
        f"Result: {last['result']}\nCreated: {len(created)}\nUpdated: {len(updated)}\n"
        f"Deleted: {len(deleted)}\nSkipped: {len(skipped)}\n"
        f"Conflicts: {len(plan.conflicts)}\nOrphans: {plan.counts()['orphan']}\n"
        f"Placeholders: {len(plan.placeholders)}" + "".join(f"\n{mark}" for mark in marks)
    )
    # Announced first: a run killed before its commit is recovered by the next one.
    marker = recover.push_marker(target)
    store.begin_write(marker, target_dir(target), files, message)
    store.write_tree(target_dir(target), files)
    committed = store.commit([target_dir(target)], message)
    store.end_write(marker)
    return committed[0] if committed else store.head()


def _ledger(
    existing: list[dict[str, Any]],
    plan: Plan,
    result: push.PushResult,
    inputs: Inputs,
    live: Snapshot,
    created: Iterable[ResourceKey],
    base: Mapping[ResourceKey, JsonDict],
) -> str:
    entries = list(existing)
    seen = {(e.get("resource"), e.get("field"), e.get("cloned_value")) for e in entries}
    written = {str(a.key) for a in result.applied}
    policy = inputs.overlay.variables
    for placeholder in plan.placeholders:
        entry = _entry(placeholder, policy)
        mark = _mark(entry)
        if entry["resource"] not in written or mark in seen:
            continue
        entries.append(entry)
        seen.add(mark)
    # A push killed after writing a placeholder never recorded it; the note it left on the
    # destination value still says so.
    for key, document in sorted(live.resources.items()):
        values = document.get("Variables") or [] if key.kind.endswith("variables") else []
        for value in values:
            field = f"variable {value.get('Name')}"
            if has_note(value.get("Description")) and (str(key), field, None) not in seen:
                entries.append(
                    {
                        "resource": str(key),
                        "kind": key.kind,
                        "name": list(key.name),
                        "field": field,
                        "reason": "sensitive value written with the "
                        "sensitive placeholder (found on the destination)",
                        "placeholder": policy.sensitive_placeholder,
                    }
                )
                seen.add((str(key), field, None))
    # Whatever run wrote them (one whose reply was lost, one killed before its record):
    # the secrets of what snapshotsync created, still set on the destination.
    for entry in placeholders_found(created, base, live, policy.sensitive_placeholder):
        mark = (entry["resource"], entry["field"], None)
        if mark not in seen:
            entries.append(entry)
            seen.add(mark)
    # What a push announced it would write and never recorded (its reply lost, or killed
    # before its record), found on the destination.
    for entry in read_announced(inputs.store, inputs.target.name):
        if _mark(entry) not in seen and _still_there(entry, live):
            entries.append(entry)
            seen.add(_mark(entry))
    ledger = mask_secrets({"entries": entries})
    return LEDGER_NOTE.format(target=inputs.target.name) + yamlio.dumps(ledger)


def _entry(placeholder: Placeholder, policy: VariablePolicy) -> dict[str, Any]:
    """The ledger entry of a placeholder the plan writes."""
    sensitive = "sensitive" in placeholder.reason or "secret" in placeholder.reason
    entry: dict[str, Any] = {
        "resource": str(placeholder.key),
        "kind": placeholder.key.kind,
        "name": list(placeholder.key.name),
        "field": placeholder.field,
        "reason": placeholder.reason,
    }
    if sensitive:
        entry["placeholder"] = policy.sensitive_placeholder
    elif "placeholder value" in placeholder.reason:
        entry["placeholder"] = policy.placeholder
    elif placeholder.value is not None:
        entry["cloned_value"] = placeholder.value
    if placeholder.path:
        entry["path"] = list(placeholder.path)
    return dict(mask_secrets(entry))  # as the ledger holds it


def _mark(entry: Mapping[str, Any]) -> tuple[Any, Any, Any]:
    return (entry.get("resource"), entry.get("field"), entry.get("cloned_value"))


def announced_path(target: str) -> str:
    """Where a push to `target` announces, before its first write, the placeholders it is
    about to write (git-ignored, beside the notes of interrupted writes)."""
    return f"{PENDING_DIR}/{recover.push_marker(target)}.placeholders"


def read_announced(store: Store, target: str) -> list[dict[str, Any]]:
    """The ledger entries pushes announced and never recorded (a torn line is skipped)."""
    entries = []
    for line in (store.read_file(announced_path(target)) or "").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("name"), list):
            entries.append(entry)
    return entries


def _announce(store: Store, target: str, entries: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in entries)
    store.write_file(announced_path(target), text or None)


def _still_there(entry: Mapping[str, Any], live: Snapshot) -> bool:
    """Whether the destination holds the placeholder `entry` names (a secret: whether the
    field holds one)."""
    state = status(dict(entry), live)
    if state != "check":
        return state == "pending"
    key = ResourceKey(str(entry.get("kind")), tuple(str(p) for p in entry.get("name") or ()))
    document = {lowered(k): d for k, d in live.resources.items()}.get(lowered(key))
    field = entry.get("field")
    return document is not None and any(
        ".".join(str(p) for p in path) == field for path in _secret_paths(document, ())
    )


SECRET_REASON = "secret that cannot be read from the source: written with the sensitive placeholder"


def placeholders_found(
    created: Iterable[ResourceKey],
    base: Mapping[ResourceKey, JsonDict],
    live: Snapshot,
    sensitive_placeholder: str,
) -> list[dict[str, Any]]:
    """Ledger entries for the secrets in what snapshotsync created (feed and account
    passwords, certificate data, git credentials, sensitive step properties of a created
    project's process) that the destination still holds. A secret cannot be read, and
    snapshotsync knows none: one set in a resource it created is its placeholder, whichever
    run wrote it (one whose reply was lost, one killed before its record). Where the base
    records the resource, only the secrets it placed count. Variables are found by the
    note snapshotsync leaves on them (`_ledger`)."""
    ours = {lowered(key) for key in created}
    recorded = {lowered(key): document for key, document in base.items()}
    entries = []
    for key, document in sorted(live.resources.items()):
        if key.kind.endswith("variables") or not (
            lowered(key) in ours or lowered(_owner(key)) in ours
        ):
            continue
        placed = recorded.get(lowered(key))
        for path in _secret_paths(document, ()):
            if placed is not None and not is_sensitive_marker(_at(placed, path)):
                continue  # not a secret snapshotsync placed: someone added it since
            entries.append(
                {
                    "resource": str(key),
                    "kind": key.kind,
                    "name": list(key.name),
                    "field": ".".join(str(p) for p in path),
                    "reason": SECRET_REASON,
                    "placeholder": sensitive_placeholder,
                }
            )
    return entries


def _secret_paths(value: Any, path: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Where `value` holds secrets (the normal form's sensitive markers), in order."""
    if is_sensitive_marker(value):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _secret_paths(v, (*path, k))]
    if isinstance(value, list):  # named items by name, as the plan names placeholders
        return [p for i, v in enumerate(value) for p in _secret_paths(v, (*path, _item_name(v, i)))]
    return []


def _item_name(item: Any, index: int) -> Any:
    name = item.get("Name") if isinstance(item, dict) else None
    return name if name is not None else index


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list):
            value = next((v for i, v in enumerate(value) if _item_name(v, i) == step), None)
        else:
            return None
    return value
