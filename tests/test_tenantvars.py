"""Tenant variables in normal form (pure): one shape for the legacy and the scoped API."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from snapshotsync import tenantvars
from snapshotsync.model import SENSITIVE

SECRET = dict(SENSITIVE)


def _doc(kind: str, owner: str, template: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {kind: {owner: {template: list(entries)}}}


def test_a_value_per_environment_and_one_value_for_several_read_the_same() -> None:
    legacy = tenantvars.canonical(
        [
            {"Environments": ["Staging"], "Value": "db"},
            {"Environments": ["Production"], "Value": "db"},
            {"Environments": ["Test"], "Value": "db-test"},
        ]
    )
    scoped = tenantvars.canonical(
        [
            {"Environments": ["Production", "Staging"], "Value": "db"},
            {"Environments": ["Test"], "Value": "db-test"},
        ]
    )
    assert (
        legacy
        == scoped
        == [
            {"Environments": ["Production", "Staging"], "Value": "db"},
            {"Environments": ["Test"], "Value": "db-test"},
        ]
    )


def test_secrets_are_never_merged_their_values_are_unknown() -> None:
    entries = [
        {"Environments": ["Staging"], "Value": SECRET},
        {"Environments": ["Production"], "Value": SECRET},
    ]
    assert tenantvars.canonical(entries) == [
        {"Environments": ["Production"], "Value": SECRET},
        {"Environments": ["Staging"], "Value": SECRET},
    ]


def test_values_the_destination_covers_however_split_are_left_alone() -> None:
    desired = _doc(
        "ProjectVariables",
        "Web",
        "Db",
        {"Environments": ["Production", "Staging"], "Value": SECRET},
    )
    live = _doc(
        "ProjectVariables",
        "web",
        "db",
        {"Environments": ["Staging"], "Value": SECRET},
        {"Environments": ["Production"], "Value": SECRET},
    )
    merged = tenantvars.merge(desired, live, overwrite=True)
    assert merged.document == tenantvars.document(live)
    assert merged.added_secrets == ()


def test_only_the_uncovered_environments_get_a_value_and_a_secret_a_placeholder() -> None:
    desired = _doc(
        "ProjectVariables",
        "Web",
        "Db",
        {"Environments": ["Production", "Staging"], "Value": SECRET},
    )
    live = _doc("ProjectVariables", "Web", "Db", {"Environments": ["Staging"], "Value": SECRET})
    merged = tenantvars.merge(desired, live, overwrite=False)
    assert merged.document["ProjectVariables"]["Web"]["Db"] == [
        {"Environments": ["Production"], "Value": SECRET},
        {"Environments": ["Staging"], "Value": SECRET},
    ]
    assert [(v.environment, v.value) for v in merged.added_secrets] == [("Production", SECRET)]


def test_a_different_value_of_the_same_scope_is_overwritten_only_when_allowed() -> None:
    desired = _doc("CommonVariables", "Settings", "Alias", {"Value": "new"})
    live = _doc("CommonVariables", "Settings", "Alias", {"Value": "old"})
    kept = tenantvars.merge(desired, live, overwrite=False).document
    assert kept == live
    replaced = tenantvars.merge(desired, live, overwrite=True).document
    assert replaced == _doc("CommonVariables", "Settings", "Alias", {"Value": "new"})
    secret_live = _doc("CommonVariables", "Settings", "Alias", {"Value": SECRET})
    assert tenantvars.merge(desired, secret_live, overwrite=True).document == secret_live


def test_a_legacy_destination_gets_per_environment_values_and_never_a_wider_scope() -> None:
    desired = {
        **_doc(
            "ProjectVariables",
            "Web",
            "Db",
            {"Value": "default"},
            {"Environments": ["Production"], "Value": "prod"},
        ),
        **_doc(
            "CommonVariables", "Settings", "Alias", {"Environments": ["Production"], "Value": "p"}
        ),
    }
    lowered, notes = tenantvars.for_legacy(desired, {"Web": ["Production", "Staging"]})
    assert lowered == _doc(
        "ProjectVariables",
        "Web",
        "Db",
        {"Environments": ["Production"], "Value": "prod"},
        {"Environments": ["Staging"], "Value": "default"},
    )
    assert notes == [
        "Settings Alias [Production]: the destination keeps common variables unscoped only "
        "(Octopus before 2025.2): left out"
    ]


# A template's values on a real server never overlap in scope: one value per environment,
# and at most one unscoped (None).
ENTRIES = st.dictionaries(
    st.sampled_from([None, "Dev", "Test", "Staging", "Production"]),
    st.one_of(st.sampled_from(["a", "b", ""]), st.just(SECRET)),
    max_size=4,
).map(
    lambda values: [
        {"Environments": [env], "Value": value} if env else {"Value": value}
        for env, value in values.items()
    ]
)


@given(ENTRIES, ENTRIES, st.sampled_from([True, False, None]))
def test_merging_keeps_every_destination_value_and_is_idempotent(
    desired_entries: list[dict[str, Any]],
    live_entries: list[dict[str, Any]],
    overwrite: bool | None,
) -> None:
    desired = tenantvars.document(_doc("ProjectVariables", "Web", "Db", *desired_entries))
    live = tenantvars.document(_doc("ProjectVariables", "Web", "Db", *live_entries))
    once = tenantvars.merge(desired, live, overwrite=overwrite).document
    covered_before = {
        e for entry in tenantvars.entries(live) for e in tenantvars.environments(entry[3])
    }
    covered_after = {
        e for entry in tenantvars.entries(once) for e in tenantvars.environments(entry[3])
    }
    assert covered_before <= covered_after
    live_secrets = [e for *_, e in tenantvars.entries(live) if e["Value"] == SECRET]
    after_entries = [e for *_, e in tenantvars.entries(once)]
    for secret in live_secrets:  # a secret on the destination is never touched
        assert secret in after_entries
    assert tenantvars.merge(desired, once, overwrite=overwrite).document == once


@given(ENTRIES, ENTRIES, ENTRIES, st.sampled_from([True, False, None]))
def test_three_way_keeps_hand_edits_and_the_destinations_own_values_and_settles(
    base_entries: list[dict[str, Any]],
    desired_entries: list[dict[str, Any]],
    live_entries: list[dict[str, Any]],
    overwrite: bool | None,
) -> None:
    base = tenantvars.document(_doc("ProjectVariables", "Web", "Db", *base_entries))
    desired = tenantvars.document(_doc("ProjectVariables", "Web", "Db", *desired_entries))
    live = tenantvars.document(_doc("ProjectVariables", "Web", "Db", *live_entries))
    merged = tenantvars.merge(desired, live, overwrite=overwrite, base=base)
    written = tenantvars.per_environment(base)
    result = tenantvars.per_environment(merged.document)
    for key, value in tenantvars.per_environment(live).items():
        ours = written.get(key)
        if ours is None:
            assert key in result  # the destination's own: never removed
        elif ours.value != value.value and overwrite is not True:
            assert result[key].value == value.value  # changed by hand: kept as it is
    again = tenantvars.merge(desired, merged.document, overwrite=overwrite, base=merged.base)
    assert again.document == merged.document
    assert [o.action for o in again.outcomes if o.action not in ("conflict", "keep")] == []
