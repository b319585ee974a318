"""How far apart two Octopus versions are, for the guide's rule: sync only between
instances at most one release apart, never across major versions. Pure.
"""

from __future__ import annotations


def _major_minor(version: str) -> tuple[int, int] | None:
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


# Octopus numbers its releases `year.release` since 2018 (2024.1 ... 2024.4, then 2025.1): the
# year is not a major version, and the last release of one year and the first of the next
# are adjacent releases. How many releases each year had, as shipped (2020.1-2020.6,
# 2021.1-2021.3, 2022.1-2022.4, 2023.1-2023.4, 2024.1-2024.4); a later year is taken to have
# four, the cadence since 2022 (not confirmed from a published list).
RELEASES_IN_YEAR = {2020: 6, 2021: 3, 2022: 4, 2023: 4, 2024: 4}
USUAL_RELEASES_IN_YEAR = 4
FIRST_YEAR_VERSION = 2018  # 2018.1 followed 4.x; earlier versions are major.minor


def releases_apart(older: tuple[int, int], newer: tuple[int, int]) -> int | None:
    """How many releases `newer` is after `older` (both year.release, older first), or None
    when the count depends on years whose releases are not known."""
    if older[0] == newer[0]:
        return newer[1] - older[1]
    count = newer[1]  # releases of the newer year, up to it
    for year in range(older[0], newer[0]):
        total = RELEASES_IN_YEAR.get(year)
        if total is None:
            if year < min(RELEASES_IN_YEAR):
                return None
            total = USUAL_RELEASES_IN_YEAR
        count += total - (older[1] if year == older[0] else 0)
    return count


def version_skew(source: str, destination: str) -> str | None:
    """Why two versions are too far apart to sync (the guide's rule: at most one release
    apart, never across major versions), or None."""
    a, b = _major_minor(source), _major_minor(destination)
    if a is None or b is None:
        return f"cannot compare Octopus versions {source!r} and {destination!r}"
    both = f"the source runs Octopus {source} and the destination {destination}"
    if min(a[0], b[0]) < FIRST_YEAR_VERSION:
        if a[0] != b[0]:
            return f"{both}: never sync across major versions (the data model changes)"
        apart: int | None = abs(a[1] - b[1])
    else:
        apart = releases_apart(min(a, b), max(a, b))
    if apart is None:
        return f"{both}: cannot tell how many releases apart they are; upgrade one of them first"
    if apart > 1:
        return (
            f"{both}: {apart} releases apart, more than one minor version apart (Octopus "
            "versions are year.release); upgrade one of them first"
        )
    return None
