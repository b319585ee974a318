"""Real-server fidelity, end to end: what a real Octopus refuses or silently binds wrong.

One source scenario holds every shape a real server is strict about
(`seeds/fidelity-source.yaml`); it is pushed to an empty destination under both server
profiles the emulator has: before 2025.2 (tenant variables as the legacy document) and
2025.2 and later (scoped tenant variables, the legacy write refused). Everything is read
back over REST on the destination, by name, and a second plan is empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from snapshotsync.errors import ExitCode
from tests.helpers import (
    API_KEY,
    SAMPLES,
    SOURCE_KEY_ENV,
    Emulator,
    export_with_overlay,
    git,
    init_repo,
    run_cli,
    running_emulator,
)

SEED = Path(__file__).parent / "seeds" / "fidelity-source.yaml"
PROFILES = ["2024.4.7000", "2025.2.9000"]
# Publishing: the scenario's run-runbook trigger needs its runbook published on the
# destination, as a real server does (round 3, test_fidelity3.py).
OVERLAY = """\
environments:
  Staging: Staging
  Production: Production
runbooks:
  publish: true
"""


@pytest.fixture(params=PROFILES)
def pair(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Emulator, Emulator, Path]]:
    monkeypatch.setenv(SOURCE_KEY_ENV, API_KEY)
    monkeypatch.setenv("PROD_OCTOPUS_API_KEY", API_KEY)
    version = str(request.param)
    with (
        running_emulator(seed=SEED, id_offset=1000, server_version=version) as source,
        running_emulator(id_offset=5000, server_version=version) as destination,
    ):
        repo = init_repo(tmp_path, source, destination)
        export_with_overlay(repo, OVERLAY)
        yield source, destination, repo


def _plan(repo: Path) -> dict[str, Any]:
    out = run_cli("plan", "--target", "prod", "--repo", str(repo), "--output", "json").stdout
    return dict(json.loads(out[out.index("{") :]))


def _push(repo: Path) -> None:
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")


def test_the_scenario_pushes_cleanly_to_an_empty_destination_and_a_second_plan_is_empty(
    pair: tuple[Emulator, Emulator, Path],
) -> None:
    _, destination, repo = pair
    first = _plan(repo)
    assert first["errors"] == []
    _push(repo)
    second = _plan(repo)
    assert second["has_changes"] is False, [
        (c["action"], c["kind"], c["name"], c["diff"], c["values"])
        for c in second["changes"]
        if c["action"] in ("create", "update")
    ]
    assert second["errors"] == []
    del destination


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(item["Name"]): item for item in items}


def test_every_reference_lands_on_the_destinations_own_ids(
    pair: tuple[Emulator, Emulator, Path],
) -> None:
    _, dest, repo = pair
    _push(repo)
    environments = _by_name(dest.get("environments/all"))
    assert list(environments) == ["Staging", "Production"]  # the source's order, not by name
    projects = _by_name(dest.get("projects/all"))
    web, database = projects["Web"], projects["Database"]
    channels = _by_name(dest.get(f"projects/{web['Id']}/channels")["Items"])
    process = dest.get(f"projects/{web['Id']}/deploymentprocesses")
    actions = {a["Name"]: a for s in process["Steps"] for a in s["Actions"]}

    # Finding 2: versioning and release creation point at this project's step and channel.
    assert web["VersioningStrategy"]["DonorPackage"] == {
        "DeploymentAction": "Deploy Web",
        "PackageReference": "",
    }
    assert web["VersioningStrategy"]["DonorPackageStepId"] == actions["Deploy Web"]["Id"]
    assert web["ReleaseCreationStrategy"]["ChannelId"] == channels["Hotfix"]["Id"]

    # Finding 5: deploy-a-release names the destination's project; the package parameter
    # names the destination's feed inside its JSON string.
    release = actions["Deploy Database Release"]
    assert release["Packages"][0]["PackageId"] == database["Id"]
    assert release["Properties"]["Octopus.Action.DeployRelease.ProjectId"] == database["Id"]
    nuget = _by_name(dest.get("feeds/all"))["NuGet"]
    assert json.loads(actions["Unpack"]["Properties"]["App.Package"]) == {
        "PackageId": "Web.Assets",
        "FeedId": nuget["Id"],
    }
    template = _by_name(dest.get("actiontemplates/all"))["Unpack Package"]
    assert actions["Unpack"]["Properties"]["Octopus.Action.Template.Id"] == template["Id"]

    # Finding 4: triggers run the destination's runbook, in mapped environments, for kept
    # tenants.
    tenants = _by_name(dest.get("tenants/all"))
    runbooks = _by_name(dest.get(f"projects/{web['Id']}/runbooks")["Items"])
    triggers = _by_name([t for t in dest.get("projecttriggers/all") if t["ProjectId"] == web["Id"]])
    nightly = triggers["Nightly warm-up"]["Action"]
    assert nightly["RunbookId"] == runbooks["Warm Cache"]["Id"]
    assert nightly["EnvironmentIds"] == [environments["Production"]["Id"]]
    assert nightly["TenantIds"] == [tenants["Acme"]["Id"]]
    promote = triggers["Promote nightly"]["Action"]
    assert promote["SourceEnvironmentIds"] == [environments["Staging"]["Id"]]
    assert promote["DestinationEnvironmentId"] == environments["Production"]["Id"]
    assert promote["ChannelId"] == channels["Default"]["Id"]

    # Finding 7: the tenant-scoped account is scoped to the destination's tenant.
    account = _by_name(dest.get("accounts/all"))["Acme AWS"]
    assert account["TenantIds"] == [tenants["Acme"]["Id"]]

    # Finding 8: the team is the space's, with its role.
    team = _by_name(dest.get("teams/all"))["Web Deployers"]
    assert team["SpaceId"] == dest.space_id
    roles = [r for r in dest.get("scopeduserroles/all") if r["TeamId"] == team["Id"]]
    assert [(r["ProjectIds"], r["EnvironmentIds"]) for r in roles] == [
        ([web["Id"]], [environments["Production"]["Id"]])
    ]


def test_tenant_values_keep_their_scopes_in_the_destinations_shape(
    pair: tuple[Emulator, Emulator, Path],
) -> None:
    _, dest, repo = pair
    _push(repo)
    environments = _by_name(dest.get("environments/all"))
    staging, production = environments["Staging"]["Id"], environments["Production"]["Id"]
    tenant = _by_name(dest.get("tenants/all"))["Acme"]
    web = _by_name(dest.get("projects/all"))["Web"]
    if dest.instance.server_version.startswith("2025"):
        values = dest.get(f"tenants/{tenant['Id']}/projectvariables")["Variables"]
        assert [(v["Value"], sorted(v["Scope"]["EnvironmentIds"])) for v in values] == [
            ("https://acme.example", sorted([staging, production]))
        ]
        common = dest.get(f"tenants/{tenant['Id']}/commonvariables")["Variables"]
        assert [(v["Value"], v["Scope"]["EnvironmentIds"]) for v in common] == [("eu-west", [])]
    else:
        legacy = dest.get(f"tenants/{tenant['Id']}/variables")
        per_environment = legacy["ProjectVariables"][web["Id"]]["Variables"]
        assert {env: list(values.values()) for env, values in per_environment.items()} == {
            staging: ["https://acme.example"],
            production: ["https://acme.example"],
        }
        (library,) = legacy["LibraryVariables"].values()
        assert list(library["Variables"].values()) == ["eu-west"]


def test_provisioning_runbooks_are_the_destination_projects_own(
    pair: tuple[Emulator, Emulator, Path],
) -> None:
    """Finding 12: fields newer than the contracts that hold ids are mapped too."""
    _, dest, repo = pair
    _push(repo)
    web = _by_name(dest.get("projects/all"))["Web"]
    runbooks = _by_name(dest.get(f"projects/{web['Id']}/runbooks")["Items"])
    assert web["ProvisioningRunbookId"] == runbooks["Warm Cache"]["Id"]


# ----------------------------------------------------------------- one scenario per finding

SOURCE_EXTRAS = """
environments:
  - {Name: Production, SortOrder: 1}
