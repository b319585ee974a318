"""A hand edit a push keeps stays a hand edit (issue 20), end to end over HTTP.

The base keeps what the sync placed, not the person's value, so the next source change to
that key is a conflict instead of an overwrite. `drift` and every plan keep naming the edit,
the plans write nothing, until a person puts the value back or `push --force-overwrite`
takes the source's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.test_identity import GUIDE, _edit_process, _plan, _process, _push, _writes
from tests.helpers import Emulator, pushed_repo, run_cli

SITE = "Octopus.Action.IISWebSite.WebSiteName"
STEP = "Deploy Web Site"


def _by_hand(process: dict[str, Any]) -> None:
    step = next(s for s in process["Steps"] if s["Name"] == STEP)
    step["Actions"][0]["Properties"][SITE] = "OctoFX-Blue"


def _drift(repo: Path, expect: int) -> list[tuple[str, str, str]]:
    out = run_cli(
        "drift", "--target", "prod", "--repo", str(repo), "--output", "json", expect=expect
    ).stdout
    return [(d["kind"], d["part"], d["change"]) for d in json.loads(out)["drift"]]


def _kept(plan: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (c["kind"], v["name"])
        for c in plan["changes"]
        for v in c["values"]
        if v["action"] in ("keep", "conflict")
    ]


def test_a_kept_hand_edit_is_named_by_drift_and_plan_until_forced(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = pushed_repo(tmp_path, source_emulator, destination_emulator, GUIDE)
    _edit_process(destination_emulator, _by_hand)
    kept = [("deployment-processes", f"step {STEP}: Actions.{STEP}.Properties.{SITE}")]
    named = [("deployment-processes", f"step {STEP}", "changed")]
    assert _drift(repo, expect=2) == named
    assert _kept(_plan(repo)) == kept

    _push(repo)  # keeps the edit: nothing to write
    for _ in range(2):  # and again: the push changes nothing of it
        assert _drift(repo, expect=2) == named
        plan = _plan(repo, "--detailed-exitcode")  # exit 0: nothing to write
        assert _writes(plan) == [] and _kept(plan) == kept
        _push(repo)
    step = next(s for s in _process(destination_emulator)["Steps"] if s["Name"] == STEP)
    assert step["Actions"][0]["Properties"][SITE] == "OctoFX-Blue"
    # The plan for people says so too: counted in the quiet line, named with --verbose.
    quiet = run_cli("plan", "--target", "prod", "--repo", str(repo)).stdout
    assert quiet.startswith("No changes.") and "1 hand edits kept" in quiet, quiet
    verbose = run_cli("plan", "--target", "prod", "--repo", str(repo), "--verbose").stdout
    assert "= same   deployment-processes OctoFX\n" in verbose, verbose
    assert f"= keep   Actions.{STEP}.Properties.{SITE} = 'OctoFX-Blue'" in verbose, verbose

    _push(repo, "--force-overwrite")
    step = next(s for s in _process(destination_emulator)["Steps"] if s["Name"] == STEP)
    assert step["Actions"][0]["Properties"][SITE] != "OctoFX-Blue"
    assert _drift(repo, expect=0) == []
    assert _kept(_plan(repo, "--detailed-exitcode")) == []
