"""`snapshotsync push --target T`: plan, confirm, write, record, commit.

Before the first write: the config and overlay are valid, the versions are close enough,
the plan has no errors, and the destination as read is saved under `targets/T/state/`.
After the push (complete or not) `last-push.yaml` and the placeholder ledger
`cleanup.yaml` are committed, so `git log` says what happened. A push that stopped half-way
says so; running it again plans from the destination's new state and finishes the job.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from snapshotsync import layout, push, records, report, yamlio
from snapshotsync.commands import recover
from snapshotsync.commands.export import note_detached
from snapshotsync.commands.history import trailers
from snapshotsync.commands.plan import (
    Inputs,
    base_dir,
    compute,
    load_inputs,
    open_client,
    repo_lock,
    state_dir,
)
from snapshotsync.errors import DirtyStoreError, ExitCode, UserError
from snapshotsync.log import mask_secrets
from snapshotsync.model import JsonDict, ResourceKey, Snapshot
from snapshotsync.plan import Plan
from snapshotsync.settings import Settings
from snapshotsync.store import SNAPSHOT_DIR, Store

LEDGER_NOTE = (
    "# Placeholders snapshotsync wrote that a human must replace.\n"
    "# `snapshotsync cleanup --target {target}` shows which are still on the destination.\n"
)


def target_dir(target: str) -> str:
    return f"targets/{target}"


def _major_minor(version: str) -> tuple[int, int] | None:
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


def version_skew(source: str, destination: str) -> str | None:
    """Why two versions are too far apart to sync (the guide's rule), or None."""
    a, b = _major_minor(source), _major_minor(destination)
    if a is None or b is None:
        return f"cannot compare Octopus versions {source!r} and {destination!r}"
    if a[0] != b[0]:
        return (
            f"the source runs Octopus {source} and the destination {destination}: never "
            "sync across major versions (the data model changes)"
        )
    if abs(a[1] - b[1]) > 1:
        return (
            f"the source runs Octopus {source} and the destination {destination}: more than "
            "one minor version apart; upgrade one of them first"
        )
    return None


def run(
    settings: Settings,
    target_name: str,
    *,
    assume_yes: bool,
    dry_run: bool,
    allow_version_skew: bool,
    prune: bool = False,
    force: bool = False,
) -> ExitCode:
    command = f"push --target {target_name}{' --dry-run' if dry_run else ''}"
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
        )


def _push(
    settings: Settings,
    target_name: str,
    *,
    assume_yes: bool,
    dry_run: bool,
    allow_version_skew: bool,
    prune: bool,
    force: bool,
) -> ExitCode:
    inputs = load_inputs(settings, target_name)
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
    for warning in inputs.warnings:
        report.line(warning)
    with open_client(settings, inputs) as client:
        computed = compute(settings, inputs, client, force=force, prune=prune)
        plan = computed.plan
        source_version = str(inputs.snapshot.meta.get("octopus_version", ""))
        skew = version_skew(source_version, computed.raw.version)
        if skew and not allow_version_skew:
            raise UserError(f"{skew} (--allow-version-skew overrides; nothing was written)")
        report.line(report.plan_text(plan))
        if plan.errors:
            return ExitCode.ERROR
        if dry_run:
            return ExitCode.OK  # like `plan`: exit 2 is only for --detailed-exitcode
        if not plan.has_changes:
            report.line(f"push: {target_name} is up to date; nothing written")
            return ExitCode.OK
        if not assume_yes:
            if not sys.stdin.isatty():
                raise UserError("not a terminal, so no one can confirm: pass --yes to push")
            if not report.confirm(f"Push these changes to {target_name}?"):
                report.line("push cancelled; nothing written")
                return ExitCode.OK
        # The destination as read, recorded before anything is written to it (values read
        # from the environment are secrets: masked, like everything recorded); then what
        # snapshotsync holds there, resource by resource as each one's writes are made.
        inputs.store.write_tree(state_dir(target_name), layout.render(_masked(computed.live)))
        base = BaseRecord(inputs, plan)
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
    )
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

    def __init__(self, inputs: Inputs, plan: Plan) -> None:
        self.store = inputs.store
        self.folder = base_dir(inputs.target.name)
        self.plan = plan
        old = inputs.base or Snapshot({}, {})
        self.documents: dict[ResourceKey, JsonDict] = dict(old.resources)
        self.by_name = {_lowered(key): key for key in self.documents}
        self.created = {_lowered(key): key for key in created_of(old)}
        keys = sorted({*self.documents, *(r.key for r in plan.records.values())})
        self.paths = layout.paths(keys)
        writing = {change.key for change in plan.writes}
        for key in plan.records:
            if key not in writing:
                self._apply(key)
        self._write_meta(layout.long_names(keys))
        self.store.write_file(f"{self.folder}/{JOURNAL_FILE}", None)

    def written(self, key: ResourceKey) -> None:
        """Every write of `key`'s change has been made."""
        event = self._apply(key)
        if event is not None:
            self.store.append_file(f"{self.folder}/{JOURNAL_FILE}", event)

    def _apply(self, change_key: ResourceKey) -> str | None:
        """Record `change_key`'s new base; the journal line of a creation or deletion."""
        record = self.plan.records.get(change_key)
        if record is None:
            return None
        for old in (change_key, record.key):
            found = self.by_name.get(_lowered(old))
            if found is not None and (found != record.key or record.document is None):
                del self.documents[found]
                del self.by_name[_lowered(found)]
                self.store.write_file(f"{self.folder}/{self.paths[found]}", None)
        if record.document is None:
            if self.created.pop(_lowered(record.key), None) is not None:
                return _event("gone", record.key)
            return None
        # Every secret the run knows (values the overlay read from the environment, API
        # keys) masked: the repo never holds one. A masked value no longer reads as
        # unchanged since the last push, so it is never overwritten or removed on that
        # ground; explicit values are written whatever the base says.
        document = mask_secrets(record.document)
        self.documents[record.key] = document
        self.by_name[_lowered(record.key)] = record.key
        text = yamlio.dumps(document)
        self.store.write_file(f"{self.folder}/{self.paths[record.key]}", text)
        if record.key in self.plan.created and _lowered(record.key) not in self.created:
            self.created[_lowered(record.key)] = record.key
            return _event("created", record.key)
        return None

    def _write_meta(self, shortened: dict[str, str]) -> None:
        created = [[key.kind, *key.name] for key in sorted(self.created.values())]
        self.store.write_file(
            f"{self.folder}/{layout.META_FILE}", yamlio.dumps({"created": created})
        )
        if shortened:  # names too long for a file name, as `layout.render` keeps them
            self.store.write_file(
                f"{self.folder}/{layout.NAMES_FILE}", yamlio.dumps({"names": shortened})
            )

    def finish(self) -> None:
        """The whole record, rewritten in one go (file names settle on the final set, the
        journal folded into `_meta.yaml`)."""
        meta = {"created": [[key.kind, *key.name] for key in sorted(self.created.values())]}
        self.store.write_tree(self.folder, layout.render(Snapshot(self.documents, meta)))


