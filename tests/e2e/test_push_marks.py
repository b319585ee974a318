"""Commits and `history` say how a push ran: with --force-overwrite, with --prune, after a
push that was killed half-way."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_plan import OVERLAY
from tests.helpers import Emulator, export_with_overlay, git, init_repo, kill_push_after, run_cli


def _history(repo: Path) -> list[str]:
    return run_cli("history", "--target", "prod", "--repo", str(repo)).stdout.splitlines()


def _change_on_source(repo: Path, source: Emulator, text: str) -> None:
    project = source.by_name("projects", "OctoFX")
    project["Description"] = f"{text} change"
    assert source.put(f"projects/{project['Id']}", project).ok
    run_cli("export", "--repo", str(repo))


def test_forced_pruned_and_killed_pushes_are_marked(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    export_with_overlay(repo, OVERLAY.replace("NEW_OUT_OF_SCOPE", "clone"))
    kill_push_after(repo, destination_emulator, writes=5)
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    assert "After-Killed-Push: yes" in git(repo, "log", "-1", "--format=%B")
    (finished,) = _history(repo)
    assert finished.endswith("[after a killed push]"), finished

    _change_on_source(repo, source_emulator, "first")
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes", "--prune")
    _change_on_source(repo, source_emulator, "second")
    run_cli(
        "push", "--target", "prod", "--repo", str(repo), "--yes", "--force-overwrite", "--prune"
    )
    message = git(repo, "log", "-1", "--format=%B")
    assert "Force-Overwrite: yes" in message and "Prune: yes" in message
    history = _history(repo)
    assert history[1].endswith("[--prune]") and "killed" not in history[1]
    assert history[2].endswith("[--force-overwrite, --prune]")
