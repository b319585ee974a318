"""The emulator's in-memory Octopus instance: documents, ids, validation and side effects.

Everything here is plain Python on plain dicts, guarded by one lock; `server.py` turns HTTP
requests into calls of `Instance` methods and `seed.py` builds state from a YAML fixture.
The behaviours mirror what real Octopus servers do where a sync tool depends on them:

- ids are per instance (`Environments-<offset+n>`), GUIDs for steps, actions, variables;
- unknown properties, ids that do not exist and duplicate names are 400s, including ids
  hidden in action properties, trigger actions and filters, and project strategies;
- sensitive values are never returned; a write that sends them back empty keeps them (a
  variable only when it carries its `Id`);
- deployment processes, runbook processes and variable sets reject a stale `Version`;
- the server version and feature toggles choose a profile where servers differ (tenant
  variables: `tenant_variables.py`); config-as-code projects: `version_control.py`;
  certificate data is parsed: `certificates.py`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from snapshotsync.emulator import certificates
from snapshotsync.emulator.schema import (
    COMMON,
    KINDS,
    RELEASES_FEED_ID,
    SCOPE_KEYS,
    TRIGGER_ACTIONS,
    TRIGGER_FILTER_ITEMS,
    TRIGGER_FILTERS,
    VARIABLE_TYPES,
    JsonDict,
    Kind,
    Path,
    walk,
)


class ApiError(Exception):
    """An error response in Octopus's shape: `{"ErrorMessage": ..., "Errors": [...]}`."""

    def __init__(self, status: int, message: str, errors: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = list(errors)

    def body(self) -> JsonDict:
        return {"ErrorMessage": self.message, "Errors": self.errors}


def bad_request(*errors: str) -> ApiError:
    return ApiError(400, "There was a problem with your request.", errors)


def not_found(resource_id: str) -> ApiError:
    # Shape seen in OctopusDeploy/Issues#7746: "The resource 'deploymentprocess-Projects-423'
    # was not found."
    return ApiError(404, f"The resource '{resource_id}' was not found.")


# A sensitive value on the wire: `{HasValue, NewValue, Hint}` (the server's schema in
# go-octopusdeploy `api/spec.json`, SensitiveValue; `pkg/core/sensitive_value.go`; api-client.ts
# `src/features/variables/propertyValue.ts`). Clients may leave out `NewValue` and `Hint`.
SECRET_KEYS = frozenset({"HasValue", "NewValue", "Hint"})


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and "HasValue" in value and set(value) <= SECRET_KEYS


def stored_secret(value: JsonDict, keep: JsonDict | None = None) -> JsonDict:
    """What the server stores for a sensitive value sent as `value`.

    A new value is stored; `{HasValue: true, NewValue: null}` keeps `keep` (the value stored
    before, when the write identifies it); anything else clears it. The hint follows the write.
    """
    hint = value.get("Hint", (keep or {}).get("Hint"))
    if value.get("NewValue") is not None:
        return {"HasValue": True, "NewValue": value["NewValue"], "Hint": hint}
    if value.get("HasValue") and keep is not None and keep.get("HasValue"):
        return {"HasValue": True, "NewValue": keep.get("NewValue"), "Hint": hint}
    return {"HasValue": False, "NewValue": None, "Hint": hint}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _is_sensitive_variable(variable: JsonDict) -> bool:
    return bool(variable.get("IsSensitive")) or variable.get("Type") == "Sensitive"


def is_sensitive_template(template: JsonDict) -> bool:
    settings = template.get("DisplaySettings") or {}
    return settings.get("Octopus.ControlType") == "Sensitive"


_PROCESS_GUIDS: tuple[Path, ...] = (
    ("Steps", "*"),
    ("Steps", "*", "Actions", "*"),
    ("Steps", "*", "Actions", "*", "Packages", "*"),
)
# Where the server gives new items a GUID id when a write leaves it empty.
_GUID_PATHS: dict[str, tuple[Path, ...]] = {
    "deploymentprocesses": _PROCESS_GUIDS,
    "runbookprocesses": _PROCESS_GUIDS,
    "variables": (("Variables", "*"),),
    "lifecycles": (("Phases", "*"),),
    "projects": (("Templates", "*"),),
    "libraryvariablesets": (("Templates", "*"),),
    "actiontemplates": (("Parameters", "*"), ("Packages", "*")),
    "channels": (("Rules", "*"),),
}

# The built-in roles with the permissions they grant at each level. Inferred: the server's
# own lists are not published; the names are Octopus.Client's (`Model/Permission.cs`) and each
# role gets the permissions its name describes, system roles system permissions only. What
# matters to a sync: a role without space permissions cannot be used in a space (tfl#330).
_PROJECT_VIEW = ("ProjectView", "ProcessView", "ReleaseView", "DeploymentView", "EnvironmentView")
BUILT_IN_USER_ROLES: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "userroles-systemadministrator",
        "System administrator",
        (),
        ("AdministerSystem", "ConfigureServer", "SpaceCreate", "SpaceView", "SpaceEdit"),
    ),
    (
        "userroles-systemmanager",
        "System manager",
        (),
        ("SpaceCreate", "SpaceView", "SpaceEdit", "TeamCreate", "TeamEdit", "UserView"),
    ),
    (
        "userroles-spacemanager",
        "Space manager",
        (*_PROJECT_VIEW, "ProjectCreate", "ProjectEdit", "EnvironmentEdit", "TeamEdit"),
        (),
    ),
    (
        "userroles-projectdeployer",
        "Project deployer",
        (*_PROJECT_VIEW, "DeploymentCreate", "TaskView", "InterruptionViewSubmitResponsible"),
        (),
    ),
    (
        "userroles-projectcontributor",
        "Project contributor",
        (*_PROJECT_VIEW, "ProjectEdit", "ProcessEdit", "VariableView", "VariableEdit"),
        (),
    ),
    ("userroles-projectviewer", "Project viewer", _PROJECT_VIEW, ()),
    (
        "userroles-tenantmanager",
        "Tenant manager",
        ("TenantView", "TenantEdit", "TenantCreate", "TenantDelete", "ProjectView"),
        (),
    ),
    ("userroles-environmentviewer", "Environment viewer", ("EnvironmentView", "MachineView"), ()),
)
# Teams every instance has at system level: ids as clients use them (teams-everyone,
# teams-administrators: terraform-provider-octopusdeploy `docs/resources/space.md`, octoterra
# `cmd/internal/converters/space_converter.go`; teams-managers as a manual intervention's
# responsible team: terraform-provider-octopusdeploy `docs/resources/process.md`). The names
# are inferred.
BUILT_IN_SYSTEM_TEAMS = (
    ("teams-everyone", "Everyone"),
    ("teams-administrators", "Octopus Administrators"),
    ("teams-managers", "Octopus Managers"),
)


# The toggle that turns on environment-scoped tenant variables and their routes
# `/tenants/{id}/projectvariables` and `/commonvariables` (go-octopusdeploy PR #301: "both of
# the above endpoints are under `CommonVariableScopingFeatureToggle`").
SCOPED_TENANT_VARIABLES = "CommonVariableScopingFeatureToggle"
# Scoped tenant variables shipped in 2025.1 (cloud) and 2025.2 (self-hosted):
# OctopusDeploy/Issues#9222 and #9414.
SCOPED_TENANT_VARIABLES_SINCE = (2025, 2)


VERSION_CONTROLLED = "VersionControlled"
# What the project route accepts for each deployment-settings field of a version-controlled
# project: its default. Inferred from the Terraform provider, which clears these before the
# project PUT of a CaC project and succeeds (`resource_project.go`: DefaultGuidedFailureMode
# "EnvironmentDefault", the templates "", ProjectConnectivityPolicy and VersioningStrategy
# left out); octoterra: "the top level ProjectConnectivityPolicy settings are supplied by the
# API but ignored" (`project_converter.go`).
ACCEPTED_ON_PROJECT_ROUTE: dict[str, tuple[Any, ...]] = {
    "ProjectConnectivityPolicy": (None,),
    "VersioningStrategy": (None,),
    "DefaultGuidedFailureMode": (None, "EnvironmentDefault"),
    "ReleaseNotesTemplate": (None, ""),
    "DeploymentChangesTemplate": (None, ""),
    "DefaultToSkipIfAlreadyInstalled": (None, False),
    "ForcePackageDownload": (None, False),
}


def is_version_controlled(project: JsonDict) -> bool:
    return bool(project.get("IsVersionControlled"))