certificates:
  - Name: Web TLS
    CertificateData: {HasValue: true, NewValue: CERTIFICATE}
projects:
  - Name: Catalog
    ProjectGroupId: Default Project Group
    LifecycleId: Default Lifecycle
    Description: the source's description
    DeploymentProcess:
      Steps:
        - Name: Deploy
          Actions:
            - {Name: Deploy, ActionType: Octopus.Script}
    Channels:
      - {Name: Default, IsDefault: true}
      - {Name: Preview, Type: EphemeralEnvironment, ParentEnvironmentId: Production}
    Variables:
      - {Name: Site.Certificate, Type: Certificate, Value: Web TLS}
  - Name: Pipelines
    ProjectGroupId: Default Project Group
    LifecycleId: Default Lifecycle
    PersistenceSettings:
      Type: VersionControlled
      Url: https://github.com/octofx/pipelines.git
      DefaultBranch: main
      BasePath: .octopus/pipelines
      Credentials: {Type: Anonymous}
"""


def _extras(tmp_path: Path, seed: str, name: str) -> Path:
    """`seed` with a real certificate where it says CERTIFICATE (the sample source's)."""
    sample = YAML(typ="safe").load((SAMPLES / "source.yaml").read_text())
    certificate = sample["certificates"][0]["CertificateData"]["NewValue"]
    path = tmp_path / name
    path.write_text(seed.replace("CERTIFICATE", json.dumps(certificate.replace("\n", ""))))
    return path


@pytest.fixture
def extras(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Emulator, Emulator, Path]]:
    monkeypatch.setenv(SOURCE_KEY_ENV, API_KEY)
    monkeypatch.setenv("PROD_OCTOPUS_API_KEY", API_KEY)
    destination_seed = """
environments:
  - {Name: Production, SortOrder: 1}
"""
    with (
        running_emulator(
            seed=_extras(tmp_path, SOURCE_EXTRAS, "source.yaml"), id_offset=1000
        ) as source,
        running_emulator(
            seed=_extras(tmp_path, destination_seed, "dest.yaml"), id_offset=5000
        ) as destination,
    ):
        repo = init_repo(tmp_path, source, destination)
        export_with_overlay(repo, "environments:\n  Production: Production\n")
        yield source, destination, repo


