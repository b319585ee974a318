"""Saved plans: `plan --out FILE` then `push --plan FILE` applies exactly what was reviewed,
and refuses, writing nothing, after a re-export, an overlay commit or a hand edit on the
destination. The file holds no secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snapshotsync.errors import ExitCode
from tests.e2e.test_plan import OVERLAY
from tests.helpers import API_KEY, Emulator, export_with_overlay, git, init_repo, run_cli

SECRET = "pricing-key-from-the-vault-91c2"


@pytest.fixture
def repo(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    keys: None,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    monkeypatch.setenv("PRICING_KEY", SECRET)
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    overlay = OVERLAY.replace("NEW_OUT_OF_SCOPE", "clone")
    export_with_overlay(repo, overlay + '  values:\n    "OctoFX/Api.Key": "${env:PRICING_KEY}"\n')
    return repo


def _plan_out(repo: Path) -> Path:
    saved = repo.parent / "plan-prod.json"
    run_cli("plan", "--target", "prod", "--repo", str(repo), "--out", str(saved))
    return saved


def _push_plan(repo: Path, saved: Path, expect: int = 0) -> str:
    args = ("push", "--target", "prod", "--repo", str(repo), "--yes", "--plan", str(saved))
    result = run_cli(*args, expect=expect)
    return result.stdout + result.stderr


def _edit_project(emulator: Emulator, description: str) -> None:
    project = emulator.by_name("projects", "OctoFX")
    project["Description"] = description
    assert emulator.put(f"projects/{project['Id']}", project).ok


def test_a_saved_plan_is_applied_exactly_and_holds_no_secret(
    repo: Path, destination_emulator: Emulator
) -> None:
    saved = _plan_out(repo)
    text = saved.read_text()
    assert SECRET not in text and API_KEY not in text
    document = json.loads(text)
    assert document["kind"] == "snapshotsync saved plan" and document["target"] == "prod"
    assert document["plan"]["has_changes"] is True
    planned = document["plan"]["summary"]

    out = _push_plan(repo, saved)
    assert "push: prod done" in out
    record = (repo / "targets" / "prod" / "last-push.yaml").read_text()
    assert f"created: {planned['create']}\n" in record
    assert "OctoFX" in [p["Name"] for p in destination_emulator.get("projects/all")]
    # Pushed: the same file is now stale (the records and the destination changed).
    stale = _push_plan(repo, saved, expect=ExitCode.ERROR)
    assert "the records in targets/prod/ (another push) changed" in stale


def test_a_saved_plan_is_refused_after_a_re_export(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    saved = _plan_out(repo)
    _edit_project(source_emulator, "changed on the source after the review")
    run_cli("export", "--repo", str(repo))
    destination_emulator.session.delete(f"{destination_emulator.url}/api/emulator/stats")
    refused = _push_plan(repo, saved, expect=ExitCode.ERROR)
    assert "no longer describes what a push would do, so nothing was written" in refused
    assert "the snapshot (a new export) changed: commit" in refused
    assert destination_emulator.stats()["writes"] == 0


def test_a_saved_plan_is_refused_after_an_overlay_commit(
    repo: Path, destination_emulator: Emulator
) -> None:
    saved = _plan_out(repo)
    overlay = repo / "overlays" / "prod.yaml"
    overlay.write_text(
        overlay.read_text().replace('tenants: ["Development Team A"]', "tenants: []")
    )
    git(repo, "commit", "-qam", "overlay: keep Development Team A")
    destination_emulator.session.delete(f"{destination_emulator.url}/api/emulator/stats")
    refused = _push_plan(repo, saved, expect=ExitCode.ERROR)
    assert "the overlay changed: commit" in refused
    assert destination_emulator.stats()["writes"] == 0


def test_a_saved_plan_is_refused_after_a_hand_edit_on_the_destination(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    _edit_project(source_emulator, "a change to review")
    run_cli("export", "--repo", str(repo))
    saved = _plan_out(repo)
    _edit_project(destination_emulator, "edited by hand after the review")
    destination_emulator.session.delete(f"{destination_emulator.url}/api/emulator/stats")
    refused = _push_plan(repo, saved, expect=ExitCode.ERROR)
    assert "the destination changed since the plan was read: projects OctoFX" in refused
    assert destination_emulator.stats()["writes"] == 0
