"""Renames on the source never change what a fixed overlay selects, end to end.

For random sequences of source renames (environments, tenants, projects, steps, runbooks),
pushed in random batches under one overlay written against the original names, the
destination ends up equal, by name, to the destination the same overlay gives a source
that had the final names from the start (the overlay then written with those names).
Destinations are compared as snapshotsync reads them: exported into the normal form.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.test_identity import GUIDE, _rename, _rename_step
from tests.helpers import (
    API_KEY,
    SAMPLES,
    Emulator,
    export_with_overlay,
    init_repo,
    run_cli,
    running_emulator,
)

# The overlay excludes a tenant and a step, sets a value on a project, and maps environments.
OVERLAY = (
    GUIDE.replace(
        'channels: ["OctoFX/QA"]',
        'channels: ["OctoFX/QA"]\n  steps: ["OctoFX/Run Migration Script"]',
    )
    + '  values:\n    "OctoFX/Application.Database.Name": "OctoFX-Regional"\n'
)
# (collection, old name, new name); steps are renamed in OctoFX's deployment process.
RENAMES = [
    ("environments", "Production", "Live"),
    ("environments", "Staging", "Pre-Production"),
    ("tenants", "Development Team A", "Team A (EU)"),
    ("tenants", "Internal", "Internal Ops"),
    ("steps", "Run Migration Script", "Migrate Database"),
    ("steps", "Deploy Web Site", "Deploy Site"),
    ("runbooks", "Restart Web Site", "Restart Site"),
    ("projects", "OctoFX", "OctoFX Trading"),  # last: the steps are renamed in "OctoFX"
]


def _apply(source: Emulator, renames: list[tuple[str, str, str]]) -> None:
    for collection, old, new in renames:
        if collection == "steps":
            _rename_step(source, old, new)
        else:
            _rename(source, collection, old, new)


def _with_names(overlay: str, renames: list[tuple[str, str, str]]) -> str:
    """The overlay as someone would write it for a source that always had the new names."""
    for collection, old, new in renames:
        if collection in ("environments", "projects"):
            overlay = overlay.replace(f"  {old}:", f"  {new}:")  # a mapping's source side
            overlay = overlay.replace(f'"{old}/', f'"{new}/')  # <project>/<name> entries
        else:
            overlay = overlay.replace(f'/{old}"', f'/{new}"').replace(f'"{old}"', f'"{new}"')
    return overlay


def _destination(tmp: Path, destination: Emulator) -> dict[str, str]:
    """The destination in snapshotsync's normal form (exported as if it were a source)."""
    repo = init_repo(tmp, destination)
    run_cli("export", "--repo", str(repo))
    return {
        path.relative_to(repo / "snapshot").as_posix(): path.read_text()
        for path in sorted((repo / "snapshot").rglob("*.yaml"))
        if path.name != "_meta.yaml"
    }


@settings(
    max_examples=3,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    chosen=st.lists(st.sampled_from(range(len(RENAMES))), min_size=1, max_size=5, unique=True),
    cuts=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_renames_on_the_source_give_the_destination_the_final_names_would(
    tmp_path_factory: Any, monkeypatch: Any, chosen: list[int], cuts: list[bool]
) -> None:
    monkeypatch.setenv("SOURCE_OCTOPUS_API_KEY", API_KEY)
    monkeypatch.setenv("PROD_OCTOPUS_API_KEY", API_KEY)
    renames = [RENAMES[i] for i in sorted(chosen)]
    tmp = tmp_path_factory.mktemp("renames")
    with (
        running_emulator(seed=SAMPLES / "source.yaml", id_offset=1000) as source,
        running_emulator(seed=SAMPLES / "destination.yaml", id_offset=5000) as destination,
    ):
        repo = init_repo(tmp / "a", source, destination)
        export_with_overlay(repo, OVERLAY)
        run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
        batch: list[tuple[str, str, str]] = []
        for index, rename in enumerate(renames):
            batch.append(rename)
            if index == len(renames) - 1 or cuts[index]:
                _apply(source, batch)
                batch = []
                run_cli("export", "--repo", str(repo))
                run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
        plan = run_cli("plan", "--target", "prod", "--repo", str(repo), "--detailed-exitcode")
        assert plan.exit_code == 0
        followed = _destination(tmp / "a-read", destination)

    with (
        running_emulator(seed=SAMPLES / "source.yaml", id_offset=2000) as source,
        running_emulator(seed=SAMPLES / "destination.yaml", id_offset=6000) as destination,
    ):
        _apply(source, renames)
        repo = init_repo(tmp / "b", source, destination)
        export_with_overlay(repo, _with_names(OVERLAY, renames))
        run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
        expected = _destination(tmp / "b-read", destination)
    assert followed == expected
