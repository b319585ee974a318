"""Overlays: every problem reported together, each with file:line and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapshotsync.errors import OverlayError
from snapshotsync.model import ResourceKey, Snapshot
from snapshotsync.overlay import ScopedValue, expand_env, load

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


# ---------------------------------------------------------------- issue 11


def test_an_environment_maps_to_a_list_and_prefer_settles_a_shared_one(tmp_path: Path) -> None:
    text = """\
environments:
  Test: Staging
  Staging: [Staging, Production]
  production: Production
prefer:
  Production: Production
"""
    overlay, warnings = load(_write(tmp_path, text), SOURCE, DESTINATION)
    assert overlay.targets("Staging") == ("Staging", "Production")
    assert overlay.environments["Staging"] == "Staging"  # the primary
    assert overlay.targets("PRODUCTION") == ("Production",)
    assert overlay.sources("production") == ("Staging", "production")
    assert overlay.preferred("PRODUCTION") == "production"
    assert warnings == [
        f"{tmp_path / 'prod.yaml'}:4: warning: environment `production` is spelled "
        "`Production` on the source (names match regardless of case; write it as the server does)"
    ]


def test_prefer_must_name_a_shared_destination_and_one_of_its_sources(tmp_path: Path) -> None:
    text = """\
environments:
  Test: Staging
  Staging: Staging
  Production: Production
prefer:
  Production: Production
  Staging: Development
"""
    with pytest.raises(OverlayError) as error:
        load(_write(tmp_path, text), SOURCE, DESTINATION)
    message = str(error.value)
    assert ":6: error: prefer: `Production` does not receive several source environments" in message
    assert ":7: error: prefer: `Development` does not map to `Staging`; use one of `Test`, " in (
        message
    )


def test_a_destination_name_in_another_case_is_a_warning_with_the_name_meant(
    tmp_path: Path,
) -> None:
    overlay, warnings = load(
        _write(tmp_path, "environments:\n  Production: production\n"), SOURCE, DESTINATION
    )
    assert overlay.targets("Production") == ("production",)
    assert warnings == [
        f"{tmp_path / 'prod.yaml'}:2: warning: environment `production` is `Production` on the "
        "destination (names match regardless of case; did you mean `Production`?)"
    ]


def test_explicit_values_are_plain_or_say_where_they_apply(tmp_path: Path) -> None:
    text = """\
environments:
  Production: [Production, DR]
variables:
  values:
    "OctoFX/A": plain
    "OctoFX/B": {value: one, environments: [Production]}
    "OctoFX/C": [{value: two, environments: [DR]}, {value: three, environments: [Production]}]
    "OctoFX/D": {value: inherit}
"""
    overlay, _ = load(_write(tmp_path, text), SOURCE)
    assert overlay.variables.values == {"OctoFX/A": "plain", "OctoFX/D": "inherit"}
    assert overlay.variables.scoped_values == {
        "OctoFX/B": (ScopedValue("one", ("Production",)),),
        "OctoFX/C": (ScopedValue("two", ("DR",)), ScopedValue("three", ("Production",))),
    }
    bad = """\
environments:
  Production: Production
variables:
  values:
    "OctoFX/A": {value: x, environments: [Nowhere]}
    "OctoFX/B": {value: x, enviroments: [Production]}
    "OctoFX/C": [{value: x}]
    "OctoFX/D": {environments: [Production]}
"""
    with pytest.raises(OverlayError) as error:
        load(_write(tmp_path, bad), SOURCE, DESTINATION)
    message = str(error.value)
    assert (
        ":5: error: variables.values: `OctoFX/A` applies to `Nowhere`, which no source" in message
    )
    assert ":6: error: unknown key `enviroments` in the value of `OctoFX/B`" in message
    assert ":7: error: `OctoFX/C`: each entry of a list needs `environments`" in message
    assert ":8: error: `OctoFX/D`: a value is a string, or `{value: ..., environments:" in message


def test_names_deleted_since_an_earlier_snapshot_warn_and_typos_fail(tmp_path: Path) -> None:
    text = """\
exclude:
  tenants: ["Customer 7", "Interal"]
rename:
  accounts: {"old account": "x", "dev/test account": "y"}
steps:
  rescope:
    "OctoFX/Gone Step": {environments: [Staging]}
    "octofx/qa sign-off": {environments: [Staging]}
variables:
  values:
    "Retired Set/X": "1"
"""
    history = {
        "tenants": frozenset({"customer 7"}),
        "accounts": frozenset({"old account"}),
        "steps": frozenset({"octofx/gone step"}),
        "library-variable-sets": frozenset({"retired set"}),
    }
    with pytest.raises(OverlayError) as error:
        load(_write(tmp_path, text), SOURCE, None, history)
    lines = str(error.value).splitlines()
    assert [line.split(": ", 1)[1] for line in lines if ": error: " in line] == [
        "error: exclude.tenants: `Interal` does not exist on the source (did you mean `Internal`?)"
    ]
    overlay, warnings = load(
        _write(tmp_path, text.replace(', "Interal"', "")), SOURCE, None, history
    )
    gone = "is no longer on the source; remove this entry"
    assert [w.split(": warning: ", 1)[1] for w in warnings] == [
        f"exclude.tenants: `Customer 7` {gone}",
        f"rename.accounts: `old account` {gone}",
        "rename.accounts: `dev/test account` is spelled `Dev/Test Account` on the source "
        "(names match regardless of case; write it as the server does)",
        f"steps.rescope: step `OctoFX/Gone Step` {gone}",
        "steps.rescope: step `octofx/qa sign-off` is spelled `OctoFX/QA Sign-off` on the source "
        "(names match regardless of case; write it as the server does)",
        f"variables.values: `Retired Set/X`: its owner {gone}",
    ]
    assert overlay.renamed("accounts", "Dev/Test Account") == "y"
    assert overlay.rescope_of("OctoFX/QA Sign-off") is not None


def test_runbook_publishing_is_off_unless_the_overlay_turns_it_on(tmp_path: Path) -> None:
    off, _ = load(_write(tmp_path, "environments: {}\n"))
    assert off.publish_runbooks is False
    on, _ = load(_write(tmp_path, "runbooks:\n  publish: true\n"))
    assert on.publish_runbooks is True
    with pytest.raises(OverlayError) as error:
        load(_write(tmp_path, "runbooks:\n  publish: yes please\n  snapshot: x\n"))
    assert "prod.yaml:2: error: `runbooks.publish` must be true" in str(error.value)
    assert "prod.yaml:3: error: unknown key `snapshot` in `runbooks`" in str(error.value)
