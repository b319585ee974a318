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
from snapshotsync.commands.plan import Inputs, compute, load_inputs, open_client, state_dir
from snapshotsync.errors import ExitCode, UserError
from snapshotsync.model import Snapshot
from snapshotsync.plan import Plan
from snapshotsync.settings import Settings
from snapshotsync.store import SNAPSHOT_DIR

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
    inputs = load_inputs(settings, target_name)
    # state/ is snapshotsync's own record of the last read, rewritten by every push (a push
    # killed after writing it leaves it uncommitted); the ledger is where people write.
    for recorded in ("last-push.yaml", "cleanup.yaml"):
        inputs.store.ensure_clean(f"{target_dir(target_name)}/{recorded}")
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
        # The destination as read, recorded before anything is written to it.
        inputs.store.write_tree(state_dir(target_name), layout.render(computed.live))
        with report.progress(f"push {inputs.target.url}") as tick:
            result = push.push(
                plan, client, computed.space_id, computed.raw, inputs.overlay, progress=tick
            )
        calls = dict(sorted(client.stats.by_method.items()))
    sha = _record(inputs, plan, result, source_version, computed.raw.version, calls, computed.live)
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
    return ExitCode.OK


def _record(
    inputs: Inputs,
    plan: Plan,
    result: push.PushResult,
    source_version: str,
    destination_version: str,
    calls: dict[str, int],
    live: Snapshot,
) -> str:
    target = inputs.target.name
    store = inputs.store
    # Counted as the plan counted them ("N to create"): a resource the plan creates is
    # "created" even when the server made it along with its owner (a project's Default
    # channel) and the push then updated it; tenants written in two passes count once.
    planned = {str(c.key): c.action for c in plan.writes}
    applied = {str(a.key) for a in result.applied}
    created = sorted(k for k in applied if planned.get(k) == "create")
    updated = sorted(k for k in applied if planned.get(k) == "update")
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
    files["last-push.yaml"] = yamlio.dumps(last)
    files["cleanup.yaml"] = _ledger(
        store.read_tree(target_dir(target)).get("cleanup.yaml"), plan, result, inputs, live
    )
    store.write_tree(target_dir(target), files)
    message = (
        f"push {target}: {len(created)} created, {len(updated)} updated, {len(skipped)} left "
        f"alone{' (FAILED)' if result.failed else ''}\n\n"
        f"Snapshotsync-Event: push\nTarget: {target}\nSnapshot: {snapshot_commit}\n"
        f"Result: {last['result']}\nCreated: {len(created)}\nUpdated: {len(updated)}\n"
        f"Skipped: {len(skipped)}\nPlaceholders: {len(plan.placeholders)}"
    )
    committed = store.commit([target_dir(target)], message)
    return committed[0] if committed else store.head()


def _ledger(
    existing: str | None, plan: Plan, result: push.PushResult, inputs: Inputs, live: Snapshot
) -> str:
    entries: list[dict[str, Any]] = []
    if existing:
        data = yamlio.plain(yamlio.loads(existing, "cleanup.yaml")) or {}
        entries = list(data.get("entries") or [])
    seen = {(e.get("resource"), e.get("field"), e.get("cloned_value")) for e in entries}
    written = {str(a.key) for a in result.applied}
    policy = inputs.overlay.variables
    for placeholder in plan.placeholders:
        resource = str(placeholder.key)
        if resource not in written or (resource, placeholder.field, placeholder.value) in seen:
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
        seen.add((resource, placeholder.field, placeholder.value))
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
    return LEDGER_NOTE.format(target=inputs.target.name) + yamlio.dumps({"entries": entries})
