"""Reliability: faults, dropped writes, a killed push, a corrupted snapshot.

Every scenario ends with the destination compared, in normal form, to a fault-free push
of the same snapshot: they must be equal. Loops are bounded; everything is loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from snapshotsync import export, normalize
from snapshotsync.errors import ExitCode
from snapshotsync.octopus.client import OctopusClient
from tests.e2e.test_plan import OVERLAY
from tests.helpers import (
    API_KEY,
    SAMPLES,
    Emulator,
    export_with_overlay,
    git,
    init_repo,
    kill_push_after,
    run_cli,
    running_emulator,
)

MAX_RUNS = 30


@pytest.fixture
def reference_destination() -> Iterator[Emulator]:
    with running_emulator(seed=SAMPLES / "destination.yaml", id_offset=9000) as running:
        yield running


def _repo(tmp_path: Path, source: Emulator, destination: Emulator) -> Path:
    repo = init_repo(tmp_path, source, destination)
    export_with_overlay(repo, OVERLAY.replace("NEW_OUT_OF_SCOPE", "clone"))
    return repo


def _state(emulator: Emulator) -> dict[Any, Any]:
    """The destination in normal form (names, not ids), plus the secrets stored."""
    with OctopusClient(emulator.url, API_KEY) as client:
        space = client.space_id("Default")
        raw = export.read(client, space)
    snapshot, _ = normalize.to_snapshot(raw, space, {})
    secrets = sorted(
        (v["Name"], str(v["Value"]))
        for doc in emulator.instance.docs["variables"].values()
        for v in doc["Variables"]
        if v.get("IsSensitive")
    )
    return {"resources": dict(snapshot.resources), "secrets": secrets}


def _push_until_done(repo: Path, max_runs: int = MAX_RUNS) -> int:
    """Run push until it completes (as a person would after a failure); returns the runs."""
    for run in range(1, max_runs + 1):
        result = run_cli("push", "--target", "prod", "--repo", str(repo), "--yes", expect=None)
        if result.exit_code == ExitCode.OK:
            return run
        assert result.exit_code == ExitCode.ERROR
        assert "Traceback" not in result.stderr
    raise AssertionError(f"push did not finish in {max_runs} runs")


@pytest.fixture
def reference(
    tmp_path: Path, source_emulator: Emulator, reference_destination: Emulator, keys: None
) -> dict[Any, Any]:
    repo = _repo(tmp_path / "reference", source_emulator, reference_destination)
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    return _state(reference_destination)


@pytest.mark.parametrize(
    ("rate", "kinds"), [(0.05, ["429", "503"]), (0.2, ["429", "503"]), (0.2, ["drop"])]
)
def test_push_under_faults_converges_to_the_fault_free_result(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    reference: dict[Any, Any],
    rate: float,
    kinds: list[str],
) -> None:
    repo = _repo(tmp_path / "faulty", source_emulator, destination_emulator)
    destination_emulator.configure(fault_rate=rate, fault_kinds=kinds, fault_seed=5, retry_after=0)
    runs = _push_until_done(repo)
    faults = destination_emulator.stats()["faults"]
    destination_emulator.configure(fault_rate=0.0)
    assert sum(faults.values()) > 0, "no fault was injected: the test proves nothing"
    assert _state(destination_emulator) == reference
    if kinds == ["drop"]:
        assert runs > 1  # dropped POSTs are never retried blindly: the re-run finishes them


def test_dropped_writes_after_they_were_applied_make_no_duplicates(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    reference: dict[Any, Any],
) -> None:
    repo = _repo(tmp_path / "faulty", source_emulator, destination_emulator)
    # Each a POST (never retried blindly) in the write order of the run it lands in.
    # One write at a time, so the Nth write is always the same request (every position,
    # at the default concurrency, is covered by tests/e2e/test_fault_campaign.py).
    for nth in (3, 9, 13):
        destination_emulator.configure(drop_on_write=nth, drop_after_apply=True)
        run_cli(
            "push",
            "--target",
            "prod",
            "--repo",
            str(repo),
            "--yes",
            "--concurrency",
            "1",
            expect=ExitCode.ERROR,
        )
    destination_emulator.configure(drop_on_write=0)
    _push_until_done(repo)
    assert _state(destination_emulator) == reference


def test_a_push_killed_mid_way_is_finished_by_the_next_run(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    reference: dict[Any, Any],
) -> None:
    repo = _repo(tmp_path / "killed", source_emulator, destination_emulator)
    kill_push_after(repo, destination_emulator, writes=8)
    _push_until_done(repo)
    assert _state(destination_emulator) == reference


def test_a_corrupted_snapshot_file_is_named_and_nothing_is_written(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    project = repo / "snapshot" / "projects" / "OctoFX" / "project.yaml"
    good = project.read_text()
    project.write_text(good.replace("LifecycleId: Default Lifecycle", "LifecycleId: [oops"))
    git(repo, "commit", "-qam", "a bad hand edit")
    destination_emulator.session.delete(f"{destination_emulator.url}/api/emulator/stats")
    bad_yaml = run_cli(
        "push", "--target", "prod", "--repo", str(repo), "--yes", expect=ExitCode.ERROR
    ).stderr
    assert "snapshot/projects/OctoFX/project.yaml:" in bad_yaml and "invalid YAML" in bad_yaml
    assert destination_emulator.stats()["requests"] == 0

    project.write_text(good.replace("LifecycleId: Default Lifecycle", "LifecycleId: Nope"))
    git(repo, "commit", "-qam", "a reference to nothing")
    # push refuses a snapshot an export did not write, before reading anything
    refused = run_cli(
        "push", "--target", "prod", "--repo", str(repo), "--yes", expect=ExitCode.ERROR
    ).stderr
    assert "not by an export" in refused and "snapshotsync export" in refused
    assert destination_emulator.stats()["requests"] == 0
    # and plan (which reads) names the file and line of the reference to nothing
    missing = run_cli("plan", "--target", "prod", "--repo", str(repo), expect=ExitCode.ERROR)
    line = next(
        n
        for n, text in enumerate(project.read_text().splitlines(), 1)
        if text == "LifecycleId: Nope"
    )
    assert (
        f"snapshot/projects/OctoFX/project.yaml:{line}: projects OctoFX: needs lifecycles 'Nope'"
        in missing.stdout
    )
    assert destination_emulator.stats()["writes"] == 0
