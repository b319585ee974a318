"""The registry of resource kinds snapshotsync syncs, as data.

For each kind: where the API keeps it, its natural key, which fields hold ids of other
kinds (so export can write names and push can write the destination's ids back), which
fields are the server's own (stripped from the snapshot), which lists have no meaningful
order (sorted in the snapshot), where it lives in the snapshot tree, and its place in the
sync order of the guide ("Syncing order"): scaffolding first, then projects and their
parts, then tenants' links and variables, team permissions last.

Paths are tuples: a property name, `*` for every item of a list, `~keys` for the keys of a
dict and `~values` for its values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Path = tuple[str, ...]
JsonDict = dict[str, Any]

# Server-owned or volatile on every kind: ids, links, audit stamps and derived slugs.
COMMON_VOLATILE = frozenset({"Id", "SpaceId", "Links", "LastModifiedOn", "LastModifiedBy", "Slug"})
ACCOUNT_TYPES = frozenset(
    {
        "AmazonWebServicesAccount",
        "AzureAccount",
        "GoogleCloudAccount",
        "UsernamePasswordAccount",
        "GenericOidcAccount",
    }
)
# The seed: "Some of those items, Tenant Tags, Roles, Process Owner, will be exactly alike
# between instances" (steps are too, once processes are synced).
SCOPE_DIMENSIONS = (
    "Environment",
    "Channel",
    "Machine",
    "Role",
    "TenantTag",
    "Action",
    "ProcessOwner",
)


@dataclass(frozen=True)
class Ref:
    """A field at `path` that holds the id of a `target` resource (or several)."""

    path: Path
    target: str
    when: Callable[[JsonDict], bool] | None = None  # given the field's container
    separator: str | None = None  # "Teams-1,Teams-2" in one string
    # An action of the project's deployment process named by its slug, not its id: slugs are
    # made from the name when the action is created, so the destination's differ from the
    # source's wherever an action was renamed. Written by the action's name.
    slug: bool = False


@dataclass(frozen=True)
class Kind:
    """One kind of resource in the snapshot."""

    name: str  # snapshot kind and folder, e.g. "environments"
    order: int  # position in the sync order
    strip: frozenset[str] = frozenset()  # server-owned top-level fields besides the common
    refs: tuple[Ref, ...] = ()
    unordered: tuple[Path, ...] = ()  # lists sorted in the snapshot
    strip_nested: Mapping[Path, frozenset[str]] = field(default_factory=dict)
    parent: str | None = None  # the kind whose name prefixes the key (channels: projects)
    singleton: bool = False  # one document per parent (processes, variable sets)


STEPS: Path = ("Steps", "*")
ACTIONS: Path = (*STEPS, "Actions", "*")


# The built-in feed of deploy-a-release steps: its packages are projects, by id (Octopus's own
# exporter, OctopusSolutionsEngineering/OctopusTerraformExport cmd/internal/converters/
# deployment_process_converter_base.go: "packages can be project IDs when they are defined in
# a 'Deploy a release' step"; SpaceCloner src/Cloners/ActionCloner.ps1 maps them by name).
# Normalizing translates the feed first, so its name matches here too.
RELEASE_FEEDS = frozenset({"feeds-builtin-releases", "Octopus Server Releases (built-in)"})
# Action properties that hold ids, beyond the ones every step type has. Sources: SpaceCloner
# src/Cloners/ActionCloner.ps1 (template, feed, teams, deploy-a-release project), Octopus's
# action type reference (email teams, docker steps, Argo CD environments), Sashimi
# source/Server.Contracts/KnownVariables.cs (the legacy NuGet feed property).
PROPERTY_REFS: tuple[tuple[str, str, str | None], ...] = (
    ("Octopus.Action.Template.Id", "step-templates", None),
    ("Octopus.Action.Package.FeedId", "feeds", None),
    ("Octopus.Action.Package.NuGetFeedId", "feeds", None),
    ("Octopus.Action.Manual.ResponsibleTeamIds", "teams", ","),
    ("Octopus.Action.Email.ToTeamIds", "teams", ","),
    ("Octopus.Action.Email.CCTeamIds", "teams", ","),
    ("Octopus.Action.Email.BccTeamIds", "teams", ","),
    ("Octopus.Action.Azure.AccountId", "accounts", None),
    ("Octopus.Action.DeployRelease.ProjectId", "projects", None),
    ("Octopus.Action.Docker.RemoveSteps", "actions", ","),
    ("Octopus.Action.ArgoCD.Sync.Environments", "environments", ","),
    ("Octopus.Action.ArgoCD.PullRequest.Environments", "environments", ","),
)
# Properties naming environments, mapped by the overlay like an action's own environments.
ENVIRONMENT_PROPERTIES = tuple(name for name, kind, _ in PROPERTY_REFS if kind == "environments")


def _is_release_package(package: JsonDict) -> bool:
    return package.get("FeedId") in RELEASE_FEEDS


def _process_refs() -> tuple[Ref, ...]:
    return (
        Ref((*ACTIONS, "Environments", "*"), "environments"),
        Ref((*ACTIONS, "ExcludedEnvironments", "*"), "environments"),
        Ref((*ACTIONS, "Channels", "*"), "channels"),
        Ref((*ACTIONS, "WorkerPoolId"), "worker-pools"),
        Ref((*ACTIONS, "Packages", "*", "FeedId"), "feeds"),
        Ref((*ACTIONS, "Packages", "*", "PackageId"), "projects", when=_is_release_package),
        Ref((*ACTIONS, "Container", "FeedId"), "feeds"),
        *(
            Ref((*ACTIONS, "Properties", name), kind, separator=separator)
            for name, kind, separator in PROPERTY_REFS
        ),
        Ref(
            (*ACTIONS, "Properties", "Octopus.Action.AwsAccount.Variable"),
            "accounts",
            when=lambda props: str(props.get("Octopus.Action.AwsAccount.Variable", "")).startswith(
                "Accounts-"
            ),
        ),
    )


PROCESS_UNORDERED: tuple[Path, ...] = (
    (*ACTIONS, "Environments"),
    (*ACTIONS, "ExcludedEnvironments"),
    (*ACTIONS, "Channels"),
    (*ACTIONS, "TenantTags"),
)
PROCESS_STRIP = {
    STEPS: frozenset({"Id", "Slug", "Links"}),
    ACTIONS: frozenset({"Id", "Slug", "Links"}),
    (*ACTIONS, "Packages", "*"): frozenset({"Id"}),
}
# The step template's version is a per-instance counter: push sets the destination's.
ACTION_VOLATILE_PROPERTIES = frozenset({"Octopus.Action.Template.Version"})


def _is_account_variable(variable: JsonDict) -> bool:
    return variable.get("Type") in ACCOUNT_TYPES


VARIABLES = ("Variables", "*")
VARIABLE_REFS = (
    Ref((*VARIABLES, "Scope", "Environment", "*"), "environments"),
    Ref((*VARIABLES, "Scope", "Machine", "*"), "machines"),
    Ref((*VARIABLES, "Scope", "Channel", "*"), "channels"),
    Ref((*VARIABLES, "Scope", "Action", "*"), "actions"),
    Ref((*VARIABLES, "Scope", "ProcessOwner", "*"), "process-owners"),
    Ref((*VARIABLES, "Value"), "accounts", when=_is_account_variable),
    Ref((*VARIABLES, "Value"), "certificates", when=lambda v: v.get("Type") == "Certificate"),
    Ref((*VARIABLES, "Value"), "worker-pools", when=lambda v: v.get("Type") == "WorkerPool"),
)
VARIABLE_SET_STRIP = frozenset({"OwnerId", "Version", "ScopeValues"})

TENANCY_REFS = (
    Ref(("EnvironmentIds", "*"), "environments"),
    Ref(("TenantIds", "*"), "tenants"),
)
TENANCY_UNORDERED: tuple[Path, ...] = (("EnvironmentIds",), ("TenantIds",), ("TenantTags",))

KINDS: dict[str, Kind] = {}


def _kind(kind: Kind) -> None:
    KINDS[kind.name] = kind


# ---------------------------------------------------------------- no dependencies
_kind(Kind("environments", 10))
_kind(
    Kind(
        "project-groups",
        11,
        refs=(Ref(("EnvironmentIds", "*"), "environments"),),
        unordered=(("EnvironmentIds",),),
        strip=frozenset({"RetentionPolicyId"}),
    )
)
# Tag sets first of all: environments (EnvironmentTags, 2025.9+) and most else name tags.
_kind(Kind("tag-sets", 9, strip_nested={("Tags", "*"): frozenset({"Id", "CanonicalTagName"})}))
_kind(Kind("feeds", 13))
_kind(
    Kind(
        "user-roles",
        14,
        strip=frozenset(
            {"CanBeDeleted", "SpacePermissionDescriptions", "SystemPermissionDescriptions"}
        ),
        unordered=(
            ("GrantedSpacePermissions",),
            ("GrantedSystemPermissions",),
            ("SupportedRestrictions",),
        ),
    )
)
_kind(
    Kind(
        "teams",
        15,
        strip=frozenset(
            {
                "MemberUserIds",
                "CanBeDeleted",
                "CanBeRenamed",
                "CanChangeRoles",
                "CanChangeMembers",
                "ExternalSecurityGroups",
            }
        ),
    )
)
# Git credentials: a library of sign-ins that actions' Git dependencies name
# (`GitDependencies[].GitCredentialId`). They exist on the destination like feeds: created with
# a placeholder secret when missing, never overwritten (go-octopusdeploy pkg/credentials).
_kind(Kind("git-credentials", 12))
_kind(Kind("worker-pools", 17, strip=frozenset({"IsDefault", "CanAddWorkers"})))
# ---------------------------------------------------------------- dependencies, in order
# Tenants by name first (their project links are written once the projects exist, see
# `schedule.py`): accounts and certificates scoped to tenants need the tenants to exist, and
# a tenant's name and tags depend on nothing but tag sets. The guide lists "Tenants (Tenant
# name only)" after accounts, but only as one order that works; this one works for
# tenant-scoped accounts too (issue: a push to a fresh destination stopped at them).
_kind(
    Kind(
        "tenants",
        19,
        strip=frozenset({"ClonedFromTenantId"}),
        refs=(
            Ref(("ProjectEnvironments", "~keys"), "projects"),
            Ref(("ProjectEnvironments", "~values", "*"), "environments"),
        ),
        unordered=(("TenantTags",), ("ProjectEnvironments", "~values")),
    )
)
_kind(Kind("accounts", 20, refs=TENANCY_REFS, unordered=TENANCY_UNORDERED))
# After accounts: a policy that updates Tentacles runs the update with an account
# (go-octopusdeploy pkg/machines/machine_update_policy.go `TentacleUpdateAccountId`).
_kind(
    Kind(
        "machine-policies",
        24,
        strip=frozenset({"IsDefault"}),
        refs=(Ref(("MachineUpdatePolicy", "TentacleUpdateAccountId"), "accounts"),),
    )
)
_kind(
    Kind(
        "step-templates",
        21,
        strip=frozenset({"Version", "CommunityActionTemplateId"}),
        refs=(Ref(("Packages", "*", "FeedId"), "feeds"),),
        strip_nested={
            ("Parameters", "*"): frozenset({"Id", "Links"}),
            ("Packages", "*"): frozenset({"Id"}),
        },
    )
)
_kind(Kind("script-modules", 22))
_kind(
    Kind(
        "lifecycles",
        23,
        refs=(
            Ref(("Phases", "*", "AutomaticDeploymentTargets", "*"), "environments"),
            Ref(("Phases", "*", "OptionalDeploymentTargets", "*"), "environments"),
        ),
        unordered=(
            ("Phases", "*", "AutomaticDeploymentTargets"),
            ("Phases", "*", "OptionalDeploymentTargets"),
        ),
        strip_nested={("Phases", "*"): frozenset({"Id"})},
    )
)
_kind(
    Kind(
        "certificates",
        25,
        refs=TENANCY_REFS,
        unordered=TENANCY_UNORDERED,
        strip=frozenset(
            {
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
                "CertificateChain",
            }
        ),
    )
)
_kind(
    Kind(
        "library-variable-sets",
        26,
        strip=frozenset({"VariableSetId", "ContentType"}),
        strip_nested={("Templates", "*"): frozenset({"Id", "Links"})},
    )
)
_kind(
    Kind(
        "library-variables",
        27,
        parent="library-variable-sets",
        singleton=True,
        refs=VARIABLE_REFS,
        strip=VARIABLE_SET_STRIP,
        strip_nested={VARIABLES: frozenset({"Id"})},
    )
)
_kind(
    Kind(
        "projects",
        30,
        strip=frozenset(
            {
                "DeploymentProcessId",
                "VariableSetId",
                "ClonedFromProjectId",
                "IsVersionControlled",
                "AutoDeployReleaseOverrides",
            }
        ),
        refs=(
            Ref(("ProjectGroupId",), "project-groups"),
            Ref(("LifecycleId",), "lifecycles"),
            Ref(("IncludedLibraryVariableSetIds", "*"), "library-sets"),
            Ref(("ReleaseCreationStrategy", "ChannelId"), "channels"),
            Ref(("VersioningStrategy", "DonorPackageStepId"), "actions"),
            Ref(("ReleaseCreationStrategy", "ReleaseCreationPackageStepId"), "actions"),
            # Ephemeral environments' runbooks, of the same project (go-octopusdeploy
            # pkg/projects/project.go, 2025-10).
            Ref(("ProvisioningRunbookId",), "runbooks"),
            Ref(("DeprovisioningRunbookId",), "runbooks"),
        ),
        unordered=(("IncludedLibraryVariableSetIds",),),
        strip_nested={("Templates", "*"): frozenset({"Id", "Links"})},
    )
)
_kind(
    Kind(
        "channels",
        31,
        parent="projects",
        strip=frozenset({"ProjectId"}),
        refs=(
            Ref(("LifecycleId",), "lifecycles"),
            # Git resource rules name Git dependencies of the process's actions by action slug
            # (go-octopusdeploy pkg/channels/channel_git_resource_rule.go,
            # pkg/gitdependencies DeploymentActionGitDependency).
            Ref(
                ("GitResourceRules", "*", "GitDependencyActions", "*", "DeploymentActionSlug"),
                "actions",
                slug=True,
            ),
        ),
        unordered=(("TenantTags",),),
        strip_nested={
            ("Rules", "*"): frozenset({"Id", "Links"}),
            ("GitResourceRules", "*"): frozenset({"Id"}),
        },
    )
)
_kind(
    Kind(
        "deployment-processes",
        32,
        parent="projects",
        singleton=True,
        strip=frozenset({"ProjectId", "Version", "LastSnapshotId"}),
        refs=_process_refs(),
        unordered=PROCESS_UNORDERED,
        strip_nested=PROCESS_STRIP,
    )
)
_kind(
    Kind(
        "runbooks",
        33,
        parent="projects",
        strip=frozenset({"ProjectId", "RunbookProcessId", "PublishedRunbookSnapshotId"}),
        refs=(Ref(("Environments", "*"), "environments"),),
        unordered=(("Environments",),),
    )
)
_kind(
    Kind(
        "runbook-processes",
        34,
        parent="runbooks",
        singleton=True,
        strip=frozenset({"ProjectId", "RunbookId", "Version", "LastSnapshotId"}),
        refs=_process_refs(),
        unordered=PROCESS_UNORDERED,
        strip_nested=PROCESS_STRIP,
    )
)
_kind(
    Kind(
        "project-variables",
        35,
        parent="projects",
        singleton=True,
        refs=VARIABLE_REFS,
        strip=VARIABLE_SET_STRIP,
        strip_nested={VARIABLES: frozenset({"Id"})},
    )
)
_kind(
    Kind(
        "triggers",
        36,
        parent="projects",
        strip=frozenset({"ProjectId"}),
        refs=(
            Ref(("Filter", "EnvironmentIds", "*"), "environments"),
            Ref(("Action", "EnvironmentId"), "environments"),
            Ref(("Action", "SourceEnvironmentIds", "*"), "environments"),
            Ref(("Action", "DestinationEnvironmentId"), "environments"),
            Ref(("Action", "ChannelId"), "channels"),
            # Run-a-runbook and scoped-deployment trigger actions (go-octopusdeploy
            # pkg/actions/run_runbook_action.go, scoped_deployment_action.go; Octopus.Client
            # Model/Triggers/ScheduledTriggers/RunRunbookActionResource.cs).
            Ref(("Action", "RunbookId"), "runbooks"),
            Ref(("Action", "EnvironmentIds", "*"), "environments"),
            Ref(("Action", "TenantIds", "*"), "tenants"),
            # Feed and Git trigger filters name an action of the process by slug
            # (go-octopusdeploy pkg/packages/deployment_action_slug_package.go,
            # pkg/filters/git_trigger_filter.go).
            Ref(("Filter", "Packages", "*", "DeploymentActionSlug"), "actions", slug=True),
            Ref(("Filter", "Sources", "*", "DeploymentActionSlug"), "actions", slug=True),
        ),
        unordered=(
            ("Filter", "EnvironmentIds"),
            ("Filter", "Roles"),
            ("Action", "SourceEnvironmentIds"),
            ("Action", "EnvironmentIds"),
            ("Action", "TenantIds"),
            ("Action", "TenantTags"),
        ),
    )
)
_kind(Kind("tenant-variables", 40, parent="tenants", singleton=True))
ROLES = ("ScopedUserRoles", "*")
_kind(
    Kind(
        "team-permissions",
        50,
        parent="teams",
        singleton=True,
        refs=(
            Ref((*ROLES, "UserRoleId"), "user-roles"),
            Ref((*ROLES, "EnvironmentIds", "*"), "environments"),
            Ref((*ROLES, "ProjectIds", "*"), "projects"),
            Ref((*ROLES, "ProjectGroupIds", "*"), "project-groups"),
            Ref((*ROLES, "TenantIds", "*"), "tenants"),
        ),
        strip_nested={ROLES: COMMON_VOLATILE | {"TeamId"}},
        unordered=(
            (*ROLES, "EnvironmentIds"),
            (*ROLES, "ProjectIds"),
            (*ROLES, "ProjectGroupIds"),
            (*ROLES, "TenantIds"),
            ("ScopedUserRoles",),
        ),
    )
)

# API collection (under /api/{space}/, or /api/ for user roles) -> the kind its ids stand
# for. Library variable sets and script modules share one collection ("library-sets").
KIND_OF_COLLECTION = {
    "environments": "environments",
    "projectgroups": "project-groups",
    "tagsets": "tag-sets",
    "feeds": "feeds",
    "git-credentials": "git-credentials",
    "teams": "teams",
    "machinepolicies": "machine-policies",
    "workerpools": "worker-pools",
    "accounts": "accounts",
    "actiontemplates": "step-templates",
    "libraryvariablesets": "library-sets",
    "lifecycles": "lifecycles",
    "certificates": "certificates",
    "tenants": "tenants",
    "projects": "projects",
    "channels": "channels",
    "runbooks": "runbooks",
    "projecttriggers": "triggers",
    "machines": "machines",
    "workers": "workers",
    "userroles": "user-roles",
}


# Not a kind: the key of `normalize.facts` naming the runbooks (`<project>/<runbook>`) that
# have a published snapshot, which is what a scheduled run-runbook trigger runs.
PUBLISHED_RUNBOOKS = "published-runbooks"
# Not a kind either: a write that publishes a new snapshot of a runbook (`runbooks: {publish:
# true}` in the overlay), keyed by `(project, runbook)`.
RUNBOOK_PUBLISH = "runbook-publish"

# Reference targets whose names are a project's own: a channel or runbook of that project.
PROJECT_SCOPED_REFS = frozenset({"channels", "runbooks"})


def slug_key(project_id: str, slug: str) -> str:
    """Where the names map keeps an action's slug: slugs are unique within a process only."""
    return f"slug:{project_id}:{slug}"


