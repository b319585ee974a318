"""A closed stdout (`snapshotsync history | head -1`) ends the command quietly, as git does:
no "internal error", nothing on stderr, the status a shell shows for SIGPIPE (141)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from snapshotsync.errors import ExitCode
from tests.e2e.test_reliability import _repo
from tests.helpers import API_KEY, SOURCE_KEY_ENV, Emulator, run_cli


def _with_closed_stdout(*args: str) -> subprocess.CompletedProcess[str]:
    """Run snapshotsync with a stdout whose reader is already gone: its first write fails,
    whenever it comes (no race with the reader)."""
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, SOURCE_KEY_ENV: API_KEY, "PROD_OCTOPUS_API_KEY": API_KEY}
    try:
        return subprocess.run(
            [sys.executable, "-m", "snapshotsync", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)


@pytest.fixture
def pushed(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> Path:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    return repo


@pytest.mark.parametrize("command", [["history"], ["drift", "--target", "prod"]])
def test_a_closed_stdout_ends_the_command_quietly(pushed: Path, command: list[str]) -> None:
    done = _with_closed_stdout(*command, "--repo", str(pushed))
    assert done.stderr == ""
    assert done.returncode == ExitCode.CLOSED_OUTPUT == 141
