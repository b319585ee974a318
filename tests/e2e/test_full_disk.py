"""A disk that fills up mid-push: one clear line, and nothing left behind that blocks the
next run (no scratch `.write-<pid>.tmp`, no torn journal line).

The full disk is simulated by patching the file writes the store makes: the Nth write
of a record file writes half its text, then fails with ENOSPC, as a real full disk does.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from snapshotsync.errors import ExitCode
from tests.e2e.test_reliability import _repo
from tests.helpers import Emulator, run_cli


@contextmanager
def disk_full_after(monkeypatch: pytest.MonkeyPatch, writes: int) -> Iterator[list[str]]:
    """Record writes under `targets/` succeed `writes` times, then the disk is full: every
    later one writes half its text and fails. Yields the paths that failed."""
    real_write_text = Path.write_text
    real_open = Path.open
    failed: list[str] = []
    count = {"n": 0}

    def full() -> bool:
        count["n"] += 1
        return count["n"] > writes

    def write_text(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        if "targets" in self.parts and full():
            real_write_text(self, data[: len(data) // 2], *args, **kwargs)
            failed.append(str(self))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_write_text(self, data, *args, **kwargs)

    class HalfFile:
        def __init__(self, file: Any, path: Path) -> None:
            self.file, self.path = file, path

        def write(self, text: str) -> int:
            self.file.write(text[: len(text) // 2])
            self.file.flush()
            failed.append(str(self.path))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.file, name)

        def __enter__(self) -> HalfFile:
            return self

        def __exit__(self, *exc: object) -> None:
            self.file.close()

    def open_(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        file = real_open(self, mode, *args, **kwargs)
        if "a" in mode and "targets" in self.parts and full():
            return HalfFile(file, self)
        return file

    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_text", write_text)
        patch.setattr(Path, "open", open_)
        yield failed


def _scratch(repo: Path) -> list[Path]:
    return [p for p in repo.rglob(".write-*") if ".git" not in p.parts]


@pytest.mark.parametrize("writes", [3, 12, 25])
def test_a_full_disk_mid_push_is_one_line_and_the_next_push_finishes(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    keys: None,
    monkeypatch: pytest.MonkeyPatch,
    writes: int,
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    with disk_full_after(monkeypatch, writes) as failed:
        result = run_cli(
            "push",
            "--target",
            "prod",
            "--repo",
            str(repo),
            "--yes",
            "--concurrency",
            "1",
            expect=None,
        )
    assert failed, "the disk never filled: the test proves nothing"
    assert result.exit_code == ExitCode.ERROR, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left on the device" in lines[0], result.stderr
    assert _scratch(repo) == []
    # Space is freed: the next push finishes the job and records it.
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    assert _scratch(repo) == []
    plan = run_cli("plan", "--target", "prod", "--repo", str(repo), "--detailed-exitcode")
    assert plan.exit_code == ExitCode.OK
