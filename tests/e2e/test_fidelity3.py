"""Real-server fidelity, round 3, end to end (`seeds/fidelity3-source.yaml`): write order and
the ids hidden where no reference field names them, pushed to an empty destination under both
server profiles (before 2025.2, and 2025.2 and later). Every reference reads back as the
destination's own id, and a second plan is empty."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_fidelity import OVERLAY, PROFILES
from tests.emulator.test_http import sample_certificate
from tests.helpers import (
    API_KEY,
    SOURCE_KEY_ENV,
    Emulator,
    export_with_overlay,
    git,
    init_repo,
    run_cli,
    running_emulator,
)

SEED = Path(__file__).parent / "seeds" / "fidelity3-source.yaml"
UNPUBLISHED = OVERLAY.replace("publish: true", "publish: false")


@pytest.fixture(params=PROFILES)
def pair(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Emulator, Emulator, Path]]:
    """The scenario exported, and pushed once to an empty destination."""
    monkeypatch.setenv(SOURCE_KEY_ENV, API_KEY)
    monkeypatch.setenv("PROD_OCTOPUS_API_KEY", API_KEY)
    version = str(request.param)
    with (
        running_emulator(seed=SEED, id_offset=1000, server_version=version) as source,
        running_emulator(id_offset=5000, server_version=version) as destination,
    ):
        repo = init_repo(tmp_path, source, destination)
        export_with_overlay(repo, OVERLAY)
        first = _plan(repo)
        assert first["errors"] == []
        run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
        yield source, destination, repo


@pytest.fixture
def pushed(pair: tuple[Emulator, Emulator, Path]) -> tuple[Emulator, Path]:
    return pair[1], pair[2]


def _plan(repo: Path) -> dict[str, Any]:
    out = run_cli("plan", "--target", "prod", "--repo", str(repo), "--output", "json").stdout
    return dict(json.loads(out[out.index("{") :]))


def _by_name(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(item["Name"]): item for item in items}


def test_a_second_plan_is_empty(pushed: tuple[Emulator, Path]) -> None:
    _, repo = pushed
    second = _plan(repo)
    assert second["errors"] == []
    assert second["has_changes"] is False, [
        (c["action"], c["kind"], c["name"], c["diff"], c["values"])
        for c in second["changes"]
        if c["action"] in ("create", "update")
    ]


def test_channel_rules_name_the_destination_process(pushed: tuple[Emulator, Path]) -> None:
    dest, _ = pushed
    web = _by_name(dest.get("projects/all"))["Web"]
    beta = _by_name(dest.get(f"projects/{web['Id']}/channels")["Items"])["Beta"]
    (rule,) = beta["Rules"]
    assert rule["VersionRange"] == "[1.0,2.0)"
    assert rule["ActionPackages"] == [{"DeploymentAction": "Deploy Web", "PackageReference": ""}]


def test_slugs_name_the_destinations_actions(pushed: tuple[Emulator, Path]) -> None:
    """Feed and Git triggers and channel Git resource rules name actions by slug; the source's
    slugs date from before a rename, the destination makes its own from the current names."""
    dest, _ = pushed
    web = _by_name(dest.get("projects/all"))["Web"]
    process = dest.get(f"projects/{web['Id']}/deploymentprocesses")
    slugs = {a["Name"]: a["Slug"] for s in process["Steps"] for a in s["Actions"]}
    assert slugs["Deploy Web"] != "deploy-site" and slugs["Run Scripts"] != "run-shell-scripts"
    triggers = _by_name(dest.get(f"projects/{web['Id']}/triggers")["Items"])
    (package,) = triggers["New Web package"]["Filter"]["Packages"]
    assert package["DeploymentActionSlug"] == slugs["Deploy Web"]
    (source,) = triggers["Scripts changed"]["Filter"]["Sources"]
    assert source["DeploymentActionSlug"] == slugs["Run Scripts"]
    channels = _by_name(dest.get(f"projects/{web['Id']}/channels")["Items"])
    (rule,) = channels["Scripts From Main"]["GitResourceRules"]
    assert rule["GitDependencyActions"] == [
        {"DeploymentActionSlug": slugs["Run Scripts"], "GitDependencyName": ""}
    ]
    assert triggers["New Web package"]["Action"]["ChannelId"] == channels["Beta"]["Id"]


def test_a_process_template_step_is_copied_as_it_is_with_a_note(
    pushed: tuple[Emulator, Path],
) -> None:
    dest, repo = pushed
    web = _by_name(dest.get("projects/all"))["Web"]
    process = dest.get(f"projects/{web['Id']}/deploymentprocesses")
    (action,) = next(s["Actions"] for s in process["Steps"] if s["Name"] == "Sign-off")
    assert action["ActionType"] == "Octopus.ProcessTemplate"
    assert action["Properties"]["Octopus.Action.ProcessTemplate.Reference.Slug"] == (
        "release-sign-off"
    )
    out = run_cli("export", "--repo", str(repo), expect=None)
    assert "Platform Hub process template 'release-sign-off'" in out.stdout + out.stderr


def test_config_as_code_runbooks_are_left_out_with_a_note(pushed: tuple[Emulator, Path]) -> None:
    dest, repo = pushed
    assert not (repo / "snapshot" / "projects" / "Ops" / "runbooks").exists()
    out = run_cli("export", "--repo", str(repo), expect=None)
    assert "config-as-code runbooks: its runbooks live in git" in out.stdout + out.stderr
    # A config-as-code project is never created on the destination (round 2).
    assert "Ops" not in _by_name(dest.get("projects/all"))


def test_machine_policies_name_the_destinations_update_account(
    pushed: tuple[Emulator, Path],
) -> None:
    dest, _ = pushed
    account = _by_name(dest.get("accounts/all"))["Tentacle Updater"]
    policy = _by_name(dest.get("machinepolicies/all"))["Updating Policy"]
    assert policy["MachineUpdatePolicy"]["TentacleUpdateAccountId"] == account["Id"]
    assert policy["MachineUpdatePolicy"]["TentacleUpdateBehavior"] == "Update"


def test_step_template_properties_name_the_destinations_feed_and_account(
    pushed: tuple[Emulator, Path],
) -> None:
    dest, _ = pushed
    template = _by_name(dest.get("actiontemplates/all"))["Publish To Azure"]
    account = _by_name(dest.get("accounts/all"))["Deploy Azure"]
    feed = _by_name(dest.get("feeds/all"))["NuGet"]
    assert template["Properties"]["Octopus.Action.Azure.AccountId"] == account["Id"]
    assert template["Properties"]["Octopus.Action.Package.FeedId"] == feed["Id"]
    assert template["Properties"]["Octopus.Action.Package.PackageId"] == "Web.Site"


def test_git_dependencies_name_the_destinations_git_credential(
    pushed: tuple[Emulator, Path],
) -> None:
    dest, repo = pushed
    # The placeholder password is in the cleanup ledger, for a person to replace.
    ledger = (repo / "targets" / "prod" / "cleanup.yaml").read_text()
    assert "kind: git-credentials" in ledger and "- GitHub Scripts" in ledger
    credential = _by_name(dest.get("git-credentials")["Items"])["GitHub Scripts"]
    # Created with the placeholder secret (its value cannot be read from the source).
    assert credential["Details"]["Username"] == "octobot"
    assert credential["Details"]["Password"]["HasValue"] is True
    assert (
        dest.instance.docs["git-credentials"][credential["Id"]]["Details"]["Password"]["NewValue"]
        == "CHANGE_ME"
    )
    web = _by_name(dest.get("projects/all"))["Web"]
    process = dest.get(f"projects/{web['Id']}/deploymentprocesses")
    actions = {a["Name"]: a for s in process["Steps"] for a in s["Actions"]}
    (dependency,) = actions["Run Scripts"]["GitDependencies"]
    assert dependency["GitCredentialId"] == credential["Id"]
    assert (
        actions["Publish"]["Properties"]["Octopus.Action.Azure.AccountId"]
        == _by_name(dest.get("accounts/all"))["Deploy Azure"]["Id"]
    )


@pytest.mark.parametrize(
    ("source_version", "destination_version"),
    [("2024.4.7000", "2025.1.2000"), ("2025.4.100", "2026.1.100")],
)
def test_the_last_release_of_a_year_syncs_with_the_first_of_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source_version: str, destination_version: str
) -> None:
    """Octopus versions are year.release: 2024.4 and 2025.1 are adjacent releases (under the
    legacy tenant-variable profile), as are 2025.4 and 2026.1 (under the scoped one)."""
    monkeypatch.setenv(SOURCE_KEY_ENV, API_KEY)
    monkeypatch.setenv("PROD_OCTOPUS_API_KEY", API_KEY)
    with (
        running_emulator(seed=SEED, id_offset=1000, server_version=source_version) as source,
        running_emulator(id_offset=5000, server_version=destination_version) as destination,
    ):
        repo = init_repo(tmp_path, source, destination)
        export_with_overlay(repo, OVERLAY)
        run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
        assert "Web" in _by_name(destination.get("projects/all"))
        destination.configure(server_version="2026.2.1" if source_version < "2025" else "2026.3.1")
        refused = run_cli("push", "--target", "prod", "--repo", str(repo), "--yes", expect=1)
        assert "releases apart" in refused.stderr


def test_tenant_values_edited_between_read_and_write_are_re_read_not_overwritten(
    pair: tuple[Emulator, Emulator, Path],
) -> None:
    """Someone saves the tenant's variables between the push's read and its write: the write
    carries the token it read, is refused, and the push re-reads and writes again (the legacy
    document before 2025.2; the scoped documents and their ConcurrencyToken from 2025.2)."""
    source, dest, repo = pair
    tenant = _by_name(dest.get("tenants/all"))["Acme"]
    web = _by_name(dest.get("projects/all"))["Web"]
    environments = _by_name(dest.get("environments/all"))
    if dest.instance.scoped_tenant_variables:
        values = dest.get(f"tenants/{tenant['Id']}/projectvariables")["Variables"]
        (url,) = [v for v in values if v["ProjectId"] == web["Id"]]
        assert sorted(url["Scope"]["EnvironmentIds"]) == sorted(
            environments[e]["Id"] for e in ("Staging", "Production")
        )
    # The source changes a common value; another user saves the destination tenant's
    # variables just before the push writes them.
    _set_region(source, "eu-central")
    run_cli("export", "--repo", str(repo))
    dest.configure(concurrent_edit_on_put=1)
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    last_push = (repo / "targets" / "prod" / "last-push.yaml").read_text()
    assert "stale_version_retries: 1" in last_push
    assert "result: complete" in last_push
    assert _plan(repo)["has_changes"] is False


def _put_scoped(emulator: Emulator, path: str, document: dict[str, Any]) -> None:
    """Save a scoped tenant-variable document as read, with the token it was read with."""
    body = {"Variables": document["Variables"], "ConcurrencyToken": document["ConcurrencyToken"]}
    assert emulator.put(path, body).status_code == 200


def _set_region(source: Emulator, value: str) -> None:
    tenant = _by_name(source.get("tenants/all"))["Acme"]
    shared = _by_name(source.get("libraryvariablesets/all"))["Shared"]
    (template,) = shared["Templates"]
    if source.instance.scoped_tenant_variables:
        path = f"tenants/{tenant['Id']}/commonvariables"
        document = source.get(path)
        for item in document["Variables"]:
            if item["TemplateId"] == template["Id"]:
                item["Value"] = value
        _put_scoped(source, path, document)
        return
    path = f"tenants/{tenant['Id']}/variables"
    document = source.get(path)
    document["LibraryVariables"][shared["Id"]]["Variables"][template["Id"]] = value
    assert source.put(path, document).status_code == 200


KEY_FILE = base64.b64encode(
    b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    b"-----END OPENSSH PRIVATE KEY-----\n"
).decode()
PARSED_SECRETS_SEED = f"""
environments:
  - {{Name: Production, SortOrder: 1}}
