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
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from snapshotsync.log import get_logger

T = TypeVar("T")

_log = get_logger(__name__)


def aside(function: Callable[[], T]) -> Callable[[], T]:
    """Start `function` in a child process when that is safe and useful, and return what
    gives its result: the child's, or the function called here if there is no child or
    the child did not deliver one."""
    if not _can_fork():
        return function
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_run, args=(function, send), daemon=True, name="aside")
    try:
        child.start()
    except OSError as error:  # no memory or no process slot for a child: do it here
        _log.debug("aside: no child (%s); working in this process", error)
        receive.close()
        send.close()
        return function
    send.close()

    def result() -> T:
        try:
            delivered, value = receive.recv()
        except (EOFError, OSError, pickle.UnpicklingError) as error:
            _log.debug("aside: the child delivered nothing (%r); working in this process", error)
            delivered, value = False, None
        finally:
            receive.close()
            child.join()
        return value if delivered else function()

    return result


def _can_fork() -> bool:
    return threading.active_count() == 1 and _can_fork_here()


def _can_fork_here() -> bool:
    """Linux (where `fork` is the tested start method) with a second CPU to use."""
    return sys.platform == "linux" and len(os.sched_getaffinity(0)) > 1


def _run(function: Callable[[], Any], send: Connection) -> None:
    """In the child: send `(True, result)`, or `(False, None)` when the function raised
    (this process calls it again and raises the error itself)."""
    try:
        value = function()
    except BaseException:  # any failure: the parent does the work, and raises it
        send.send((False, None))
    else:
        try:
            send.send((True, value))
        except (pickle.PicklingError, TypeError, AttributeError, OSError):
            send.send((False, None))
    finally:
        send.close()


__all__ = ["aside"]
