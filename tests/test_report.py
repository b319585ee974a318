"""`report.plan_markdown`: Markdown that survives whatever names and values hold."""

from __future__ import annotations

import json

from markdown_it import MarkdownIt

from snapshotsync import log, report
from snapshotsync.changes import Change, Placeholder, Plan
from snapshotsync.merge import ValueAction
from snapshotsync.model import SENSITIVE, ResourceKey, Snapshot
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


# ---------------------------------------------------------------- what each line names


def test_permission_lines_name_the_roles_granted_and_revoked() -> None:
    kept = {"UserRoleId": "Project viewer", "EnvironmentIds": [], "ProjectIds": []}
    gone = {"UserRoleId": "Project deployer", "EnvironmentIds": ["Production"], "ProjectIds": []}
    new = {"UserRoleId": "Tenant manager", "TenantIds": ["Internal"], "EnvironmentIds": []}
    change = Change(
        "update",
        ResourceKey("team-permissions", ("Release Managers",)),
        {"ScopedUserRoles": [kept, gone]},
        {"ScopedUserRoles": [kept, new]},
        values=(ValueAction("remove", "Project deployer", gone, None, "no longer given"),),
    )
    text = report.plan_text(Plan("prod", (change,)))
    lines = [line.strip() for line in text.splitlines()]
    assert "- revoke Project deployer [environments: Production]" in lines
    assert "+ grant  Tenant manager [tenants: Internal]" in lines
    assert not any(line in ("- remove", "- remove  ") for line in lines)  # no blank role
    as_json = json.loads(report.plan_json(Plan("prod", (change,))))
    assert as_json["changes"][0]["roles"] == {
        "grant": ["Tenant manager [tenants: Internal]"],
        "revoke": ["Project deployer [environments: Production]"],
    }


def test_a_removed_tenant_value_names_the_value_not_none() -> None:
    before = {"ProjectVariables": {"OctoFX": {"Tenant.Url": [{"Value": "https://old.example"}]}}}
    change = Change(
        "update",
        ResourceKey("tenant-variables", ("Acme",)),
        before,
        {},
        values=(
            ValueAction(
                "remove",
                "OctoFX Tenant.Url",
                {"Name": "OctoFX Tenant.Url", "Value": None},
                None,
                "placed by snapshotsync, gone from the source",
            ),
        ),
    )
    text = report.plan_text(Plan("prod", (change,)))
    assert "- remove OctoFX Tenant.Url = 'https://old.example'" in text
    assert "None" not in text
    as_json = json.loads(report.plan_json(Plan("prod", (change,))))
    assert as_json["changes"][0]["values"][0]["before"]["Value"] == "https://old.example"


def _step(role: str) -> dict[str, object]:
    return {
        "Name": "Deploy Web",
        "Properties": {"Octopus.Action.TargetRoles": role},
        "Actions": [{"Name": "Deploy Web", "ActionType": "Octopus.IIS"}],
    }


def test_a_conflict_shows_last_push_destination_and_source() -> None:
    key = ResourceKey("deployment-processes", ("OctoFX",))
    live = {"Steps": [_step("web-by-hand")]}
    change = Change(
        "conflict",
        key,
        live,
        live,
        values=(
            ValueAction(
                "conflict", "deploy web", _step("web-by-hand"), _step("web-v2"), "changed by hand"
            ),
        ),
    )
    base = Snapshot({key: {"Steps": [_step("web")]}})
    plan = Plan("prod", (change,))
    text = report.plan_text(plan, base=base)
    assert (
        'Properties.Octopus.Action.TargetRoles: last push "web", destination "web-by-hand", '
        'source "web-v2"'
    ) in text
    markdown = report.plan_markdown(plan, base=base)
    assert 'last push "web", destination "web-by-hand", source "web-v2"' in markdown
    value = json.loads(report.plan_json(plan, base=base))["changes"][0]["values"][0]
    assert value["base"]["Properties"] == {"Octopus.Action.TargetRoles": "web"}


# ---------------------------------------------------------------- quiet and bounded


def _many(count: int) -> Plan:
    changes = tuple(
        Change(
            "create",
            ResourceKey("projects", (f"Project {n:03}",)),
            None,
            {"Name": f"Project {n:03}", "Description": "x" * 200},
        )
        for n in range(count)
    )
    skip = Change("skip", ResourceKey("environments", ("Production",)), {}, {}, reason="own")
    decisions = tuple(Decision(f"tenants T{n}", "excluded by the overlay") for n in range(300))
    return Plan("prod", (*changes, skip), decisions)


def test_markdown_degrades_collapse_then_summarise_then_truncate() -> None:
    plan = _many(40)
    full = report.plan_markdown(plan, budget=10**7)
    assert "- tenants T299: excluded by the overlay" in full
    assert "<summary><code>+ create</code> projects Project 000</summary>" in full

    # 1. collapse: the decisions become counts, every resource keeps its details.
    collapsed = report.plan_markdown(plan, budget=len(full) - 1)
    assert "- tenants: 300" in collapsed and "T299" not in collapsed
    assert "<summary><code>+ create</code> projects Project 039</summary>" in collapsed

    # 2. summarise: one line a resource.
    summarised = report.plan_markdown(plan, budget=len(collapsed) - 1)
    assert "<details>\n<summary><code>" not in summarised
    assert "- <code>+ create</code> projects Project 039" in summarised

    # 3. truncate, pointing to the full plan.
    cut = report.plan_markdown(plan, budget=len(summarised) // 2, full_plan="plan-prod.txt")
    assert len(cut) <= len(summarised) // 2
    assert "- <code>+ create</code> projects Project 000" in cut
    assert cut.rstrip().endswith(
        "more changes are not listed here (too long for a comment): the full plan is in "
        "`plan-prod.txt`.**"
    )
    for text in (full, collapsed, summarised, cut):
        md = MarkdownIt("commonmark", {"html": True}).enable("table")
        assert md.render(text).count("<table>") == 1


def test_a_quiet_text_plan_is_one_line_and_verbose_lists_everything() -> None:
    plan = Plan(
        "prod",
        (
            Change("same", ResourceKey("projects", ("A",)), {}, {}),
            Change("skip", ResourceKey("environments", ("Production",)), {}, {}, reason="own"),
        ),
        (Decision("tenants T", "excluded by the overlay"),),
    )
    assert report.plan_text(plan) == (
        "No changes. Target prod is up to date (1 unchanged, 1 left alone, 1 decisions by the "
        "overlay: --verbose lists them)."
    )
    verbose = report.plan_text(plan, verbose=True)
    assert "= leave  environments Production  (own)" in verbose
    assert "  - tenants T: excluded by the overlay" in verbose
