"""One snapshotsync at a time per sync repo: the lock, its message, a lock left by the dead."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from snapshotsync import lock


def test_a_second_writer_in_another_process_is_refused_with_pid_and_time(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from snapshotsync import lock
                with lock.hold(Path({str(tmp_path)!r}), "push --target prod", exclusive=True):
                    print("held", flush=True)
                    sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        for exclusive in (True, False):
            with (
                pytest.raises(lock.LockedError) as refused,
                lock.hold(tmp_path, "export", exclusive=exclusive),
            ):
                pytest.fail("the lock was given twice")
            message = str(refused.value)
            assert message.startswith(f"another snapshotsync is running (pid {holder.pid} since ")
            assert f"`push --target prod`) in {tmp_path.parent}: wait" in message
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    with lock.hold(tmp_path, "export", exclusive=True):  # released with its process
        pass


def test_readers_share_and_a_writer_waits_for_none_of_them(tmp_path: Path) -> None:
    with (
        lock.hold(tmp_path, "plan", exclusive=False),
        lock.hold(tmp_path, "plan", exclusive=False),
        pytest.raises(lock.LockedError),
        lock.hold(tmp_path, "export", exclusive=True),
    ):
        pass
    with (
        lock.hold(tmp_path, "export", exclusive=True),
        pytest.raises(lock.LockedError),
        lock.hold(tmp_path, "plan", exclusive=False),
    ):
        pass


def test_the_lock_file_says_who_holds_it_and_is_emptied_after(tmp_path: Path) -> None:
    with lock.hold(tmp_path, "export", exclusive=True):
        held = json.loads((tmp_path / "lock").read_text())
        assert held["pid"] == os.getpid() and held["host"] == socket.gethostname()
        assert held["command"] == "export" and held["started"].endswith("UTC")
    assert (tmp_path / "lock").read_text() == ""


def test_a_lock_left_by_a_dead_process_is_taken_over_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging.getLogger("snapshotsync"), "propagate", True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    left = {"pid": pid, "host": socket.gethostname(), "started": "then", "command": "push"}
    (tmp_path / "lock").write_text(json.dumps(left))
    with (
        caplog.at_level("WARNING", logger="snapshotsync"),
        lock.hold(tmp_path, "export", exclusive=True),
    ):
        pass
    assert f"took over the lock left by pid {pid} since then" in caplog.text


def test_a_reader_in_a_read_only_checkout_goes_on_without_the_lock(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    with lock.hold(blocked / "state", "plan", exclusive=False):  # cannot be created: fine
        pass
    with (
        pytest.raises(lock.UserError, match="cannot create the lock file"),
        lock.hold(blocked / "state", "export", exclusive=True),
    ):
        pass


def test_a_lock_kept_by_the_heir_of_a_dead_holder_names_both(tmp_path: Path) -> None:
    """A process the holder started, still holding its descriptor, keeps the lock after
    the holder has gone: the message says so, not "another snapshotsync is running"."""
    heir = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(tmp_path / 'lock')!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert heir.stdout is not None and heir.stdout.readline() == "locked\n"
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        pid = int(dead.stdout)
        left = {"pid": pid, "host": socket.gethostname(), "started": "then", "command": "plan"}
        (tmp_path / "lock").write_text(json.dumps(left))
        with (
            pytest.raises(lock.LockedError, match=f"pid {pid} since then.*has ended"),
            lock.hold(tmp_path, "export", exclusive=True),
        ):
            pass
    finally:
        heir.kill()
        heir.wait()
