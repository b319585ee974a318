"""Where each entry of the placeholder ledger (`targets/<T>/cleanup.yaml`) stands on the
destination: pending (the placeholder is still there), done (a person replaced it), or check
(a secret outside variables, which no program can read). Pure.
"""

from __future__ import annotations

from typing import Any

from snapshotsync import tenantvars
from snapshotsync.merge import has_note
from snapshotsync.model import ResourceKey, Snapshot


def status(entry: dict[str, Any], live: Snapshot) -> str:
    """pending, done or check (cannot be verified by a program)."""
    field = str(entry.get("field", ""))
    if entry.get("kind") == "tenant-variables" and entry.get("path"):
        return _tenant_status(entry, live)
    if not field.startswith("variable "):
        return "check"
    name = field.removeprefix("variable ")
    key = ResourceKey(str(entry.get("kind")), tuple(entry.get("name") or ()))
    document = live.resources.get(key) or {}
    values = [v for v in document.get("Variables") or [] if str(v.get("Name")) == name]
    if "cloned_value" in entry:
        still = any(
            v.get("Value") == entry["cloned_value"] and "Environment" not in (v.get("Scope") or {})
            for v in values
        )
    elif entry.get("placeholder") is not None and "sensitive" in str(entry.get("reason")):
        still = any(has_note(v.get("Description")) for v in values)
    else:
        still = any(v.get("Value") == entry.get("placeholder") for v in values)
    return "pending" if still else "done"


def _tenant_status(entry: dict[str, Any], live: Snapshot) -> str:
    """A tenant value written with the placeholder: pending while the destination still has
    the placeholder for one of those environments (a secret cannot be read: check). The
    ledger's path is (owner kind, owner, template, environments...)."""
    if "placeholder" not in entry:
        return "check"
    kind, owner, template, *scope = entry["path"]
    key = ResourceKey("tenant-variables", tuple(entry.get("name") or ()))
    document = live.resources.get(key) or {}
    values = ((document.get(kind) or {}).get(owner) or {}).get(template) or []
    wanted = {e.lower() for e in scope}
    still = any(
        value.get("Value") == entry["placeholder"]
        and (
            {e.lower() for e in tenantvars.environments(value)} & wanted
            if wanted
            else not tenantvars.environments(value)
        )
        for value in values
    )
    return "pending" if still else "done"
