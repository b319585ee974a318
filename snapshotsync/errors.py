"""The exception tree and the exit codes of the command line.

Expected failures are `UserError`s: their message is one line that tells the user what went
wrong and what to do, and the CLI prints it without a traceback (exit 1). Anything else is a
bug: the CLI writes the traceback to the run's log file and exits 3.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    # A usage error (unknown option, bad value) is an error the user can act on: exit 1,
    # never click's 2, which `--detailed-exitcode` gives to "changes pending".
    USAGE = 1
    CHANGES = 2  # `plan --detailed-exitcode` found changes
    BUG = 3
    INTERRUPTED = 130
    CLOSED_OUTPUT = 141  # stdout's reader went away (128 + SIGPIPE, as a shell shows git's)


class SnapshotSyncError(Exception):
    """Base of every error snapshotsync raises on purpose."""


class UserError(SnapshotSyncError):
    """A problem the user can act on; the message is shown as it is."""


class ConfigError(UserError):
    """`snapshotsync.yaml` or the environment it names is wrong."""


class OverlayError(UserError):
    """An overlay file is invalid (the message names file and line)."""


class DirtyStoreError(UserError):
    """The sync repo has uncommitted changes where snapshotsync would write."""


class PushError(UserError):
    """A write failed; what was done before it is recorded."""


class OctopusApiError(UserError):
    """An Octopus server answered with an error, or could not be reached."""

    def __init__(self, method: str, url: str, status: int | None, body_excerpt: str) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.body_excerpt = body_excerpt
        where = f"{method} {url}"
        what = f"HTTP {status}" if status is not None else "no response"
        detail = f": {body_excerpt}" if body_excerpt else ""
        super().__init__(f"{where} failed ({what}){detail}")