def refuse_settings_on_project_route(body: JsonDict) -> None:
    """A version-controlled project's PUT may not carry deployment settings.

    The server's words (OctopusDeployLabs/terraform-provider-octopusdeploy#467): "Cannot update
    deployment settings for a version controlled project with this endpoint. Please use the
    '/projects/{projectId}/{gitRef}/deploymentsettings' endpoint" (the end of the sentence is
    cut in the source; completed here). Which values trigger it is inferred, see
    `ACCEPTED_ON_PROJECT_ROUTE`.
    """
    sent = [
        field
        for field, accepted in ACCEPTED_ON_PROJECT_ROUTE.items()
        if field in body and body[field] not in accepted
    ]
    if sent:
        raise ApiError(
            400,
            "There was a problem with your request.",
            [
                "Cannot update deployment settings for a version controlled project with this "
                "endpoint. Please use the '/projects/{projectId}/{gitRef}/deploymentsettings' "
                f"endpoint. Settings sent: {', '.join(sent)}."
            ],
        )


def check_persistence(project: JsonDict, existing: JsonDict | None) -> None:
    """PersistenceSettings change only by conversion, never by POST or PUT (inferred from the go
    comment above and the one-way conversion of Issues#7555)."""
    settings = project.get("PersistenceSettings") or {}
    kind = settings.get("Type") if isinstance(settings, dict) else None
    before = ((existing or {}).get("PersistenceSettings") or {}).get("Type", "Database")
    if existing is None and kind not in (None, "Database"):
        raise bad_request(
            "Persistence settings are available after the project has been created: create it, "
            "then convert it with POST /projects/{id}/git/convert."
        )
    if existing is not None and kind not in (None, before):
        raise bad_request(
            f"A project's persistence cannot be changed from {before} to {kind} here; "
            "conversion to version control is POST /projects/{id}/git/convert, and one-way."
        )


def version_tuple(version: str) -> tuple[int, ...]:
    """`"2025.2.1234-rc"` -> `(2025, 2, 1234)`; unparsable parts count as 0."""
    numbers = []
    for part in version.split(".")[:3]:
        digits = re.match(r"\d+", part)
        numbers.append(int(digits.group()) if digits else 0)
    return tuple(numbers)


