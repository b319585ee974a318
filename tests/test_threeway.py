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


# ------------------------------------------------------------------ key by key (merge)

_scalars = st.one_of(st.integers(0, 3), st.sampled_from(["a", "b", "c"]))
_step_names = st.sampled_from(["Deploy", "Migrate", "Notify"])


def _documents() -> st.SearchStrategy[dict[str, object]]:
    step = st.builds(
        lambda name, props: {"Name": name, **props},
        _step_names,
        st.dictionaries(st.sampled_from(["Roles", "Script", "Timeout"]), _scalars, max_size=3),
    )
    steps = st.lists(step, max_size=3, unique_by=lambda s: str(s["Name"]).lower())
    return st.fixed_dictionaries(
        {},
        optional={
            "Description": _scalars,
            "Properties": st.dictionaries(st.sampled_from(["x", "y", "z"]), _scalars, max_size=3),
            "Steps": steps,
        },
    )


def _at(document: object, path: tuple[object, ...]) -> object:
    for part in path:
        if isinstance(document, dict):
            document = document.get(part, threeway.MISSING)
        elif isinstance(document, list):
            document = next(
                (i for i in document if isinstance(i, dict) and i.get("Name") == part),
                threeway.MISSING,
            )
        else:
            return threeway.MISSING
    return document


@given(_documents(), _documents(), _documents())
def test_merge_settles_after_one_push(
    base: dict[str, object], live: dict[str, object], desired: dict[str, object]
) -> None:
    """After a push that wrote the merged document, the next plan writes nothing."""
    first = threeway.merge(base, live, desired)
    again = threeway.merge(first.record, first.document, desired)
    assert again.document == first.document
    # What a person changed is still reported as theirs, push after push.
    assert set(again.kept) == set(first.kept)
    assert set(again.conflicts) == set(first.conflicts)


@given(_documents(), _documents())
def test_merge_of_an_untouched_destination_is_the_desired_document(
    base: dict[str, object], desired: dict[str, object]
) -> None:
    """Nothing changed by hand: keys the source dropped go, keys it changed follow."""
    merged = threeway.merge(base, base, desired)
    assert merged.document == desired
    assert merged.record == desired
    assert (merged.kept, merged.conflicts) == ((), ())


@given(_documents(), _documents(), _documents())
def test_merge_never_loses_a_hand_edit_without_force(
    base: dict[str, object], live: dict[str, object], desired: dict[str, object]
) -> None:
    merged = threeway.merge(base, live, desired)
    for path in (*merged.kept, *merged.conflicts):
        assert _at(merged.document, path) == _at(live, path)
    forced = threeway.merge(base, live, desired, force=True)
    assert (forced.kept, forced.conflicts) == ((), ())
    for key, value in desired.items():
        if not isinstance(value, dict | list):  # inside them, the destination's own stay
            assert forced.document[key] == value


def test_merge_rules_key_by_key() -> None:
    base = {"Steps": [{"Name": "S", "Roles": "web", "Timeout": 1}]}
    # The source converted the step to run on the server: its roles go.
    desired = {"Steps": [{"Name": "S", "Timeout": 1}]}
    assert threeway.merge(base, base, desired).document == desired
    # A person added a property, and changed another one, on the destination: both kept.
    live = {"Steps": [{"Name": "S", "Roles": "web", "Timeout": 5, "Hand": True}]}
    merged = threeway.merge(base, live, desired)
    assert merged.document == {"Steps": [{"Name": "S", "Timeout": 5, "Hand": True}]}
    assert merged.kept == (("Steps", "S", "Timeout"),)
    # ... and the source changed it too: a conflict, kept until forced.
    desired = {"Steps": [{"Name": "S", "Timeout": 2}]}
    merged = threeway.merge(base, live, desired)
    assert merged.conflicts == (("Steps", "S", "Timeout"),)
    assert threeway.merge(base, live, desired, force=True).document["Steps"][0]["Timeout"] == 2
    # A key only the destination has, never placed: left as it is, on a first sync too.
    assert threeway.merge(None, {"Own": 1}, {"A": 2}).document == {"A": 2, "Own": 1}
    # Deleted by hand since the last push: kept deleted, a conflict.
    merged = threeway.merge({"A": 1, "B": 1}, {"A": 1}, {"A": 1, "B": 2})
    assert merged.document == {"A": 1} and merged.conflicts == (("B",),)
