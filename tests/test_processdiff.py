"""`processdiff`: a process's steps matched by name, renames and moves told apart."""

from __future__ import annotations

from typing import Any

from snapshotsync.processdiff import step_changes, step_summary


def _step(name: str, script: str = "echo hi", kind: str = "Octopus.Script") -> dict[str, Any]:
    return {
        "Name": name,
        "Properties": {},
        "Actions": [{"Name": name, "ActionType": kind, "Properties": {"Script": script}}],
    }


def _process(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"Steps": list(steps)}


def _said(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c.action, c.step) for c in step_changes(before, after)]


def test_a_removed_step_is_one_removal_not_every_later_step_changed() -> None:
    before = _process(_step("A", "a"), _step("B", "b"), _step("C", "c"), _step("D", "d"))
    after = _process(_step("A", "a"), _step("C", "c"), _step("D", "d"))
    assert _said(before, after) == [("remove", "B")]


def test_renames_exact_and_with_a_small_change() -> None:
    script = "\n".join(f"line {n}" for n in range(40))
    before = _process(_step("Old", script), _step("Keep", "k"))
    after = _process(_step("New", script.replace("line 7", "line seven")), _step("Keep", "k"))
    changes = step_changes(before, after)
    first = changes[0]
    assert (first.action, first.step, first.old_name) == ("rename", "New", "Old")
    field = changes[1]
    assert (field.action, field.action_name, field.path) == (
        "change",
        "New",
        ("Properties", "Script"),
    )


def test_steps_of_another_kind_are_never_read_as_a_rename() -> None:
    before = _process(_step("Old"))
    after = _process(_step("New", kind="Octopus.Manual"))
    assert _said(before, after) == [("remove", "Old"), ("add", "New")]


def test_only_the_step_that_moved_is_a_move() -> None:
    before = _process(*(_step(n, n) for n in "ABCDE"))
    after = _process(*(_step(n, n) for n in "ABDEC"))
    changes = step_changes(before, after)
    assert [(c.action, c.step, c.after) for c in changes] == [("move", "C", "E")]


def test_actions_added_and_removed_inside_a_step() -> None:
    old = _step("S")
    new = _step("S")
    new["Actions"] = [*new["Actions"], {"Name": "Second", "ActionType": "Octopus.Manual"}]
    changes = step_changes(_process(old), _process(new))
    assert [(c.action, c.action_name, c.new is not None) for c in changes] == [
        ("change", "Second", True)
    ]


def test_a_step_summary_names_scope_packages_and_template() -> None:
    step = {
        "Name": "Deploy",
        "Properties": {"Octopus.Action.TargetRoles": "web"},
        "Actions": [
            {
                "Name": "Deploy",
                "ActionType": "Octopus.IIS",
                "Environments": ["Production"],
                "Channels": ["Hotfix"],
                "Properties": {"Octopus.Action.Template.Id": "Notify Slack"},
                "Packages": [{"PackageId": "Web", "FeedId": "NuGet"}],
            }
        ],
    }
    assert step_summary(step) == [
        "roles: web",
        "action Deploy (Octopus.IIS): environments Production; channels Hotfix; "
        "template Notify Slack; package Web from NuGet",
    ]