accounts:
  - Name: Deploy SSH
    AccountType: SshKeyPair
    Username: deploy
    PrivateKeyFile: {{HasValue: true, NewValue: "{KEY_FILE}"}}
  - Name: Classic Azure
    AccountType: AzureSubscription
    SubscriptionNumber: 00000000-0000-0000-0000-000000000009
    CertificateBytes: {{HasValue: true, NewValue: "CERTIFICATE"}}
"""


@pytest.mark.parametrize("version", PROFILES)
def test_accounts_whose_secret_the_server_parses_stop_the_plan_naming_both_fixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    """An SSH key pair's private key file and an Azure subscription's certificate are read
    by the server, so a placeholder would be refused half way through a push: the plan stops
    first and names both ways out."""
    monkeypatch.setenv(SOURCE_KEY_ENV, API_KEY)
    monkeypatch.setenv("PROD_OCTOPUS_API_KEY", API_KEY)
    certificate = sample_certificate("source").replace("\n", "")
    seed = tmp_path / "source.yaml"
    seed.write_text(PARSED_SECRETS_SEED.replace("CERTIFICATE", certificate))
    with (
        running_emulator(seed=seed, id_offset=1000, server_version=version) as source,
        running_emulator(id_offset=5000, server_version=version) as dest,
    ):
        repo = init_repo(tmp_path, source, dest)
        export_with_overlay(repo, "environments:\n  Production: Production\n")
        dest.session.delete(f"{dest.url}/api/emulator/stats")
        out = run_cli("push", "--target", "prod", "--repo", str(repo), "--yes", expect=1).stdout
        for name, field in (
            ("Deploy SSH", "PrivateKeyFile"),
            ("Classic Azure", "CertificateBytes"),
        ):
            assert f"accounts {name}: not on the destination, and its {field} cannot" in out
        assert "create the account on the destination" in out and "rename.accounts" in out
        assert dest.stats()["writes"] == 0
        # The first fix: the accounts made on the destination by hand, with their secrets.
        dest.create(
            "accounts",
            {
                "Name": "Deploy SSH",
                "AccountType": "SshKeyPair",
                "Username": "deploy",
                "PrivateKeyFile": {"HasValue": True, "NewValue": KEY_FILE},
            },
        )
        dest.create(
            "accounts",
            {
                "Name": "Classic Azure",
                "AccountType": "AzureSubscription",
                "CertificateBytes": {"HasValue": True, "NewValue": certificate},
            },
        )
        run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
        assert _plan(repo)["has_changes"] is False


def test_runbooks_whose_process_was_written_are_published(pushed: tuple[Emulator, Path]) -> None:
    dest, _ = pushed
    web = _by_name(dest.get("projects/all"))["Web"]
    runbook = _by_name(dest.get(f"projects/{web['Id']}/runbooks")["Items"])["Rotate Logs"]
    snapshots = dest.get(f"projects/{web['Id']}/runbookSnapshots")["Items"]
    assert [s["Id"] for s in snapshots] == [runbook["PublishedRunbookSnapshotId"]]
    trigger = _by_name(dest.get(f"projects/{web['Id']}/triggers")["Items"])["Nightly rotate"]
    assert trigger["Action"]["RunbookId"] == runbook["Id"]


@pytest.mark.parametrize("version", PROFILES)
def test_without_publishing_a_trigger_for_an_unpublished_runbook_stops_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    monkeypatch.setenv(SOURCE_KEY_ENV, API_KEY)
    monkeypatch.setenv("PROD_OCTOPUS_API_KEY", API_KEY)
    with (
        running_emulator(seed=SEED, id_offset=1000, server_version=version) as source,
        running_emulator(id_offset=5000, server_version=version) as dest,
    ):
        repo = init_repo(tmp_path, source, dest)
        export_with_overlay(repo, UNPUBLISHED)
        dest.session.delete(f"{dest.url}/api/emulator/stats")
        out = run_cli("push", "--target", "prod", "--repo", str(repo), "--yes", expect=1).stdout
        assert "triggers Web/Nightly rotate: runs runbook 'Rotate Logs', which has no" in out
        assert "runbooks: {publish: true}" in out and "publish the runbook on the" in out
        assert dest.stats()["writes"] == 0


def test_without_publishing_the_plan_lists_runbooks_left_with_an_older_snapshot(
    pair: tuple[Emulator, Emulator, Path],
) -> None:
    source, dest, repo = pair
    web = _by_name(dest.get("projects/all"))["Web"]
    published = _by_name(dest.get(f"projects/{web['Id']}/runbooks")["Items"])["Rotate Logs"][
        "PublishedRunbookSnapshotId"
    ]
    overlay = repo / "overlays" / "prod.yaml"
    overlay.write_text(UNPUBLISHED)
    git(repo, "commit", "-qam", "publish runbooks by hand on prod")
    # The source changes the runbook's process.
    source_web = _by_name(source.get("projects/all"))["Web"]
    runbook = _by_name(source.get(f"projects/{source_web['Id']}/runbooks")["Items"])["Rotate Logs"]
    path = f"runbookProcesses/{runbook['RunbookProcessId']}"
    process = source.get(path)
    process["Steps"][0]["Actions"][0]["Properties"]["Octopus.Action.Script.ScriptBody"] = "./v2.sh"
    assert source.put(path, process).status_code == 200
    run_cli("export", "--repo", str(repo))
    plan = _plan(repo)
    listed = [d for d in plan["decisions"] if d["where"] == "runbooks Web/Rotate Logs"]
    assert listed and "published snapshot is now older than its process" in listed[0]["message"]
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    after = _by_name(dest.get(f"projects/{web['Id']}/runbooks")["Items"])["Rotate Logs"]
    assert after["PublishedRunbookSnapshotId"] == published
    assert _plan(repo)["has_changes"] is False


def test_one_environment_of_a_tenant_value_kept_for_several_changes_alone(
    pair: tuple[Emulator, Emulator, Path],
) -> None:
    """The destination holds one value for Staging and Production (one scoped item from
    2025.2); the source changes Production's alone. The item is split: Staging keeps its
    value, Production gets the new one, and the next plan is empty."""
    source, dest, repo = pair
    _set_url(source, "Production", "https://acme-prod.example")
    run_cli("export", "--repo", str(repo))
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    assert _urls(dest) == {
        "Staging": "https://acme.example",
        "Production": "https://acme-prod.example",
    }
    assert _plan(repo)["has_changes"] is False


def _tenant_parts(emulator: Emulator) -> tuple[str, str, str, dict[str, str]]:
    tenant = _by_name(emulator.get("tenants/all"))["Acme"]
    web = _by_name(emulator.get("projects/all"))["Web"]
    (template,) = web["Templates"]
    environments = {e["Name"]: e["Id"] for e in emulator.get("environments/all")}
    return tenant["Id"], web["Id"], template["Id"], environments


def _set_url(source: Emulator, environment: str, value: str) -> None:
    tenant, web, template, environments = _tenant_parts(source)
    if source.instance.scoped_tenant_variables:
        path = f"tenants/{tenant}/projectvariables"
        document = source.get(path)
        for item in document["Variables"]:
            if item["TemplateId"] == template:
                item["Scope"]["EnvironmentIds"].remove(environments[environment])
        document["Variables"].append(
            {
                "ProjectId": web,
                "TemplateId": template,
                "Value": value,
                "Scope": {"EnvironmentIds": [environments[environment]]},
            }
        )
        _put_scoped(source, path, document)
        return
    path = f"tenants/{tenant}/variables"
    document = source.get(path)
    document["ProjectVariables"][web]["Variables"][environments[environment]][template] = value
    assert source.put(path, document).status_code == 200


def _urls(dest: Emulator) -> dict[str, str]:
    """The destination's Tenant.Url by environment name."""
    tenant, web, template, environments = _tenant_parts(dest)
    names = {i: n for n, i in environments.items()}
    if dest.instance.scoped_tenant_variables:
        return {
            names[e]: item["Value"]
            for item in dest.get(f"tenants/{tenant}/projectvariables")["Variables"]
            if item["TemplateId"] == template
            for e in item["Scope"]["EnvironmentIds"]
        }
    by_environment = dest.get(f"tenants/{tenant}/variables")["ProjectVariables"][web]["Variables"]
    return {
        names[e]: values[template] for e, values in by_environment.items() if template in values
    }
