"""A deployment process's plan, step by step: what was removed, renamed, moved, changed and
added back reads as that, by step name, in text, JSON and markdown; never as every later
step changed by position."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from tests.e2e.test_plan import OVERLAY
from tests.helpers import Emulator, export_with_overlay, init_repo, run_cli


@pytest.fixture
def repo(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> Path:
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    export_with_overlay(repo, OVERLAY.replace("NEW_OUT_OF_SCOPE", "clone"))
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    return repo


def _edit_process(emulator: Emulator, edit: Any) -> None:
    project = emulator.by_name("projects", "OctoFX")
    path = f"projects/{project['Id']}/deploymentprocesses"
    process = emulator.get(path)
    edit(process["Steps"])
    response = emulator.put(path, process)
    assert response.ok, response.text


def _plans(repo: Path) -> tuple[str, dict[str, Any], str]:
    def plan(*args: str) -> str:
        return run_cli("plan", "--target", "prod", "--repo", str(repo), *args).stdout

    as_json = json.loads(plan("--output", "json"))
    return plan(), as_json, plan("--output", "markdown")


def _block(text: str, header: str) -> list[str]:
    """The lines under `header` in a text plan, stripped, up to the next resource."""
    lines = text.split(f"\n  {header}\n")[1].splitlines()
    block = []
    for line in lines:
        if not line.startswith("        "):
            break
        block.append(line.strip())
    return block


def _process_change(plan: dict[str, Any]) -> dict[str, Any]:
    return next(
        c
        for c in plan["changes"]
        if c["kind"] == "deployment-processes" and c["name"] == ["OctoFX"]
    )


def _fence_of(markdown: str, summary: str) -> str:
    """The diff block under the collapsible block whose summary holds `summary`."""
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    tokens = md.parse(markdown)
    for index, token in enumerate(tokens):
        if token.type == "html_block" and summary in token.content:
            return next(t.content for t in tokens[index:] if t.type == "fence")
    raise AssertionError(f"no block for {summary!r} in:\n{markdown}")


def test_removal_rename_move_and_field_change_read_by_step_name(
    repo: Path, source_emulator: Emulator
) -> None:
    def edit(steps: list[dict[str, Any]]) -> None:
        steps[:] = [s for s in steps if s["Name"] != "Deploy Web Site"]
        migration = next(s for s in steps if s["Name"] == "Run Migration Script")
        migration["Name"] = migration["Actions"][0]["Name"] = "Migrate Database"
        slack = next(s for s in steps if s["Name"] == "Notify Slack")
        steps.remove(slack)
        steps.insert(0, slack)
        database = next(s for s in steps if s["Name"] == "Deploy Database")
        database["Properties"]["Octopus.Action.TargetRoles"] = "SQL-Primary"

    _edit_process(source_emulator, edit)
    run_cli("export", "--repo", str(repo))
    text, as_json, markdown = _plans(repo)

    expected = [
        "- remove step Deploy Web Site",
        "~ move step Notify Slack (first)",
        '~ step Deploy Database: Properties.Octopus.Action.TargetRoles: "SQL-Server" -> '
        '"SQL-Primary"',
        "~ rename step Run Migration Script -> Migrate Database",
    ]
    assert _block(text, "~ update deployment-processes OctoFX") == expected
    assert "Steps.1" not in text and "Steps.2" not in text  # nothing by position

    steps = _process_change(as_json)["steps"]
    assert [(s["action"], s["step"]) for s in steps] == [
        ("remove", "Deploy Web Site"),
        ("move", "Notify Slack"),
        ("change", "Deploy Database"),
        ("rename", "Migrate Database"),
    ]
    assert steps[2]["path"] == ["Properties", "Octopus.Action.TargetRoles"]
    assert (steps[2]["old"], steps[2]["new"]) == ("SQL-Server", "SQL-Primary")
    assert steps[3]["old_name"] == "Run Migration Script"
    assert as_json["format_version"] == 1

    fence = _fence_of(markdown, "deployment-processes OctoFX")
    assert fence.splitlines() == expected

    # Pushed, and then the removed step is added back on the source: one line says where.
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    source = source_emulator.by_name("projects", "OctoFX")

    def re_add(steps: list[dict[str, Any]]) -> None:
        steps.append(
            {
                "Name": "Deploy Web Site",
                "Condition": "Success",
                "StartTrigger": "StartAfterPrevious",
                "PackageRequirement": "LetOctopusDecide",
                "Properties": {"Octopus.Action.TargetRoles": "OctoFX-Web"},
                "Actions": [
                    {
                        "Name": "Deploy Web Site",
                        "ActionType": "Octopus.IIS",
                        "Properties": {
                            "Octopus.Action.IISWebSite.WebSiteName": "OctoFX",
                            "Octopus.Action.Package.PackageId": "OctoFX.Web",
                            "Octopus.Action.Package.FeedId": feed,
                        },
                        "Packages": [
                            {
                                "Name": "",
                                "PackageId": "OctoFX.Web",
                                "FeedId": feed,
                                "AcquisitionLocation": "Server",
                                "Properties": {},
                            }
                        ],
                    }
                ],
            }
        )

    feed = source_emulator.by_name("feeds", "NuGet.org")["Id"]
    assert source["Name"] == "OctoFX"
    _edit_process(source_emulator, re_add)
    run_cli("export", "--repo", str(repo))
    text, as_json, markdown = _plans(repo)
    assert _block(text, "~ update deployment-processes OctoFX") == [
        "+ add step Deploy Web Site (after Migrate Database)",
        "roles: OctoFX-Web",
        "action Deploy Web Site (Octopus.IIS): package OctoFX.Web from NuGet.org",
    ]
    steps = _process_change(as_json)["steps"]
    assert steps == [
        {
            "action": "add",
            "step": "Deploy Web Site",
            "after": "Migrate Database",
            "old_name": None,
            "action_name": None,
            "path": [],
            "old": None,
            "new": None,
        }
    ]
    fence = _fence_of(markdown, "deployment-processes OctoFX")
    assert fence.splitlines()[0] == "+ add step Deploy Web Site (after Migrate Database)"


def test_a_new_process_is_listed_step_by_step(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    export_with_overlay(repo, OVERLAY.replace("NEW_OUT_OF_SCOPE", "clone"))
    text, _, markdown = _plans(repo)
    lines = _block(text, "+ create deployment-processes OctoFX")
    assert lines[:3] == [
        "+ step 1. Deploy Database",
        "roles: SQL-Server",
        "action Deploy Database (Octopus.TentaclePackage): package OctoFX.Database from NuGet.org",
    ]
    assert "+ step 2. Run Migration Script" in lines
    fence = _fence_of(markdown, "<code>+ create</code> deployment-processes OctoFX")
    assert fence.splitlines()[0] == "+ step 1. Deploy Database"
    assert "Steps:" not in fence  # not one truncated line of JSON
