"""Saved plans: `plan --out FILE` writes what was reviewed; `push --plan FILE` applies exactly
that, or refuses, writing nothing, and says what changed.

A plan is a pure function of the snapshot, the overlay, the config, the base of the last
push and the destination as read. The file records each of them: the commits of the
snapshot, the overlay, `snapshotsync.yaml` and `targets/<T>/`, a fingerprint of every
destination resource read (a SHA-256 of its normal form, secrets masked), the options, and a
fingerprint of the plan itself. `push --plan` reads the destination again, plans again and
refuses unless every input and the plan are the same; then the plan it applies is the one
that was reviewed, change for change (Terraform's `plan -out` then `apply planfile`).

The file never holds a secret: the plan in it is the masked JSON of `plan --output json`,
for people and programs to read, and fingerprints of masked documents. Values the overlay
reads from the environment are not part of any fingerprint (they are secrets); push reads
them when it applies.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snapshotsync import report
from snapshotsync.changes import Plan
from snapshotsync.errors import UserError
from snapshotsync.log import mask_secrets
from snapshotsync.model import Snapshot
from snapshotsync.store import SNAPSHOT_DIR, Store

KIND = "snapshotsync saved plan"


@dataclass(frozen=True)
class Options:
    prune: bool = False
    force: bool = False


def _digest(value: Any) -> str:
    text = json.dumps(mask_secrets(value), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def live_fingerprints(live: Snapshot) -> dict[str, str]:
    """Each destination resource read, as a fingerprint of its masked normal form."""
    return {str(key): _digest(document) for key, document in sorted(live.resources.items())}


def inputs_of(store: Store, target: str, overlay: Path) -> dict[str, str]:
    """The commits a plan was made from."""
    try:
        overlay_path = overlay.resolve().relative_to(store.path.resolve()).as_posix()
    except ValueError:
        overlay_path = str(overlay)
    return {
        "snapshot": store.last_commit(SNAPSHOT_DIR),
        "overlay": store.last_commit(overlay_path),
        "config": store.last_commit("snapshotsync.yaml"),
        "records": store.last_commit(f"targets/{target}"),
    }


def document(
    plan: Plan, commits: dict[str, str], live: Snapshot, options: Options
) -> dict[str, Any]:
    masked = json.loads(report.plan_json(plan))
    return {
        "format_version": report.FORMAT_VERSION,
        "kind": KIND,
        "target": plan.target,
        "commits": commits,
        "options": {"prune": options.prune, "force_overwrite": options.force},
        "destination": live_fingerprints(live),
        "plan_fingerprint": _digest(masked),
        "plan": masked,
    }


def write(path: Path, saved: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(saved, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as error:
        raise UserError(
            f"--out {path}: cannot write it ({error.strerror}); name a file in a directory "
            "that exists"
        ) from None


def read(path: Path, target: str) -> dict[str, Any]:
    """The saved plan for `target` at `path`, or an error that says what is wrong."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(
            f"--plan {path}: not a saved plan ({error}); write one with plan --out"
        ) from None
    if not isinstance(saved, dict) or saved.get("kind") != KIND:
        raise UserError(f"--plan {path}: not a saved plan; write one with `plan --out {path}`")
    if saved.get("format_version") != report.FORMAT_VERSION:
        raise UserError(
            f"--plan {path}: saved by another version of snapshotsync (format_version "
            f"{saved.get('format_version')}); plan again"
        )
    if saved.get("target") != target:
        raise UserError(
            f"--plan {path} is a plan for target {saved.get('target')!r}, not {target!r}"
        )
    return dict(saved)


def options_of(saved: dict[str, Any]) -> Options:
    found = saved.get("options") or {}
    return Options(bool(found.get("prune")), bool(found.get("force_overwrite")))


def differences(
    saved: dict[str, Any], commits: dict[str, str], live: Snapshot, plan: Plan
) -> list[str]:
    """What differs between a saved plan and now, one reason a line ([] when nothing)."""
    found = []
    what = {
        "snapshot": "the snapshot (a new export)",
        "overlay": "the overlay",
        "config": "snapshotsync.yaml",
        "records": f"the records in targets/{plan.target}/ (another push)",
    }
    then = saved.get("commits") or {}
    for key, label in what.items():
        if then.get(key) != commits.get(key):
            found.append(
                f"{label} changed: commit {str(then.get(key))[:10] or 'none'} when planned, "
                f"{commits.get(key, '')[:10] or 'none'} now"
            )
    recorded = dict(saved.get("destination") or {})
    now = live_fingerprints(live)
    changed = sorted(key for key in {*recorded, *now} if recorded.get(key) != now.get(key))
    if changed:
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        shown = ", ".join(changed[:5]) + more
        found.append(f"the destination changed since the plan was read: {shown}")
    if not found and saved.get("plan_fingerprint") != _digest(json.loads(report.plan_json(plan))):
        found.append("the plan made now differs from the saved one")
    return found


def refuse_if_stale(path: Path, reasons: list[str]) -> None:
    if reasons:
        raise UserError(
            f"--plan {path} no longer describes what a push would do, so nothing was written: "
            + "; ".join(reasons)
            + ". Review a new plan (plan --out) and push that"
        )