def test_a_certificate_the_destination_lacks_stops_the_plan_before_any_write(
    extras: tuple[Emulator, Emulator, Path],
) -> None:
    """Finding 3: a real server parses certificate data and refuses a placeholder."""
    _, dest, repo = extras
    dest.session.delete(f"{dest.url}/api/emulator/stats")
    out = run_cli(
        "push", "--target", "prod", "--repo", str(repo), "--yes", expect=ExitCode.ERROR
    ).stdout
    assert "certificates Web TLS: not on the destination" in out
    assert "upload it on the destination" in out and "exclude.certificates" in out
    assert dest.stats()["writes"] == 0
    # Leaving it out (or uploading it) lets the rest through; what names it goes with it.
    overlay = repo / "overlays" / "prod.yaml"
    overlay.write_text(overlay.read_text() + "exclude:\n  certificates: [Web TLS]\n")
    git(repo, "commit", "-qam", "the destination has no TLS certificate")
    _push(repo)
    assert "Web TLS" not in {c["Name"] for c in dest.get("certificates/all")}
    catalog = _by_name(dest.get("projects/all"))["Catalog"]
    values = dest.get(f"variables/{catalog['VariableSetId']}")["Variables"]
    assert not [v for v in values if v["Name"] == "Site.Certificate"]


