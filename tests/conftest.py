"""Fixtures for every test: running emulators, isolated git identity."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from tests.helpers import API_KEY, SAMPLES, SOURCE_KEY_ENV, Emulator, running_emulator

# Hypothesis's per-example deadline is a timing assertion: on a busy machine it fails tests
# that are correct. Speed is measured in benchmarks/, not here.
settings.register_profile("snapshotsync", deadline=None)
settings.load_profile("snapshotsync")


@pytest.fixture(autouse=True)
def _isolated_git(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real git, but never the developer's config or identity."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "snapshotsync tests")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "tests@snapshotsync.invalid")


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API keys the test repos' configs name, in the environment."""
    monkeypatch.setenv(SOURCE_KEY_ENV, API_KEY)
    monkeypatch.setenv("PROD_OCTOPUS_API_KEY", API_KEY)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh, empty emulator instance."""
    with running_emulator(id_offset=1000) as running:
        yield running


@pytest.fixture
def source_emulator() -> Iterator[Emulator]:
    """An emulator seeded with the sample source instance."""
    with running_emulator(seed=SAMPLES / "source.yaml", id_offset=1000) as running:
        yield running


@pytest.fixture
def destination_emulator() -> Iterator[Emulator]:
    """An emulator seeded with the sample destination instance."""
    with running_emulator(seed=SAMPLES / "destination.yaml", id_offset=5000) as running:
        yield running
