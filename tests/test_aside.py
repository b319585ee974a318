"""`aside`: the work runs in a forked child when this process has one thread, and any
other case gives exactly what the plain call gives.

Each case runs in a fresh interpreter, so that the thread count is what the case says
(pytest's own process may run threads of other tests' servers).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from snapshotsync import aside as aside_module

PRELUDE = """
import os, sys, threading
from pathlib import Path
from snapshotsync.aside import aside
here = os.getpid()
"""


def run(body: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


pytestmark = pytest.mark.skipif(
    not aside_module._can_fork_here(), reason="forks only on Linux with two CPUs or more"
)


def test_with_one_thread_the_work_runs_in_a_child_and_its_result_comes_back() -> None:
    out = run("""
        result = aside(lambda: (os.getpid(), {"a": [1, 2.5, None, True, "é"]}))
        pid, data = result()
        print(pid != here, data == {"a": [1, 2.5, None, True, "é"]})
    """)
    assert out == "True True"


def test_a_failure_in_the_child_is_worked_again_here(tmp_path: Path) -> None:
    out = run(
        """
        def only_here():
            if os.getpid() != here:
                Path(sys.argv[1]).write_text("the child ran")
                raise RuntimeError("the child fails")
            return "done here"
        print(aside(only_here)(), "after", Path(sys.argv[1]).read_text())
        """,
        str(tmp_path / "marker"),
    )
    assert out == "done here after the child ran"


def test_an_error_is_raised_here_as_the_plain_call_raises_it(tmp_path: Path) -> None:
    out = run(
        """
        def broken():
            where = "child" if os.getpid() != here else "parent"
            Path(sys.argv[1], where).write_text("")
            raise ValueError(f"bad input, seen by {where}")
        try:
            aside(broken)()
        except ValueError as error:
            print(error, sorted(p.name for p in Path(sys.argv[1]).iterdir()))
        """,
        str(tmp_path),
    )
    assert out == "bad input, seen by parent ['child', 'parent']"


def test_a_result_that_cannot_travel_is_worked_again_here() -> None:
    out = run("""
        result = aside(lambda: (os.getpid(), lambda: None))()
        print(result[0] == here)
    """)
    assert out == "True"


def test_with_another_thread_running_nothing_is_forked() -> None:
    out = run("""
        stop = threading.Event()
        threading.Thread(target=stop.wait).start()
        print(aside(os.getpid)() == here)
        stop.set()
    """)
    assert out == "True"


def test_output_not_yet_flushed_before_the_fork_is_printed_once() -> None:
    """stdout to a pipe is block-buffered: a child holding a copy of the buffer must not
    print it again (multiprocessing flushes the standard streams before it forks)."""
    out = run("""
        print("printed before the fork")
        print(aside(lambda: os.getpid() != here)())
    """)
    assert out.splitlines() == ["printed before the fork", "True"]


def test_a_child_that_never_answers_is_given_up_after_the_timeout() -> None:
    out = run("""
        import snapshotsync.aside as module
        module.TIMEOUT = 1.0
        def forever_in_the_child():
            while os.getpid() != here:
                pass
            return "done here"
        print(aside(forever_in_the_child)())
    """)
    assert out == "done here"


def test_the_child_keeps_no_descriptor_but_its_pipe_and_never_the_lock(tmp_path: Path) -> None:
    out = run(
        """
        from snapshotsync import lock
        with lock.hold(Path(sys.argv[1]), "plan", exclusive=True):
            def descriptors():
                if os.getpid() != here:  # the lock is free to anyone but the child's parent
                    import fcntl
                    fd = os.open(Path(sys.argv[1], "lock"), os.O_RDWR)
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if the child held it
                    os.close(fd)
                return sorted(int(n) for n in os.listdir("/proc/self/fd"))
            print(aside(descriptors)())
        """,
        str(tmp_path),
    )
    # 0-2 (/dev/null), the pipe's write end, and the listing's own descriptor
    assert len(out.strip("[]").split(",")) == 5
