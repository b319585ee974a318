"""A fault campaign: the guide's scenario pushed under faults until done, many times over.

Each run starts from the same exported repo and a fresh destination, is pushed until it
completes (as a person would re-run a failed push), and must end exactly where a fault-free
push ends: the same destination in normal form, the same secrets stored, no duplicate.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_reliability import _push_until_done, _repo, _state
from tests.helpers import SAMPLES, git, running_emulator


@pytest.fixture
def exported(tmp_path: Path, keys: None) -> Iterator[tuple[Path, dict[Any, Any], int]]:
    """An exported repo, the fault-free push's result and the number of writes it made."""
    with (
        running_emulator(seed=SAMPLES / "source.yaml", id_offset=1000) as source,
        running_emulator(seed=SAMPLES / "destination.yaml", id_offset=9000) as reference,
    ):
        repo = _repo(tmp_path / "template", source, reference)
        template = tmp_path / "exported"
        shutil.copytree(repo, template, symlinks=True)
        reference.session.delete(f"{reference.url}/api/emulator/stats")
        _push_until_done(repo)
        writes = int(reference.stats()["writes"])
        yield template, _state(reference), writes


def _fresh_repo(template: Path, where: Path, destination_url: str) -> Path:
    """A copy of the exported repo whose target points at `destination_url`."""
    repo = where / "sync"
    shutil.copytree(template, repo, symlinks=True)
    config = repo / "snapshotsync.yaml"
    lines = config.read_text().splitlines()
    in_targets = False
    for index, line in enumerate(lines):
        in_targets = in_targets or line.startswith("targets:")
        if in_targets and line.strip().startswith("url:"):
            lines[index] = line.split("url:")[0] + f"url: {destination_url}"
    config.write_text("\n".join(lines) + "\n")
    git(repo, "commit", "-qam", "campaign: this run's destination")
    return repo


def test_a_reply_lost_after_any_write_converges_with_no_duplicate(
    tmp_path: Path, exported: tuple[Path, dict[Any, Any], int]
) -> None:
    template, reference, writes = exported
    assert writes > 20  # the scenario is big enough to mean something
    for position in range(1, writes + 1):
        with running_emulator(seed=SAMPLES / "destination.yaml", id_offset=5000) as destination:
            repo = _fresh_repo(template, tmp_path / f"drop-{position}", destination.url)
            destination.configure(drop_on_write=position, drop_after_apply=True)
            _push_until_done(repo)
            assert destination.stats()["faults"] == {"drop": 1}, position
            destination.configure(drop_on_write=0)
            assert _state(destination) == reference, f"reply lost after write {position}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_half_of_all_calls_failing_converges_to_the_fault_free_result(
    tmp_path: Path, exported: tuple[Path, dict[Any, Any], int], seed: int
) -> None:
    template, reference, _ = exported
    with running_emulator(seed=SAMPLES / "destination.yaml", id_offset=5000) as destination:
        repo = _fresh_repo(template, tmp_path, destination.url)
        destination.configure(fault_rate=0.5, fault_seed=seed, retry_after=0)
        # Half the calls fail: a POST whose answer is lost is never retried blindly (it may
        # have created something), so most runs stop early and the next re-plans. Slow, but
        # every run must make progress and none may wedge or duplicate.
        runs = _push_until_done(repo, max_runs=300)
        faults = destination.stats()["faults"]
        destination.configure(fault_rate=0.0)
        assert sum(faults.values()) > 10 and runs > 1
        assert _state(destination) == reference