def action_name(process: Mapping[str, Any], name: str, by_id: Mapping[str, tuple[str, str]]) -> str:
    """How other documents (a variable's `Action` scope) name an action of `process`: by its
    own name in a deployment process, `<runbook>/<name>` in a runbook's process, so a step of
    a runbook is never taken for the deployment step of the same name (`by_id`: id -> (kind,
    name) of what was read, the process's runbook among them)."""
    runbook = by_id.get(str(process.get("RunbookId") or ""))
    return f"{runbook[1]}/{name}" if runbook is not None and runbook[0] == "runbooks" else name


def is_expression(value: str) -> bool:
    """An Octopus variable expression (`#{Name}`): resolved at deployment, never an id."""
    return "#{" in value


def is_version_controlled(project: JsonDict | None) -> bool:
    """A config-as-code project: its process and non-sensitive variables live in git."""
    project = project or {}
    settings = project.get("PersistenceSettings") or {}
    return bool(project.get("IsVersionControlled")) or settings.get("Type") == "VersionControlled"


def runbooks_in_git(project: JsonDict | None) -> bool:
    """A config-as-code project whose runbooks moved into git too
    (`PersistenceSettings.ConversionState.RunbooksAreInGit`, go-octopusdeploy
    pkg/projects/git_persistence_settings.go): they are read and written through the git
    routes, and the database routes refuse them ("We received a request for a
    version-controlled resource on a non-version control route", OctopusDeploy/Issues#9249)."""
    settings = (project or {}).get("PersistenceSettings") or {}
    state = settings.get("ConversionState") or {}
    return bool(is_version_controlled(project) and state.get("RunbooksAreInGit"))


