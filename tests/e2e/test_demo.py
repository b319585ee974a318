"""`snapshotsync demo` runs the whole loop with nothing but the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import git, run_cli


@pytest.mark.xfail(
    reason="tool side of issue 10: teams posted without SpaceId become system teams (finding 8)",
    strict=True,
)
def test_the_demo_exports_pushes_and_shows_the_history(tmp_path: Path) -> None:
    out = run_cli("demo", "--dir", str(tmp_path)).stdout
    history = out.split("== history")[1]
    lines = [line for line in history.splitlines() if " export " in line or " push prod " in line]
    assert len(lines) == 4
    assert "(complete)" in lines[1] and "(complete)" in lines[3]
    assert "0 created, 1 updated" in lines[3]  # the recurring sync: one variable set
    log = git(tmp_path / "sync", "log", "--format=%s")
    assert log.count("export: ") == 2 and log.count("push prod: ") == 2
    assert "API-" not in out
