"""Overlays: every problem reported together, each with file:line and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapshotsync.errors import OverlayError
from snapshotsync.model import ResourceKey, Snapshot
from snapshotsync.overlay import expand_env, load

SOURCE = Snapshot(
    {
        **{
            ResourceKey("environments", (n,)): {"Name": n}
            for n in ("Development", "Test", "Staging", "Production")
        },
        ResourceKey("tenants", ("Internal",)): {"Name": "Internal"},
        ResourceKey("tenants", ("Development Team A",)): {"Name": "Development Team A"},
        ResourceKey("lifecycles", ("QA",)): {"Name": "QA"},
        ResourceKey("projects", ("OctoFX",)): {"Name": "OctoFX"},
        ResourceKey("channels", ("OctoFX", "QA")): {"Name": "QA"},
        ResourceKey("accounts", ("Dev/Test Account",)): {"Name": "Dev/Test Account"},
        ResourceKey("deployment-processes", ("OctoFX",)): {"Steps": [{"Name": "QA Sign-off"}]},
    }
)
DESTINATION = Snapshot(
    {ResourceKey("environments", (n,)): {"Name": n} for n in ("Staging", "Production")}
)

GOOD = """\
environments:
  Staging: Staging
  Production: Production
exclude:
  tenants: ["Development Team A"]
  lifecycles: ["QA"]
  channels: ["OctoFX/QA"]
include:
  projects: ["Octo*"]
rename:
  accounts: {"Dev/Test Account": "Staging/Prod Account"}
variables:
  scoping: {environment: skip-unless-partial, machine: ignore}
  overwrite: false
  new-out-of-scope: placeholder
  values:
    "OctoFX/Application.Database.Name": "OctoFX-#{Octopus.Environment.Name}"
steps:
  out-of-scope: unscope
  rescope:
    "OctoFX/QA Sign-off": {environments: [Staging]}
tenants:
  variables: placeholder
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prod.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_complete_overlay_loads(tmp_path: Path) -> None:
    overlay, warnings = load(_write(tmp_path, GOOD), SOURCE, DESTINATION)
    assert warnings == []
    assert overlay.environments == {"Staging": "Staging", "Production": "Production"}
    assert overlay.excluded("tenants", "development team a")  # names match case-insensitively
    assert overlay.excluded("channels", "OctoFX/QA") and not overlay.excluded(
        "channels", "OctoFX/Default"
    )
    assert not overlay.excluded("projects", "OctoFX") and overlay.excluded("projects", "Other")
    assert overlay.renamed("accounts", "Dev/Test Account") == "Staging/Prod Account"
    assert overlay.variables.scoping["machine"] == "ignore"
    assert overlay.variables.scoping["channel"] == "skip-unless-partial"
    assert overlay.variables.new_out_of_scope == "placeholder"
    assert overlay.step_out_of_scope == "unscope"
    assert overlay.rescope["OctoFX/QA Sign-off"].environments == ("Staging",)
    assert overlay.tenant_variables == "placeholder"


def test_every_problem_is_listed_with_its_line(tmp_path: Path) -> None:
    text = """\
environments:
  Stagign: Staging
  Production: Prod
exclude:
  tenant: ["x"]
variables:
  scoping: {environment: skip-unless-partail, colour: ignore}
  overwrite: maybe
steps:
  out-of-scope: drop
"""
    with pytest.raises(OverlayError) as error:
        load(_write(tmp_path, text), SOURCE, DESTINATION)
    lines = str(error.value).splitlines()
    path = tmp_path / "prod.yaml"
    expected = [
        (2, "environment `Stagign` does not exist on the source (did you mean `Staging`?)"),
        (3, "environment `Prod` exists on neither instance"),
        (5, "unknown key `tenant` in `exclude`; did you mean `tenants`?"),
        (
            7,
            "`environment: skip-unless-partail` is not a valid value; "
            "did you mean `skip-unless-partial`?",
        ),
        (7, "unknown key `colour` in `variables.scoping`"),
        (8, "`overwrite` must be true or false"),
        (10, "`out-of-scope: drop` is not a valid value"),
    ]
    for line, message in expected:
        assert any(
            entry.startswith(f"{path}:{line}: error: ") and message in entry for entry in lines
        ), (line, message, lines)


def test_a_glob_matching_nothing_is_a_warning_a_name_an_error(tmp_path: Path) -> None:
    overlay, warnings = load(_write(tmp_path, "exclude:\n  tenants: ['Customer *']\n"), SOURCE)
    assert overlay.excluded("tenants", "Customer 9")
    assert warnings == [
        f"{tmp_path / 'prod.yaml'}:2: warning: exclude.tenants: `Customer *` matches nothing"
    ]
    with pytest.raises(
        OverlayError,
        match=r"prod\.yaml:2: error: exclude\.tenants: `Interal` does not exist on the "
        r"source \(did you mean `Internal`\?\)",
    ):
        load(_write(tmp_path, "exclude:\n  tenants: ['Interal']\n"), SOURCE)


def test_renames_rescopes_and_values_must_name_real_things(tmp_path: Path) -> None:
    text = """\
rename:
  accounts: {"Prod Account": "Other"}
steps:
  rescope:
    "OctoFX/Sign-off": {environments: [Staging]}
variables:
  values:
    "NoSlash": "x"
    "Missing/Var": "y"
"""
    with pytest.raises(OverlayError) as error:
        load(_write(tmp_path, text), SOURCE)
    message = str(error.value)
    assert ":2: error: rename.accounts: `Prod Account` does not exist" in message
    assert ":5: error: steps.rescope: no step `OctoFX/Sign-off`" in message
    assert ":8: error: `NoSlash`: write `<project or set>/<variable>`" in message
    assert ":9: error: variables.values: `Missing/Var` names no project" in message


def test_keys_alone_are_checked_without_a_snapshot(tmp_path: Path) -> None:
    load(_write(tmp_path, "environments:\n  Anything: Whatever\n"))  # names unknown: fine
    with pytest.raises(OverlayError, match=r":1: error: unknown key `enviroments`"):
        load(_write(tmp_path, "enviroments: {}\n"))


def test_a_missing_overlay_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(OverlayError, match="overlay file not found"):
        load(tmp_path / "nope.yaml")


def test_env_references_in_values_read_the_environment() -> None:
    assert expand_env("pw-${env:DB_PASSWORD}", {"DB_PASSWORD": "s3"}) == "pw-s3"
    with pytest.raises(OverlayError, match="DB_PASSWORD, which is not set"):
        expand_env("${env:DB_PASSWORD}", {})
