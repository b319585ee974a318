"""What a name in an overlay means, through renames on the source. Pure.

People write names; the tool follows ids. Every export records the source's own id of
each resource and step with the name it has then (`index/source-ids.yaml`, see
`normalize.source_index`). An overlay entry means the thing its name named *when the entry
was written*: the index as of the commit that last changed the entry's line (the index of
the first export after it, when that commit had none yet; the current one for a line not
committed yet). So when the source renames that thing, the entry keeps applying to it under
its new name, and a new resource that takes the old name later is not what the entry meant.

`History.follow` answers for one name, `History.matched` for one glob; the callers (the
overlay loader) turn the answers into warnings that name the new name and the file:line,
and into the overlay the transform then reads, in current names only.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# kind -> source id -> name path (`[project, channel]` for a project's channel; steps of a
# deployment process `[project, step]`, of a runbook `[project, runbook, step]`).
Index = Mapping[str, Mapping[str, Sequence[str]]]
# The overlay's kinds whose names are `<project>/<name>` paths with exactly that many parts
# in the index: a deployment process's steps are told apart from runbook steps this way.
PATH_PARTS = {"steps": 2, "channels": 2, "runbooks": 2}


def _joined(path: Sequence[str]) -> str:
    return "/".join(path).lower()


@dataclass
class History:
    """The source's ids: `now` (the current index), `written(line)` (the index an overlay
    line was written against, or None when not known) and `versions()` (every committed
    index, newest first: read only when a name is in neither)."""

    now: Index
    written: Callable[[int | None], Index | None]
    versions: Callable[[], Sequence[Index]]
    _by_name: dict[tuple[int, str], dict[str, set[str]]] = field(default_factory=dict)

    def _names(self, index: Index, kind: str) -> dict[str, set[str]]:
        """Lower-cased joined name -> the ids holding it in `index` (cached per index)."""
        key = (id(index), kind)
        if key not in self._by_name:
            parts = PATH_PARTS.get(kind)
            found: dict[str, set[str]] = {}
            for source_id, path in (index.get(kind) or {}).items():
                if parts is None or len(path) == parts:
                    found.setdefault(_joined(path), set()).add(source_id)
            self._by_name[key] = found
        return self._by_name[key]

    def _current(self, kind: str, ids: Iterable[str]) -> tuple[str, ...]:
        now = self.now.get(kind) or {}
        return tuple(sorted({"/".join(now[i]) for i in ids if i in now}))

    def follow(self, kind: str, name: str, line: int | None) -> tuple[str, ...] | None:
        """The current names of what `name` (of `kind`) named when the overlay's `line` was
        written: the name itself when nothing was renamed, the new name(s) when the source
        renamed it, () when it is gone from the source; None when no source id ever had
        the name (the caller decides: a current name, a typo, or something from before the
        index existed)."""
        lowered = name.lower()
        then = self.written(line)
        ids = self._names(then, kind).get(lowered) if then is not None else None
        if not ids:
            ids = next(
                (
                    found
                    for index in (self.now, *self.versions())
                    if (found := self._names(index, kind).get(lowered))
                ),
                None,
            )
        if not ids:
            return None
        return self._current(kind, ids)

    def matched(self, kind: str, pattern: str, line: int | None) -> tuple[str, ...]:
        """The current names of what the glob `pattern` matched when the overlay's `line` was
        written and no longer matches: renamed out of the pattern's reach, still selected."""
        then = self.written(line)
        if then is None:
            return ()
        lowered = pattern.lower()
        ids = {
            source_id
            for name, held in self._names(then, kind).items()
            if fnmatch.fnmatchcase(name, lowered)
            for source_id in held
        }
        return tuple(
            name
            for name in self._current(kind, ids)
            if not fnmatch.fnmatchcase(name.lower(), lowered)
        )


def no_history(now: Index | None = None) -> History:
    """A history that knows only the current index (or nothing): names are names."""
    return History(now or {}, lambda _line: None, lambda: ())
