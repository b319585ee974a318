"""The emulator's payloads against Octopus's own published contracts.

Two field lists, derived as data (never copied code) by the scripts in `tools/`:
- `tests/contracts/octopus_fields.json` from `@octopusdeploy/message-contracts@1.3.1`, the
  TypeScript definitions the Octopus web UI is built on: names, optionality and coarse types;
- `tests/contracts/swagger_fields.json` from `octopus-deploy-swagger-client==1.1.0`, generated
  from the server's own swagger document: the names a real server puts on the wire (it adds
  `SpaceId`, `LastModifiedOn` and `LastModifiedBy`, which the UI contracts leave out).

For every kind the emulator serves, each GET payload must (1) carry every field the
TypeScript contract requires, (2) carry no field that neither contract knows, and (3) give
each field the contract's JSON type.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SAMPLES, Emulator, running_emulator

CONTRACTS = Path(__file__).resolve().parent.parent / "contracts"
TS = json.loads((CONTRACTS / "octopus_fields.json").read_text(encoding="utf-8"))
SWAGGER = json.loads((CONTRACTS / "swagger_fields.json").read_text(encoding="utf-8"))

# Fields a current server returns that neither the 2020 swagger document nor the UI
# contracts of message-contracts 1.3.1 list. Each one with where it is documented.
NEWER_FIELDS: dict[str, set[str]] = {
    # Slugs arrived in 2020.x for named resources (api-client 3.x routes accept slugs).
    "*": {"Slug"},
    # Tag set type and scopes (2025.x "tag sets for more than tenants").
    "TagSetResource": {"Type", "Scopes"},
    # Project settings that live on the project document in 2024.x (api-client
    # features/projects), and the config-as-code marker (PersistenceSettings).
    # The rest are fields of a 2025 server: go-octopusdeploy pkg/projects/project.go
    # (Project.DeploymentChangesTemplate, .AllowIgnoreChannelRules,
    # .CombineHealthAndSyncStatusInDashboardLiveStatus, .ProjectTags, .ProvisioningRunbookID,
    # .DeprovisioningRunbookID) and Octopus.Client Model/ProjectResource.cs
    # (ForcePackageDownload, ExecuteDeploymentsOnEventBasedPipeline, DefaultPowerShellEdition,
    # IsBadgesEnabled, Icon).
    "ProjectResource": {
        "IsVersionControlled",
        "PersistenceSettings",
        "DeploymentChangesTemplate",
        "AllowIgnoreChannelRules",
        "CombineHealthAndSyncStatusInDashboardLiveStatus",
        "ProjectTags",
        "ProvisioningRunbookId",
        "DeprovisioningRunbookId",
        "ForcePackageDownload",
        "ExecuteDeploymentsOnEventBasedPipeline",
        "DefaultPowerShellEdition",
        "IsBadgesEnabled",
        "Icon",
    },
    # go-octopusdeploy pkg/channels/channel.go: Channel.Type, .ParentEnvironmentID,
    # .EphemeralEnvironmentNameTemplate, .AutomaticEphemeralEnvironmentDeployments,
    # .CustomFieldDefinitions, .GitReferenceRules, .GitResourceRules.
    "ChannelResource": {
        "Type",
        "ParentEnvironmentId",
        "EphemeralEnvironmentNameTemplate",
        "AutomaticEphemeralEnvironmentDeployments",
        "CustomFieldDefinitions",
        "GitReferenceRules",
        "GitResourceRules",
    },
    # go-octopusdeploy pkg/environments/environment.go: Environment.EnvironmentTags.
    "EnvironmentResource": {"EnvironmentTags"},
    # Action fields added with step packages and container images (api-client 3.x).
    "DeploymentActionResource": {"Slug", "StepPackageVersion", "Inputs", "GitDependencies"},
    "DeploymentStepResource": {"Slug"},
    # go-octopusdeploy pkg/packages/package_reference.go: PackageReference.Version.
    "PackageReference": {"StepPackageInputsReferenceId", "Version"},
    # Tenants can be disabled since 2023.x; Icon: Octopus.Client Model/TenantResource.cs.
    "TenantResource": {"IsDisabled", "Icon"},
    # Step templates built from step packages.
    "ActionTemplateResource": {"StepPackageId"},
    # Priority phases (2024.x lifecycles).
    "PhaseResource": {"IsPriorityPhase"},
    # Machine shell and OS facts shown by the 2022+ UI.
    "DeploymentTargetResource": {
        "SpaceId",
        "Thumbprint",
        "Uri",
        "ShellName",
        "ShellVersion",
        "Architecture",
        "OperatingSystem",
    },
    "WorkerMachineResource": {
        "SpaceId",
        "Thumbprint",
        "Uri",
        "ShellName",
        "ShellVersion",
        "Architecture",
        "OperatingSystem",
    },
    # Runbook run retention (2022.x runbooks); go-octopusdeploy pkg/runbooks/runbook.go
    # (Runbook.RunbookTags, .ForcePackageDownload) and Octopus.Client Model/RunbookResource.cs
    # (FailTargetDiscovery, CancelQueuedTasks, CancelRunningTasks).
    "NonVcsRunbookResource": {
        "SpaceId",
        "LastModifiedOn",
        "LastModifiedBy",
        "RunbookTags",
        "ForcePackageDownload",
        "FailTargetDiscovery",
        "CancelQueuedTasks",
        "CancelRunningTasks",
    },
    "RunbookProcessResource": {"LastModifiedOn", "LastModifiedBy"},
    "MachinePolicyResource": {"MachineRpcCallRetryPolicy"},
    "SpaceResource": {"Slug", "Icon", "ExtensionSettings"},
    "UserRoleResource": {"SpaceId"},
    "StaticWorkerPoolResource": {"WorkerType"},
    "TriggerResource": {"SpaceId"},
    # Optimistic concurrency on the legacy tenant variables document (2022.2; Octopus.Client
    # source/Octopus.Server.Client/Model/TenantVariableResource.cs, commit 41204fdb).
    "TenantVariableResource": {"ConcurrencyToken"},
    # OIDC sign-in for ECR feeds (go-octopusdeploy pkg/feeds/feed_utilities.go, ToFeed:
    # `feedResource.OidcAuthentication` for AwsElasticContainerRegistry).
    "AwsElasticContainerRegistryFeedResource": {"OidcAuthentication"},
}

# Fields the UI contracts type as never null that real servers do return as null when
# unset, as a real deployment process in Octopus's docs shows ("Serializing with octoterra":
# `"Notes": null`, `"WorkerPoolVariable": null`), and as ids of things a resource was not
# cloned from or made from cannot be anything else.
NULL_IN_PRACTICE = {
    "ActionTemplateResource.CommunityActionTemplateId",
    "ProjectResource.ClonedFromProjectId",
    "DeploymentActionResource.Notes",
    "DeploymentActionResource.WorkerPoolId",
    "DeploymentActionResource.WorkerPoolVariable",
}
# Fields the UI contracts require that real payloads leave out: steps carry no `Links` in
# the same docs example.
ABSENT_IN_PRACTICE = {"DeploymentStepResource.Links"}

# Emulator collection -> (TypeScript contract kind, swagger model).
KIND_CONTRACTS = {
    "environments": ("EnvironmentResource", "EnvironmentResource"),
    "projectgroups": ("ProjectGroupResource", "ProjectGroupResource"),
    "tagsets": ("TagSetResource", "TagSetResource"),
    "machinepolicies": ("MachinePolicyResource", "MachinePolicyResource"),
    "workerpools": ("StaticWorkerPoolResource", "WorkerPoolResource"),
    "actiontemplates": ("ActionTemplateResource", "ActionTemplateResource"),
    "libraryvariablesets": ("LibraryVariableSetResource", "LibraryVariableSetResource"),
    "lifecycles": ("LifecycleResource", "LifecycleResource"),
    "certificates": ("CertificateResource", "CertificateResource"),
    "tenants": ("TenantResource", "TenantResource"),
    "projects": ("ProjectResource", "ProjectResource"),
    "channels": ("ChannelResource", "ChannelResource"),
    "runbooks": ("NonVcsRunbookResource", None),
    "projecttriggers": ("TriggerResource", "ProjectTriggerResource"),
    "teams": ("TeamResource", "TeamResource"),
    "scopeduserroles": ("ScopedUserRoleResource", "ScopedUserRoleResource"),
    "machines": ("DeploymentTargetResource", "MachineResource"),
    "workers": ("WorkerMachineResource", "WorkerResource"),
}
ACCOUNT_CONTRACTS = {
    "UsernamePassword": "UsernamePasswordAccountResource",
    "AmazonWebServicesAccount": "AmazonWebServicesAccountResource",
    "AzureServicePrincipal": "AzureServicePrincipalAccountResource",
    "Token": "TokenAccountResource",
    "GoogleCloudAccount": "GoogleCloudAccountResource",
    "SshKeyPair": "SshKeyPairAccountResource",
    "AzureSubscription": "AzureSubscriptionAccountResource",
}
FEED_CONTRACTS = {
    "BuiltIn": "BuiltInFeedResource",
    "NuGet": "NugetFeedResource",
    "Docker": "DockerFeedResource",
    "Maven": "MavenFeedResource",
    "GitHub": "GitHubFeedResource",
    "Helm": "HelmFeedResource",
    "AwsElasticContainerRegistry": "AwsElasticContainerRegistryFeedResource",
    "OctopusProject": "OctopusProjectFeedResource",
}

JSON_TYPES = {
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
    list: "array",
    dict: "object",
}


def _json_type(value: Any) -> str:
    return JSON_TYPES[type(value)]


def check(payload: dict[str, Any], ts_kind: str, swagger_model: str | None) -> list[str]:
    """Every way `payload` departs from the contracts of `ts_kind`, as readable lines."""
    contract = TS["kinds"][ts_kind]["fields"]
    known = set(contract) | NEWER_FIELDS.get(ts_kind, set()) | NEWER_FIELDS["*"]
    if swagger_model:
        known |= set(SWAGGER["models"][swagger_model]["fields"])
    problems = [f"{ts_kind}: unknown field {name}" for name in sorted(set(payload) - known)]
    for name, spec in sorted(contract.items()):
        if name not in payload:
            if not spec["optional"] and f"{ts_kind}.{name}" not in ABSENT_IN_PRACTICE:
                problems.append(f"{ts_kind}: missing required field {name}")
            continue
        value = payload[name]
        if value is None:
            nullable = spec["nullable"] or spec["optional"] or spec["type"] == "any"
            if not nullable and f"{ts_kind}.{name}" not in NULL_IN_PRACTICE:
                problems.append(f"{ts_kind}.{name}: null, but the contract is not nullable")
            continue
        if spec["type"] not in ("any", _json_type(value)):
            problems.append(f"{ts_kind}.{name}: {_json_type(value)}, contract says {spec['type']}")
    return problems


@pytest.fixture(scope="module")
def sample() -> Iterator[Emulator]:
    with running_emulator(seed=SAMPLES / "source.yaml", id_offset=300) as emulator:
        # One account and one feed of every type, so each variant's shape is checked.
        for account_type in ACCOUNT_CONTRACTS:
            emulator.create(
                "accounts", {"Name": f"{account_type} account", "AccountType": account_type}
            )
        for feed_type in FEED_CONTRACTS:
            if feed_type != "BuiltIn":
                emulator.create("feeds", {"Name": f"{feed_type} feed", "FeedType": feed_type})
        yield emulator


def _all(emulator: Emulator, collection: str) -> list[dict[str, Any]]:
    items = emulator.get(f"{collection}/all")
    assert items, f"the sample has no {collection}: the contract check would prove nothing"
    return list(items)


@pytest.mark.parametrize("collection", sorted(KIND_CONTRACTS))
def test_collection_items_match_contracts(sample: Emulator, collection: str) -> None:
    ts_kind, swagger_model = KIND_CONTRACTS[collection]
    problems = [p for item in _all(sample, collection) for p in check(item, ts_kind, swagger_model)]
    assert problems == []


def test_accounts_match_their_type_contracts(sample: Emulator) -> None:
    problems = []
    seen = set()
    for account in _all(sample, "accounts"):
        seen.add(account["AccountType"])
        problems += check(account, ACCOUNT_CONTRACTS[account["AccountType"]], "AccountResource")
    assert seen == set(ACCOUNT_CONTRACTS)
    assert problems == []


def test_feeds_match_their_type_contracts(sample: Emulator) -> None:
    problems = []
    seen = set()
    for feed in _all(sample, "feeds"):
        seen.add(feed["FeedType"])
        problems += check(feed, FEED_CONTRACTS[feed["FeedType"]], "FeedResource")
    assert seen == set(FEED_CONTRACTS)
    assert problems == []


def _project(sample: Emulator) -> dict[str, Any]:
    return dict(sample.by_name("projects", "OctoFX"))


def test_process_steps_actions_and_packages_match_contracts(sample: Emulator) -> None:
    project = _project(sample)
    process = sample.get(f"projects/{project['Id']}/deploymentprocesses")
    problems = check(process, "DeploymentProcessResource", "DeploymentProcessResource")
    assert process["Steps"]
    for step in process["Steps"]:
        problems += check(step, "DeploymentStepResource", "DeploymentStepResource")
        for action in step["Actions"]:
            problems += check(action, "DeploymentActionResource", "DeploymentActionResource")
            for package in action["Packages"]:
                problems += check(package, "PackageReference", "PackageReference")
    assert problems == []


def test_runbook_process_matches_contract(sample: Emulator) -> None:
    runbook = sample.get("runbooks/all")[0]
    process = sample.get(f"runbookProcesses/{runbook['RunbookProcessId']}")
    assert process["Steps"]
    assert check(process, "RunbookProcessResource", None) == []


def test_variable_sets_and_variables_match_contracts(sample: Emulator) -> None:
    project = _project(sample)
    variable_set = sample.get(f"variables/{project['VariableSetId']}")
    problems = check(variable_set, "VariableSetResource", "VariableSetResource")
    problems += check(variable_set["ScopeValues"], "ScopeValues", None)
    assert variable_set["Variables"]
    for variable in variable_set["Variables"]:
        problems += check(variable, "VariableResource", "VariableResource")
        problems += check(variable["Scope"], "ScopeSpecification", None)
        assert variable["Type"] in TS["enums"]["VariableType"]
    assert problems == []


def test_nested_documents_match_contracts(sample: Emulator) -> None:
    problems = []
    for lifecycle in sample.get("lifecycles/all"):
        for phase in lifecycle["Phases"]:
            problems += check(phase, "PhaseResource", "PhaseResource")
    for tag_set in sample.get("tagsets/all"):
        for tag in tag_set["Tags"]:
            problems += check(tag, "TagResource", "TagResource")
    for template in sample.get("actiontemplates/all")[0]["Parameters"]:
        problems += check(template, "ActionTemplateParameterResource", None)
    assert problems == []


def test_tenant_variables_match_contract(sample: Emulator) -> None:
    tenant = sample.by_name("tenants", "Internal")
    document = sample.get(f"tenants/{tenant['Id']}/variables")
    problems = check(document, "TenantVariableResource", "TenantVariableResource")
    assert document["ProjectVariables"] and document["LibraryVariables"]
    for entry in document["ProjectVariables"].values():
        problems += check(entry, "TenantProjectVariable", None)
    for entry in document["LibraryVariables"].values():
        problems += check(entry, "TenantLibraryVariable", None)
    assert problems == []


def test_collection_envelope_and_root_match_contracts(sample: Emulator) -> None:
    envelope = sample.get("environments")
    assert check(envelope, "ResourceCollection", None) == []
    root = sample.session.get(f"{sample.url}/api").json()
    assert check(root, "RootResource", "RootResource") == []
    spaces = sample.session.get(f"{sample.url}/api/spaces/all").json()
    assert [p for s in spaces for p in check(s, "SpaceResource", "SpaceResource")] == []


def test_user_roles_match_contract(sample: Emulator) -> None:
    roles = sample.session.get(f"{sample.url}/api/userroles/all").json()
    assert [p for r in roles for p in check(r, "UserRoleResource", "UserRoleResource")] == []


def test_every_emulated_kind_is_checked() -> None:
    """A kind added to the emulator without a contract check fails here."""
    from snapshotsync.emulator.schema import KINDS

    checked = set(KIND_CONTRACTS) | {
        "accounts",
        "feeds",
        "deploymentprocesses",
        "runbookprocesses",
        "variables",
        "spaces",
        "userroles",
        # Newer than both contract sources: its shape is go-octopusdeploy's
        # (pkg/credentials/resource.go), checked in test_git_credentials.py.
        "git-credentials",
    }
    assert set(KINDS) == checked
