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

from tests.helpers import (
    API_KEY,
    SOURCE_KEY_ENV,
    Emulator,
    git,
    init_repo,
    run_cli,
    running_emulator,
)

SEED = Path(__file__).parent / "seeds" / "fidelity-source.yaml"
PROFILES = ["2024.4.7000", "2025.2.9000"]
OVERLAY = """\
environments:
  Staging: Staging
  Production: Production
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
        (repo / "overlays" / "prod.yaml").write_text(OVERLAY)
        git(repo, "commit", "-qam", "overlay for prod")
        run_cli("export", "--repo", str(repo))
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
