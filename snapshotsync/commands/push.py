"""`snapshotsync push --target T`: plan, confirm, write, record, commit.

Before the first write: the config and overlay are valid, the versions are close enough,
the plan has no errors, and the destination as read is saved under `targets/T/state/`.
After the push (complete or not) `last-push.yaml` and the placeholder ledger
`cleanup.yaml` are committed, so `git log` says what happened. A push that stopped half-way
says so; running it again plans from the destination's new state and finishes the job.
"""

from __future__ import annotations

import sys
from typing import Any

from snapshotsync import layout, push, report, yamlio
from snapshotsync.commands import recover
from snapshotsync.commands.export import note_detached
from snapshotsync.commands.plan import (
    Inputs,
    compute,
    load_inputs,
    open_client,
    repo_lock,
    state_dir,
)
from snapshotsync.errors import ExitCode, UserError
from snapshotsync.log import mask_secrets
from snapshotsync.model import Snapshot
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
) -> ExitCode:
    command = f"push --target {target_name}{' --dry-run' if dry_run else ''}"
    with repo_lock(settings, command, exclusive=not dry_run) as store:
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
        )


def _push(
    settings: Settings,
    target_name: str,
    *,
    assume_yes: bool,
    dry_run: bool,
    allow_version_skew: bool,
) -> ExitCode:
    inputs = load_inputs(settings, target_name)
    ledger: list[dict[str, Any]] = []
    if not dry_run:
        # state/ is snapshotsync's own record of the last read, rewritten by every push (a
        # push killed after writing it leaves it uncommitted); the ledger is where people
        # write. The records a push reads are read now, before anything is written.
        for recorded in ("last-push.yaml", "cleanup.yaml"):
            inputs.store.ensure_clean(f"{target_dir(target_name)}/{recorded}")
        ledger = read_ledger(inputs.store, target_name)
    for warning in inputs.warnings:
        report.line(warning)
    with open_client(settings, inputs) as client:
        computed = compute(settings, inputs, client)
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
        # from the environment are secrets: masked, like everything recorded).
        inputs.store.write_tree(state_dir(target_name), layout.render(_masked(computed.live)))
        with report.progress(f"push {inputs.target.url}") as tick:
            result = push.push(
                plan, client, computed.space_id, computed.raw, inputs.overlay, progress=tick
            )
        calls = dict(sorted(client.stats.by_method.items()))
    sha = _record(
        inputs, plan, result, source_version, computed.raw.version, calls, computed.live, ledger
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
) -> str:
    target = inputs.target.name
    store = inputs.store
    created = sorted({str(a.key) for a in result.applied if a.action == "created"})
    updated = sorted({str(a.key) for a in result.applied if a.action == "updated"} - set(created))
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
            "source_version": source_version,
            "destination_version": destination_version,
            "counts": {
                "created": len(created),
                "updated": len(updated),
                "skipped": len(skipped),
                "unchanged": plan.counts()["same"],
                "placeholders": len(plan.placeholders),
            },
            "created": created,
            "updated": updated,
            "skipped": skipped,
            "left_out_by_overlay": [str(d) for d in plan.decisions],
            "api_calls": calls,
            "stale_version_retries": result.retried_stale,
            "duration_seconds": round(result.seconds, 2),
        }
    )
    files = {
        path: text
        for path, text in store.read_tree(target_dir(target)).items()
        if path.startswith("state/")
    }
    files["last-push.yaml"] = yamlio.dumps(mask_secrets(last))
    files["cleanup.yaml"] = _ledger(ledger, plan, result, inputs, live)
    message = (
        f"push {target}: {len(created)} created, {len(updated)} updated, {len(skipped)} left "
        f"alone{' (FAILED)' if result.failed else ''}\n\n"
        f"Snapshotsync-Event: push\nTarget: {target}\nSnapshot: {snapshot_commit}\n"
        f"Result: {last['result']}\nCreated: {len(created)}\nUpdated: {len(updated)}\n"
        f"Skipped: {len(skipped)}\nPlaceholders: {len(plan.placeholders)}"
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
