"""What the user sees: result lines on stdout and progress on a terminal. The only printer.

Progress is a rich progress bar when stderr is a terminal, and plain log lines (every
tenth of the way) when it is not, so CI logs stay readable.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from snapshotsync.log import get_logger

_log = get_logger("progress")


def line(text: str = "") -> None:
    """One line of results on stdout."""
    print(text, flush=True)


@contextmanager
def progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A callback `(done, total)` that shows how far a long step has come."""
    if sys.stderr.isatty():
        console = Console(stderr=True)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task(description, total=None)

            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            yield update
        return
    last = [-1]

    def log_line(done: int, total: int) -> None:
        tenth = (10 * done) // total if total else 0
        if tenth != last[0] and (done == total or tenth > last[0]):
            last[0] = tenth
            _log.info("%s: %d/%d documents", description, done, total)

    yield log_line
