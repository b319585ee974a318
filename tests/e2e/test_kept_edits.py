"""A hand edit a push keeps stays a hand edit (issue 20), end to end over HTTP.

The base keeps what the sync placed, not the person's value, so the next source change to
that key is a conflict instead of an overwrite, and every plan names the edit. The push
records that it kept it, so `drift` after it is empty (what changed by hand since the last
push) until the edit changes again; `push --force-overwrite` takes the source's.
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
    _set_site(process, "OctoFX-Blue")


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


def test_a_kept_hand_edit_is_acknowledged_by_drift_and_still_protected_by_the_plan(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = pushed_repo(tmp_path, source_emulator, destination_emulator, GUIDE)
    _edit_process(destination_emulator, _by_hand)
    kept = [("deployment-processes", f"step {STEP}: Actions.{STEP}.Properties.{SITE}")]
    named = [("deployment-processes", f"step {STEP}", "changed")]
    assert _drift(repo, expect=2) == named
    assert _kept(_plan(repo)) == kept

    # The push writes nothing, and records that it kept the edit: drift after it is empty
    # (it names what changed by hand since the last push); the plan goes on naming it.
    out = _push(repo)
    assert "nothing written; the record of the hand edits it keeps is committed" in out, out
    for _ in range(2):
        assert _drift(repo, expect=0) == []
        plan = _plan(repo, "--detailed-exitcode")  # exit 0: nothing to write
        assert _writes(plan) == [] and _kept(plan) == kept
        assert "nothing written" in _push(repo)
    # The plan for people says so too: counted in the quiet line, named with --verbose.
    quiet = run_cli("plan", "--target", "prod", "--repo", str(repo)).stdout
    assert quiet.startswith("No changes.") and "1 hand edits kept" in quiet, quiet
    verbose = run_cli("plan", "--target", "prod", "--repo", str(repo), "--verbose").stdout
    assert "= same   deployment-processes OctoFX\n" in verbose, verbose
    assert f"= keep   Actions.{STEP}.Properties.{SITE} = 'OctoFX-Blue'" in verbose, verbose

    # Still the person's: the source changing the same key is a conflict, and it is kept.
    def on_source(process: dict[str, Any]) -> None:
        step = next(s for s in process["Steps"] if s["Name"] == STEP)
        step["Actions"][0]["Properties"][SITE] = "OctoFX-Green"

    _edit_process(source_emulator, on_source)
    run_cli("export", "--repo", str(repo))
    _push(repo)
    assert _site(destination_emulator) == "OctoFX-Blue"
    assert _drift(repo, expect=0) == []

    # Changed by hand again: drift names it again.
    _edit_process(destination_emulator, lambda p: _set_site(p, "OctoFX-Red"))
    assert _drift(repo, expect=2) == named

    _push(repo, "--force-overwrite")
    assert _site(destination_emulator) == "OctoFX-Green"
    assert _drift(repo, expect=0) == []
    assert _kept(_plan(repo, "--detailed-exitcode")) == []


def _site(emulator: Emulator) -> Any:
    step = next(s for s in _process(emulator)["Steps"] if s["Name"] == STEP)
    return step["Actions"][0]["Properties"][SITE]


def _set_site(process: dict[str, Any], value: str) -> None:
    step = next(s for s in process["Steps"] if s["Name"] == STEP)
    step["Actions"][0]["Properties"][SITE] = value