Match = tuple[Any, Any, Any]  # (container, key, value)


def walk(document: Any, path: Path) -> list[Match]:
    """Every `(container, key, value)` where `path` matches inside `document`, in document
    order. `*` is each item of a list, `~values` each value of a mapping, `~keys` each key
    of one (as key and value: the end of the path), anything else that key of a mapping.

    Built a level at a time, without a generator per level: normalizing and planning walk
    every reference path of every document."""
    return descend([(None, None, document)], path) if path else []


def descend(level: list[Match], path: Path) -> list[Match]:
    """The matches of `path` below each node of `level`, in order."""
    for step in path:
        found: list[Match] = []
        for _, _, node in level:
            if step == "*":
                if isinstance(node, list):
                    found.extend((node, index, item) for index, item in enumerate(node))
            elif step == "~values":
                if isinstance(node, dict):
                    found.extend((node, key, item) for key, item in node.items())
            elif step == "~keys":
                if isinstance(node, dict):
                    found.extend((node, key, key) for key in node)
            elif isinstance(node, dict) and step in node:
                found.append((node, step, node[step]))
        if step == "~keys":
            return found  # nothing is below a key
        level = found
    return list(level)


def sync_order() -> list[Kind]:
    """Every kind in the order a push writes them."""
    return sorted(KINDS.values(), key=lambda kind: kind.order)
