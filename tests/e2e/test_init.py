"""`snapshotsync init --discover` against two emulators: the overlay starts from the names
both instances share, and validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapshotsync import overlay
from tests.helpers import API_KEY, SOURCE_KEY_ENV, Emulator, git, run_cli


def _init(tmp_path: Path, source: Emulator, destination: Emulator, *extra: str) -> Path:
    repo = tmp_path / "sync"
    run_cli(
        "init",
        str(repo),
        "--source-url",
        source.url,
        "--target",
        f"prod={destination.url}",
        *extra,
    )
    return repo


def test_discover_maps_the_environments_both_sides_share_in_the_destinations_spelling(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SOURCE_KEY_ENV, API_KEY)
    monkeypatch.setenv("PROD_OCTOPUS_API_KEY", API_KEY)
    # The destination spells one shared name differently: matching is case-insensitive and
    # the mapping must name the destination's environment as the destination spells it.
    destination_emulator.create("environments", {"Name": "test"})
    destination_emulator.create("environments", {"Name": "DR Site"})  # destination only
    repo = _init(tmp_path, source_emulator, destination_emulator, "--discover")

    loaded, warnings = overlay.load(repo / "overlays" / "prod.yaml")
    assert dict(loaded.environments) == {
        "Test": "test",
        "Staging": "Staging",
        "Production": "Production",
    }
    assert warnings == []
    text = (repo / "overlays" / "prod.yaml").read_text()
    assert "# Development: not on prod, so excluded" in text
    assert "DR Site" not in text
    assert git(repo, "status", "--porcelain") == ""  # the first commit holds it

    # The overlay also validates against the exported snapshot (names checked too).
    run_cli("export", "--repo", str(repo))
    out = run_cli("validate", "--repo", str(repo)).stdout
    assert "overlays/prod.yaml: ok" in out and "keys only" not in out


def test_discover_without_keys_creates_the_repo_with_an_empty_mapping_and_says_why(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SOURCE_KEY_ENV, API_KEY)
    monkeypatch.delenv("PROD_OCTOPUS_API_KEY", raising=False)
    repo = _init(tmp_path, source_emulator, destination_emulator, "--discover")
    loaded, _ = overlay.load(repo / "overlays" / "prod.yaml")
    assert dict(loaded.environments) == {}
    out = (repo / "overlays" / "prod.yaml").read_text()
    assert "environments: {}" in out


def test_discover_reports_a_refused_key_and_writes_no_key_anywhere(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SOURCE_KEY_ENV, API_KEY)
    monkeypatch.setenv("PROD_OCTOPUS_API_KEY", "API-WRONGKEY00000000000000000")
    repo = tmp_path / "sync"
    result = run_cli(
        "init",
        str(repo),
        "--source-url",
        source_emulator.url,
        "--target",
        f"prod={destination_emulator.url}",
        "--discover",
    )
    assert "401" in result.stdout and "overlays/prod.yaml is left empty" in result.stdout
    assert "API-WRONGKEY" not in result.stdout + result.stderr
    for path in repo.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            assert API_KEY not in path.read_text()