JOURNAL_FILE = "_journal.yaml"


def _event(what: str, key: ResourceKey) -> str:
    return "- " + json.dumps([what, key.kind, *key.name], ensure_ascii=False) + "\n"


def created_of(base: Snapshot) -> list[ResourceKey]:
    """The resources snapshotsync created, as a base records them."""
    return [
        ResourceKey(str(item[0]), tuple(str(p) for p in item[1:]))
        for item in base.meta.get("created") or []
    ]


def _lowered(key: ResourceKey) -> tuple[str, tuple[str, ...]]:
    return key.kind, tuple(part.lower() for part in key.name)


def _same(a: ResourceKey, b: ResourceKey) -> bool:
    return a.kind == b.kind and tuple(p.lower() for p in a.name) == tuple(p.lower() for p in b.name)


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
    files["cleanup.yaml"] = _ledger(ledger, plan, result, inputs, live)
    message = (
        f"push {target}: {len(created)} created, {len(updated)} updated, {len(deleted)} "
        f"deleted, {len(skipped)} left alone{' (FAILED)' if result.failed else ''}\n\n"
        f"Snapshotsync-Event: push\nTarget: {target}\nSnapshot: {snapshot_commit}\n"
        f"Overlay: {last['overlay']}@{overlay_version[:12] or 'uncommitted'}\n"
        f"Result: {last['result']}\nCreated: {len(created)}\nUpdated: {len(updated)}\n"
        f"Deleted: {len(deleted)}\nSkipped: {len(skipped)}\n"
        f"Conflicts: {len(plan.conflicts)}\nOrphans: {plan.counts()['orphan']}\n"
        f"Placeholders: {len(plan.placeholders)}"
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
) -> str:
    entries = list(existing)
    seen = {(e.get("resource"), e.get("field"), e.get("cloned_value")) for e in entries}
    written = {str(a.key) for a in result.applied}
    policy = inputs.overlay.variables
    for placeholder in plan.placeholders:
        resource = str(placeholder.key)
        recorded_as = mask_secrets(placeholder.value)  # as the ledger holds it
        if resource not in written or (resource, placeholder.field, recorded_as) in seen:
            continue
        sensitive = "sensitive" in placeholder.reason or "secret" in placeholder.reason
        entry: dict[str, Any] = {
            "resource": resource,
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
        entries.append(entry)
        seen.add((resource, placeholder.field, recorded_as))
    # A push killed after writing a placeholder never recorded it; the note it left on the
    # destination value still says so.
    for key, document in sorted(live.resources.items()):
        values = document.get("Variables") or [] if key.kind.endswith("variables") else []
        for value in values:
            field = f"variable {value.get('Name')}"
            if (
                value.get("Description") == push.PLACEHOLDER_NOTE
                and (str(key), field, None) not in seen
            ):
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
    ledger = mask_secrets({"entries": entries})
    return LEDGER_NOTE.format(target=inputs.target.name) + yamlio.dumps(ledger)
