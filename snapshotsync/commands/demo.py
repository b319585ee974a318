"""`snapshotsync demo`: the whole loop between two local emulated Octopus instances.

A source with Development/Test/Staging/Production and a destination with Staging and
Production (the samples shipped with the emulator), the guide's overlay, then
init -> export -> plan -> push -> a change on the source -> export -> push -> history.
Needs nothing outside the package; the keys are random and never printed.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from snapshotsync import report
from snapshotsync.commands import export as export_command
from snapshotsync.commands import history as history_command
from snapshotsync.commands import init as init_command
from snapshotsync.commands import plan as plan_command
from snapshotsync.commands import push as push_command
from snapshotsync.emulator import EmulatorServer, Instance, serve, start
from snapshotsync.emulator.seed import load_file
from snapshotsync.errors import ExitCode
from snapshotsync.settings import Settings
from snapshotsync.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "emulator" / "samples"
OVERLAY = """\
# The guide's scenario: the destination has Staging and Production only.
environments:
  Staging: Staging
  Production: Production
exclude:
  tenants: ["Development Team A"]
  lifecycles: ["QA"]
  channels: ["OctoFX/QA"]
rename:
  accounts: {"Dev/Test Account": "Staging/Prod Account"}
variables:
  new-out-of-scope: clone
"""
# The guide's "Variable scoping" example, after the source changed.
CHANGED_VARIABLES: list[dict[str, Any]] = [
    {"Name": "Application.Database.Name", "Value": "OctoFx-#{Octopus.Environment.Name}"},
    {
        "Name": "ConnectionString",
        "Value": "Database=#{Application.Database.Name}",
        "Scope": {"Role": ["SQL-Server"]},
    },
    {
        "Name": "ConnectionString",
        "Value": "Data Source=#{Application.Database.Name}",
        "Scope": {"Role": ["Oracle"]},
    },
]


@contextmanager
def _emulator(seed: Path, key: str, offset: int) -> Iterator[EmulatorServer]:
    instance = Instance(id_offset=offset)
    load_file(instance, seed)
    server = serve(instance, key)
    start(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the demo's own commands, and put them back after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _heading(text: str) -> None:
    report.line()
    report.line(f"== {text}")


def _change_source(server: EmulatorServer) -> None:
    """Edit the source the way a person would in the UI, through the emulator's state."""
    instance = server.instance
    space = instance.default_space_id()
    project = instance.find_by_name(space, "projects", "OctoFX")
    assert project is not None
    variables = instance.find(space, "variables", project["VariableSetId"])
    instance.update(
        space,
        "variables",
        variables["Id"],
        {"Variables": with_changes(variables["Variables"]), "Version": variables["Version"]},
    )


def with_changes(variables: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The guide's recurring-sync change applied to a variable set: the two variables of
    its table take their new values; every other variable stays as it is."""
    changed = {str(v["Name"]) for v in CHANGED_VARIABLES}
    return [v for v in variables if v["Name"] not in changed] + CHANGED_VARIABLES


def run(directory: Path | None) -> ExitCode:
    with tempfile.TemporaryDirectory(prefix="snapshotsync-demo-") as scratch:
        root = directory or Path(scratch)
        repo = root / "sync"
        source_key = f"API-{secrets.token_hex(12).upper()}"
        destination_key = f"API-{secrets.token_hex(12).upper()}"
        keys = {"SOURCE_OCTOPUS_API_KEY": source_key, "PROD_OCTOPUS_API_KEY": destination_key}
        with (
            _emulator(SAMPLES / "source.yaml", source_key, 100_000) as source,
            _emulator(SAMPLES / "destination.yaml", destination_key, 500_000) as destination,
            _environment(keys),
        ):
            _heading(
                f"source {source.url} (Development/Test/Staging/Production), "
                f"destination {destination.url} (Staging/Production)"
            )
            init_command.run(
                init_command.InitOptions(
                    repo, source_url=source.url, targets=(("prod", destination.url),)
                )
            )
            (repo / "overlays" / "prod.yaml").write_text(OVERLAY, encoding="utf-8")
            settings = Settings(repo=repo)
            Store(repo).commit(["overlays"], "overlay for prod: the guide's scenario")
            _heading("export the source")
            export_command.run(settings)
            _heading("plan: what a push to prod would do")
            plan_command.run(settings, "prod", "text", detailed_exitcode=False)
            _heading("push to prod")
            push_command.run(
                settings, "prod", assume_yes=True, dry_run=False, allow_version_skew=False
            )
            _heading("the source changes (the guide's recurring-sync variables); export and push")
            _change_source(source)
            export_command.run(settings)
            push_command.run(
                settings, "prod", assume_yes=True, dry_run=False, allow_version_skew=False
            )
            _heading("history (git log of the sync repo)")
            history_command.run(settings, None)
        report.line()
        report.line(
            f"demo repo: {repo}"
            if directory
            else "demo finished (its repo was temporary; use --dir to keep it)"
        )
    return ExitCode.OK