class Instance:
    """One emulated Octopus Server with its spaces and documents.

    `server_version` picks the behaviour where real servers differ by version (the
    "profile"); `feature_toggles` switches single toggles regardless of the version, as a real
    instance can have them set one by one (Octopus staff turned toggles off on one customer's
    cloud instance, OctopusDeploy/Issues#9469; self-hosted servers read them from
    `OCTOPUS__FeatureToggles__<Name>`, go-octopusdeploy `.github/workflows/integration-tests.yml`).
    """

    def __init__(
        self,
        *,
        id_offset: int = 0,
        server_version: str = "2024.2.9000",
        feature_toggles: dict[str, bool] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.id_offset = id_offset
        self.server_version = server_version
        self.feature_toggles: dict[str, bool] = dict(feature_toggles or {})
        self.docs: dict[str, dict[str, JsonDict]] = {name: {} for name in KINDS}
        # Tenant variable values by tenant id, one store for both APIs: each value is
        # `{Id, ProjectId | LibraryVariableSetId, TemplateId, Value, Scope: {EnvironmentIds}}`.
        self.tenant_values: dict[str, list[JsonDict]] = {}
        self.tenant_tokens: dict[str, str] = {}
        # Deployment settings by project id: those a version-controlled project keeps "in git"
        # (one copy, whatever the ref), and those a database project keeps off its document.
        self.git_settings: dict[str, JsonDict] = {}
        self.project_settings: dict[str, JsonDict] = {}
        # Frozen copies of processes and variable sets (releases, runbook snapshots) by
        # collection and id: listed with the live ones, never changed (see `bulk.py`).
        self.frozen: dict[str, dict[str, JsonDict]] = {
            "deploymentprocesses": {},
            "variables": {},
            "runbookprocesses": {},
        }
        # Runbook snapshots by id (`runbook_snapshots.py`).
        self.runbook_snapshots: dict[str, JsonDict] = {}
        self._counters: dict[str, int] = {}
        with self.lock:
            self._install_defaults()

    # ----------------------------------------------------------------- profile

    def toggles(self) -> dict[str, bool]:
        """Every feature toggle this instance knows, with its state.

        `CommonVariableScopingFeatureToggle` is on from 2025.2 and listed as off before, not
        left out: the Octopus CLI asks for it by `Name` and reads the first toggle returned
        (cli `pkg/util/featuretoggle/feature_toggles.go`), and the Terraform provider looks it
        up in the full list (terraform-provider-octopusdeploy `octopusdeploy_framework/config.go`);
        "listed as false" gives both the answer "off". Inferred: which toggles a pre-2025 server
        lists is not known; the nearest evidence is that the backend arrived in 2025.1.7559
        (OctopusDeploy/Issues#9222).
        """
        scoped = version_tuple(self.server_version) >= SCOPED_TENANT_VARIABLES_SINCE
        return {SCOPED_TENANT_VARIABLES: scoped, **self.feature_toggles}

    def toggle(self, name: str) -> bool:
        return bool(self.toggles().get(name, False))

    @property
    def scoped_tenant_variables(self) -> bool:
        """Whether the new tenant-variable routes are served and the legacy write refused."""
        return self.toggle(SCOPED_TENANT_VARIABLES)

    # ----------------------------------------------------------------- ids and lookups

    def _new_id(self, kind: Kind) -> str:
        number = self._counters.get(kind.prefix, 0) + 1
        self._counters[kind.prefix] = number
        return f"{kind.prefix}-{self.id_offset + number}"

    def default_space_id(self) -> str:
        for space in self.docs["spaces"].values():
            if space["IsDefault"]:
                return str(space["Id"])
        raise ApiError(404, "There is no default space.")

    def space_items(self, space_id: str | None, collection: str) -> list[JsonDict]:
        kind = KINDS[collection]
        items = list(self.docs[collection].values())
        if kind.space_scoped:
            return [doc for doc in items if doc.get("SpaceId") == space_id]
        return items

    def find(self, space_id: str | None, collection: str, resource_id: str) -> JsonDict:
        doc = self.find_any(collection, resource_id)
        if KINDS[collection].space_scoped and doc.get("SpaceId") != space_id:
            raise not_found(resource_id)
        return doc

    def find_any(self, collection: str, resource_id: str) -> JsonDict:
        """A document by id whatever its space (the system routes of teams and roles)."""
        doc = self.docs[collection].get(resource_id)
        if doc is None:
            # Octopus ids are matched case-insensitively.
            lowered = resource_id.lower()
            doc = next((d for i, d in self.docs[collection].items() if i.lower() == lowered), None)
        if doc is None:
            raise not_found(resource_id)
        return doc

    def find_team(self, space_id: str | None, team_id: str) -> JsonDict:
        """A team usable in `space_id`: the space's own or a system team (system teams are
        "accessible in all spaces", OctopusDeploy/docs PR #303; terraform-provider-
        octopusdeploy's docs name the system team teams-managers in a space's process)."""
        doc = self.find_any("teams", team_id)
        if doc.get("SpaceId") not in (None, space_id):
            raise not_found(team_id)
        return doc

    def find_by_name(
        self, space_id: str | None, collection: str, name: str, parent: str | None = None
    ) -> JsonDict | None:
        kind = KINDS[collection]
        lowered = name.lower()
        for doc in self.space_items(space_id, collection):
            if kind.unique_within and parent is not None and doc.get(kind.unique_within) != parent:
                continue
            if str(doc.get("Name", "")).lower() == lowered:
                return doc
        return None

    def _tag_names(self, space_id: str | None, scope: str | None = None) -> set[str]:
        return {
            tag["CanonicalTagName"]
            for tag_set in self.space_items(space_id, "tagsets")
            if scope is None or scope in (tag_set.get("Scopes") or [])
            for tag in tag_set["Tags"]
        }

    def _action_ids(self, space_id: str | None) -> set[str]:
        ids: set[str] = set()
        for collection in ("deploymentprocesses", "runbookprocesses"):
            for process in self.space_items(space_id, collection):
                ids.update(
                    action["Id"] for _, _, action in walk(process, ("Steps", "*", "Actions", "*"))
                )
        return ids

    def _exists(self, space_id: str | None, target: str, value: str) -> bool:
        if target == "tags":
            return value in self._tag_names(space_id)
        if target == "actions":
            return value in self._action_ids(space_id)
        if target == "teams":
            try:
                self.find_team(space_id, value)
            except ApiError:
                return False
            return True
        if target == "processowners":
            return any(
                value in {d["Id"] for d in self.space_items(space_id, c)}
                for c in ("projects", "runbooks")
            )
        try:
            self.find(space_id, target, value)
        except ApiError:
            return False
        return True

    # ----------------------------------------------------------------- defaults

    def _install_defaults(self) -> None:
        """What a fresh Octopus instance already holds: the Default space, project group,
        lifecycle, machine policy and worker pool, the built-in feeds and user roles."""
        space = self._insert(None, "spaces", {"Name": "Default", "IsDefault": True})
        sid = space["Id"]
        self._insert(sid, "projectgroups", {"Name": "Default Project Group"})
        self._insert(sid, "lifecycles", {"Name": "Default Lifecycle"})
        self._insert(sid, "machinepolicies", {"Name": "Default Machine Policy", "IsDefault": True})
        self._insert(sid, "workerpools", {"Name": "Default Worker Pool", "IsDefault": True})
        # The built-in feeds have the same ids on every instance: packages, and the projects
        # that "Deploy a release" steps deploy (id and name: research B 5, SpaceCloner
        # `src/Core/Util.ps1` passes both built-in ids through).
        self._insert(
            sid,
            "feeds",
            {"Name": "Octopus Server (built-in)", "FeedType": "BuiltIn"},
            resource_id="feeds-builtin",
        )
        self._insert(
            sid,
            "feeds",
            {"Name": "Octopus Server Releases (built-in)", "FeedType": "OctopusProject"},
            resource_id=RELEASES_FEED_ID,
        )
        self._insert(
            sid,
            "teams",
            {"Name": "Space Managers", "CanBeDeleted": False, "CanBeRenamed": False},
            resource_id=f"teams-spacemanagers-{sid}",
        )
        for role_id, name, space_permissions, system_permissions in BUILT_IN_USER_ROLES:
            role = {
                "Name": name,
                "CanBeDeleted": False,
                "GrantedSpacePermissions": list(space_permissions),
                "GrantedSystemPermissions": list(system_permissions),
            }
            self._insert(None, "userroles", role, resource_id=role_id)
        for team_id, name in BUILT_IN_SYSTEM_TEAMS:
            team = {"Name": name, "CanBeDeleted": False, "CanBeRenamed": False}
            self._insert(None, "teams", team, resource_id=team_id)

    def _insert(
        self,
        space_id: str | None,
        collection: str,
        values: JsonDict,
        resource_id: str | None = None,
    ) -> JsonDict:
        """Store a document the server itself creates (no validation, no side effects)."""
        kind = KINDS[collection]
        variant = values.get(kind.variant_field or "") or kind.fields.get(kind.variant_field or "")
        doc = copy.deepcopy(kind.fields_for(variant))
        doc.update(copy.deepcopy(values))
        if kind.audited:
            _audit(doc)
        doc["Id"] = resource_id or self._new_id(kind)
        if kind.space_scoped:
            doc["SpaceId"] = space_id
        if "Slug" in kind.fields and not doc.get("Slug"):
            doc["Slug"] = _slug(str(doc.get("Name", "")))
        self.docs[collection][doc["Id"]] = doc
        return doc

    # ----------------------------------------------------------------- writes

    def create(self, space_id: str | None, collection: str, body: Any) -> JsonDict:
        kind = KINDS[collection]
        if not kind.creatable:
            raise ApiError(405, f"Documents of type {kind.item_type} are created by the server.")
        if kind.mixed_scope:
            space_id = self._mixed_space(space_id, kind, body)
        doc = self._validated(space_id, kind, body, existing=None)
        if collection == "environments" and not doc["SortOrder"]:
            # "Posting a new environment with sort order 0 and the space has existing
            # environments, the sort order will be changed to be last" (OctopusDeploy/
            # Issues#8940). The number is inferred: max + 1 is "last" whatever the others hold.
            orders = [e["SortOrder"] for e in self.space_items(space_id, "environments")]
            doc["SortOrder"] = max(orders) + 1 if orders else 0
        doc["Id"] = self._new_id(kind)
        if kind.space_scoped:
            doc["SpaceId"] = space_id
        self.docs[collection][doc["Id"]] = doc
        self._after_create(space_id, collection, doc)
        return doc

    def _mixed_space(self, route_space: str | None, kind: Kind, body: Any) -> str | None:
        """The space a new team or scoped user role belongs to: its `SpaceId`, null for system.

        A team posted without `SpaceId` is a system team even from a space-configured client
        (OctopusDeployLabs/terraform-provider-octopusdeploy#151: it "still created System
        Team"); Octopus.Client always sets it for space teams and roles (`BasicRepository.cs`
        `EnrichSpaceId`); the Terraform provider's docs say a scoped user role without
        `space_id` "will be created at the system level" (`docs/resources/scoped_user_role.md`).
        Inferred: on a space route, a `SpaceId` naming another space is refused.
        """
        sent = body.get("SpaceId") if isinstance(body, dict) else None
        if sent in (None, ""):
            return None
        if not isinstance(sent, str) or sent not in self.docs["spaces"]:
            raise bad_request(f"The space '{sent}' does not exist.")
        if route_space is not None and sent != route_space:
            raise bad_request(
                f"A {kind.item_type} of space '{sent}' cannot be created in space '{route_space}'."
            )
        return sent

    def update(
        self, space_id: str | None, collection: str, resource_id: str, body: Any
    ) -> JsonDict:
        kind = KINDS[collection]
        existing = self.find(space_id, collection, resource_id)
        if collection == "projects" and is_version_controlled(existing) and isinstance(body, dict):
            refuse_settings_on_project_route(body)
        doc = self._validated(space_id, kind, body, existing=existing)
        if collection == "tagsets":
            self._refuse_removing_tags_in_use(space_id, existing, doc)
        if kind.versioned:
            doc["Version"] = int(existing["Version"]) + 1
        self.docs[collection][existing["Id"]] = doc
        if collection == "tagsets":
            self._rename_tags(space_id, existing, doc)
        return doc

    def _refuse_removing_tags_in_use(
        self, space_id: str | None, old: JsonDict, new: JsonDict
    ) -> None:
        """A tag still used is not removed: Octopus vetoes the delete "unless all references
        have been removed" (OctopusDeploy/Issues#3436: tenants tagged with it, deployment
        processes whose actions are scoped to it, variables scoped to it, machines).
        The wording of the refusal is inferred; the rule is the issue's."""
        kept = {t["Id"] for t in new["Tags"]}
        removed = {t["CanonicalTagName"] for t in old["Tags"] if t["Id"] not in kept}
        if not removed:
            return
        users: list[str] = []
        for collection in ("tenants", "accounts", "certificates", "machines", "channels"):
            for doc in self.space_items(space_id, collection):
                if removed & set(doc.get("TenantTags") or []):
                    users.append(f"{KINDS[collection].item_type} '{doc.get('Name')}'")
        for doc in self.space_items(space_id, "variables"):
            for variable in doc.get("Variables") or []:
                if removed & set((variable.get("Scope") or {}).get("TenantTag") or []):
                    users.append(f"variable '{variable.get('Name')}'")
        for collection in ("deploymentprocesses", "runbookprocesses"):
            for doc in self.space_items(space_id, collection):
                for _, _, action in walk(doc, ("Steps", "*", "Actions", "*")):
                    if isinstance(action, dict) and removed & set(action.get("TenantTags") or []):
                        users.append(f"step '{action.get('Name')}'")
        if users:
            raise bad_request(
                f"The tag '{sorted(removed)[0]}' cannot be removed: it is still used by "
                f"{', '.join(sorted(set(users)))}. Remove those references first."
            )

    def delete(self, space_id: str | None, collection: str, resource_id: str) -> None:
        kind = KINDS[collection]
        doc = self.find(space_id, collection, resource_id)
        if not kind.creatable:
            raise ApiError(405, f"Documents of type {kind.item_type} cannot be deleted.")
        if not doc.get("CanBeDeleted", True):
            raise bad_request(f"The {kind.item_type} '{doc.get('Name')}' cannot be deleted.")
        del self.docs[collection][doc["Id"]]
        if collection == "projects":
            for child in ("channels", "runbooks", "projecttriggers"):
                for item in self.space_items(space_id, child):
                    if item["ProjectId"] == doc["Id"]:
                        self.docs[child].pop(item["Id"], None)
                        self.docs["runbookprocesses"].pop(str(item.get("RunbookProcessId")), None)
            self.docs["deploymentprocesses"].pop(str(doc["DeploymentProcessId"]), None)
            self.docs["variables"].pop(str(doc["VariableSetId"]), None)
        elif collection == "runbooks":
            self.docs["runbookprocesses"].pop(str(doc["RunbookProcessId"]), None)
        elif collection == "libraryvariablesets":
            self.docs["variables"].pop(str(doc["VariableSetId"]), None)
        elif collection == "tenants":
            self.tenant_values.pop(doc["Id"], None)
        if collection in ("projects", "libraryvariablesets", "environments"):
            self._forget_tenant_values(doc["Id"])
        if collection in ("projects", "environments"):
            # Tenant connections follow deletes (OctopusDeploy/Issues#2695), so a tenant read
            # afterwards can still be PUT back without a dangling id.
            for tenant in self.space_items(space_id, "tenants"):
                links = tenant["ProjectEnvironments"]
                links.pop(doc["Id"], None)
                for project_id, environment_ids in links.items():
                    links[project_id] = [e for e in environment_ids if e != doc["Id"]]

    def sort_environments(self, space_id: str | None, body: Any) -> None:
        """`PUT /api/{space}/environments/sortorder` with a bare array of ids in order
        (api-client.ts `environmentRepository.ts` `sort`; Octopus.Client
        `EnvironmentRepository.cs` `Sort(string[] environmentIdsInOrder)`).

        Inferred: every client sends the space's full list; a list that leaves environments
        out, names one twice or names one that does not exist is refused, so a client cannot
        come to depend on what a real server does with it (not known).
        """
        if not isinstance(body, list) or not all(isinstance(i, str) for i in body):
            raise bad_request("Send the ids of the space's environments, in order, as an array.")
        environments = {e["Id"].lower(): e for e in self.space_items(space_id, "environments")}
        wanted = [i.lower() for i in body]
        unknown = [i for i in body if i.lower() not in environments]
        if unknown:
            raise bad_request(*(f"There is no environment '{i}' in this space." for i in unknown))
        if len(set(wanted)) != len(wanted):
            raise bad_request("Each environment may appear only once in the sort order.")
        left_out = sorted(e["Id"] for key, e in environments.items() if key not in wanted)
        if left_out:
            raise bad_request(
                "The sort order must list every environment of the space; missing: "
                + ", ".join(left_out)
            )
        for order, key in enumerate(wanted):
            environments[key]["SortOrder"] = order
            _audit(environments[key])

    def _forget_tenant_values(self, deleted_id: str) -> None:
        """Tenant variable values follow a deleted project, library variable set or
        environment (a value scoped only to deleted environments goes with them)."""
        for tenant_id, values in self.tenant_values.items():
            kept = []
            for value in values:
                if deleted_id in (value.get("ProjectId"), value.get("LibraryVariableSetId")):
                    continue
                environments = value["Scope"]["EnvironmentIds"]
                if deleted_id in environments:
                    environments.remove(deleted_id)
                    if not environments:
                        continue
                kept.append(value)
            self.tenant_values[tenant_id] = kept

    def _validated(
        self, space_id: str | None, kind: Kind, body: Any, existing: JsonDict | None
    ) -> JsonDict:
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        fields = self._fields(kind, body, existing)
        allowed = set(fields) | set(COMMON)
        unknown = sorted(set(body) - allowed)
        errors = [
            f"The property '{name}' is not a known property of {kind.item_type}."
            for name in unknown
        ]
        for path, defaults in kind.nested.items():
            for _, _, item in walk(body, path):
                if isinstance(item, dict):
                    errors.extend(
                        f"The property '{name}' is not a known property of "
                        f"{kind.item_type} at {'.'.join(p for p in path if p != '*')}."
                        for name in sorted(set(item) - set(defaults))
                    )
        if errors:
            raise bad_request(*errors)

        doc = copy.deepcopy(existing) if existing is not None else copy.deepcopy(fields)
        for key, value in body.items():
            if key in COMMON or key in kind.server_owned:
                continue
            default = fields[key]
            if not _same_type(default, value):
                errors.append(f"The property '{key}' has the wrong type for {kind.item_type}.")
            doc[key] = copy.deepcopy(value)
        if errors:
            raise bad_request(*errors)
        # Outer items first, so a new step's actions exist before they get their defaults.
        for path, defaults in sorted(kind.nested.items(), key=lambda entry: len(entry[0])):
            for _, _, item in walk(doc, path):
                if isinstance(item, dict):
                    for key, default in defaults.items():
                        item.setdefault(key, copy.deepcopy(default))

        if kind.versioned and existing is not None:
            sent = body.get("Version")
            if sent is not None and int(sent) != int(existing["Version"]):
                # The server's words for a stale document (OctopusDeploy/Issues#9043): the
                # process was changed by someone else since it was read.
                raise ApiError(
                    400,
                    "Changes could not be saved, because another user has made changes "
                    "between when you started editing and when you saved your changes. "
                    "Please reload and try again.",
                    [
                        f"The document {existing['Id']} is at version {existing['Version']}, "
                        f"not {sent}."
                    ],
                )

        if kind.named:
            self._check_name(space_id, kind, doc, existing)
        if existing is not None:
            _keep_secrets(doc, existing)
        else:
            _forget_unset_secrets(doc)
        self._assign_ids(kind, doc)
        self._check_kind(space_id, kind, doc, existing)
        self._check_refs(space_id, kind, doc)
        if "Slug" in kind.fields and not doc.get("Slug"):
            doc["Slug"] = _slug(str(doc.get("Name", "")))
        if kind.audited:
            _audit(doc)
        return doc

    @staticmethod
    def _fields(kind: Kind, body: JsonDict, existing: JsonDict | None) -> dict[str, Any]:
        """The properties a write may carry: the kind's, or its variant's."""
        if not kind.variant_field:
            return dict(kind.fields)
        current = (existing or {}).get(kind.variant_field)
        variant = body.get(kind.variant_field) or current or kind.fields[kind.variant_field]
        if current is not None and variant != current:
            raise bad_request(f"The {kind.variant_field} of a {kind.item_type} cannot be changed.")
        if variant not in kind.variants:
            raise bad_request(
                f"{kind.variant_field} '{variant}' is not supported; use one of "
                f"{', '.join(sorted(kind.variants))}."
            )
        return kind.fields_for(variant)

    def _check_name(
        self, space_id: str | None, kind: Kind, doc: JsonDict, existing: JsonDict | None
    ) -> None:
        name = doc.get("Name")
        if not isinstance(name, str) or not name.strip():
            raise bad_request(f"Please provide a name for the {kind.item_type}.")
        parent = doc.get(kind.unique_within) if kind.unique_within else None
        clash = self.find_by_name(space_id, kind.collection, name, parent)
        if clash is not None and (existing is None or clash["Id"] != existing["Id"]):
            raise bad_request(
                f"Another {kind.item_type} already uses the name '{name}'. "
                "Please use a different name."
            )

    def _assign_ids(self, kind: Kind, doc: JsonDict) -> None:
        """Give new steps, actions, phases, variables and tags their server-side ids, and steps
        and actions their slugs (made from the name, as for every named resource; feed and Git
        triggers name actions by slug, go-octopusdeploy `deployment_action_slug_package.go`)."""
        paths = _GUID_PATHS.get(kind.collection, ())
        for path in paths:
            for _, _, item in walk(doc, path):
                if isinstance(item, dict) and not item.get("Id"):
                    item["Id"] = str(uuid.uuid4())
        if kind.collection in ("deploymentprocesses", "runbookprocesses"):
            for path in (("Steps", "*"), ("Steps", "*", "Actions", "*")):
                for _, _, item in walk(doc, path):
                    if isinstance(item, dict) and not item.get("Slug"):
                        item["Slug"] = _slug(str(item.get("Name", "")))
        if kind.collection == "tagsets":
            for tag in doc["Tags"]:
                if not tag.get("Id"):
                    tag["Id"] = self._new_id_for("Tags")
                tag["CanonicalTagName"] = f"{doc['Name']}/{tag.get('Name', '')}"

    def _new_id_for(self, prefix: str) -> str:
        number = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = number
        return f"{prefix}-{self.id_offset + number}"

    def _check_kind(
        self, space_id: str | None, kind: Kind, doc: JsonDict, existing: JsonDict | None
    ) -> None:
        """Rules of one kind that go beyond field names and references."""
        name = kind.collection
        if name == "projects":
            missing = [f for f in ("ProjectGroupId", "LifecycleId") if not doc.get(f)]
            if missing:
                raise bad_request(*(f"The property '{f}' is required." for f in missing))
            for field in ("ProvisioningRunbookId", "DeprovisioningRunbookId"):
                runbook = self.docs["runbooks"].get(str(doc.get(field) or ""))
                if runbook is not None and runbook["ProjectId"] != (existing or {}).get("Id"):
                    # Inferred: the project's own runbooks (octoterra maps them through the
                    # project's runbooks, project_converter.go); a new project has none yet.
                    raise bad_request(
                        f"{field} refers to the runbook '{runbook['Name']}' of another project."
                    )
            check_persistence(doc, existing)
            if not is_version_controlled(doc):
                self._check_release_strategies(doc, existing)
        elif name in ("channels", "runbooks", "projecttriggers"):
            if not doc.get("ProjectId"):
                raise bad_request("The property 'ProjectId' is required.")
            if existing is not None and existing["ProjectId"] != doc["ProjectId"]:
                raise bad_request(f"A {kind.item_type} cannot be moved to another project.")
            if name == "projecttriggers":
                self._check_trigger(doc)
            if name == "channels":
                self._check_channel_rules(doc)
        elif name in ("machines", "workers"):
            if not doc.get("MachinePolicyId"):  # the server assigns its default policy
                policies = self.space_items(space_id, "machinepolicies")
                doc["MachinePolicyId"] = next(p["Id"] for p in policies if p["IsDefault"])
        elif name == "scopeduserroles":
            missing = [f for f in ("TeamId", "UserRoleId") if not doc.get(f)]
            if missing:
                raise bad_request(*(f"The property '{f}' is required." for f in missing))
            self._check_role_level(space_id, doc)
        elif name == "tagsets":
            names = [str(tag.get("Name", "")).lower() for tag in doc["Tags"]]
            if len(names) != len(set(names)) or "" in names:
                raise bad_request("Tag names must be present and unique within a tag set.")
        elif name in ("deploymentprocesses", "runbookprocesses"):
            step_names = [str(step.get("Name", "")).lower() for step in doc["Steps"]]
            if "" in step_names or len(step_names) != len(set(step_names)):
                raise bad_request("Step names must be present and unique within a process.")
            for _, _, action in walk(doc, ("Steps", "*", "Actions", "*")):
                if not action.get("Name") or not action.get("ActionType"):
                    raise bad_request("Every action needs a Name and an ActionType.")
            self._check_action_names(kind, doc)
        elif name == "variables":
            self._check_variables(doc, existing)
        elif name == "certificates":
            self._check_certificate(doc, existing)
        elif name == "accounts":
            _check_parsed_account_secrets(doc)

    def check_versioning(self, project: JsonDict, versioning: Any) -> None:
        """A versioning strategy written through deployment settings, checked as on the project."""
        self._check_release_strategies(
            {
                **project,
                "VersioningStrategy": versioning,
                "AutoCreateRelease": False,
                "ReleaseCreationStrategy": {},
            },
            project,
        )

    def _check_release_strategies(self, doc: JsonDict, existing: JsonDict | None) -> None:
        """Versioning and automatic release creation point into the project's own process and
        channels, so they can only be written once those exist.

        Confirmed: the server resolves the release creation package in the process and checks
        its feed ("The Automatic Release Creation package must be sourced from the Octopus
        built-in feed.", OctopusDeploy/Issues#5610); a donor package and a version template are
        exclusive ("Only one of either a donor package step or a version template may be
        provided.", Issues#8455); a donor package written before the process exists fails
        (OctopusDeployLabs/terraform-provider-octopusdeploy#345, an error 500 there); an
        automatic release needs its package (the Terraform provider resends it "to avoid an
        error (missing package for ARC)", `resource_project.go`; Issues#9483). Inferred: the
        wording of the not-found errors, and that `*StepId` must name an action (octoterra:
        "it is actually an Action ID"), a step, or Octopus.Client's "ActionName[:Package]"
        form (`VersioningStrategyResource.cs`) of the process.
        """
        project_id = (existing or {}).get("Id")
        process = self.docs["deploymentprocesses"].get(str(doc.get("DeploymentProcessId")))
        steps = (process or {}).get("Steps") or []
        actions = [a for step in steps for a in step.get("Actions") or []]
        errors: list[str] = []
        versioning = doc.get("VersioningStrategy") or {}
        creation = doc.get("ReleaseCreationStrategy") or {}
        if not isinstance(versioning, dict) or not isinstance(creation, dict):
            raise bad_request("VersioningStrategy and ReleaseCreationStrategy must be objects.")
        donor = versioning.get("DonorPackage")
        if donor and versioning.get("Template"):
            errors.append(
                "Only one of either a donor package step or a version template may be provided."
            )
        if donor:
            _action_package(actions, donor, "VersioningStrategy.DonorPackage", errors)
        arc = creation.get("ReleaseCreationPackage")
        if arc:
            package = _action_package(
                actions, arc, "ReleaseCreationStrategy.ReleaseCreationPackage", errors
            )
            if (
                package is not None
                and doc.get("AutoCreateRelease")
                and package.get("FeedId") != "feeds-builtin"
            ):
                errors.append(
                    "The Automatic Release Creation package must be sourced from the Octopus "
                    "built-in feed."
                )
        elif doc.get("AutoCreateRelease"):
            errors.append(
                "Automatic release creation needs ReleaseCreationStrategy.ReleaseCreationPackage: "
                "the package whose push creates the release."
            )
        for where, value in (
            ("VersioningStrategy.DonorPackageStepId", versioning.get("DonorPackageStepId")),
            (
                "ReleaseCreationStrategy.ReleaseCreationPackageStepId",
                creation.get("ReleaseCreationPackageStepId"),
            ),
        ):
            if value and not _names_process_item(steps, actions, str(value)):
                errors.append(
                    f"{where} refers to '{value}', which is not a step or action of the "
                    "project's deployment process."
                )
        channel = self.docs["channels"].get(str(creation.get("ChannelId") or ""))
        if channel is not None and channel["ProjectId"] != project_id:
            errors.append(
                f"ReleaseCreationStrategy.ChannelId refers to the channel '{channel['Name']}' "
                f"({channel['Id']}), which is not a channel of this project."
            )
        if errors:
            raise bad_request(*errors)

    def _check_trigger(self, doc: JsonDict) -> None:
        """A trigger's filter and action carry the fields of their type; the runbook, channel
        and process actions they name belong to the trigger's project."""
        errors: list[str] = []
        doc["Filter"] = _typed_part(doc, "Filter", "FilterType", TRIGGER_FILTERS, errors)
        doc["Action"] = _typed_part(doc, "Action", "ActionType", TRIGGER_ACTIONS, errors)
        if errors:
            raise bad_request(*errors)
        project_id = doc["ProjectId"]
        action = doc["Action"]
        # Inferred: a run-runbook trigger runs one of its own project's runbooks, and a
        # release is created or deployed in one of its own project's channels (research B 4:
        # "runbook (same project)", "channel (same project)").
        for field, collection in (("RunbookId", "runbooks"), ("ChannelId", "channels")):
            target = self.docs[collection].get(str(action.get(field) or ""))
            if target is not None and target["ProjectId"] != project_id:
                errors.append(
                    f"Action.{field} refers to '{target['Name']}' ({target['Id']}), which "
                    f"belongs to another project than the trigger's ({project_id})."
                )
        runbook = self.docs["runbooks"].get(str(action.get("RunbookId") or ""))
        if (
            action.get("ActionType") == "RunRunbook"
            and runbook is not None
            and not runbook.get("PublishedRunbookSnapshotId")
        ):
            # "Only published snapshots can be used to create a scheduled runbook trigger"
            # (Octopus docs, runbooks/scheduled-runbook-trigger). Inferred: the wording, and
            # that the API refuses it as the UI does (a trigger with nothing to run).
            errors.append(
                f"The runbook '{runbook['Name']}' has no published snapshot: publish it before "
                "a scheduled trigger can run it."
            )
        errors += self._trigger_packages(doc)
        if errors:
            raise bad_request(*errors)

    def _check_channel_rules(self, channel: JsonDict) -> None:
        """A version rule names steps of the project's deployment process by name, with the
        package reference of each: the process must have them when the channel is written.

        Confirmed that the server checks them against the process: octoterra makes every
        channel depend on the deployment process because "Octopus will reject the channel
        rules" otherwise (OctopusTerraformExport `cmd/internal/converters/
        channel_converter.go`). Inferred: the wording, that a step's own name or one of its
        actions' names is accepted (`DeploymentAction` is "name (or id)" as for ARC packages,
        Octopus.Client `Model/DeploymentActionPackageResource.cs`), and that a config-as-code
        project's rules are not checked here (its process lives in git).
        """
        project = self.docs["projects"].get(str(channel.get("ProjectId")))
        if project is None or is_version_controlled(project):
            return
        process = self.docs["deploymentprocesses"].get(str(project["DeploymentProcessId"]))
        steps = (process or {}).get("Steps") or []
        errors: list[str] = []
        for rule in channel.get("Rules") or []:
            if not isinstance(rule, dict):
                errors.append("Every channel version rule must be an object.")
                continue
            for item in rule.get("ActionPackages") or []:
                wanted = str((item or {}).get("DeploymentAction") or "")
                reference = str((item or {}).get("PackageReference") or "")
                actions = _named_actions(steps, wanted)
                if not actions:
                    errors.append(
                        f"The channel version rule names the step '{wanted}', which is not in "
                        f"the deployment process of project '{project['Name']}'."
                    )
                    continue
                references = {
                    str(p.get("Name") or "") for a in actions for p in a.get("Packages") or []
                }
                if reference not in references:
                    errors.append(
                        f"The channel version rule names the package reference '{reference}' "
                        f"of step '{wanted}', which that step does not have."
                    )
        errors += _git_resource_rule_errors(channel, steps)
        if errors:
            raise bad_request(*errors)

    def _trigger_packages(self, trigger: JsonDict) -> list[str]:
        """Feed, ARC and Git trigger filters name actions of the project's deployment process.

        Inferred that the server checks them on save: a trigger whose action is not in the
        process cannot fire; the ARC form is resolved against the process on read
        (OctopusDeploy/Issues#7230, #7071), and octoterra resolves these names "from the IDs
        returned by the API" (`project_trigger_converter.go`).
        """
        kind = trigger["Filter"]["FilterType"]
        if kind not in TRIGGER_FILTER_ITEMS:
            return []
        project = self.docs["projects"].get(str(trigger["ProjectId"]))
        process = (
            self.docs["deploymentprocesses"].get(str(project["DeploymentProcessId"]))
            if project is not None
            else None
        )
        actions = [a for _, _, a in walk(process or {}, ("Steps", "*", "Actions", "*"))]
        errors: list[str] = []
        field, _ = TRIGGER_FILTER_ITEMS[kind]
        for item in trigger["Filter"][field]:
            if kind == "ArcFeedFilter":
                wanted = str(item.get("DeploymentAction") or "")
                found = [a for a in actions if wanted.lower() in (a["Name"].lower(), a["Id"])]
            else:
                wanted = str(item.get("DeploymentActionSlug") or "")
                found = [a for a in actions if a.get("Slug", "").lower() == wanted.lower()]
            if not found:
                errors.append(
                    f"Filter.{field} names the action '{wanted}', which is not in the "
                    "project's deployment process."
                )
                continue
            if kind == "GitFilter":
                dependency = str(item.get("GitDependencyName") or "")
                names = [str(d.get("Name", "")) for d in found[0].get("GitDependencies") or []]
                if dependency not in names:
                    errors.append(
                        f"Filter.Sources names the Git dependency '{dependency}', which action "
                        f"'{found[0]['Name']}' does not have."
                    )
                continue
            reference = str(item.get("PackageReference") or "")
            packages = found[0].get("Packages") or []
            keys = {str(p.get("Name") or "") for p in packages}
            if kind == "ArcFeedFilter":
                keys |= {str(p.get("Id")) for p in packages}
            if reference not in keys:
                errors.append(
                    f"Filter.Packages names the package reference '{reference}', which action "
                    f"'{found[0]['Name']}' does not have."
                )
        return errors

    @staticmethod
    def _check_certificate(doc: JsonDict, existing: JsonDict | None) -> None:
        """The data is parsed on create; `CertificateData` and `Password` are writeable on
        create only (Octopus.Client `Model/CertificateResource.cs` `[WriteableOnCreate]`;
        replacing goes through `POST certificates/{id}/replace`)."""
        if existing is not None:
            doc["CertificateData"] = existing["CertificateData"]
            doc["Password"] = existing["Password"]
            return
        try:
            doc.update(certificates.read(str(doc["Name"]), doc["CertificateData"]["NewValue"]))
        except certificates.CertificateError as error:
            raise bad_request(str(error)) from None

    @staticmethod
    def _check_action_names(kind: Kind, doc: JsonDict) -> None:
        """Action names are unique within a process, and no action takes the name of another
        step (a step and its own action usually share one).

        The server's words: "Action name 'X' is already in use by another action in this
        deployment process. Action names must be unique." (OctopusDeployLabs/terraform-
        provider-octopusdeploy#276, #509) and "Actions names 'X', 'Y' are already in use by
        other steps in this deployment process. Action names must be unique." (#457).
        Case-insensitive: inferred from the step rule `MustHaveUniqueNamesIgnoreCase`
        (OctopusDeploy/Issues#4459). "runbook process" for runbooks is inferred.
        """
        process = (
            "deployment process" if kind.collection == "deploymentprocesses" else "runbook process"
        )
        errors: list[str] = []
        seen: dict[str, str] = {}
        for step in doc["Steps"]:
            for action in step.get("Actions") or []:
                key = str(action["Name"]).lower()
                if key in seen:
                    errors.append(
                        f"Action name '{action['Name']}' is already in use by another action in "
                        f"this {process}. Action names must be unique."
                    )
                seen.setdefault(key, action["Name"])
        step_names = {str(step.get("Name", "")).lower(): step for step in doc["Steps"]}
        clashing = []
        for step in doc["Steps"]:
            for action in step.get("Actions") or []:
                other = step_names.get(str(action["Name"]).lower())
                if other is not None and other is not step:
                    clashing.append(str(action["Name"]))
        if clashing:
            names = ", ".join(f"'{n}'" for n in clashing)
            errors.append(
                f"Actions names {names} are already in use by other steps in this {process}. "
                "Action names must be unique."
            )
        if errors:
            raise bad_request(*errors)

    def _check_role_level(self, space_id: str | None, role: JsonDict) -> None:
        """A scoped user role at space level needs a role with space permissions, one at system
        level a role with system permissions and a system team."""
        user_role = self.docs["userroles"].get(str(role["UserRoleId"]))
        team = self.docs["teams"].get(str(role["TeamId"]))
        if user_role is None or team is None:
            return  # the reference check names it
        if space_id is not None and not user_role["GrantedSpacePermissions"]:
            # The server's words (OctopusDeployLabs/terraform-provider-octopusdeploy#330).
            raise bad_request(
                "You cannot use a role without any Space level permissions at the Space level."
            )
        if space_id is None:
            space_permissions = sorted(user_role["GrantedSpacePermissions"])
            if space_permissions:
                # The server's words, for a role granting space permissions used at system
                # level: terraform-provider-octopusdeploy `octopusdeploy/resource_team_test.go`
                # (TestAccTeamUserRole's skip note quotes the API's answer: "You cannot use a
                # role with Space level permissions at the System level. Space level
                # permissions: AccountCreate").
                raise bad_request(
                    "You cannot use a role with Space level permissions at the System level. "
                    f"Space level permissions: {', '.join(space_permissions)}"
                )
            if not user_role["GrantedSystemPermissions"]:
                # Not confirmed (a role that grants nothing): the stricter reading, in the
                # words of the space-level rule (tfl#330).
                raise bad_request(
                    "You cannot use a role without any System level permissions at the "
                    "System level."
                )
            if team.get("SpaceId") is not None:
                # Inferred: a space team's roles stay in its space.
                raise bad_request(
                    f"The team '{team['Name']}' belongs to space '{team['SpaceId']}': it cannot "
                    "be given a role at the System level."
                )

    def _check_variables(self, doc: JsonDict, existing: JsonDict | None) -> None:
        errors: list[str] = []
        stored = {v["Id"]: v for v in (existing or {}).get("Variables", [])}
        for variable in doc["Variables"]:
            if not isinstance(variable, dict) or not variable.get("Name"):
                errors.append("Every variable needs a Name.")
                continue
            variable["Scope"] = variable["Scope"] or {}
            if variable["Type"] not in VARIABLE_TYPES:
                errors.append(
                    f"Variable '{variable['Name']}' has an unknown type {variable['Type']!r}."
                )
            variable["IsSensitive"] = _is_sensitive_variable(variable)
            unknown_scopes = set(variable["Scope"] or {}) - set(SCOPE_KEYS)
            if unknown_scopes:
                errors.append(
                    f"Variable '{variable['Name']}' has unknown scopes {sorted(unknown_scopes)}."
                )
            # A sensitive value sent back empty (null or "") is kept when the variable carries
            # its Id, and wiped when it does not: "The `Id` is the sole determinant. `null` and
            # `""` are indistinguishable." (measured on a 2026.x server, go-octopusdeploy issue
            # #449 and PR #450). A variable without an Id got a fresh one in `_assign_ids`, so
            # it never finds an old value here.
            old = stored.get(variable["Id"])
            if variable["IsSensitive"] and variable.get("Value") in (None, ""):
                variable["Value"] = old.get("Value") if old is not None else ""
        if errors:
            raise bad_request(*errors)

    def _check_refs(self, space_id: str | None, kind: Kind, doc: JsonDict) -> None:
        errors: list[str] = []
        for ref in kind.refs:
            for container, key, value in walk(doc, ref.path):
                if ref.when is not None and not ref.when(container):
                    continue
                for one in ref.ids(value):
                    if one in (None, "") or ref.is_expression(one):
                        continue
                    if ref.tag_scope is not None and isinstance(one, str):
                        if one in self._tag_names(space_id, ref.tag_scope):
                            continue
                        where = ".".join(p for p in ref.path if p != "*")
                        errors.append(
                            f"{where} refers to the tag '{one}', which does not exist in a tag "
                            f"set for {ref.tag_scope} tags."
                        )
                        continue
                    if isinstance(one, str) and self._exists(space_id, ref.target, one):
                        continue
                    where = ".".join(p for p in ref.path if p not in ("*", "@values"))
                    if ref.path[-1] == "@values":
                        where = f"{where}.{key}"
                    shown = key if ref.path[-1] == "@keys" else one
                    errors.append(
                        f"{where} refers to '{shown}', which is not a known {ref.target} id"
                        f" in this space."
                        if ref.target != "tags"
                        else f"{where} refers to the tag '{shown}', which does not exist."
                    )
        if errors:
            raise bad_request(*errors)

    def _after_create(self, space_id: str | None, collection: str, doc: JsonDict) -> None:
        """Documents the real server creates alongside a new resource."""
        if collection == "projects":
            pid = doc["Id"]
            process = self._insert(
                space_id,
                "deploymentprocesses",
                {"ProjectId": pid},
                resource_id=f"deploymentprocess-{pid}",
            )
            variables = self._insert(
                space_id, "variables", {"OwnerId": pid}, resource_id=f"variableset-{pid}"
            )
            doc["DeploymentProcessId"] = process["Id"]
            doc["VariableSetId"] = variables["Id"]
            self._insert(
                space_id, "channels", {"Name": "Default", "ProjectId": pid, "IsDefault": True}
            )
        elif collection == "runbooks":
            rid = doc["Id"]
            process = self._insert(
                space_id,
                "runbookprocesses",
                {"ProjectId": doc["ProjectId"], "RunbookId": rid},
                resource_id=f"RunbookProcess-{rid}",
            )
            doc["RunbookProcessId"] = process["Id"]
        elif collection == "libraryvariablesets":
            variables = self._insert(
                space_id,
                "variables",
                {"OwnerId": doc["Id"]},
                resource_id=f"variableset-{doc['Id']}",
            )
            doc["VariableSetId"] = variables["Id"]
        elif collection == "channels" and doc["IsDefault"]:
            self._make_only_default(space_id, doc)

    def _make_only_default(self, space_id: str | None, channel: JsonDict) -> None:
        for other in self.space_items(space_id, "channels"):
            if other["ProjectId"] == channel["ProjectId"] and other["Id"] != channel["Id"]:
                other["IsDefault"] = False

    def _rename_tags(self, space_id: str | None, old: JsonDict, new: JsonDict) -> None:
        """Canonical tag names embed the set's name: follow a rename everywhere."""
        renames = {}
        new_tags = {t["Id"]: t["CanonicalTagName"] for t in new["Tags"]}
        for tag in old["Tags"]:
            if tag["Id"] in new_tags and new_tags[tag["Id"]] != tag["CanonicalTagName"]:
                renames[tag["CanonicalTagName"]] = new_tags[tag["Id"]]
        if not renames:
            return
        for collection in ("tenants", "accounts", "certificates", "machines", "channels"):
            for doc in self.space_items(space_id, collection):
                doc["TenantTags"] = [renames.get(t, t) for t in doc["TenantTags"]]

    # ----------------------------------------------------------------- reads

    def present(self, space_id: str | None, collection: str, doc: JsonDict) -> JsonDict:
        """The document as the API returns it: secrets hidden, links and derived fields added."""
        out: JsonDict = hide_secrets(copy.deepcopy(doc))
        if collection == "variables":
            for variable in out["Variables"]:
                if variable.get("IsSensitive"):
                    variable["Value"] = None
            out["ScopeValues"] = self._scope_values(space_id, doc)
        out["Links"] = self._links(space_id, collection, doc)
        return out

    def _links(self, space_id: str | None, collection: str, doc: JsonDict) -> JsonDict:
        kind = KINDS[collection]
        if kind.mixed_scope:
            space_id = doc.get("SpaceId")
        base = f"/api/{space_id}" if kind.space_scoped and space_id else "/api"
        links: JsonDict = {"Self": f"{base}/{collection}/{doc['Id']}"}
        if collection == "projects":
            pid = doc["Id"]
            # A version-controlled project links its git-ref routes as templates (go
            # `pkg/deployments/deployment_service.go` expands `{gitRef}`).
            ref = "/{gitRef}" if is_version_controlled(doc) else ""
            links.update(
                {
                    "Channels": f"{base}/projects/{pid}/channels{{/id}}{{?skip,take,partialName}}",
                    "DeploymentProcess": f"{base}/projects/{pid}{ref}/deploymentprocesses",
                    "DeploymentSettings": f"{base}/projects/{pid}{ref}/deploymentsettings",
                    "Variables": f"{base}/variables/{doc['VariableSetId']}",
                    "Runbooks": f"{base}/projects/{pid}/runbooks{{/id}}{{?skip,take,partialName}}",
                    "Triggers": f"{base}/projects/{pid}/triggers{{?skip,take,partialName}}",
                }
            )
            if not ref:
                links["ConvertToVcs"] = f"{base}/projects/{pid}/git/convert"
        elif collection == "tenants":
            links["Variables"] = f"{base}/tenants/{doc['Id']}/variables"
        elif collection == "runbooks":
            links["RunbookProcesses"] = f"{base}/runbookProcesses/{doc['RunbookProcessId']}"
        elif collection in ("libraryvariablesets",):
            links["Variables"] = f"{base}/variables/{doc['VariableSetId']}"
        return links

    def _scope_values(self, space_id: str | None, variable_set: JsonDict) -> JsonDict:
        """The `ScopeValues` lookup Octopus returns with a variable set (id -> name)."""
        owner = str(variable_set.get("OwnerId"))

        def named(items: Iterable[JsonDict]) -> list[JsonDict]:
            return [{"Id": item["Id"], "Name": item["Name"]} for item in items]

        project = self.docs["projects"].get(owner)
        channels: list[JsonDict] = []
        actions: list[JsonDict] = []
        processes: list[JsonDict] = []
        if project is not None:
            channels = [
                c for c in self.space_items(space_id, "channels") if c["ProjectId"] == owner
            ]
            runbooks = [
                r for r in self.space_items(space_id, "runbooks") if r["ProjectId"] == owner
            ]
            process_docs = [
                self.docs["deploymentprocesses"].get(str(project["DeploymentProcessId"]))
            ]
            process_docs += [
                self.docs["runbookprocesses"].get(str(r["RunbookProcessId"])) for r in runbooks
            ]
            for process in process_docs:
                if process is not None:
                    actions += [a for _, _, a in walk(process, ("Steps", "*", "Actions", "*"))]
            processes = [{"ProcessType": "Deployment", "Id": owner, "Name": project["Name"]}]
            processes += [
                {"ProcessType": "Runbook", "Id": r["Id"], "Name": r["Name"]} for r in runbooks
            ]
        roles = sorted(
            {
                role
                for machine in self.space_items(space_id, "machines")
                for role in machine["Roles"]
            }
            | {
                role
                for variable in variable_set["Variables"]
                for role in (variable.get("Scope") or {}).get("Role", [])
            }
        )
        tags = sorted(self._tag_names(space_id))
        return {
            "Environments": named(self.space_items(space_id, "environments")),
            "Machines": named(self.space_items(space_id, "machines")),
            "Actions": named(actions),
            "Roles": [{"Id": role, "Name": role} for role in roles],
            "Channels": named(channels),
            "TenantTags": [{"Id": tag, "Name": tag} for tag in tags],
            "Processes": processes,
        }

    # ----------------------------------------------------------------- tenant variables

    def tenant_variable_values(self, tenant_id: str) -> list[JsonDict]:
        """The stored tenant variable values of one tenant (see `tenant_variables.py`)."""
        return self.tenant_values.setdefault(tenant_id, [])

    def tenant_concurrency_token(self, tenant_id: str) -> str:
        return self.tenant_tokens.setdefault(tenant_id, str(uuid.uuid4()))

    def bump_tenant_concurrency_token(self, tenant_id: str) -> None:
        """Another save of the tenant's variables: a token read before it is now stale."""
        self.tenant_tokens[tenant_id] = str(uuid.uuid4())

    def new_tenant_variable_id(self) -> str:
        return self._new_id_for("TenantVariables")


def _action_package(
    actions: list[JsonDict], reference: Any, where: str, errors: list[str]
) -> JsonDict | None:
    """The package a `{DeploymentAction, PackageReference}` names in a process: the action by
    name (any case) or id, the package by name ("" is the primary package) or id
    (Octopus.Client `Model/DeploymentActionPackageResource.cs`: "name (or id)")."""
    if not isinstance(reference, dict):
        errors.append(f"{where} must be an object with DeploymentAction and PackageReference.")
        return None
    wanted = str(reference.get("DeploymentAction") or "")
    action = next((a for a in actions if wanted.lower() in (a["Name"].lower(), a["Id"])), None)
    if action is None:
        errors.append(
            f"{where} refers to the step '{wanted}', which is not in the project's deployment "
            "process."
        )
        return None
    package_name = str(reference.get("PackageReference") or "")
    for package in action.get("Packages") or []:
        if package_name in (str(package.get("Name") or ""), package.get("Id")):
            return dict(package)
    errors.append(
        f"{where} refers to the package '{package_name}' of step '{wanted}', which it does "
        "not have."
    )
    return None


_PRIVATE_KEY = re.compile(rb"-----BEGIN ([A-Z0-9 ]+ )?PRIVATE KEY-----.+-----END ", re.DOTALL)


def _check_parsed_account_secrets(doc: JsonDict) -> None:
    """Secrets the server parses, not only stores, when they are written.

    An SSH key pair's `PrivateKeyFile` is the base64 of a private key file: "the property
    `private_key_file` needs to be the Base64-encoded private key; not a path to the key file
    itself" (OctopusDeployLabs/terraform-provider-octopusdeploy#343, where other values fail).
    An Azure subscription account's `CertificateBytes` is a management certificate, read as
    certificates are (go-octopusdeploy pkg/accounts/azure_subscription_account.go keeps it as
    a sensitive value beside its `CertificateThumbprint`). Inferred: the wording, and that
    both are checked when a new value is written (a value kept as it is is not re-read).
    """
    errors: list[str] = []
    account_type = doc.get("AccountType")
    if account_type == "SshKeyPair":
        sent = (doc.get("PrivateKeyFile") or {}).get("NewValue")
        if sent is not None and not _is_private_key_file(sent):
            errors.append(
                f"The private key file of account '{doc.get('Name')}' could not be read: send "
                "the base64 of a PEM or OpenSSH private key file."
            )
    elif account_type == "AzureSubscription":
        sent = (doc.get("CertificateBytes") or {}).get("NewValue")
        if sent is not None:
            try:
                certificates.read(str(doc.get("Name")), sent)
            except certificates.CertificateError as error:
                errors.append(f"CertificateBytes: {error}")
    if errors:
        raise bad_request(*errors)


def _is_private_key_file(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        raw = base64.b64decode(re.sub(r"\s+", "", value), validate=True)
    except (binascii.Error, ValueError):
        return False
    return _PRIVATE_KEY.search(raw) is not None


def _git_resource_rule_errors(channel: JsonDict, steps: list[JsonDict]) -> list[str]:
    """Git resource rules name an action of the process by slug and one of its Git
    dependencies by name (go-octopusdeploy pkg/channels/channel_git_resource_rule.go; the API
    reference's channels page: "Each rule targets step Git dependencies via
    GitDependencyActions (DeploymentActionSlug plus GitDependencyName)"). Inferred that the
    server checks them against the process on save, as it does version rules and as Git
    trigger filters need (`_trigger_packages`)."""
    actions = [a for step in steps for a in step.get("Actions") or []]
    errors: list[str] = []
    for rule in channel.get("GitResourceRules") or []:
        for item in (rule or {}).get("GitDependencyActions") or []:
            slug = str((item or {}).get("DeploymentActionSlug") or "")
            found = [a for a in actions if str(a.get("Slug", "")).lower() == slug.lower()]
            if not found:
                errors.append(
                    f"The channel Git resource rule names the action '{slug}', which is not in "
                    "the project's deployment process."
                )
                continue
            dependency = str((item or {}).get("GitDependencyName") or "")
            names = [str(d.get("Name") or "") for d in found[0].get("GitDependencies") or []]
            if dependency not in names:
                errors.append(
                    f"The channel Git resource rule names the Git dependency '{dependency}', "
                    f"which action '{found[0]['Name']}' does not have."
                )
    return errors


def _named_actions(steps: list[JsonDict], wanted: str) -> list[JsonDict]:
    """The actions a step-or-action name (or id) means: a step's actions, or one action."""
    key = wanted.lower()
    for step in steps:
        if str(step.get("Name", "")).lower() == key or step.get("Id") == wanted:
            return list(step.get("Actions") or [])
    return [
        action
        for step in steps
        for action in step.get("Actions") or []
        if str(action.get("Name", "")).lower() == key or action.get("Id") == wanted
    ]


def _names_process_item(steps: list[JsonDict], actions: list[JsonDict], value: str) -> bool:
    """An action id, a step id, or Octopus.Client's "ActionName[:PackageReference]" form."""
    if value in {s.get("Id") for s in steps} | {a.get("Id") for a in actions}:
        return True
    name, _, package = value.partition(":")
    for action in actions:
        if action["Name"].lower() == name.lower():
            names = {str(p.get("Name") or "") for p in action.get("Packages") or []}
            return package in names or not package
    return False


def _typed_part(
    doc: JsonDict,
    part: str,
    type_field: str,
    types: Mapping[str, Mapping[str, Any]],
    errors: list[str],
) -> JsonDict:
    """A trigger's `Filter` or `Action`: a known type, only its fields, defaults filled in."""
    value = doc.get(part)
    if not isinstance(value, dict) or value.get(type_field) not in types:
        errors.append(
            f"{part}.{type_field} must be one of {', '.join(types)}, not "
            f"{(value or {}).get(type_field) if isinstance(value, dict) else value!r}."
        )
        return value if isinstance(value, dict) else {}
    fields = types[value[type_field]]
    unknown = sorted(set(value) - set(fields) - {type_field})
    errors.extend(
        f"The property '{name}' is not a known property of a {value[type_field]} {part}."
        for name in unknown
    )
    if part == "Filter" and value[type_field] in TRIGGER_FILTER_ITEMS:
        field, allowed = TRIGGER_FILTER_ITEMS[value[type_field]]
        for item in value.get(field) or []:
            if not isinstance(item, dict):
                errors.append(f"Each of Filter.{field} must be an object.")
                continue
            errors.extend(
                f"The property '{name}' is not a known property of Filter.{field}."
                for name in sorted(set(item) - allowed)
            )
    return {
        type_field: value[type_field],
        **{key: copy.deepcopy(value.get(key, default)) for key, default in fields.items()},
    }


def _audit(doc: JsonDict) -> None:
    doc["LastModifiedOn"] = datetime.now(UTC).isoformat(timespec="milliseconds")
    doc["LastModifiedBy"] = "emulator-api-user"


def _same_type(default: Any, value: Any) -> bool:
    """A coarse JSON type check against the field's default (None accepts anything)."""
    if value is None or default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, list):
        return isinstance(value, list)
    if isinstance(default, dict):
        return isinstance(value, dict)
    return True


def hide_secrets(value: Any) -> Any:
    """The value as the API returns it: a secret says whether it is set, never what it is."""
    if is_secret(value):
        return {"HasValue": bool(value["HasValue"]), "NewValue": None, "Hint": value.get("Hint")}
    if isinstance(value, dict):
        return {key: hide_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [hide_secrets(item) for item in value]
    return value


def _forget_unset_secrets(doc: Any) -> None:
    """In a new document, `{HasValue: true, NewValue: null}` has nothing to keep: it is empty."""
    _map_secrets(doc, stored_secret)


def _map_secrets(value: Any, fn: Callable[[JsonDict], JsonDict]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if is_secret(item):
                value[key] = fn(item)
            else:
                _map_secrets(item, fn)
    elif isinstance(value, list):
        for item in value:
            _map_secrets(item, fn)


def _keep_secrets(new: Any, old: Any) -> None:
    """Where a write sends a secret back without a new value, keep the stored one.

    Lists are matched item by item on `Id` (steps, actions), or by position when items have
    no id; dicts key by key.
    """
    if isinstance(new, dict) and isinstance(old, dict):
        for key, item in list(new.items()):
            previous = old.get(key)
            if is_secret(item):
                new[key] = stored_secret(item, previous if is_secret(previous) else None)
            else:
                _keep_secrets(item, previous)
    elif isinstance(new, list) and isinstance(old, list):
        by_id = {o.get("Id"): o for o in old if isinstance(o, dict) and o.get("Id")}
        for index, item in enumerate(new):
            if isinstance(item, dict) and item.get("Id") in by_id:
                _keep_secrets(item, by_id[item["Id"]])
            elif index < len(old) and not (isinstance(item, dict) and item.get("Id")):
                _keep_secrets(item, old[index])
            else:
                _keep_secrets(item, None)
    elif isinstance(new, dict | list):
        _forget_unset_secrets(new)
