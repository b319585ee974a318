"""`report.plan_markdown`: Markdown that survives whatever names and values hold."""

from __future__ import annotations

from markdown_it import MarkdownIt

from snapshotsync import log, report
from snapshotsync.merge import ValueAction
from snapshotsync.model import SENSITIVE, ResourceKey
from snapshotsync.plan import Change, Placeholder, Plan
from snapshotsync.report import diff_lines
from snapshotsync.transform import Decision


def _plan() -> Plan:
    key = ResourceKey("project-variables", ("Pay|ments <b>",))
    secret = "s3cr3t-from-env-4711"
    log.register_secret(secret)  # as overlay.expand_env does for `${env:...}` values
    values = (
        ValueAction("add", "Script", None, {"Name": "Script", "Value": "a ``` fence ```` inside"}),
        ValueAction("add", "Db.Password", None, {"Name": "Db.Password", "Value": secret}),
        ValueAction(
            "add",
            "Api.Key",
            None,
            {"Name": "Api.Key", "Value": dict(SENSITIVE), "Type": "Sensitive"},
        ),
        ValueAction(
            "overwrite",
            "Url",
            {"Name": "Url", "Value": "old"},
            {"Name": "Url", "Value": "new"},
            "overwrite: true",
        ),
    )
    return Plan(
        "prod",
        (
            Change("update", key, {}, {}, values=values),
            Change(
                "create",
                ResourceKey("feeds", ("Docker",)),
                None,
                {"Name": "Docker", "Password": dict(SENSITIVE)},
            ),
            Change("same", ResourceKey("environments", ("Staging",)), {}, {}),
        ),
        (Decision("tenants A|B", "excluded by the overlay"),),
        (Placeholder(ResourceKey("feeds", ("Docker",)), "Password", "secret | placeholder"),),
    )


def test_markdown_escapes_names_fences_and_table_cells() -> None:
    text = report.plan_markdown(_plan())
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    tokens = md.parse(text)
    fences = [t for t in tokens if t.type == "fence"]
    # A value holding backticks cannot close the block early: one block a resource.
    assert len(fences) == 2
    assert "a ``` fence ```` inside" in fences[0].content
    assert "<summary><code>~ update</code> project-variables Pay|ments &lt;b&gt;</summary>" in text
    assert "| feeds Docker | Password | secret \\| placeholder |" in text
    rendered = md.render(text)
    assert rendered.count("<tr>") == 1 + 3 + 1 + 1  # header + 3 kinds, header + 1 placeholder
    assert "- tenants A\\|B: excluded by the overlay" in text


def test_markdown_masks_secrets_and_values_from_the_environment() -> None:
    text = report.plan_markdown(_plan())
    assert "s3cr3t-from-env-4711" not in text
    assert "Db.Password = <sensitive>" in text and "Api.Key = <sensitive>" in text
    assert '+ Password: "<sensitive>"' in text
    assert "! overwrite    Url = 'new'   (was: Url = 'old')   (overwrite: true)" in text
    assert text.startswith("### snapshotsync plan for `prod`\n\n**Changes to push.** 1 to create")


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
