"""plan, drift, cleanup and validate run without the overlay's `${env:...}` values (a pull
request's plan job and a scheduled drift job hold no production secret): the values are
masked and the commands say which were not checked. Only push needs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapshotsync.errors import ExitCode
from tests.e2e.test_plan import OVERLAY
from tests.helpers import Emulator, export_with_overlay, init_repo, run_cli

SECRETS = {"PRICING_KEY": "pricing-key-7f3a9c", "PROD_DB_NAME": "octofx-prod-db-7"}
VALUES = (
    "  values:\n"
    '    "OctoFX/Api.Key": "${env:PRICING_KEY}"\n'
    '    "OctoFX/ConnectionString": "Database=${env:PROD_DB_NAME}"\n'
)


def test_read_only_commands_run_without_the_overlays_secrets(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    keys: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    export_with_overlay(repo, OVERLAY.replace("NEW_OUT_OF_SCOPE", "clone") + VALUES)
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    for name in SECRETS:
        monkeypatch.delenv(name)
    target = ("--target", "prod", "--repo", str(repo))

    planned = run_cli("plan", *target)
    for name in SECRETS:
        assert f"${{env:{name}}} is not set: the values that read it are masked" in (planned.stderr)
    assert "not set>" not in planned.stdout  # the stand-in is masked like a secret
    # drift and cleanup do not use the values at all: they just run.
    assert run_cli("drift", *target).stdout.startswith("drift prod: nothing changed by hand")
    assert "cleanup prod: " in run_cli("cleanup", *target).stdout
    assert run_cli("validate", "--repo", str(repo)).exit_code == ExitCode.OK
    run_cli("push", *target, "--dry-run")  # a dry run is a plan

    refused = run_cli("push", *target, "--yes", expect=ExitCode.ERROR)
    assert "PRICING_KEY, which is not set" in refused.stderr
    assert destination_emulator.stats()["writes"] > 0  # the first push; none since
