"""The records a push leaves under `targets/<T>/`, checked before a command relies on them.

`last-push.yaml` (the snapshot commit pushed), `base/_meta.yaml` (what snapshotsync created
on the destination, and the hand edits the last push kept) and `base/_journal.yaml` (what
a push killed before its end created or deleted) are written by snapshotsync, but a hand
edit, a bad merge or a torn write can leave them unreadable. Each is named here with its
path and the fix, before anything is read from or written to an instance; nothing else in
the tool then has to doubt them.
"""

from __future__ import annotations

from typing import Any

from snapshotsync import yamlio
from snapshotsync.errors import UserError
from snapshotsync.store import Store

JOURNAL_EVENTS = frozenset({"created", "gone"})


class RecordError(UserError):
    """A record under `targets/<T>/` that snapshotsync cannot read."""


def check(store: Store, target: str) -> None:
    """Raise `RecordError` naming the first record of `target` that does not parse."""
    folder = f"targets/{target}"
    for relative, problem_of in (
        (f"{folder}/last-push.yaml", _last_push_problem),
        (f"{folder}/base/_meta.yaml", _meta_problem),
        (f"{folder}/base/_journal.yaml", _journal_problem),
    ):
        text = store.read_file(relative)
        if text is None:
            continue
        problem: str | None
        try:
            data = yamlio.loads_fast(text, relative)
        except UserError as error:
            problem = str(error).removeprefix(f"{relative}").lstrip(":0123456789 ")
        else:
            problem = problem_of(data)
        if problem is not None:
            raise RecordError(
                f"{relative}: {problem}: {_fix(store, relative)}; nothing was written"
            )


def _fix(store: Store, relative: str) -> str:
    if store.last_commit(relative):
        return (
            f"restore the committed one (git -C {store.path} checkout -- {relative}), or fix "
            "the hand edit"
        )
    # Only a push killed before its end leaves a journal, never committed: without it the
    # resources it lists as created are no longer known as snapshotsync's.
    return f"delete it (rm {store.path / relative}; git has no copy to checkout) and push again"


def _is_key(item: Any, least: int) -> bool:
    return isinstance(item, list) and len(item) >= least and all(isinstance(p, str) for p in item)


def _meta_problem(data: Any) -> str | None:
    if data is None:
        return None
    if not isinstance(data, dict):
        return "expected a mapping with `created:`"
    created = data.get("created")
    if created is not None and not (
        isinstance(created, list) and all(_is_key(item, 2) for item in created)
    ):
        return "`created:` must be a list of [kind, name...] lists of strings"
    kept = data.get("kept")
    if kept is not None and not (
        isinstance(kept, list)
        and all(
            isinstance(mark, dict)
            and _is_key(mark.get("resource"), 2)
            and isinstance(mark.get("part"), str)
            and isinstance(mark.get("holds"), str)
            for mark in kept
        )
    ):
        return "`kept:` must be a list of {resource: [kind, name...], part, holds} mappings"
    return None


def _journal_problem(data: Any) -> str | None:
    if data is None:
        return None
    if not isinstance(data, list) or not all(
        _is_key(event, 3) and event[0] in JOURNAL_EVENTS for event in data
    ):
        return "expected a list of [created|gone, kind, name...] lists of strings"
    return None


def _last_push_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "expected a mapping (target, result, snapshot_commit, ...)"
    commit = data.get("snapshot_commit")
    if not isinstance(commit, str) or not commit:
        return "`snapshot_commit:` must be the commit pushed (a string)"
    for field in ("created", "updated", "deleted"):
        value = data.get(field)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            return f"`{field}:` must be a list of strings"
    return None


__all__ = ["RecordError", "check"]
