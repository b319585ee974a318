"""The version guard counts Octopus releases (`year.release`): the last release of a year and
the first of the next are adjacent, not "across major versions"."""

from __future__ import annotations

import pytest

from snapshotsync.versions import version_skew


@pytest.mark.parametrize(
    ("source", "destination"),
    [
        ("2024.4.7000", "2025.1.2000"),  # the last release of 2024, then the first of 2025
        ("2025.1.2000", "2024.4.7000"),  # either way round
        ("2020.6.100", "2021.1.100"),
        ("2024.2.9000", "2024.3.1"),
        ("2025.4.1", "2026.1.1"),  # later years: four releases a year, as since 2022
    ],
)
def test_adjacent_releases_sync(source: str, destination: str) -> None:
    assert version_skew(source, destination) is None


@pytest.mark.parametrize(
    ("source", "destination", "words"),
    [
        ("2024.3.1", "2025.1.2000", "2 releases apart"),
        ("2024.2.9000", "2024.4.100", "more than one minor version apart"),
        ("2020.6.1", "2021.3.1", "3 releases apart"),
        ("2019.13.1", "2020.1.1", "cannot tell how many releases apart"),
        ("4.1.0", "2018.1.0", "never sync across major versions"),
    ],
)
def test_releases_further_apart_are_refused(source: str, destination: str, words: str) -> None:
    reason = version_skew(source, destination)
    assert reason is not None and words in reason
