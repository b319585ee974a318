"""The concurrent push: independent writes go out together; a failure mid-wave stops it
cleanly, the record says exactly what was written, and the re-run converges."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from snapshotsync.errors import ExitCode
from tests.e2e.test_reliability import _push_until_done
from tests.helpers import (
    API_KEY,
    SOURCE_KEY_ENV,
    Emulator,
    export_with_overlay,
    init_repo,
    run_cli,
    running_emulator,
)

PROJECTS = 12


def _seed() -> str:
    lines = ["environments:", "  - {Name: Production, SortOrder: 1}", "projects:"]
    for number in range(PROJECTS):
        lines += [
            f"  - Name: Service {number:02d}",
            "    ProjectGroupId: Default Project Group",
            "    LifecycleId: Default Lifecycle",
            "    DeploymentProcess:",
            "      Steps:",
            "        - Name: Run",
            "          Actions:",
            "            - {Name: Run, ActionType: Octopus.Script}",
            "    Variables:",
            f"      - {{Name: Service.Port, Value: '{8000 + number}'}}",
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Emulator, Path]]:
    monkeypatch.setenv(SOURCE_KEY_ENV, API_KEY)
    monkeypatch.setenv("PROD_OCTOPUS_API_KEY", API_KEY)
    seed = tmp_path / "services.yaml"
    seed.write_text(_seed())
    destination_seed = tmp_path / "destination.yaml"
    destination_seed.write_text("environments:\n  - {Name: Production, SortOrder: 1}\n")
    with (
        running_emulator(seed=seed, id_offset=1000) as source,
        running_emulator(seed=destination_seed, id_offset=5000) as destination,
    ):
        repo = init_repo(tmp_path, source, destination)
        export_with_overlay(repo, "environments:\n  Production: Production\n")
        yield destination, repo


def _projects(emulator: Emulator) -> list[str]:
    return sorted(p["Name"] for p in emulator.get("projects/all"))


def _plan(repo: Path) -> dict[str, Any]:
    out = run_cli("plan", "--target", "prod", "--repo", str(repo), "--output", "json").stdout
    return dict(json.loads(out))


def test_a_write_failing_mid_wave_stops_the_push_and_the_record_is_exact(
    repo: tuple[Emulator, Path],
) -> None:
    destination, path = repo
    # Every write takes a while, so several are in flight at once; the 6th write (one of the
    # wave of project creations) is refused at once: the push fails there, while the others
    # of the wave are still on their way.
    destination.configure(latency_ms=150, refuse_on_write=6)
    destination.session.delete(f"{destination.url}/api/emulator/stats")
    failed = run_cli(
        "push",
        "--target",
        "prod",
        "--repo",
        str(path),
        "--yes",
        "--concurrency",
        "8",
        expect=ExitCode.ERROR,
    )
    assert "stopped at projects Service" in failed.stderr
    stats = destination.stats()
    destination.configure(latency_ms=0, refuse_on_write=0)
    # Nothing of a later wave started: no process or variable set was written.
    assert stats["max_writes_in_flight"] >= 3  # the wave's writes went out together
    routes = stats["by_route"]
    assert all(not r.startswith("PUT") for r in routes), routes
    posts = routes.get("POST projects", 0)
    # The refused one and those already in flight (at most the seven other workers), none
    # of the four waiting for a worker: a worker is free again only after 150 ms, long after
    # the refusal.
    assert 6 <= posts <= 8, routes
    created = _projects(destination)
    assert len(created) == posts - 1  # every POST but the refused one was applied

    # The record is exact: what the push says it created is what exists, no more.
    record = (path / "targets" / "prod" / "last-push.yaml").read_text()
    recorded = sorted(
        line.removeprefix("- projects ").strip()
        for line in record.split("created:")[2].split("updated:")[0].splitlines()
        if line.startswith("- projects ")
    )
    assert recorded == created
    base = path / "targets" / "prod" / "base" / "projects"
    assert sorted(p.name for p in base.iterdir()) == created

    # The re-run finishes the job: every project once, and nothing left to do.
    _push_until_done(path)
    assert _projects(destination) == sorted(f"Service {n:02d}" for n in range(PROJECTS))
    assert _plan(path)["has_changes"] is False


def test_a_concurrent_push_writes_a_wave_together_and_ends_where_it_should(
    repo: tuple[Emulator, Path],
) -> None:
    destination, path = repo
    destination.configure(latency_ms=30)
    destination.session.delete(f"{destination.url}/api/emulator/stats")
    run_cli("push", "--target", "prod", "--repo", str(path), "--yes", "--concurrency", "8")
    # Within a wave (the projects, their processes, their variable sets) writes overlap.
    assert destination.stats()["max_writes_in_flight"] >= 4
    destination.configure(latency_ms=0)
    assert _projects(destination) == sorted(f"Service {n:02d}" for n in range(PROJECTS))
    for project in destination.get("projects/all"):
        values = destination.get(f"variables/{project['VariableSetId']}")["Variables"]
        assert [(v["Name"], v["Value"]) for v in values] == [
            ("Service.Port", str(8000 + int(project["Name"].split()[-1])))
        ]
    assert _plan(path)["has_changes"] is False
