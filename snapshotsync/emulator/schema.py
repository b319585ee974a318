"""What the emulator knows about each Octopus resource kind, as data.

Field names, nesting and defaults follow Octopus's published TypeScript message contracts
(`@octopusdeploy/message-contracts@1.3.1`, `dist/<name>Resource.d.ts`); routes follow the
official TypeScript client (`@octopusdeploy/api-client@3.11.0`, `dist/features/**`). The
test `tests/emulator/test_contracts.py` checks every kind's GET shape against field lists
derived from those files (`tests/contracts/octopus_fields.json`).

Each kind lists every property the server returns. A write may carry any of them (real
clients PUT back what they GET); a property that is not listed is an unknown property and
is rejected with 400. That is stricter than any source shows a real server to be: no issue,
client or API reference page found says Octopus refuses an unknown property (Octopus.Client
marks what the server copies with `[Writeable]`, which suggests the rest is ignored). It is
kept on purpose, so a misspelt or misplaced field in what the tool sends fails a test
instead of vanishing silently on a real server. Fields in `server_owned` are
returned but ignored on write. `refs` name every field that holds the id of another
resource: the emulator rejects writes whose ids do not exist, and the seed loader lets a
hand-written fixture give names there instead of ids.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

JsonDict = dict[str, Any]

# Path tokens: "*" walks every item of a list, "@keys" the keys of a dict and "@values"
# its values; any other token is a property name.
Path = tuple[str, ...]

ACCOUNT_VARIABLE_TYPES = frozenset(
    {
        "AmazonWebServicesAccount",
        "AzureAccount",
        "GoogleCloudAccount",
        "UsernamePasswordAccount",
        "GenericOidcAccount",
    }
)
VARIABLE_TYPES = frozenset(
    {"String", "Sensitive", "Certificate", "WorkerPool", *ACCOUNT_VARIABLE_TYPES}
)
SCOPE_KEYS = ("Environment", "Machine", "Role", "Action", "Channel", "TenantTag", "ProcessOwner")


@dataclass(frozen=True)
class Ref:
    """A field (at `path`) that holds the id of a resource of kind `target`.

    `when` restricts the reference to containers it accepts (a variable's `Value` is an
    account id only when its `Type` is an account type).
    """

    path: Path
    target: str
    when: Callable[[JsonDict], bool] | None = None
    separator: str | None = None  # several ids in one string, e.g. "Teams-1,Teams-2"
    # The value is a JSON object in a string holding every key of `json_keys`; the id is at
    # `json_key` (a step-template package parameter: '{"PackageId": "x", "FeedId": "Feeds-1"}').
    json_key: str | None = None
    json_keys: frozenset[str] = frozenset()
    # The value may be a variable expression (`#{Feed.Id}`), resolved at deployment time.
    expressions: bool = False
    # For tags: the scope the tag's set must have (go-octopusdeploy pkg/tagsets/tag_set.go
    # `Scopes`: Tenant, Environment, Project, Runbook, Target).
    tag_scope: str | None = None

    def ids(self, value: Any) -> list[Any]:
        """The ids one matched value holds."""
        if self.json_key:
            decoded = self._decoded(value)
            return [decoded[self.json_key]] if decoded is not None else []
        if self.separator and isinstance(value, str):
            return [part.strip() for part in value.split(self.separator) if part.strip()]
        return [value]

    def replace(self, value: Any, new_id: Callable[[str], str]) -> Any:
        """`value` with each id it holds replaced by `new_id(id)` (names -> ids in seeds)."""
        if self.json_key:
            decoded = self._decoded(value)
            if decoded is None or not isinstance(decoded[self.json_key], str):
                return value
            return json.dumps({**decoded, self.json_key: new_id(decoded[self.json_key])})
        if not isinstance(value, str) or not value or self.is_expression(value):
            return value
        return (self.separator or "").join(new_id(one) for one in self.ids(value))

    def is_expression(self, value: Any) -> bool:
        return self.expressions and isinstance(value, str) and "#{" in value

    def _decoded(self, value: Any) -> JsonDict | None:
        if not isinstance(value, str) or not value.lstrip().startswith("{"):
            return None
        try:
            decoded = json.loads(value)
        except ValueError:
            return None
        wanted = self.json_keys | {self.json_key or ""}
        return decoded if isinstance(decoded, dict) and wanted <= set(decoded) else None


@dataclass(frozen=True)
class Kind:
    """One resource kind of the API."""

    collection: str  # route segment, e.g. "environments"
    prefix: str  # id prefix, e.g. "Environments" -> "Environments-12"
    item_type: str  # the envelope's ItemType
    fields: Mapping[str, Any]  # property -> default (every property the server returns)
    space_scoped: bool = True
    named: bool = True  # has a Name that must be unique
    unique_within: str | None = None  # e.g. "ProjectId": names unique per project only
    server_owned: frozenset[str] = frozenset()
    refs: tuple[Ref, ...] = ()
    versioned: bool = False  # optimistic concurrency on `Version`
    # Items nested at a path (steps, actions, phases, ...): their properties with defaults.
    nested: Mapping[Path, Mapping[str, Any]] = field(default_factory=dict)
    creatable: bool = True  # False for documents the server creates (processes, variables)
    # Polymorphic kinds (accounts, feeds): the field that names the variant, and the extra
    # properties of each variant.
    variant_field: str | None = None
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    audited: bool = True  # carries LastModifiedOn/LastModifiedBy, set by the server
    # Teams and scoped user roles live in a space or, with `SpaceId` null, at system level
    # (OctopusDeploy/docs PR #303: a team "Accessible in all spaces" is a system team).
    mixed_scope: bool = False

    def fields_for(self, variant: Any) -> dict[str, Any]:
        """Every property of this kind, or of one variant of it, with defaults."""
        extra = self.variants.get(str(variant), {}) if self.variant_field else {}
        return {**self.fields, **extra}


def _keys(*names: str) -> frozenset[str]:
    return frozenset(names)


SENSITIVE_EMPTY: JsonDict = {"HasValue": False, "NewValue": None, "Hint": None}

COMMON = ("Id", "SpaceId", "Links")
# Retention periods gained a `Strategy` (go-octopusdeploy pkg/core/retention_period.go:
# Default | Forever | Count; a count-based period says Count).
RETENTION = {"Unit": "Days", "QuantityToKeep": 30, "ShouldKeepForever": False, "Strategy": "Count"}
TENANT_PARTICIPATION = {
    "TenantedDeploymentParticipation": "Untenanted",
    "TenantIds": [],
    "TenantTags": [],
}

# Items nested in documents, with the defaults the server fills in (a real payload,
# docs "Serializing with octoterra" in OctopusDeploy/docs, shows `Notes: null`,
# `WorkerPoolVariable: null`, `Container: {Image, FeedId}` and `Links: {}` on actions).
STEP_DEFAULTS: Mapping[str, Any] = {
    "Id": None,
    "Name": "",
    "Slug": "",
    "PackageRequirement": "LetOctopusDecide",
    "Properties": {},
    "Condition": "Success",
    "StartTrigger": "StartAfterPrevious",
    "Actions": [],
}
ACTION_DEFAULTS: Mapping[str, Any] = {
    "Id": None,
    "Name": "",
    "Slug": "",
    "ActionType": "",
    "Notes": None,
    "IsDisabled": False,
    "CanBeUsedForProjectVersioning": False,
    "IsRequired": False,
    "WorkerPoolId": None,
    # GitUrl and Dockerfile: go-octopusdeploy pkg/deployments/deployment_action_container.go.
    "Container": {"Image": None, "FeedId": None, "GitUrl": None, "Dockerfile": None},
    "WorkerPoolVariable": None,
    "Environments": [],
    "ExcludedEnvironments": [],
    "Channels": [],
    "TenantTags": [],
    "Packages": [],
    "GitDependencies": [],
    "Condition": "Success",
    "Properties": {},
    "Links": {},
    "StepPackageVersion": None,
    "Inputs": {},
}
PACKAGE_DEFAULTS: Mapping[str, Any] = {
    "Id": None,
    "Name": "",
    "PackageId": "",
    "FeedId": None,
    "AcquisitionLocation": "Server",
    "Properties": {},
    "StepPackageInputsReferenceId": None,
    "Version": None,  # go-octopusdeploy pkg/packages/package_reference.go (2024)
}
VARIABLE_DEFAULTS: Mapping[str, Any] = {
    "Id": None,
    "Name": "",
    "Value": None,
    "Description": None,
    "Scope": {},
    "IsEditable": True,
    "Prompt": None,
    "Type": "String",
    "IsSensitive": False,
}
PHASE_DEFAULTS: Mapping[str, Any] = {
    "Id": None,
    "Name": "",
    "AutomaticDeploymentTargets": [],
    "OptionalDeploymentTargets": [],
    "MinimumEnvironmentsBeforePromotion": 0,
    "IsOptionalPhase": False,
    "ReleaseRetentionPolicy": None,
    "TentacleRetentionPolicy": None,
    "IsPriorityPhase": False,
}
TEMPLATE_DEFAULTS: Mapping[str, Any] = {
    "Id": None,
    "Name": "",
    "Label": "",
    "HelpText": "",
    "DefaultValue": "",
    "DisplaySettings": {},
    "AllowClear": False,
    "Links": {},
}
TAG_DEFAULTS: Mapping[str, Any] = {
    "Id": None,
    "Name": "",
    "Color": "#333333",
    "Description": "",
    "SortOrder": 0,
    "CanonicalTagName": "",
}

CHANNEL_RULE_DEFAULTS: Mapping[str, Any] = {
    "Id": None,
    "VersionRange": "",
    "Tag": "",
    "ActionPackages": [],
    "Links": {},
}

STEPS = ("Steps", "*")
ACTIONS = (*STEPS, "Actions", "*")


# The feed every instance has for "Deploy a release" steps: its packages are projects
# (SpaceCloner `src/Cloners/ActionCloner.ps1` maps `Packages[].PackageId` of
# `Octopus.DeployRelease` by project name; octoterra `deployment_process_converter_base.go`:
# "packages can be project IDs when they are defined in a 'Deploy a release' step").
RELEASES_FEED_ID = "feeds-builtin-releases"


def _is_release_package(package: JsonDict) -> bool:
    return package.get("FeedId") == RELEASES_FEED_ID


def _property(name: str) -> Path:
    return (*ACTIONS, "Properties", name)


# Properties of a step template that hold ids, as an action's (below) do.
ACTION_PROPERTY_REFS: tuple[tuple[str, str, str | None], ...] = (
    ("Octopus.Action.Package.FeedId", "feeds", None),
    ("Octopus.Action.Package.NuGetFeedId", "feeds", None),
    ("Octopus.Action.Azure.AccountId", "accounts", None),
    ("Octopus.Action.Manual.ResponsibleTeamIds", "teams", ","),
)


def _process_refs() -> tuple[Ref, ...]:
    return (
        Ref((*ACTIONS, "Environments", "*"), "environments"),
        Ref((*ACTIONS, "ExcludedEnvironments", "*"), "environments"),
        Ref((*ACTIONS, "Channels", "*"), "channels"),
        Ref((*ACTIONS, "TenantTags", "*"), "tags"),
        Ref((*ACTIONS, "WorkerPoolId"), "workerpools"),
        # Container images come from a feed (go-octopusdeploy `deployment_action_container.go`;
        # SpaceCloner ActionCloner.ps1 maps `Container.FeedId`).
        Ref((*ACTIONS, "Container", "FeedId"), "feeds"),
        Ref((*ACTIONS, "Packages", "*", "FeedId"), "feeds"),
        # After FeedId, so that a seed's feed name is an id by the time `when` reads it.
        Ref(
            (*ACTIONS, "Packages", "*", "PackageId"),
            "projects",
            when=_is_release_package,
            expressions=True,
        ),
        Ref(_property("Octopus.Action.Template.Id"), "actiontemplates"),
        Ref(_property("Octopus.Action.Package.FeedId"), "feeds", expressions=True),
        # The legacy name of the same (Sashimi `source/Server.Contracts/KnownVariables.cs`).
        Ref(_property("Octopus.Action.Package.NuGetFeedId"), "feeds", expressions=True),
        Ref(_property("Octopus.Action.DeployRelease.ProjectId"), "projects", expressions=True),
        # Step-template parameters of type Package hold '{"PackageId": ..., "FeedId": ...}'
        # (SpaceCloner ActionCloner.ps1 maps the FeedId; Terraform provider
        # `resource_step_template.go`).
        Ref(
            (*ACTIONS, "Properties", "@values"),
            "feeds",
            json_key="FeedId",
            json_keys=frozenset({"PackageId"}),
            expressions=True,
        ),
        # Manual intervention steps name the teams that may respond, as a list in a string.
        Ref(_property("Octopus.Action.Manual.ResponsibleTeamIds"), "teams", separator=","),
        # Email steps name teams the same way, and Azure steps their account ("Entity
        # references in OCL" lists both; research B 5). Inferred that the server checks them on
        # save: the emulator refuses a dangling id so a sync that leaves one shows.
        *(
            Ref(
                _property(f"Octopus.Action.Email.{field}"), "teams", separator=",", expressions=True
            )
            for field in ("ToTeamIds", "CCTeamIds", "BccTeamIds")
        ),
        Ref(_property("Octopus.Action.Azure.AccountId"), "accounts", expressions=True),
        # An action's Git dependencies sign in with a library git credential (go-octopusdeploy
        # pkg/gitdependencies/git_dependency.go `GitCredentialId` with `GitCredentialType`
        # Library; octoterra maps it through the space's git credentials,
        # `deployment_process_converter_base.go`).
        Ref((*ACTIONS, "GitDependencies", "*", "GitCredentialId"), "git-credentials"),
    )


def _process_nested() -> dict[Path, Mapping[str, Any]]:
    return {
        STEPS: STEP_DEFAULTS,
        ACTIONS: ACTION_DEFAULTS,
        (*ACTIONS, "Packages", "*"): PACKAGE_DEFAULTS,
    }


def _is_account_variable(variable: JsonDict) -> bool:
    return variable.get("Type") in ACCOUNT_VARIABLE_TYPES


VARIABLE_REFS = (
    Ref(("Variables", "*", "Scope", "Environment", "*"), "environments"),
    Ref(("Variables", "*", "Scope", "Machine", "*"), "machines"),
    Ref(("Variables", "*", "Scope", "Channel", "*"), "channels"),
    Ref(("Variables", "*", "Scope", "Action", "*"), "actions"),
    Ref(("Variables", "*", "Scope", "TenantTag", "*"), "tags"),
    Ref(("Variables", "*", "Scope", "ProcessOwner", "*"), "processowners"),
    Ref(("Variables", "*", "Value"), "accounts", when=_is_account_variable),
    Ref(("Variables", "*", "Value"), "certificates", when=lambda v: v.get("Type") == "Certificate"),
    Ref(("Variables", "*", "Value"), "workerpools", when=lambda v: v.get("Type") == "WorkerPool"),
)

KINDS: dict[str, Kind] = {}


AUDIT_FIELDS = frozenset({"LastModifiedOn", "LastModifiedBy"})


def _register(kind: Kind) -> Kind:
    if kind.audited:
        kind = replace(
            kind,
            fields={**kind.fields, "LastModifiedOn": None, "LastModifiedBy": None},
            server_owned=kind.server_owned | AUDIT_FIELDS,
        )
    KINDS[kind.collection] = kind
    return kind


_register(
    Kind(
        "spaces",
        "Spaces",
        "Space",
        {
            "Name": "",
            "Slug": "",
            "Description": None,
            "IsDefault": False,
            "TaskQueueStopped": False,
            "SpaceManagersTeams": [],
            "SpaceManagersTeamMembers": [],
            "Icon": None,
            "ExtensionSettings": [],
            "LastModifiedOn": None,
            "LastModifiedBy": None,
        },
        space_scoped=False,
        server_owned=_keys("LastModifiedOn", "LastModifiedBy"),
    )
)
_register(
    Kind(
        "environments",
        "Environments",
        "Environment",
        {
            "Name": "",
            "Slug": "",
            "Description": "",
            "SortOrder": 0,
            "UseGuidedFailure": False,
            "AllowDynamicInfrastructure": False,
            "ExtensionSettings": [],
            "EnvironmentTags": [],
        },
        refs=(Ref(("EnvironmentTags", "*"), "tags", tag_scope="Environment"),),
    )
)
_register(
    Kind(
        "projectgroups",
        "ProjectGroups",
        "ProjectGroup",
        {
            "Name": "",
            "Slug": "",
            "Description": "",
            "EnvironmentIds": [],
            "RetentionPolicyId": None,
        },
        refs=(Ref(("EnvironmentIds", "*"), "environments"),),
    )
)
_register(
    Kind(
        "tagsets",
        "TagSets",
        "TagSet",
        {
            "Name": "",
            "Description": "",
            "SortOrder": 0,
            "Tags": [],
            "Type": "MultiSelect",
            "Scopes": ["Tenant"],
        },
        nested={("Tags", "*"): TAG_DEFAULTS},
    )
)
_FEED_CREDENTIALS = {"FeedUri": "", "Username": None, "Password": SENSITIVE_EMPTY}
_FEED_RETRIES = {"DownloadAttempts": 5, "DownloadRetryBackoffSeconds": 10}
_register(
    Kind(
        "feeds",
        "Feeds",
        "Feed",
        {
            "Name": "",
            "Slug": "",
            "FeedType": "NuGet",
            "PackageAcquisitionLocationOptions": ["Server", "ExecutionTarget"],
        },
        variant_field="FeedType",
        variants={
            "BuiltIn": {
                "IsBuiltInRepoSyncEnabled": False,
                "DeleteUnreleasedPackagesAfterDays": None,
            },
            "NuGet": {**_FEED_CREDENTIALS, **_FEED_RETRIES, "EnhancedMode": False},
            "Docker": {**_FEED_CREDENTIALS, "ApiVersion": None, "RegistryPath": ""},
            "Maven": {**_FEED_CREDENTIALS, **_FEED_RETRIES},
            "GitHub": {**_FEED_CREDENTIALS, **_FEED_RETRIES},
            "Helm": {**_FEED_CREDENTIALS},
            "AwsElasticContainerRegistry": {
                "FeedUri": "",
                "AccessKey": "",
                "SecretKey": SENSITIVE_EMPTY,
                "Region": "",
                **_FEED_RETRIES,
                "OidcAuthentication": None,
            },
            "OctopusProject": {},
            # The 2025 feed types, with the fields go-octopusdeploy gives each
            # (pkg/feeds/feed_utilities.go ToFeed/ToFeedResource, gcs_storage_feed.go,
            # feed_types.go for the FeedType spellings).
            "AzureContainerRegistry": {
                **_FEED_CREDENTIALS,
                **_FEED_RETRIES,
                "ApiVersion": None,
                "RegistryPath": "",
                "OidcAuthentication": None,
            },
            "GoogleContainerRegistry": {
                **_FEED_CREDENTIALS,
                **_FEED_RETRIES,
                "ApiVersion": None,
                "RegistryPath": "",
                "OidcAuthentication": None,
            },
            "OciRegistry": {**_FEED_CREDENTIALS},
            "ArtifactoryGeneric": {**_FEED_CREDENTIALS, "Repository": "", "LayoutRegex": ""},
            "S3": {
                "Username": None,
                "Password": SENSITIVE_EMPTY,
                "AccessKey": "",
                "SecretKey": SENSITIVE_EMPTY,
                "UseMachineCredentials": False,
            },
            "Npm": {**_FEED_CREDENTIALS, **_FEED_RETRIES},
            "GcsStorage": {
                "Username": None,
                "Password": SENSITIVE_EMPTY,
                "UseServiceAccountKey": False,
                "ServiceAccountJsonKey": SENSITIVE_EMPTY,
                "Project": "",
                "OidcAuthentication": None,
                **_FEED_RETRIES,
            },
            # Not confirmed from a client's source: no go-octopusdeploy or Octopus.Client type
            # was found for PyPi. Given the fields of the other URI feeds (NuGet, Npm).
            "PyPi": {**_FEED_CREDENTIALS, **_FEED_RETRIES},
        },
    )
)
_register(
    Kind(
        "machinepolicies",
        "MachinePolicies",
        "MachinePolicy",
        {
            "Name": "",
            "Description": "",
            "IsDefault": False,
            "MachineHealthCheckPolicy": {
                "HealthCheckInterval": "00:30:00",
                "HealthCheckCronTimezone": "UTC",
                "HealthCheckCron": None,
                "HealthCheckType": "RunScript",
                "PowerShellHealthCheckPolicy": {"RunType": "Inline", "ScriptBody": ""},
                "BashHealthCheckPolicy": {"RunType": "Inline", "ScriptBody": ""},
            },
            "MachineConnectivityPolicy": {"MachineConnectivityBehavior": "ExpectedToBeOnline"},
            "MachineCleanupPolicy": {
                "DeleteMachinesBehavior": "DoNotDelete",
                "DeleteMachinesElapsedTimeSpan": "1.00:00:00",
            },
            "MachineUpdatePolicy": {
                "CalamariUpdateBehavior": "UpdateOnDeployment",
                "TentacleUpdateBehavior": "NeverUpdate",
                "KubernetesAgentUpdateBehavior": "Update",
                "TentacleUpdateAccountId": None,
            },
            "MachineRpcCallRetryPolicy": {
                "Enabled": True,
                "RetryDuration": "00:02:30",
                "HealthyMachineRetryDuration": "00:02:30",
            },
            "ConnectionRetrySleepInterval": "00:00:01",
            "ConnectionRetryCountLimit": 5,
            "ConnectionRetryTimeLimit": "00:05:00",
            "ConnectionConnectTimeout": "00:01:00",
            "PollingRequestQueueTimeout": "00:02:00",
            "PollingRequestMaximumMessageProcessingTimeout": "00:10:00",
        },
        server_owned=_keys("IsDefault"),
        # The account Tentacle upgrades run with (go-octopusdeploy pkg/machines/
        # machine_update_policy.go `TentacleUpdateAccountID`, json TentacleUpdateAccountId;
        # the Terraform provider's machine policy `tentacle_update_account_id`).
        refs=(Ref(("MachineUpdatePolicy", "TentacleUpdateAccountId"), "accounts"),),
    )
)
_register(
    Kind(
        "git-credentials",
        "GitCredentials",
        "GitCredential",
        # go-octopusdeploy pkg/credentials/resource.go (Name, Description, Details) and
        # username_password.go (Details of Type UsernamePassword: Username, Password); routes
        # `/api/{spaceId}/git-credentials{/id}` (service.go). The id prefix is inferred.
        {
            "Name": "",
            "Slug": "",
            "Description": "",
            "Details": {"Type": "UsernamePassword", "Username": "", "Password": SENSITIVE_EMPTY},
        },
    )
)
_register(
    Kind(
        "workerpools",
        "WorkerPools",
        "WorkerPool",
        {
            "Name": "",
            "Slug": "",
            "Description": "",
            "IsDefault": False,
            "SortOrder": 0,
            "CanAddWorkers": True,
            "WorkerPoolType": "StaticWorkerPool",
            "WorkerType": None,
        },
        server_owned=_keys("IsDefault", "CanAddWorkers"),
    )
)
_OIDC_SUBJECTS: Mapping[str, Any] = {
    "Audience": "",
    "DeploymentSubjectKeys": [],
    "HealthCheckSubjectKeys": [],
    "AccountTestSubjectKeys": [],
}
_register(
    Kind(
        "accounts",
        "Accounts",
        "Account",
        {
            "Name": "",
            "Slug": "",
            "Description": "",
            "AccountType": "UsernamePassword",
            "EnvironmentIds": [],
            **TENANT_PARTICIPATION,
        },
        variant_field="AccountType",
        variants={
            "UsernamePassword": {"Username": "", "Password": SENSITIVE_EMPTY},
            "AmazonWebServicesAccount": {"AccessKey": "", "SecretKey": SENSITIVE_EMPTY},
            "AzureServicePrincipal": {
                "SubscriptionNumber": "",
                "ClientId": "",
                "TenantId": "",
                "Password": SENSITIVE_EMPTY,
                "AzureEnvironment": "",
                "ResourceManagementEndpointBaseUri": "",
                "ActiveDirectoryEndpointBaseUri": "",
            },
            "Token": {"Token": SENSITIVE_EMPTY},
            "GoogleCloudAccount": {"JsonKey": SENSITIVE_EMPTY},
            "SshKeyPair": {
                "Username": "",
                "PrivateKeyFile": SENSITIVE_EMPTY,
                "PrivateKeyPassphrase": SENSITIVE_EMPTY,
            },
            # The 2025 account types: the spellings are the API reference's AccountType enum
            # (OctopusDeploy/docs src/pages/docs/api/, Accounts: "AmazonWebServicesOidcAccount,
            # AzureOidc, ..., GoogleCloudOidcAccount"); the fields are go-octopusdeploy's
            # pkg/accounts/account_resource.go JSON names, and Octopus.Client
            # Model/Accounts/GoogleCloudOidcAccountResource.cs for the Google OIDC account.
            "AzureSubscription": {
                "SubscriptionNumber": "",
                "CertificateBytes": SENSITIVE_EMPTY,
                "CertificateThumbprint": "",
                "AzureEnvironment": "",
                "ServiceManagementEndpointBaseUri": "",
                "ServiceManagementEndpointSuffix": "",
            },
            "AzureOidc": {
                "SubscriptionNumber": "",
                "ClientId": "",
                "TenantId": "",
                "AzureEnvironment": "",
                "ResourceManagementEndpointBaseUri": "",
                "ActiveDirectoryEndpointBaseUri": "",
                **_OIDC_SUBJECTS,
            },
            "AmazonWebServicesOidcAccount": {
                "RoleArn": "",
                "SessionDuration": "",
                **_OIDC_SUBJECTS,
            },
            "GenericOidcAccount": {"Audience": "", "DeploymentSubjectKeys": []},
            "GoogleCloudOidcAccount": {
                **_OIDC_SUBJECTS,
                "TokenLifetimeSeconds": None,
                "CustomClaims": {},
            },
        },
        refs=(
            Ref(("EnvironmentIds", "*"), "environments"),
            Ref(("TenantIds", "*"), "tenants"),
            Ref(("TenantTags", "*"), "tags"),
        ),
    )
)
_register(
    Kind(
        "actiontemplates",
        "ActionTemplates",
        "ActionTemplate",
        {
            "Name": "",
            "Description": "",
            "ActionType": "Octopus.Script",
            "Version": 0,
            "CommunityActionTemplateId": None,
            "Packages": [],
            "Properties": {},
            "Parameters": [],
            "StepPackageId": None,
        },
        server_owned=_keys("Version"),
        # A step template's own properties hold ids as an action's do (the Terraform
        # provider's step template keeps `properties` as written; SpaceCloner
        # src/Cloners/StepTemplateCloner.ps1 maps them through the action property rules).
        # Inferred that the server checks them on save, as for a process.
        refs=(
            Ref(("Packages", "*", "FeedId"), "feeds"),
            *(
                Ref(("Properties", name), target, separator=separator, expressions=True)
                for name, target, separator in ACTION_PROPERTY_REFS
            ),
        ),
        nested={("Packages", "*"): PACKAGE_DEFAULTS, ("Parameters", "*"): TEMPLATE_DEFAULTS},
    )
)
_register(
    Kind(
        "libraryvariablesets",
        "LibraryVariableSets",
        "LibraryVariableSet",
        {
            "Name": "",
            "Description": "",
            "VariableSetId": None,
            "ContentType": "Variables",
            "Templates": [],
        },
        server_owned=_keys("VariableSetId"),
        nested={("Templates", "*"): TEMPLATE_DEFAULTS},
    )
)
_register(
    Kind(
        "lifecycles",
        "Lifecycles",
        "Lifecycle",
        {
            "Name": "",
            "Slug": "",
            "Description": "",
            "Phases": [],
            "ReleaseRetentionPolicy": RETENTION,
            "TentacleRetentionPolicy": RETENTION,
        },
        refs=(
            Ref(("Phases", "*", "AutomaticDeploymentTargets", "*"), "environments"),
            Ref(("Phases", "*", "OptionalDeploymentTargets", "*"), "environments"),
        ),
        nested={("Phases", "*"): PHASE_DEFAULTS},
    )
)
_register(
    Kind(
        "certificates",
        "Certificates",
        "Certificate",
        {
            "Name": "",
            "Notes": "",
            "CertificateData": SENSITIVE_EMPTY,
            "Password": SENSITIVE_EMPTY,
            "CertificateDataFormat": "Pkcs12",
            "EnvironmentIds": [],
            **TENANT_PARTICIPATION,
            "Archived": None,
            "ReplacedBy": None,
            "SubjectDistinguishedName": "",
            "SubjectCommonName": "",
            "SubjectOrganization": "",
            "IssuerDistinguishedName": "",
            "IssuerCommonName": "",
            "IssuerOrganization": "",
            "SelfSigned": False,
            "Thumbprint": "",
            "NotAfter": "",
            "NotBefore": "",
            "IsExpired": False,
            "HasPrivateKey": False,
            "Version": 3,
            "SerialNumber": "",
            "SignatureAlgorithmName": "",
            "SubjectAlternativeNames": [],
        },
        server_owned=_keys(
            "CertificateDataFormat",
            "Archived",
            "ReplacedBy",
            "SubjectDistinguishedName",
            "SubjectCommonName",
            "SubjectOrganization",
            "IssuerDistinguishedName",
            "IssuerCommonName",
            "IssuerOrganization",
            "SelfSigned",
            "Thumbprint",
            "NotAfter",
            "NotBefore",
            "IsExpired",
            "HasPrivateKey",
            "Version",
            "SerialNumber",
            "SignatureAlgorithmName",
            "SubjectAlternativeNames",
        ),
        refs=(
            Ref(("EnvironmentIds", "*"), "environments"),
            Ref(("TenantIds", "*"), "tenants"),
            Ref(("TenantTags", "*"), "tags"),
        ),
    )
)
_register(
    Kind(
        "tenants",
        "Tenants",
        "Tenant",
        {
            "Name": "",
            "Slug": "",
            "Description": None,
            "TenantTags": [],
            "ProjectEnvironments": {},
            "ClonedFromTenantId": None,
            "IsDisabled": False,
            "Icon": None,
        },
        server_owned=_keys("ClonedFromTenantId"),
        refs=(
            Ref(("TenantTags", "*"), "tags"),
            Ref(("ProjectEnvironments", "@keys"), "projects"),
            Ref(("ProjectEnvironments", "@values", "*"), "environments"),
        ),
    )
)
_register(
    Kind(
        "projects",
        "Projects",
        "Project",
        {
            "Name": "",
            "Slug": "",
            "Description": "",
            "IsDisabled": False,
            "ProjectGroupId": None,
            "LifecycleId": None,
            "DeploymentProcessId": None,
            "VariableSetId": None,
            "IncludedLibraryVariableSetIds": [],
            "TenantedDeploymentMode": "Untenanted",
            "Templates": [],
            "DefaultGuidedFailureMode": "EnvironmentDefault",
            "DefaultToSkipIfAlreadyInstalled": False,
            "DiscreteChannelRelease": False,
            "AutoCreateRelease": False,
            "IsVersionControlled": False,
            "PersistenceSettings": {"Type": "Database"},
            "VersioningStrategy": {
                "Template": "#{Octopus.Version.LastMajor}.#{Octopus.Version.LastMinor}"
                ".#{Octopus.Version.NextPatch}",
                "DonorPackage": None,
                "DonorPackageStepId": None,
            },
            "ReleaseCreationStrategy": {
                "ChannelId": None,
                "ReleaseCreationPackage": None,
                "ReleaseCreationPackageStepId": None,
            },
            "ProjectConnectivityPolicy": {
                "AllowDeploymentsToNoTargets": False,
                "SkipMachineBehavior": "None",
                "TargetRoles": [],
                "ExcludeUnhealthyTargets": False,
            },
            "ReleaseNotesTemplate": None,
            "AutoDeployReleaseOverrides": [],
            "ExtensionSettings": [],
            "ClonedFromProjectId": None,
            # Newer than the contracts (go-octopusdeploy pkg/projects/project.go; Octopus.Client
            # Model/ProjectResource.cs for the last five).
            "DeploymentChangesTemplate": None,
            "AllowIgnoreChannelRules": False,
            "CombineHealthAndSyncStatusInDashboardLiveStatus": False,
            "ProjectTags": [],
            "ProvisioningRunbookId": None,
            "DeprovisioningRunbookId": None,
            "ForcePackageDownload": False,
            "ExecuteDeploymentsOnEventBasedPipeline": False,
            "DefaultPowerShellEdition": None,
            "IsBadgesEnabled": False,
            "Icon": None,
            "LastModifiedOn": None,
            "LastModifiedBy": None,
        },
        server_owned=_keys(
            "DeploymentProcessId",
            "VariableSetId",
            "IsVersionControlled",
            "ClonedFromProjectId",
            "AutoDeployReleaseOverrides",
            "LastModifiedOn",
            "LastModifiedBy",
        ),
        refs=(
            Ref(("ProjectGroupId",), "projectgroups"),
            Ref(("LifecycleId",), "lifecycles"),
            Ref(("IncludedLibraryVariableSetIds", "*"), "libraryvariablesets"),
            Ref(("ReleaseCreationStrategy", "ChannelId"), "channels"),
            Ref(("ProjectTags", "*"), "tags", tag_scope="Project"),
            # Runbooks of the project that create and tear down ephemeral environments.
            Ref(("ProvisioningRunbookId",), "runbooks"),
            Ref(("DeprovisioningRunbookId",), "runbooks"),
        ),
        nested={("Templates", "*"): TEMPLATE_DEFAULTS},
    )
)
_register(
    Kind(
        "channels",
        "Channels",
        "Channel",
        {
            "Name": "",
            "Slug": "",
            "Description": "",
            "ProjectId": None,
            "LifecycleId": None,
            "IsDefault": False,
            "Rules": [],
            "TenantTags": [],
            # Newer than the contracts: go-octopusdeploy pkg/channels/channel.go. `Type`
            # defaults to Lifecycle (inferred: the other type, EphemeralEnvironment, is new;
            # channel_type.go).
            "Type": "Lifecycle",
            "ParentEnvironmentId": None,
            "EphemeralEnvironmentNameTemplate": None,
            "AutomaticEphemeralEnvironmentDeployments": False,
            "CustomFieldDefinitions": [],
            "GitReferenceRules": [],
            "GitResourceRules": [],
        },
        unique_within="ProjectId",
        # A version rule (message-contracts channelVersionRuleResource.d.ts; each package as
        # deploymentActionPackageResource.d.ts: DeploymentAction, PackageReference).
        nested={("Rules", "*"): CHANNEL_RULE_DEFAULTS},
        refs=(
            Ref(("ProjectId",), "projects"),
            Ref(("LifecycleId",), "lifecycles"),
            Ref(("TenantTags", "*"), "tags"),
            # A parent environment of v2 environments; the emulator's environments share its
            # id space (api-client.ts deploymentEnvironment.ts lists all types together).
            Ref(("ParentEnvironmentId",), "environments"),
        ),
    )
)
_register(
    Kind(
        "deploymentprocesses",
        "deploymentprocess",
        "DeploymentProcess",
        {"ProjectId": None, "Version": 0, "LastSnapshotId": None, "Steps": []},
        named=False,
        versioned=True,
        creatable=False,
        server_owned=_keys("ProjectId", "Version", "LastSnapshotId"),
        refs=_process_refs(),
        nested=_process_nested(),
    )
)
_register(
    Kind(
        "runbooks",
        "Runbooks",
        "Runbook",
        {
            "Name": "",
            "Slug": "",
            "Description": "",
            "ProjectId": None,
            "RunbookProcessId": None,
            "PublishedRunbookSnapshotId": None,
            "MultiTenancyMode": "Untenanted",
            "EnvironmentScope": "All",
            "Environments": [],
            "DefaultGuidedFailureMode": "EnvironmentDefault",
            "ConnectivityPolicy": {
                "AllowDeploymentsToNoTargets": True,
                "SkipMachineBehavior": "None",
                "TargetRoles": [],
                "ExcludeUnhealthyTargets": False,
            },
            # Strategy and Unit: go-octopusdeploy pkg/runbooks/runbook_retention_policy.go
            # (NewDefaultRunbookRetentionPolicy: Default, 100, Items).
            "RunRetentionPolicy": {
                "QuantityToKeep": 100,
                "ShouldKeepForever": False,
                "Unit": "Items",
                "Strategy": "Default",
            },
            # Newer than the contracts: go-octopusdeploy pkg/runbooks/runbook.go; the last three
            # Octopus.Client Model/RunbookResource.cs.
            "RunbookTags": [],
            "ForcePackageDownload": False,
            "FailTargetDiscovery": False,
            "CancelQueuedTasks": False,
            "CancelRunningTasks": False,
        },
        unique_within="ProjectId",
        server_owned=_keys("RunbookProcessId", "PublishedRunbookSnapshotId"),
        refs=(
            Ref(("ProjectId",), "projects"),
            Ref(("Environments", "*"), "environments"),
            Ref(("RunbookTags", "*"), "tags", tag_scope="Runbook"),
        ),
    )
)
_register(
    Kind(
        "runbookprocesses",
        "RunbookProcess",
        "RunbookProcess",
        {"ProjectId": None, "RunbookId": None, "Version": 0, "LastSnapshotId": None, "Steps": []},
        named=False,
        versioned=True,
        creatable=False,
        server_owned=_keys("ProjectId", "RunbookId", "Version", "LastSnapshotId"),
        refs=_process_refs(),
        nested=_process_nested(),
    )
)
_register(
    Kind(
        "variables",
        "variableset",
        "VariableSet",
        {"OwnerId": None, "Version": 0, "Variables": [], "ScopeValues": {}},
        named=False,
        versioned=True,
        creatable=False,
        server_owned=_keys("OwnerId", "Version", "ScopeValues"),
        refs=VARIABLE_REFS,
        nested={("Variables", "*"): VARIABLE_DEFAULTS},
    )
)
# Trigger filters and actions by type, with the fields each carries and their defaults
# (go-octopusdeploy `pkg/filters/*.go`, `pkg/actions/*.go`; Octopus.Client
# `Model/Triggers/**`). Where the two disagree on a default the field defaults to null.
_SCHEDULE = {"Timezone": "UTC"}
_DAILY = {
    "StartTime": None,
    "RunType": "ScheduledTime",
    "Interval": "OnceDaily",
    "HourInterval": None,
    "MinuteInterval": None,
    **_SCHEDULE,
}
TRIGGER_FILTERS: Mapping[str, Mapping[str, Any]] = {
    "MachineFilter": {"EnvironmentIds": [], "Roles": [], "EventGroups": [], "EventCategories": []},
    "OnceDailySchedule": {"StartTime": None, "DaysOfWeek": None, **_SCHEDULE},
    "ContinuousDailySchedule": {
        "RunAfter": None,
        "RunUntil": None,
        "Interval": "OnceDaily",
        "HourInterval": None,
        "MinuteInterval": None,
        "DaysOfWeek": None,
        **_SCHEDULE,
    },
    "DailySchedule": _DAILY,
    "DaysPerWeekSchedule": {
        **_DAILY,
        **dict.fromkeys(
            ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"), False
        ),
    },
    "DaysPerMonthSchedule": {
        "StartTime": None,
        "MonthlyScheduleType": "DateOfMonth",
        "DateOfMonth": None,
        "DayNumberOfMonth": None,
        "DayOfWeek": None,
        **_SCHEDULE,
    },
    "CronExpressionSchedule": {"CronExpression": "", **_SCHEDULE},
    # External feed triggers name an action of the process by slug and its package by name
    # (go `pkg/packages/deployment_action_slug_package.go`, renamed from DeploymentAction in
    # e16546fb); the built-in ARC trigger by action and package (OC "name (or id)",
    # `Model/DeploymentActionPackageResource.cs`); Git triggers an action slug and one of its
    # Git dependencies (go `pkg/filters/git_trigger_filter.go`).
    "FeedFilter": {"Packages": []},
    "ArcFeedFilter": {"Packages": []},
    "GitFilter": {"Sources": []},
    "WebhookFilter": {"WebhookId": None, "Secret": SENSITIVE_EMPTY, "RequireApiKey": False},
}
TRIGGER_FILTER_ITEMS: Mapping[str, tuple[str, frozenset[str]]] = {
    "FeedFilter": ("Packages", frozenset({"DeploymentActionSlug", "PackageReference"})),
    "ArcFeedFilter": ("Packages", frozenset({"DeploymentAction", "PackageReference"})),
    "GitFilter": (
        "Sources",
        frozenset(
            {"DeploymentActionSlug", "GitDependencyName", "IncludeFilePaths", "ExcludeFilePaths"}
        ),
    ),
}
_SCOPED_DEPLOYMENT: dict[str, Any] = {"ChannelId": None, "TenantIds": [], "TenantTags": []}
TRIGGER_ACTIONS: Mapping[str, Mapping[str, Any]] = {
    "AutoDeploy": {"ShouldRedeployWhenMachineHasBeenDeployedTo": False},
    "DeployLatestRelease": {
        "SourceEnvironmentIds": [],
        "DestinationEnvironmentId": None,
        "ShouldRedeployWhenReleaseIsCurrent": True,
        "Variables": None,
        **_SCOPED_DEPLOYMENT,
    },
    "DeployLatestReleaseToEnvironment": {
        "EnvironmentId": None,
        "ShouldRedeployWhenReleaseIsCurrent": True,
        "Variables": None,
        **_SCOPED_DEPLOYMENT,
    },
    "DeployNewRelease": {
        "EnvironmentId": None,
        "Variables": None,
        "VersionControlReference": None,
        **_SCOPED_DEPLOYMENT,
    },
    "RunRunbook": {
        "RunbookId": None,
        "RunbookTags": [],
        "EnvironmentIds": [],
        "TenantIds": [],
        "TenantTags": [],
        "FormValues": {},
    },
    "CreateRelease": {"ChannelId": None},
}
_register(
    Kind(
        "projecttriggers",
        "ProjectTriggers",
        "ProjectTrigger",
        {
            "Name": "",
            "Description": "",
            "ProjectId": None,
            "IsDisabled": False,
            "Filter": {"FilterType": "MachineFilter", **TRIGGER_FILTERS["MachineFilter"]},
            "Action": {"ActionType": "AutoDeploy", **TRIGGER_ACTIONS["AutoDeploy"]},
        },
        unique_within="ProjectId",
        refs=(
            Ref(("ProjectId",), "projects"),
            Ref(("Filter", "EnvironmentIds", "*"), "environments"),
            Ref(("Action", "EnvironmentId"), "environments"),
            Ref(("Action", "EnvironmentIds", "*"), "environments"),
            Ref(("Action", "SourceEnvironmentIds", "*"), "environments"),
            Ref(("Action", "DestinationEnvironmentId"), "environments"),
            Ref(("Action", "ChannelId"), "channels"),
            Ref(("Action", "RunbookId"), "runbooks"),
            Ref(("Action", "TenantIds", "*"), "tenants"),
            Ref(("Action", "TenantTags", "*"), "tags"),
            Ref(("Action", "RunbookTags", "*"), "tags", tag_scope="Runbook"),
        ),
    )
)
_register(
    Kind(
        "userroles",
        "UserRoles",
        "UserRole",
        {
            "Name": "",
            "Description": "",
            "SupportedRestrictions": [],
            "SpacePermissionDescriptions": [],
            "SystemPermissionDescriptions": [],
            "GrantedSpacePermissions": [],
            "GrantedSystemPermissions": [],
            "CanBeDeleted": True,
        },
        space_scoped=False,
        server_owned=_keys(
            "SpacePermissionDescriptions", "SystemPermissionDescriptions", "CanBeDeleted"
        ),
    )
)
_register(
    Kind(
        "teams",
        "Teams",
        "Team",
        {
            "Name": "",
            "Slug": "",  # Octopus.Client Model/TeamResource.cs
            "Description": "",
            "MemberUserIds": [],
            "ExternalSecurityGroups": [],
            "CanBeDeleted": True,
            "CanBeRenamed": True,
            "CanChangeRoles": True,
            "CanChangeMembers": True,
        },
        server_owned=_keys("CanBeDeleted", "CanBeRenamed", "CanChangeRoles", "CanChangeMembers"),
        mixed_scope=True,
    )
)
_register(
    Kind(
        "scopeduserroles",
        "ScopedUserRoles",
        "ScopedUserRole",
        {
            "TeamId": None,
            "UserRoleId": None,
            "EnvironmentIds": [],
            "ProjectIds": [],
            "ProjectGroupIds": [],
            "TenantIds": [],
        },
        named=False,
        refs=(
            Ref(("TeamId",), "teams"),
            Ref(("UserRoleId",), "userroles"),
            Ref(("EnvironmentIds", "*"), "environments"),
            Ref(("ProjectIds", "*"), "projects"),
            Ref(("ProjectGroupIds", "*"), "projectgroups"),
            Ref(("TenantIds", "*"), "tenants"),
        ),
        mixed_scope=True,
    )
)
_register(
    Kind(
        "machines",
        "Machines",
        "Machine",
        {
            "Name": "",
            "Slug": "",
            "Roles": [],
            "EnvironmentIds": [],
            **TENANT_PARTICIPATION,
            "MachinePolicyId": None,
            "IsDisabled": False,
            "Endpoint": {"CommunicationStyle": "None"},
            "Thumbprint": None,
            "Uri": None,
            "HealthStatus": "Unknown",
            "HasLatestCalamari": True,
            "StatusSummary": "",
            "IsInProcess": False,
            "ShellName": "Unknown",
            "ShellVersion": "",
            "Architecture": "",
            "OperatingSystem": "",
        },
        server_owned=_keys(
            "HealthStatus",
            "HasLatestCalamari",
            "StatusSummary",
            "IsInProcess",
            "ShellName",
            "ShellVersion",
            "Architecture",
            "OperatingSystem",
        ),
        refs=(
            Ref(("EnvironmentIds", "*"), "environments"),
            Ref(("TenantIds", "*"), "tenants"),
            Ref(("TenantTags", "*"), "tags"),
            Ref(("MachinePolicyId",), "machinepolicies"),
        ),
    )
)
_register(
    Kind(
        "workers",
        "Workers",
        "Worker",
        {
            "Name": "",
            "Slug": "",
            "WorkerPoolIds": [],
            "MachinePolicyId": None,
            "IsDisabled": False,
            "Endpoint": {"CommunicationStyle": "None"},
            "Thumbprint": None,
            "Uri": None,
            "HealthStatus": "Unknown",
            "HasLatestCalamari": True,
            "StatusSummary": "",
            "IsInProcess": False,
            "ShellName": "Unknown",
            "ShellVersion": "",
            "Architecture": "",
            "OperatingSystem": "",
        },
        server_owned=_keys(
            "HealthStatus",
            "HasLatestCalamari",
            "StatusSummary",
            "IsInProcess",
            "ShellName",
            "ShellVersion",
            "Architecture",
            "OperatingSystem",
        ),
        refs=(
            Ref(("WorkerPoolIds", "*"), "workerpools"),
            Ref(("MachinePolicyId",), "machinepolicies"),
        ),
    )
)


def walk(document: Any, path: Path) -> Iterator[tuple[Any, Any, Any]]:
    """Yield `(container, key, value)` for every place `path` matches in `document`.

    For "@keys" the yielded key and value are both the dict key (the container is the dict).
    """
    if not path:
        return
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(document, list):
            for index, item in enumerate(document):
                yield from _step(document, index, item, rest)
    elif head == "@keys":
        if isinstance(document, dict):
            for key in list(document):
                yield document, key, key
    elif head == "@values":
        if isinstance(document, dict):
            for key, item in document.items():
                yield from _step(document, key, item, rest)
    elif isinstance(document, dict) and head in document:
        yield from _step(document, head, document[head], rest)


def _step(container: Any, key: Any, value: Any, rest: Path) -> Iterator[tuple[Any, Any, Any]]:
    if rest:
        yield from walk(value, rest)
    else:
        yield container, key, value
