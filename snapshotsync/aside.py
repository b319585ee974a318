"""Work set aside: a pure function of data this process already holds, run in a forked
child on another core while this process goes on with something else.

`plan` and `push` parse two large trees of YAML before they read the destination: the
snapshot, and the base the last push recorded (about 0.8 s and 0.6 s of CPU on the
benchmark's instance). The process is bound to one core by the GIL, so parsing the base in
a child while this process parses the snapshot takes that wait off a machine with a second
core.

The child is a `fork` of this process, so the function sees this process's data without it
being copied or pickled; only its result comes back (pickled, through a pipe). Forking is
safe only while this process runs a single thread (a forked child holds a copy of the
calling thread alone, and locks the others held stay locked in it), so `aside` forks only
then, on Linux, with more than one CPU to run on. Anything else, or a child that fails in
any way, falls back to calling the function in this process: the result and the errors
are always those of the plain call, and an error is raised here, with its traceback.

The child can never outlive its use or keep anything of this process's:

- it closes every descriptor but the write end of its pipe (standard input and output go
  to /dev/null), so it never holds the repo's lock (an `flock` lives as long as any copy
  of its descriptor), the read end of its own pipe, or a pipe this process writes to;
- it dies with this process: the kernel sends it SIGKILL when its parent ends
  (`PR_SET_PDEATHSIG`), and a write to the pipe whose reader is gone fails at once;
- it has a deadline (`alarm`), and this process stops waiting for it after `TIMEOUT`
  seconds, or at once when it is stopped (SIGSTOP): then it is killed and the work is
  done here.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import pickle
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from snapshotsync.log import get_logger

T = TypeVar("T")

_log = get_logger(__name__)

# Seconds this process waits for a child's result before doing the work itself. The work
# set aside takes a second or two on the largest instances measured (benchmarks/README.md).
TIMEOUT = 120.0
_POLL = 0.2  # how often a waiting parent looks whether the child was stopped
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def aside(function: Callable[[], T]) -> Callable[[], T]:
    """Start `function` in a child process when that is safe and useful, and return what
    gives its result: the child's, or the function called here if there is no child or
    the child did not deliver one."""
    if not _can_fork():
        return function
    parent = os.getpid()
    try:
        receive, send = os.pipe()
    except OSError as error:
        _log.debug("aside: no pipe (%s); working in this process", error)
        return function
    try:
        pid = os.fork()
    except OSError as error:  # no memory or no process slot for a child: do it here
        _log.debug("aside: no child (%s); working in this process", error)
        os.close(receive)
        os.close(send)
        return function
    if pid == 0:  # pragma: no cover - the child; its effects are tested from the parent
        _child(function, send, parent)
    os.close(send)
    taken = False

    def result() -> T:
        nonlocal taken
        if taken:  # asked twice: the pipe is spent
            return function()
        taken = True
        try:
            data = _receive(receive, pid)
        finally:
            os.close(receive)
            _end(pid)
        if data:
            try:
                delivered, value = pickle.loads(data)
            except Exception as error:  # a torn or foreign message: do it here
                _log.debug("aside: unreadable result (%r); working in this process", error)
            else:
                if delivered:
                    return value  # type: ignore[no-any-return]
        return function()

    return result


def _can_fork() -> bool:
    return threading.active_count() == 1 and _can_fork_here()


def _can_fork_here() -> bool:
    """Linux (where `fork` is the tested start method) with a second CPU to use."""
    return sys.platform == "linux" and len(os.sched_getaffinity(0)) > 1


def _receive(fd: int, pid: int) -> bytes:
    """Everything the child writes until it closes the pipe; b"" when it is stopped, dies
    without a word, or takes longer than `TIMEOUT`."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            _log.warning("aside: no result within %g s; the work is done here", TIMEOUT)
            return b""
        ready, _, _ = select.select([fd], [], [], min(left, _POLL))
        if not ready:
            if _stopped(pid):
                _log.warning("aside: the child %d was stopped; the work is done here", pid)
                return b""
            continue
        try:
            chunk = os.read(fd, 1 << 20)
        except OSError:
            return b""
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _stopped(pid: int) -> bool:
    """Whether `pid` is stopped or traced (its state in /proc/PID/stat)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in (b"T", b"t")


def _end(pid: int) -> None:
    """Reap the child; kill it first unless it has already finished."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # also ends a stopped child
            os.waitpid(pid, 0)


def _child(function: Callable[[], object], send: int, parent: int) -> None:
    """In the child: write the pickled `(True, result)` and end; end without a word when
    anything fails (the parent then does the work and raises the error itself). Never
    returns: `os._exit` skips every exit handler and finaliser this process inherited."""
    code = 1
    try:
        _die_with(parent)
        send = _keep_only(send)
        logging.disable(logging.CRITICAL)  # its handlers' files are closed here
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.alarm(int(TIMEOUT) + 1)  # the default action of SIGALRM ends the process
        data = pickle.dumps((True, function()), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(send, view) :]
        code = 0
    except BaseException:  # any failure: the parent does the work, and raises it
        code = 1
    finally:
        os._exit(code)


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when its parent ends; end now if it already has
    (the parent may have died between `fork` and this call)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _keep_only(send: int) -> int:
    """Close every descriptor but `send` (returned, moved above the standard three);
    standard input, output and error read and write /dev/null (a print must not fail, nor
    keep open a pipe the parent writes to)."""
    import fcntl  # Linux only, as forking here is

    if send < 3:
        send = fcntl.fcntl(send, fcntl.F_DUPFD, 3)
    null = os.open(os.devnull, os.O_RDWR)
    for standard in (0, 1, 2):
        if standard != null:
            os.dup2(null, standard)
    os.closerange(3, send)
    os.closerange(send + 1, _max_fd())
    return send


def _max_fd() -> int:
    try:
        return max(int(os.sysconf("SC_OPEN_MAX")), 256)
    except (OSError, ValueError):
        return 1 << 16


__all__ = ["TIMEOUT", "aside"]
