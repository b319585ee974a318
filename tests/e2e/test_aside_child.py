"""The child `plan` forks to parse the base (`snapshotsync.aside`) can neither hold the
repo's lock nor hang its parent: killed with its parent, stopped on its own, it leaves the
next run free to go.

The base is made larger than a pipe's buffer (64 KiB), so a child that kept the read end
of its own pipe would block on its write for ever. Each run is a real process: the test
wraps `aside` in it to learn the child's pid, then kills or stops one of the two.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from snapshotsync import aside as aside_module
from tests.e2e.test_reliability import _repo
from tests.helpers import API_KEY, SOURCE_KEY_ENV, Emulator, run_cli

pytestmark = pytest.mark.skipif(
    not aside_module._can_fork_here(), reason="forks only on Linux with two CPUs or more"
)

BIG = 100_000  # characters in one variable value: the base parses to well over 64 KiB

# `plan` in a process of its own, with `aside` wrapped: the child's pid goes to a file,
# then the parent (KILL) sleeps until it is killed or (STOP) stops the child and goes on.
SCRIPT = """
import os, signal, sys, time
from pathlib import Path
import snapshotsync.commands.plan as plan_command

real = plan_command.aside
mine = os.getpid()

def children():
    path = f"/proc/{mine}/task/{mine}/children"
    return set(Path(path).read_text().split())

def wrapped(function):
    before = children()
    result = real(function)
    (child,) = children() - before
    Path(sys.argv[1]).write_text(child)
    if sys.argv[2] == "STOP":
        os.kill(int(child), signal.SIGSTOP)
    else:
        time.sleep(600)
    return result

plan_command.aside = wrapped
from snapshotsync.cli import app
app(prog_name="snapshotsync", args=sys.argv[3:])
"""


def _big_repo(tmp_path: Path, source: Emulator, destination: Emulator) -> Path:
    """A repo pushed once, whose base holds a value larger than a pipe's buffer."""
    project = source.by_name("projects", "OctoFX")
    variables = source.get(f"variables/{project['VariableSetId']}")
    variables["Variables"].append(
        {"Name": "Big", "Value": "x" * BIG, "Type": "String", "IsSensitive": False, "Scope": {}}
    )
    assert source.put(f"variables/{variables['Id']}", variables).status_code == 200
    repo = _repo(tmp_path, source, destination)
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    base = repo / "targets" / "prod" / "base"
    assert sum(p.stat().st_size for p in base.rglob("*") if p.is_file()) > 64 * 1024
    return repo


def _plan_process(repo: Path, pid_file: Path, mode: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, SOURCE_KEY_ENV: API_KEY, "PROD_OCTOPUS_API_KEY": API_KEY}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(SCRIPT),
            str(pid_file),
            mode,
            "plan",
            "--target",
            "prod",
            "--repo",
            str(repo),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(condition: str, check: object, limit: float = 60.0) -> None:
    """Wait (bounded) until `check()` is true; fail naming `condition` otherwise."""
    deadline = time.monotonic() + limit
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never: {condition}"
        time.sleep(0.02)


def _gone(pid: int) -> bool:
    """True once `pid` has ended (a zombie of a dead parent is reaped by init soon)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in (b"Z", b"X")


def test_a_killed_plan_leaves_no_child_and_no_lock_behind(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _big_repo(tmp_path, source_emulator, destination_emulator)
    pid_file = tmp_path / "child.pid"
    process = _plan_process(repo, pid_file, "KILL")
    try:
        _wait_for("the child is forked", pid_file.exists)
        child = int(pid_file.read_text())
        process.send_signal(signal.SIGKILL)  # as the OOM killer or a cancelled CI job does
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    _wait_for("the orphaned child ends with its parent", lambda: _gone(child))
    # The repo's lock is free: the next run goes on (it would name the dead pid otherwise).
    run_cli("plan", "--target", "prod", "--repo", str(repo))


def test_a_stopped_child_does_not_hang_its_parent(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _big_repo(tmp_path, source_emulator, destination_emulator)
    expected = run_cli("plan", "--target", "prod", "--repo", str(repo)).stdout
    pid_file = tmp_path / "child.pid"
    process = _plan_process(repo, pid_file, "STOP")
    try:
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err.decode()
    assert out.decode() == expected  # the work was done in the parent, the same result
    child = int(pid_file.read_text())
    assert _gone(child)  # killed and reaped, not left stopped
