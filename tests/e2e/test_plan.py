"""`plan` end to end: the guide's worked examples between two emulator instances.

Source: the sample with Development/Test/Staging/Production. Destination: the sample with
Staging/Production only. The overlay is the guide's: map Staging and Production, exclude
the tenant "Development Team A", the QA lifecycle and the OctoFX/QA channel.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from snapshotsync.commands.demo import CHANGED_VARIABLES
from snapshotsync.commands.demo import OVERLAY as GUIDE_OVERLAY
from snapshotsync.emulator.seed import load
from snapshotsync.errors import ExitCode
from tests.helpers import Emulator, export_with_overlay, init_repo, run_cli

# The guide's overlay, as the demo uses it, with the new-out-of-scope policy left open.
OVERLAY = GUIDE_OVERLAY.replace("new-out-of-scope: clone", "new-out-of-scope: NEW_OUT_OF_SCOPE")
assert "NEW_OUT_OF_SCOPE" in OVERLAY


def _repo(
    tmp_path: Path,
    source: Emulator,
    destination: Emulator,
    mode: str = "clone",
    overlay: str = OVERLAY,
) -> Path:
    repo = init_repo(tmp_path, source, destination)
    export_with_overlay(repo, overlay.replace("NEW_OUT_OF_SCOPE", mode))
    return repo


def _plan(repo: Path, expect: int = 0) -> dict[str, Any]:
    out = run_cli(
        "plan", "--target", "prod", "--repo", str(repo), "--output", "json", expect=expect
    ).stdout
    return dict(json.loads(out))


def _change(plan: dict[str, Any], kind: str, *name: str) -> dict[str, Any] | None:
    return next((c for c in plan["changes"] if c["kind"] == kind and c["name"] == list(name)), None)


def _values(change: dict[str, Any], action: str, name: str) -> list[dict[str, Any]]:
    return [v for v in change["values"] if v["action"] == action and v["name"] == name]


def test_tenants_internal_gets_staging_and_production_team_a_is_left_out(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    plan = _plan(_repo(tmp_path, source_emulator, destination_emulator))
    internal = _change(plan, "tenants", "Internal")
    assert internal is not None and internal["action"] == "create"
    assert [c["name"] for c in plan["changes"] if c["kind"] == "tenants"] == [["Internal"]]
    assert _change(plan, "tenants", "Development Team A") is None
    assert _change(plan, "tenant-variables", "Development Team A") is None
    tenant_variables = _change(plan, "tenant-variables", "Internal")
    assert tenant_variables is not None
    decisions = [d["where"] + ": " + d["message"] for d in plan["decisions"]]
    assert "tenants Development Team A: excluded by the overlay" in decisions
    assert "tenants Internal: project 'OctoFX' loses environments Development, Test" in decisions


def test_tenant_links_and_variables_carry_only_mapped_environments(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    plan = _plan(_repo(tmp_path, source_emulator, destination_emulator))
    tenant = _change(plan, "tenants", "Internal")
    assert tenant is not None
    assert tenant["after"]["ProjectEnvironments"] == {"OctoFX": ["Production", "Staging"]}
    variables = _change(plan, "tenant-variables", "Internal")
    assert variables is not None
    assert variables["after"]["ProjectVariables"] == {
        "OctoFX": {
            "Tenant.Database.Server": [
                {"Environments": ["Production"], "Value": "sql-prod.internal"},
                {"Environments": ["Staging"], "Value": "sql-staging.internal"},
            ]
        }
    }
    assert variables["after"]["CommonVariables"] == {
        "Common Settings": {"Tenant.Alias": [{"Value": "internal"}]}
    }


def test_qa_lifecycle_channel_step_and_value_are_excluded_together(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    plan = _plan(_repo(tmp_path, source_emulator, destination_emulator))
    assert _change(plan, "lifecycles", "QA") is None
    assert _change(plan, "channels", "OctoFX", "QA") is None
    assert _change(plan, "channels", "OctoFX", "Default")["action"] == "create"  # type: ignore[index]
    decisions = {d["where"]: d["message"] for d in plan["decisions"]}
    assert decisions["deployment-processes OctoFX step QA Sign-off"].startswith(
        "scoped only to excluded channels (QA)"
    )
    assert decisions["project-variables OctoFX QA.Dashboard.Url"].startswith(
        "scoped only to excluded channels"
    )
    variables = _change(plan, "project-variables", "OctoFX")
    assert variables is not None
    assert not [v for v in variables["values"] if v["name"] == "QA.Dashboard.Url"]


@pytest.mark.parametrize("mode", ["clone", "placeholder", "skip"])
def test_initial_sync_of_environment_scoped_values_follows_new_out_of_scope(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    keys: None,
    mode: str,
) -> None:
    plan = _plan(_repo(tmp_path, source_emulator, destination_emulator, mode))
    variables = _change(plan, "project-variables", "OctoFX")
    assert variables is not None
    added = _values(variables, "add", "Application.Database.Name")
    if mode == "clone":
        assert sorted(v["after"]["Value"] for v in added) == ["OctoFX-Test", "OctoFx-Dev"]
        assert all("Scope" not in v["after"] for v in added)
    elif mode == "placeholder":
        assert [v["after"] for v in added] == [
            {"Name": "Application.Database.Name", "Value": "Replace Me"}
        ]
    else:
        assert added == []
    if mode != "skip":
        ledger = [
            p for p in plan["placeholders"] if p["field"] == "variable Application.Database.Name"
        ]
        assert len(ledger) == len(added)
    connection = _values(variables, "add", "ConnectionString")
    assert [v["after"] for v in connection] == [
        {"Name": "ConnectionString", "Value": "Database=#{Application.Database.Name}"}
    ]


DESTINATION_AFTER_INITIAL_SYNC = {
    "projects": [
        {
            "Name": "OctoFX",
            "ProjectGroupId": "Default Project Group",
            "LifecycleId": "Default Lifecycle",
            "Variables": [
                {"Name": "Application.Database.Name", "Value": "OctoFx-Dev"},
                {"Name": "Application.Database.Name", "Value": "OctoFX-Test"},
                {"Name": "ConnectionString", "Value": "Database=#{Application.Database.Name}"},
            ],
        }
    ],
}
SOURCE_AFTER_CHANGE = CHANGED_VARIABLES  # the guide's recurring-sync table, as in the demo


def test_recurring_sync_leaves_names_alone_adds_role_scope_and_the_oracle_value(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    load(destination_emulator.instance, DESTINATION_AFTER_INITIAL_SYNC)
    project = source_emulator.by_name("projects", "OctoFX")
    variable_set = source_emulator.get(f"variables/{project['VariableSetId']}")
    variable_set["Variables"] = SOURCE_AFTER_CHANGE
    assert source_emulator.put(f"variables/{project['VariableSetId']}", variable_set).ok

    plan = _plan(_repo(tmp_path, source_emulator, destination_emulator))
    variables = _change(plan, "project-variables", "OctoFX")
    assert variables is not None and variables["action"] == "update"
    writes = [
        (v["action"], v["name"], v["after"])
        for v in variables["values"]
        if v["action"] in ("add", "update-scope", "overwrite")
    ]
    assert writes == [
        (
            "update-scope",
            "ConnectionString",
            {
                "Name": "ConnectionString",
                "Value": "Database=#{Application.Database.Name}",
                "Scope": {"Role": ["SQL-Server"]},
            },
        ),
        (
            "add",
            "ConnectionString",
            {
                "Name": "ConnectionString",
                "Value": "Data Source=#{Application.Database.Name}",
                "Scope": {"Role": ["Oracle"]},
            },
        ),
    ]
    left = _values(variables, "leave", "Application.Database.Name")
    # No push recorded what snapshotsync wrote yet: the destination's value is its own.
    assert len(left) == 1 and "which snapshotsync does not hold" in left[0]["reason"]


def test_machine_scoped_values_keep_surviving_machines_or_are_skipped(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    plan = _plan(_repo(tmp_path, source_emulator, destination_emulator))
    variables = _change(plan, "project-variables", "OctoFX")
    assert variables is not None
    log_level = [v["after"] for v in _values(variables, "add", "Log.Level")]
    assert log_level == [
        {"Name": "Log.Level", "Value": "Verbose", "Scope": {"Machine": ["web-prod-01"]}}
    ]
    decisions = [
        d["message"]
        for d in plan["decisions"]
        if d["where"] == "project-variables OctoFX Log.Level"
    ]
    assert any(
        "sql-dev-01 missing on the destination (skip-unless-partial): left out" in d
        for d in decisions
    )


def test_team_permissions_lose_tenants_missing_on_the_destination(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    text = run_cli("plan", "--target", "prod", "--repo", str(repo)).stdout
    assert "+ create team-permissions Tenant Managers" in text
    plan = _plan(repo)
    permissions = _change(plan, "team-permissions", "Tenant Managers")
    assert permissions is not None
    assert [r["TenantIds"] for r in permissions["after"]["ScopedUserRoles"]] == [["Internal"]]
    decisions = [f"{d['where']}: {d['message']}" for d in plan["decisions"]]
    assert (
        "team-permissions Tenant Managers Tenant manager: TenantIds loses Development Team A"
        in decisions
    )


def test_detailed_exitcode_and_json(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    run_cli(
        "plan",
        "--target",
        "prod",
        "--repo",
        str(repo),
        "--detailed-exitcode",
        expect=ExitCode.CHANGES,
    )
    plan = _plan(repo)
    assert plan["has_changes"] is True and plan["errors"] == []
    assert plan["summary"]["create"] > 0


BAD_OVERLAYS = [
    ("environments:\n  Staging: Staging\nexlude:\n  tenants: []\n", 3, "unknown key `exlude`"),
    (
        "environments:\n  Stagign: Staging\n",
        2,
        "environment `Stagign` does not exist on the source",
    ),
    (
        "environments:\n  Staging: Staging\nvariables:\n  scoping: skip-unless-partail\n",
        4,
        "not a valid value; did you mean `skip-unless-partial`?",
    ),
]


@pytest.mark.parametrize(("overlay", "line", "message"), BAD_OVERLAYS)
def test_a_bad_overlay_fails_validate_and_plan_with_file_and_line_and_no_request(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    keys: None,
    overlay: str,
    line: int,
    message: str,
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator, overlay=overlay)
    for emulator in (source_emulator, destination_emulator):
        emulator.session.delete(f"{emulator.url}/api/emulator/stats")
    for command in (["validate"], ["plan", "--target", "prod"]):
        result = run_cli(*command, "--repo", str(repo), expect=ExitCode.ERROR)
        assert f"overlays/prod.yaml:{line}: error: " in result.stderr
        assert message in result.stderr
        assert "Traceback" not in result.stderr
    for emulator in (source_emulator, destination_emulator):
        assert emulator.stats()["requests"] == 0
