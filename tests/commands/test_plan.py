"""commands/plan.py: the client a plan (and push, cleanup, drift) reads the destination with."""

from __future__ import annotations

from pathlib import Path

from snapshotsync.commands.plan import Inputs, open_client
from snapshotsync.model import Snapshot
from snapshotsync.overlay import Overlay
from snapshotsync.settings import Config, Http, Instance, Settings, Target


def test_the_destination_client_keeps_to_max_rps(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PROD_OCTOPUS_API_KEY", "API-TESTKEY0000000000000000000")
    target = Target("prod", "https://octopus-prod.example.com", "Default", "PROD_OCTOPUS_API_KEY")
    config = Config(tmp_path, Instance("source", "https://o.example", "Default", "S"), http=Http())
    inputs = Inputs(config, target, None, Snapshot({}), Overlay(tmp_path), ())  # type: ignore[arg-type]
    with open_client(Settings(repo=tmp_path, max_rps=4.0), inputs) as client:
        assert client.throttle.interval == 0.25
    with open_client(Settings(repo=tmp_path), inputs) as client:
        assert client.throttle.interval == 0.0  # no limit unless asked
