"""Pruning (pure): what snapshotsync created that the source no longer has."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from snapshotsync.model import ResourceKey, Snapshot
from snapshotsync.prune import orphans

WHOLE = frozenset({"projects", "channels", "lifecycles", "environments", "tenants"})


def _snapshot(*items: tuple[str, tuple[str, ...], dict[str, Any]]) -> Snapshot:
    return Snapshot({ResourceKey(kind, name): document for kind, name, document in items})


def _orphans(
    live: Snapshot, base: Snapshot, created: set[ResourceKey], prune: bool = True
) -> tuple[dict[ResourceKey, tuple[str, str]], list[ResourceKey]]:
    found, dropped = orphans(
        _snapshot(),
        live,
        base,
        frozenset(created),
        whole=WHOLE,
        prune=prune,
        comparable=lambda document: document,
    )
    return {o.key: (o.action, o.reason) for o in found}, dropped


PROJECT = ResourceKey("projects", ("Reporting",))
REPORTING = ("projects", ("Reporting",), {"Name": "Reporting", "LifecycleId": "Old"})


def test_only_what_snapshotsync_created_and_nobody_changed_is_deleted_and_only_with_prune() -> None:
    live = _snapshot(REPORTING)
    found, dropped = _orphans(live, live, {PROJECT}, prune=False)
    assert found[PROJECT][0] == "orphan" and "push --prune deletes it" in found[PROJECT][1]
    assert dropped == []
    found, dropped = _orphans(live, live, {PROJECT})
    assert found[PROJECT][0] == "delete" and dropped == [PROJECT]


def test_what_snapshotsync_did_not_create_is_never_deleted_and_stops_being_its() -> None:
    live = _snapshot(REPORTING)
    found, dropped = _orphans(live, live, set())
    assert found[PROJECT][0] == "orphan" and "destination's own" in found[PROJECT][1]
    assert dropped == [PROJECT]


def test_a_resource_changed_by_hand_since_is_never_deleted() -> None:
    base = _snapshot(REPORTING)
    live = _snapshot(("projects", ("Reporting",), {"Name": "Reporting", "LifecycleId": "New"}))
    found, _ = _orphans(live, base, {PROJECT})
    assert found[PROJECT][0] == "orphan" and "changed by hand" in found[PROJECT][1]


def test_a_resource_still_used_on_the_destination_is_never_deleted() -> None:
    lifecycle = ResourceKey("lifecycles", ("Old",))
    base = _snapshot(("lifecycles", ("Old",), {"Name": "Old"}))
    live = _snapshot(("lifecycles", ("Old",), {"Name": "Old"}), REPORTING)
    found, _ = _orphans(live, base, {lifecycle})
    assert found[lifecycle][0] == "orphan" and "projects Reporting" in found[lifecycle][1]


def test_environments_are_never_deleted_and_children_go_with_their_project() -> None:
    environment = ResourceKey("environments", ("Preview",))
    channel = ResourceKey("channels", ("Reporting", "Hotfix"))
    process = ResourceKey("deployment-processes", ("Reporting",))
    base = _snapshot(
        ("environments", ("Preview",), {"Name": "Preview"}),
        REPORTING,
        ("channels", ("Reporting", "Hotfix"), {"Name": "Hotfix"}),
        ("deployment-processes", ("Reporting",), {"Steps": []}),
    )
    found, dropped = _orphans(base, base, {environment, PROJECT, channel})
    assert found[environment][0] == "orphan" and "never deleted" in found[environment][1]
    assert found[PROJECT][0] == "delete"
    assert channel not in found and {channel, process} <= set(dropped)


_PARTS = [
    ResourceKey("deployment-processes", ("Reporting",)),
    ResourceKey("project-variables", ("Reporting",)),
    ResourceKey("channels", ("Reporting", "Default")),
    ResourceKey("runbooks", ("Reporting", "Rebuild")),
    ResourceKey("triggers", ("Reporting", "Nightly")),
]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(_PARTS),
            st.sampled_from(["in both", "changed by hand", "added by hand"]),
        ),
        unique_by=lambda pair: pair[0],
    )
)
def test_prune_never_deletes_a_project_with_a_part_outside_the_base(
    parts: list[tuple[ResourceKey, str]],
) -> None:
    """Whatever parts a project has on the destination, it is deleted only when every one
    of them is what the last push wrote."""
    live = {PROJECT: dict(REPORTING[2])}
    base = {PROJECT: dict(REPORTING[2])}
    for key, how in parts:
        written = {"Name": key.name[-1], "Steps": [{"Name": "A"}]}
        live[key] = (
            {**written, "Steps": [{"Name": "A"}, {"Name": "B"}]} if how != "in both" else written
        )
        if how != "added by hand":
            base[key] = written
    found, _ = _orphans(Snapshot(live), Snapshot(base), {PROJECT})
    touched = any(how != "in both" for _, how in parts)
    assert found[PROJECT][0] == ("orphan" if touched else "delete")
    if touched:
        assert "never deleted" in found[PROJECT][1]