def test_config_as_code_projects_are_never_half_synced(
    extras: tuple[Emulator, Emulator, Path],
) -> None:
    """Finding 6: a version-controlled source project the destination lacks is left out with
    the way to connect it; a version-controlled destination project takes what its route
    takes (not its deployment settings)."""
    _, dest, repo = extras
    (repo / "overlays" / "prod.yaml").write_text(
        "environments:\n  Production: Production\nexclude:\n  certificates: [Web TLS]\n"
    )
    git(repo, "commit", "-qam", "no TLS certificate")
    plan = _plan(repo)
    assert not [c for c in plan["changes"] if c["name"] == ["Pipelines"]]
    assert any(
        d["where"] == "projects Pipelines" and "connect it to its repository" in d["message"]
        for d in plan["decisions"]
    )
    _push(repo)
    assert "Pipelines" not in {p["Name"] for p in dest.get("projects/all")}

    # The destination converts Catalog to config as code; the source changes Catalog.
    catalog = _by_name(dest.get("projects/all"))["Catalog"]
    converted = dest.session.post(
        dest.space_url(f"projects/{catalog['Id']}/git/convert"),
        json={
            "CommitMessage": "to git",
            "VersionControlSettings": {
                "Type": "VersionControlled",
                "Url": "https://github.com/octofx/catalog.git",
                "DefaultBranch": "main",
                "BasePath": ".octopus/catalog",
                "Credentials": {"Type": "Anonymous"},
            },
        },
    )
    assert converted.ok, converted.text
    source, _, _ = extras
    project = _by_name(source.get("projects/all"))["Catalog"]
    project["Description"] = "changed on the source"
    project["ReleaseNotesTemplate"] = "notes from the source"
    assert source.put(f"projects/{project['Id']}", project).ok
    run_cli("export", "--repo", str(repo))
    out = _push_text(repo)
    assert "config-as-code project on the destination: its process and variables live in git" in out
    after = _by_name(dest.get("projects/all"))["Catalog"]
    assert after["Description"] == "changed on the source"
    assert after["PersistenceSettings"]["Type"] == "VersionControlled"


def _push_text(repo: Path) -> str:
    result = run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    return result.stdout


def test_a_destination_step_with_a_synced_steps_name_is_named_before_any_write(
    extras: tuple[Emulator, Emulator, Path],
) -> None:
    """Finding 10: action names are unique within a process on a real server."""
    _, dest, repo = extras
    (repo / "overlays" / "prod.yaml").write_text(
        "environments:\n  Production: Production\nexclude:\n  certificates: [Web TLS]\n"
    )
    git(repo, "commit", "-qam", "no TLS certificate")
    _push(repo)
    catalog = _by_name(dest.get("projects/all"))["Catalog"]
    process = dest.get(f"projects/{catalog['Id']}/deploymentprocesses")
    process["Steps"].append(
        {"Name": "Notify", "Actions": [{"Name": "Announce", "ActionType": "Octopus.Script"}]}
    )
    assert dest.put(f"projects/{catalog['Id']}/deploymentprocesses", process).ok
    source, _, _ = extras
    project = _by_name(source.get("projects/all"))["Catalog"]
    source_process = source.get(f"projects/{project['Id']}/deploymentprocesses")
    source_process["Steps"].append(
        {"Name": "Announce", "Actions": [{"Name": "Announce", "ActionType": "Octopus.Script"}]}
    )
    assert source.put(f"projects/{project['Id']}/deploymentprocesses", source_process).ok
    run_cli("export", "--repo", str(repo))
    dest.session.delete(f"{dest.url}/api/emulator/stats")
    out = run_cli(
        "push", "--target", "prod", "--repo", str(repo), "--yes", expect=ExitCode.ERROR
    ).stdout
    error = next(line for line in out.splitlines() if "both use the name 'announce'" in line)
    assert "deployment-processes Catalog: " in error
    assert "the destination's own step 'Notify'" in error and "synced step 'Announce'" in error
    assert dest.stats()["writes"] == 0


def test_ephemeral_environment_channels_are_left_out_with_a_decision(
    extras: tuple[Emulator, Emulator, Path],
) -> None:
    """Finding 12: a channel's ParentEnvironmentId names a parent environment of the
    environments v2 API, which is not synced."""
    _, _, repo = extras
    (repo / "overlays" / "prod.yaml").write_text(
        "environments:\n  Production: Production\nexclude:\n  certificates: [Web TLS]\n"
    )
    git(repo, "commit", "-qam", "no TLS certificate")
    plan = _plan(repo)
    assert not [c for c in plan["changes"] if c["name"] == ["Catalog", "Preview"]]
    assert any(
        d["where"] == "channels Catalog/Preview" and "ephemeral-environment channel" in d["message"]
        for d in plan["decisions"]
    )
