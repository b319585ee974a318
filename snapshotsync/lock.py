"""One snapshotsync at a time per sync repo: `.snapshotsync/lock` (git-ignored).

Commands that write the repo (export, push) hold the lock exclusively; commands that read
the working tree those two rewrite (plan, push --dry-run, cleanup, validate) hold it shared,
so they never read half a swapped tree and never run while a push records its result. A
command that cannot have the lock stops at once, before reading or writing anything, with
"another snapshotsync is running (pid N since T)".

The exclusion is the operating system's file lock (`flock`), so it ends with its process
however that process ends: a run killed with kill -9 leaves no lock behind, only the file
with its pid, which the next run takes over (and says so when that pid is gone from this
host). The file's content (pid, host, start time, command) is only there to be shown.
A process this one forks does not keep the lock: `aside` closes the descriptor in its
child, and the child dies with its parent.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from snapshotsync.errors import UserError
from snapshotsync.log import get_logger

LOCK_FILE = "lock"

_log = get_logger("lock")


class LockedError(UserError):
    """Another snapshotsync holds the sync repo."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) the lock, as written in the lock file."""

    pid: int
    host: str
    started: str
    command: str

    @classmethod
    def me(cls, command: str) -> Holder:
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return cls(os.getpid(), socket.gethostname(), started, command)

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        try:
            data: Any = json.loads(text)
            pid, host, started = int(data["pid"]), str(data["host"]), str(data["started"])
            return cls(pid, host, started, str(data["command"]))
        except (ValueError, KeyError, TypeError):
            return None

    def text(self) -> str:
        return json.dumps(self.__dict__) + "\n"

    def describe(self) -> str:
        here = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"pid {self.pid}{here} since {self.started}, `{self.command}`"

    def gone(self) -> bool:
        """True when this holder's process no longer exists (known only on this host)."""
        if self.host != socket.gethostname() or sys.platform == "win32":
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, another user's
        return False


@contextmanager
def hold(state_dir: Path, command: str, *, exclusive: bool) -> Iterator[None]:
    """Hold the repo's lock for the block; raise `LockedError` at once when it is taken."""
    path = state_dir / LOCK_FILE
    fd = _open(path, exclusive)
    if fd is None:  # a read-only checkout must not stop a read-only command
        yield
        return
    try:
        if not _try_lock(fd, exclusive):
            holder = Holder.parse(_read(fd))
            who = f" ({holder.describe()})" if holder else ""
            if holder is not None and holder.gone():
                raise LockedError(
                    f"the lock {path} is held, but {holder.describe()} has ended: a process "
                    f"it started holds it still (see `fuser -v {path}`); end that process, "
                    "then run again"
                )
            raise LockedError(
                f"another snapshotsync is running{who} in {state_dir.parent}: wait for it "
                f"to finish, then run again (the lock is {path})"
            )
        previous = Holder.parse(_read(fd))
        if previous is not None and previous.pid != os.getpid() and previous.gone():
            _log.warning(
                "took over the lock left by %s, which ended without releasing it",
                previous.describe(),
            )
        me = Holder.me(command)
        _write(fd, me.text())
        try:
            yield
        finally:
            current = Holder.parse(_read(fd))
            if exclusive or (current is not None and current.pid == me.pid):
                _write(fd, "")
    finally:
        os.close(fd)  # closing releases the lock


def _open(path: Path, exclusive: bool) -> int | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        if exclusive:
            raise UserError(f"cannot create the lock file {path}: {error.strerror}") from None
        _log.debug("reading without the lock: cannot create %s: %s", path, error.strerror)
        return None


def _read(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 4096).decode("utf-8", "replace")
    except OSError:
        return ""


def _write(fd: int, text: str) -> None:
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, text.encode("utf-8"))
    except OSError as error:  # a full disk: the lock itself still holds
        _log.debug("could not write the lock file: %s", error)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int, exclusive: bool) -> bool:
        """Windows has no shared file lock here: every holder is exclusive. The locked
        byte lies far past the content, which stays readable for the message."""
        del exclusive
        position = os.lseek(fd, 0, os.SEEK_CUR)
        os.lseek(fd, 1 << 30, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            os.lseek(fd, position, os.SEEK_SET)
        return True

else:
    import fcntl

    def _try_lock(fd: int, exclusive: bool) -> bool:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
