"""The same checks everywhere: plan refuses the version skew push refuses, `push --dry-run`
exits like plan, and every reporting command prints one JSON document with a
`format_version` with `--output json`, errors included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from snapshotsync.errors import ExitCode
from tests.e2e.test_plan import OVERLAY
from tests.helpers import Emulator, export_with_overlay, init_repo, run_cli


@pytest.fixture
def repo(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> Path:
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    export_with_overlay(repo, OVERLAY.replace("NEW_OUT_OF_SCOPE", "clone"))
    return repo


def test_plan_refuses_the_version_skew_push_refuses_and_dry_run_exits_like_plan(
    repo: Path, destination_emulator: Emulator
) -> None:
    destination_emulator.configure(server_version="2024.4.100")
    target = ("--target", "prod", "--repo", str(repo))
    planned = run_cli("plan", *target, expect=ExitCode.ERROR)
    assert "more than one minor version apart" in planned.stderr
    assert "push would refuse it (--allow-version-skew overrides)" in planned.stderr
    dry = run_cli("push", *target, "--dry-run", expect=ExitCode.ERROR)
    assert "more than one minor version apart" in dry.stderr

    run_cli("plan", *target, "--allow-version-skew")
    run_cli("push", *target, "--dry-run", "--allow-version-skew")
    assert destination_emulator.stats()["writes"] == 0


def _json(*args: str, expect: int = 0) -> dict[str, Any]:
    out = run_cli(*args, "--output", "json", expect=expect).stdout
    document = json.loads(out)  # one document: anything else on stdout fails here
    assert document["format_version"] == 1, document
    return dict(document)


def test_every_reporting_command_prints_one_json_document(repo: Path) -> None:
    r = ("--repo", str(repo))
    t = ("--target", "prod", *r)
    assert _json("plan", *t)["command"] == "plan"
    assert _json("validate", *r)["ok"] is True
    dry = _json("push", *t, "--dry-run")
    assert dry["dry_run"] is True and dry["plan"]["has_changes"] is True and dry["record"] is None
    pushed = _json("push", *t, "--yes")
    assert pushed["plan"]["summary"]["create"] > 0
    assert pushed["record"]["target"] == "prod" and pushed["messages"][0].startswith("push: prod")
    assert _json("drift", *t)["has_drift"] is False
    assert _json("cleanup", *t)["summary"]["pending"] >= 1
    events = _json("history", *r)["events"]
    assert [e["event"] for e in events] == ["export", "push"]
    assert events[1]["target"] == "prod" and isinstance(events[1]["created"], int)


def test_errors_are_json_documents_too(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROD_OCTOPUS_API_KEY")
    for command, says in (
        ("plan", "PROD_OCTOPUS_API_KEY"),
        ("push", "PROD_OCTOPUS_API_KEY"),
        ("drift", "push first"),
        ("cleanup", "push first"),
    ):
        error = _json(command, "--target", "prod", "--repo", str(repo), expect=1)
        assert error["command"] == command and says in error["error"], error
    (repo / "overlays" / "prod.yaml").write_text("environments:\n  Nowhere: Production\n")
    error = _json("validate", "--repo", str(repo), expect=1)
    assert "overlays/prod.yaml:2: error: " in error["error"]
    error = _json("history", "--target", "nope", "--repo", str(repo), expect=1)
    assert "nope" in error["error"]
