"""Several targets in one command: `--target` repeated, or `--all-targets`. Each target in
turn, one summary, the worst exit code; a repeated `--target` never keeps only the last."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from snapshotsync.errors import ExitCode
from tests.e2e.test_plan import OVERLAY
from tests.helpers import (
    API_KEY,
    SAMPLES,
    SOURCE_KEY_ENV,
    Emulator,
    git,
    run_cli,
    running_emulator,
)


@pytest.fixture
def second_destination() -> Iterator[Emulator]:
    with running_emulator(seed=SAMPLES / "destination.yaml", id_offset=7000) as running:
        yield running


@pytest.fixture
def repo(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    second_destination: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    for variable in (SOURCE_KEY_ENV, "PROD_OCTOPUS_API_KEY", "PROD_EU_OCTOPUS_API_KEY"):
        monkeypatch.setenv(variable, API_KEY)
    repo = tmp_path / "sync"
    run_cli(
        "init",
        str(repo),
        "--source-url",
        source_emulator.url,
        "--target",
        f"prod={destination_emulator.url}",
        "--target",
        f"prod-eu={second_destination.url}",
    )
    config = repo / "snapshotsync.yaml"
    config.write_text(config.read_text() + "http:\n  retries: 2\n  backoff: 0.01\n")
    overlay = OVERLAY.replace("NEW_OUT_OF_SCOPE", "clone")
    for target in ("prod", "prod-eu"):
        (repo / "overlays" / f"{target}.yaml").write_text(overlay)
    git(repo, "commit", "-qam", "overlays for prod and prod-eu")
    run_cli("export", "--repo", str(repo))
    return repo


def _projects(emulator: Emulator) -> list[str]:
    return [p["Name"] for p in emulator.get("projects/all")]


def test_two_targets_are_planned_pushed_and_summarised(
    repo: Path, destination_emulator: Emulator, second_destination: Emulator
) -> None:
    both = ("--target", "prod", "--target", "prod-eu", "--repo", str(repo))
    planned = run_cli("plan", *both, "--detailed-exitcode", expect=ExitCode.CHANGES).stdout
    assert "=== plan prod\n" in planned and "\n=== plan prod-eu\n" in planned
    summary = planned.split("plan summary (2 targets)\n")[1].splitlines()
    assert summary[2:] == ["prod     changes pending", "prod-eu  changes pending"]
    assert planned.count("+ create projects OctoFX") == 2

    pushed = run_cli("push", *both, "--yes").stdout
    assert "prod     pushed" in pushed and "prod-eu  pushed" in pushed
    assert "OctoFX" in _projects(destination_emulator)
    assert "OctoFX" in _projects(second_destination)  # not only the last target

    every = run_cli("plan", "--all-targets", "--repo", str(repo), "--detailed-exitcode").stdout
    assert "prod     up to date" in every and "prod-eu  up to date" in every
    as_json = json.loads(
        run_cli("drift", "--all-targets", "--repo", str(repo), "--output", "json").stdout
    )
    assert as_json["format_version"] == 1 and as_json["command"] == "drift"
    assert [t["target"] for t in as_json["targets"]] == ["prod", "prod-eu"]
    assert [s["result"] for s in as_json["summary"]] == ["no drift", "no drift"]


def test_the_exit_code_is_the_worst_and_a_failing_target_does_not_hide_the_others(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROD_EU_OCTOPUS_API_KEY")
    result = run_cli(
        "plan",
        "--all-targets",
        "--repo",
        str(repo),
        "--detailed-exitcode",
        "--output",
        "json",
        expect=ExitCode.ERROR,
    )
    document = json.loads(result.stdout)  # one JSON document, the error included
    prod, eu = document["targets"]
    assert prod["has_changes"] is True
    assert "PROD_EU_OCTOPUS_API_KEY" in eu["error"]
    assert [s["result"] for s in document["summary"]] == ["changes pending", "error"]

    # A push stops at the first target that fails, and says what it did not run.
    text = run_cli(
        "push", "-t", "prod-eu", "-t", "prod", "--repo", str(repo), "--yes", expect=1
    ).stdout
    assert "prod-eu  error: " in text and "prod     not run" in text


def test_a_target_named_twice_is_refused(repo: Path) -> None:
    result = run_cli(
        "push", "-t", "prod", "-t", "prod", "--repo", str(repo), "--yes", expect=ExitCode.ERROR
    )
    assert "--target prod is given twice" in result.stderr
    both = run_cli(
        "plan", "-t", "prod", "--all-targets", "--repo", str(repo), expect=ExitCode.ERROR
    )
    assert "either --target (repeatable) or --all-targets" in both.stderr
    none = run_cli("plan", "--repo", str(repo), expect=ExitCode.ERROR)
    assert "name a target" in none.stderr
