"""The three-way rules (pure): base (what snapshotsync wrote), live, desired."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from snapshotsync import threeway
from snapshotsync.threeway import CONFLICT, CREATE, KEEP, OWN, REMOVE, SAME, UPDATE, decide


def test_the_rules_of_the_issue_one_by_one() -> None:
    assert decide(None, None, "new").verdict == CREATE
    assert decide("v1", None, "v2").verdict == CREATE  # deleted by hand, still desired
    assert decide("v1", "v1", "v2").verdict == UPDATE  # ours, untouched: follows the source
    assert decide("v1", "v1", None).verdict == REMOVE  # ours, untouched, source dropped it
    assert decide("v1", "hand", "v2").verdict == CONFLICT
    assert decide("v1", "hand", "v2", force=True).verdict == UPDATE
    assert decide("v1", "hand", None).verdict == KEEP
    assert decide("v1", "hand", None, force=True).verdict == REMOVE
    assert decide(None, "theirs", None).verdict == OWN
    assert decide(None, "theirs", "ours").verdict == UPDATE  # a first sync takes it over
    assert decide("v1", "v2", "v2").verdict == SAME


def test_by_name_decides_every_item_once() -> None:
    verdicts = threeway.by_name(
        {"a": 1, "b": 1, "c": 1},
        {"a": 1, "b": 2, "d": 1},
        {"a": 2, "b": 3, "e": 1},
    )
    assert {v.name: v.verdict for v in verdicts} == {
        "a": UPDATE,
        "b": CONFLICT,
        "c": SAME,  # ours, gone from the destination and from the source: nothing to do
        "d": OWN,
        "e": CREATE,
    }


VERSIONS = st.one_of(st.none(), st.sampled_from(["v1", "v2", "v3"]))


@given(VERSIONS, VERSIONS, VERSIONS, st.booleans())
def test_never_loses_a_hand_edit_or_a_destination_item_and_settles(
    base: str | None, live: str | None, desired: str | None, force: bool
) -> None:
    verdict = decide(base, live, desired, force=force)
    if not force and live is not None and base is not None and live != base:
        assert verdict.result == live  # changed by hand: kept as it is
    if live is not None and base is None and desired is None:
        assert verdict.verdict == OWN and verdict.result == live
    # Once done, the next comparison (the result recorded as base) has nothing left to do,
    # except what a person changed and the sync keeps reporting.
    recorded = verdict.result if verdict.verdict in (CREATE, UPDATE, SAME) else base
    again = decide(recorded, verdict.result, desired, force=force)
    assert again.verdict in (SAME, OWN, CONFLICT, KEEP)
    assert again.result == verdict.result
