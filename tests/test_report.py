"""The text of plans: what a reviewer reads."""

from __future__ import annotations

from snapshotsync.report import diff_lines


def test_a_changed_script_is_a_unified_diff_not_a_truncated_pair() -> None:
    old = "set -e\n" + "".join(f"step {i}\n" for i in range(20)) + 'echo "done"\n'
    new = old.replace('echo "done"', 'echo "all done"')
    path = ["Steps", 0, "Actions", 0, "Properties", "Octopus.Action.Script.ScriptBody"]
    lines = diff_lines((("change", path, (old, new)),))
    assert lines[0] == "~ Steps.0.Actions.0.Properties.Octopus.Action.Script.ScriptBody:"
    assert '    -echo "done"' in lines and '    +echo "all done"' in lines
    assert "    @@ -19,4 +19,4 @@" in lines
    assert not any("..." in line for line in lines)


def test_a_one_line_change_stays_on_one_line() -> None:
    assert diff_lines((("change", "Description", ("a", "b")),)) == ['~ Description: "a" -> "b"']
