"""Tenant variables: one store of values, served through both of Octopus's APIs.

A value is `{Id: "TenantVariables-N", ProjectId | LibraryVariableSetId, TemplateId, Value,
Scope: {EnvironmentIds: [...]}}`: a project value ("project variable") or a library variable
set value ("common variable"), unscoped or scoped to one or more environments.

- The scoped API (2025.1 cloud, 2025.2 self-hosted; OctopusDeploy/Issues#9222, #9414), served
  while `CommonVariableScopingFeatureToggle` is on: `GET/PUT/POST
  /api/{space}/tenants/{id}/projectvariables` and `.../commonvariables` (routes: go-octopusdeploy
  `pkg/tenants/tenant_service.go`, PR #301 "(GET/PUT/POST)"; Octopus.Client
  `Repositories/Async/TenantVariablesRepository.cs`). Shapes: go `pkg/variables/
  tenant_project_variable.go` and `tenant_common_variable.go` (`Variables` / `MissingVariables`,
  renamed from `ProjectVariables` / `CommonVariables` in March 2025, go commit e4916748).
- The legacy document `GET/PUT/POST /api/{space}/tenants/{id}/variables` (Octopus.Client
  `Model/TenantVariableResource.cs`), a per-environment VIEW of the same store. With the toggle
  on, its GET still answers and its writes are refused.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from snapshotsync.emulator.schema import JsonDict
from snapshotsync.emulator.state import (
    ApiError,
    Instance,
    bad_request,
    hide_secrets,
    is_secret,
    is_sensitive_template,
    stored_secret,
)

PROJECT = "projectvariables"
COMMON = "commonvariables"
OWNER_FIELD = {PROJECT: "ProjectId", COMMON: "LibraryVariableSetId"}
OWNER_NAME = {PROJECT: "ProjectName", COMMON: "LibraryVariableSetName"}
# The server's words for a stale legacy write: OctopusDeployLabs/terraform-provider-octopusdeploy
# issue #907 ("Modification failed for 'TenantVariable' document with 'TenantVariables-19280' Id
# because submitted data was out of date. Refresh the document and try again.").
STALE_LEGACY = (
    "Modification failed for 'TenantVariable' document with '{id}' Id because submitted data "
    "was out of date. Refresh the document and try again."
)
# The words a 2026.1 server uses for a tenant-variable save that lost a race
# (OctopusDeploy/Issues#10143). The scoped documents carry a `ConcurrencyToken` on GET and
# take it back on write: Octopus's API reference (OctopusDeploy/docs
# src/pages/docs/api/_generated/tenants.md, "Create or Update the common variables
# associated with the tenant": "Always pass it back so the write is rejected if someone else
# changed the variables since your read; omitting it skips the check"). Inferred: these
# words and the 400 for a stale token on these routes (the issue does not name the route).
STALE_SCOPED = (
    "Changes to these tenant variables could not be saved, because another user has made "
    "changes to one of the variables between when you started editing and when you saved your "
    "changes. Please reload or open a new tab to make your changes."
)
# Fields a client may send back from a GET; the server ignores them (read-only).
_READ_ONLY_ITEM_FIELDS = frozenset({"ProjectName", "LibraryVariableSetName", "Template", "Links"})


# ----------------------------------------------------------------- what the tenant reaches


class _Reach:
    """The projects, environments, library variable sets and templates a tenant reaches."""

    def __init__(self, instance: Instance, space_id: str | None, tenant: JsonDict) -> None:
        self.instance = instance
        self.space_id = space_id
        self.tenant = tenant
        self.projects: dict[str, JsonDict] = {}
        self.environments: dict[str, list[str]] = {}  # project id -> connected environments
        for project_id, environment_ids in tenant["ProjectEnvironments"].items():
            project = instance.docs["projects"].get(project_id)
            if project is not None and project.get("SpaceId") == space_id:
                self.projects[project_id] = project
                self.environments[project_id] = list(environment_ids)
        self.sets: dict[str, JsonDict] = {}
        for project in self.projects.values():
            for set_id in project["IncludedLibraryVariableSetIds"]:
                lvs = instance.docs["libraryvariablesets"].get(set_id)
                if lvs is not None and set_id not in self.sets:
                    self.sets[set_id] = lvs

    def owners(self, document: str) -> dict[str, JsonDict]:
        return self.projects if document == PROJECT else self.sets

    def owner_environments(self, document: str, owner_id: str) -> list[str]:
        """The environments a value of this owner may be scoped to."""
        if document == PROJECT:
            return self.environments.get(owner_id, [])
        # Common values: the environments of the connected projects that include the set
        # (inferred from Issues#9487: a common value must come through a connected project).
        found: list[str] = []
        for project_id, project in self.projects.items():
            if owner_id in project["IncludedLibraryVariableSetIds"]:
                found += [e for e in self.environments[project_id] if e not in found]
        return found

    @staticmethod
    def templates(owner: JsonDict) -> dict[str, JsonDict]:
        return {t["Id"]: t for t in owner["Templates"]}

    def visible(self, document: str, value: JsonDict) -> bool:
        """Whether the value is still reachable: its owner connected, its template there and,
        when scoped, at least one of its environments still connected."""
        owner_id = value.get(OWNER_FIELD[document]) or ""
        owner = self.owners(document).get(owner_id)
        if owner is None or value["TemplateId"] not in self.templates(owner):
            return False
        scope = value["Scope"]["EnvironmentIds"]
        return not scope or bool(self.scope(document, owner_id, scope))

    def scope(self, document: str, owner_id: str, environment_ids: list[str]) -> list[str]:
        """The environments of a scope the tenant still reaches for this owner."""
        reachable = self.owner_environments(document, owner_id)
        return [e for e in environment_ids if e in reachable]


def _document_of(value: JsonDict) -> str:
    return PROJECT if value.get("ProjectId") else COMMON


def _values(instance: Instance, tenant_id: str, document: str) -> list[JsonDict]:
    return [v for v in instance.tenant_variable_values(tenant_id) if _document_of(v) == document]


def _tenant(instance: Instance, space_id: str | None, tenant_id: str) -> JsonDict:
    return instance.find(space_id, "tenants", tenant_id)


def _template_view(template: JsonDict) -> JsonDict:
    view: JsonDict = hide_secrets(copy.deepcopy(template))
    return view


# ----------------------------------------------------------------- the scoped API


def require_scoped_api(instance: Instance, route: str) -> None:
    """The scoped routes exist only while the toggle is on (go-octopusdeploy PR #301)."""
    if not instance.scoped_tenant_variables:
        raise ApiError(404, f"There is no tenant route '{route}'.")


def scoped_document(
    instance: Instance,
    space_id: str | None,
    tenant_id: str,
    document: str,
    include_missing: bool = False,
) -> JsonDict:
    """`GET .../projectvariables` or `.../commonvariables`."""
    tenant = _tenant(instance, space_id, tenant_id)
    reach = _Reach(instance, space_id, tenant)
    owners = reach.owners(document)
    order = {owner_id: n for n, owner_id in enumerate(owners)}
    listed = []
    for value in _values(instance, tenant["Id"], document):
        if reach.visible(document, value):
            listed.append(value)
    listed.sort(key=lambda v: order[v[OWNER_FIELD[document]]])
    out: JsonDict = {
        "TenantId": tenant["Id"],
        "Variables": [_item_view(reach, document, v) for v in listed],
        # One token for the tenant's variables, whichever document changed them (the
        # reference: "the concurrency token returned when reading the tenant's variables").
        "ConcurrencyToken": instance.tenant_concurrency_token(tenant["Id"]),
    }
    if include_missing:
        out["MissingVariables"] = _missing(reach, document, listed)
    return out


def _item_view(reach: _Reach, document: str, value: JsonDict) -> JsonDict:
    owner_id = value[OWNER_FIELD[document]]
    owner = reach.owners(document)[owner_id]
    return {
        "Id": value["Id"],
        OWNER_FIELD[document]: owner_id,
        OWNER_NAME[document]: owner["Name"],
        "TemplateId": value["TemplateId"],
        "Template": _template_view(reach.templates(owner)[value["TemplateId"]]),
        "Value": hide_secrets(copy.deepcopy(value["Value"])),
        "Scope": {
            "EnvironmentIds": reach.scope(document, owner_id, value["Scope"]["EnvironmentIds"])
        },
    }


def _missing(reach: _Reach, document: str, values: list[JsonDict]) -> list[JsonDict]:
    """Template/environment combinations without a value of their own.

    Each carries the environments that lack a value (OctopusClients PRs #906/#908; the CLI
    matches them by scope, cli `pkg/cmd/tenant/variables/update/update.go`); an unscoped value
    covers every environment no other value names (Issues#9283). A template's default does not
    count as a value: missing items include default-valued combinations.
    """
    missing = []
    for owner_id, owner in reach.owners(document).items():
        environments = reach.owner_environments(document, owner_id)
        for template in owner["Templates"]:
            mine = [
                v
                for v in values
                if v[OWNER_FIELD[document]] == owner_id and v["TemplateId"] == template["Id"]
            ]
            if any(not v["Scope"]["EnvironmentIds"] for v in mine):
                continue
            covered = {e for v in mine for e in v["Scope"]["EnvironmentIds"]}
            uncovered = [e for e in environments if e not in covered]
            if mine and not uncovered:
                continue
            missing.append(
                {
                    "Id": "",
                    OWNER_FIELD[document]: owner_id,
                    OWNER_NAME[document]: owner["Name"],
                    "TemplateId": template["Id"],
                    "Template": _template_view(template),
                    "Value": hide_secrets(copy.deepcopy(template.get("DefaultValue"))),
                    "Scope": {"EnvironmentIds": uncovered},
                }
            )
    return missing


def scoped_write(
    instance: Instance,
    space_id: str | None,
    tenant_id: str,
    document: str,
    body: Any,
) -> JsonDict:
    """`PUT`/`POST .../projectvariables` or `.../commonvariables`: replace the document.

    The body is `{Variables: [...]}`, optionally with `TenantId` and `SpaceId` (Octopus.Client
    `ModifyProjectVariablesByTenantIdCommand.cs`). Values left out are deleted (cli
    `update.go`: "All project variables must be included in the request to avoid deletions";
    cli PR #502); an item with an `Id` updates that value, one without creates a value.
    """
    tenant = _tenant(instance, space_id, tenant_id)
    if not isinstance(body, dict):
        # api-client.ts PUTs a bare array (`tenantRepository.ts`); every other client and the
        # docs send `{Variables}`. Inferred: the bare array is refused, so the tool cannot come
        # to rely on a form no other client uses.
        raise bad_request("The request body must be an object with a 'Variables' list.")
    unknown = sorted(set(body) - {"TenantId", "SpaceId", "Variables", "ConcurrencyToken"})
    if unknown:
        raise bad_request(
            *(f"The property '{u}' is not a known property of this command." for u in unknown)
        )
    token = body.get("ConcurrencyToken")
    if token not in (None, "") and token != instance.tenant_concurrency_token(tenant["Id"]):
        raise stale_scoped()
    if body.get("TenantId") not in (None, "") and str(body["TenantId"]).lower() != (
        tenant["Id"].lower()
    ):
        raise bad_request(f"The TenantId '{body['TenantId']}' does not match the route.")
    if body.get("SpaceId") not in (None, "") and body["SpaceId"] != space_id:
        raise bad_request(f"The SpaceId '{body['SpaceId']}' does not match the route.")
    items = body.get("Variables")
    if not isinstance(items, list):
        raise bad_request("The Variables field is required.")
    reach = _Reach(instance, space_id, tenant)
    stored = {v["Id"]: v for v in _values(instance, tenant["Id"], document)}
    errors: list[str] = []
    written: list[JsonDict] = []
    seen_ids: set[str] = set()
    for item in items:
        value = _scoped_item(reach, document, item, stored, seen_ids, errors)
        if value is not None:
            written.append(value)
    errors += _overlaps(document, written)
    if errors:
        raise bad_request(*errors)
    for value in written:
        if not value["Id"]:
            value["Id"] = instance.new_tenant_variable_id()
    others = [
        v for v in instance.tenant_variable_values(tenant["Id"]) if _document_of(v) != document
    ]
    instance.tenant_values[tenant["Id"]] = others + written
    instance.bump_tenant_concurrency_token(tenant["Id"])
    return scoped_document(instance, space_id, tenant["Id"], document)


def _scoped_item(
    reach: _Reach,
    document: str,
    item: Any,
    stored: dict[str, JsonDict],
    seen_ids: set[str],
    errors: list[str],
) -> JsonDict | None:
    owner_field = OWNER_FIELD[document]
    if not isinstance(item, dict):
        errors.append("Each of Variables must be an object.")
        return None
    allowed = {"Id", owner_field, "OwnerId", "TemplateId", "Value", "Scope"}
    unknown = sorted(set(item) - allowed - _READ_ONLY_ITEM_FIELDS)
    if unknown:
        errors += [
            f"The property '{u}' is not a known property of a tenant variable." for u in unknown
        ]
        return None
    template_id = str(item.get("TemplateId") or "")
    # The owner: `ProjectId`/`LibraryVariableSetId` as every client sends it (go-octopusdeploy
    # pkg/variables/tenant_*_variable.go payloads, Octopus.Client, the CLI), or `OwnerId` as the
    # API reference names it (tenants.md, "each item ... 'OwnerId'"). Inferred that the server
    # takes either; when both are given they must agree.
    owner_id = str(item.get(owner_field) or item.get("OwnerId") or "")
    if item.get("OwnerId") and item.get(owner_field) and item["OwnerId"] != item[owner_field]:
        errors.append(f"OwnerId and {owner_field} name different owners for {template_id}.")
        return None
    if item.get("Value") is None:
        # The server's words for `Value: null` (OctopusDeploy/Issues#9710, 2025.4).
        errors.append("The Value field is required.")
        return None
    owner = reach.owners(document).get(owner_id)
    if owner is None:
        if document == COMMON:
            # OctopusDeploy/Issues#9487 (2025.2), the server's words.
            errors.append(
                "Tenant variable validation failed. The variableset value provided for "
                f"{template_id} is invalid as they are not connected to the project or they do "
                f"not exist: {owner_id}"
            )
        else:
            # Inferred: the project form of the Issues#9487 message.
            errors.append(
                "Tenant variable validation failed. The project value provided for "
                f"{template_id} is invalid as they are not connected to the tenant or they do "
                f"not exist: {owner_id}"
            )
        return None
    template = reach.templates(owner).get(template_id)
    if template is None:
        # Inferred wording, in the style of Issues#9487.
        errors.append(
            "Tenant variable validation failed. The template provided is invalid as it does "
            f"not exist on {owner_id}: {template_id}"
        )
        return None
    scope = item.get("Scope") or {}
    environment_ids = scope.get("EnvironmentIds") if isinstance(scope, dict) else None
    if environment_ids is None:
        environment_ids = []
    if not isinstance(environment_ids, list) or not all(
        isinstance(e, str) for e in environment_ids
    ):
        errors.append(f"The scope of the value for {template_id} must list environment ids.")
        return None
    allowed_environments = reach.owner_environments(document, owner_id)
    outside = [e for e in environment_ids if e not in allowed_environments]
    if outside:
        # Inferred wording: a value scoped to an environment the tenant is not connected to
        # for this project (the legacy document had no place for such a value either).
        errors.append(
            "Tenant variable validation failed. The environment scope provided for "
            f"{template_id} is invalid as the tenant is not connected to these environments "
            f"for {owner_id}: {', '.join(outside)}"
        )
        return None
    value_id = str(item.get("Id") or "")
    previous: JsonDict | None = None
    if value_id:
        previous = stored.get(value_id)
        if previous is None or value_id in seen_ids:
            # Inferred: an id the tenant's document does not hold (another instance's id, or
            # one sent twice) is refused rather than silently creating a value.
            errors.append(f"There is no tenant variable '{value_id}' in this document.")
            return None
        seen_ids.add(value_id)
    sent = item["Value"]
    if is_sensitive_template(template):
        if is_secret(sent):
            keep = (
                previous["Value"] if previous is not None and is_secret(previous["Value"]) else None
            )
            stored_value: Any = stored_secret(sent, keep)
        elif isinstance(sent, str):
            # A plain string for a sensitive template binds another variable (`#{Other}`);
            # it is stored and shown as it is (research A 1.4; Issues#7200).
            stored_value = sent
        else:
            errors.append(f"The value for {template_id} must be a string or a sensitive value.")
            return None
    elif isinstance(sent, str):
        stored_value = sent
    else:
        errors.append(f"The template {template_id} is not sensitive: send its value as text.")
        return None
    return {
        "Id": value_id,
        owner_field: owner_id,
        "TemplateId": template_id,
        "Value": stored_value,
        "Scope": {"EnvironmentIds": list(environment_ids)},
    }


def _overlaps(document: str, values: list[JsonDict]) -> list[str]:
    """Two values of one template whose environment scopes overlap.

    Inferred: the CLI's matching code says more than one value for a scope "should never happen
    based on server validation" (cli `pkg/cmd/tenant/variables/update/update.go`). Two unscoped
    values overlap; an unscoped value next to scoped ones does not (it covers the environments
    no other value names, Issues#9283).
    """
    errors = []
    groups: dict[tuple[str, str], list[JsonDict]] = {}
    for value in values:
        groups.setdefault((value[OWNER_FIELD[document]], value["TemplateId"]), []).append(value)
    for (owner_id, template_id), group in groups.items():
        unscoped = [v for v in group if not v["Scope"]["EnvironmentIds"]]
        counts = Counter(e for v in group for e in set(v["Scope"]["EnvironmentIds"]))
        shared = sorted(e for e, n in counts.items() if n > 1)
        if len(unscoped) > 1 or shared:
            where = f"environments {', '.join(shared)}" if shared else "no environment scope"
            errors.append(
                f"Tenant variable validation failed. More than one value of template "
                f"{template_id} on {owner_id} applies to {where}."
            )
    return errors


def stale_scoped() -> ApiError:
    return ApiError(400, STALE_SCOPED, [STALE_SCOPED])


# ----------------------------------------------------------------- the legacy document


def legacy_document(instance: Instance, space_id: str | None, tenant_id: str) -> JsonDict:
    """`GET /tenants/{id}/variables`: the store seen per environment.

    A value scoped to several environments appears under each of them. An unscoped project
    value appears under every connected environment that no scoped value of its template
    names: it "applies to all environments where no other value is explicitly scoped"
    (Issues#9283). Library variable sets show their unscoped values; a scoped common value
    has no place in this shape and is not shown (inferred: the legacy document keys common
    values by template only, Octopus.Client `TenantVariableResource.cs`).
    """
    tenant = _tenant(instance, space_id, tenant_id)
    reach = _Reach(instance, space_id, tenant)
    projects: JsonDict = {}
    for project_id, project in reach.projects.items():
        projects[project_id] = {
            "ProjectId": project_id,
            "ProjectName": project["Name"],
            "Templates": [_template_view(t) for t in project["Templates"]],
            "Variables": {
                env: hide_secrets(copy.deepcopy(values))
                for env, values in _project_view(reach, project_id).items()
            },
            "Links": {"Project": f"/api/{space_id}/projects/{project_id}"},
        }
    library: JsonDict = {}
    for set_id, lvs in reach.sets.items():
        if not lvs["Templates"]:
            continue
        library[set_id] = {
            "LibraryVariableSetId": set_id,
            "LibraryVariableSetName": lvs["Name"],
            "Templates": [_template_view(t) for t in lvs["Templates"]],
            "Variables": hide_secrets(copy.deepcopy(_common_view(reach, set_id))),
            "Links": {"LibraryVariableSet": f"/api/{space_id}/libraryvariablesets/{set_id}"},
        }
    return {
        "Id": _legacy_id(tenant),
        "TenantId": tenant["Id"],
        "TenantName": tenant["Name"],
        "SpaceId": space_id,
        "ProjectVariables": projects,
        "LibraryVariables": library,
        # Octopus.Client `TenantVariableResource.cs`: "Token to validate that no variables for
        # the given tenant have changed since this TenantVariableResource was last requested".
        "ConcurrencyToken": instance.tenant_concurrency_token(tenant["Id"]),
        "Links": {"Self": f"/api/{space_id}/tenants/{tenant['Id']}/variables"},
    }


def _legacy_id(tenant: JsonDict) -> str:
    return f"TenantVariables-{tenant['Id']}"


def _project_values(reach: _Reach, project_id: str) -> list[JsonDict]:
    return [
        v
        for v in _values(reach.instance, reach.tenant["Id"], PROJECT)
        if v["ProjectId"] == project_id and reach.visible(PROJECT, v)
    ]


def _project_view(reach: _Reach, project_id: str) -> dict[str, dict[str, Any]]:
    """environment -> template id -> stored value, for one connected project."""
    values = _project_values(reach, project_id)
    view: dict[str, dict[str, Any]] = {}
    for env in reach.environments[project_id]:
        per_env: dict[str, Any] = {}
        for value in values:
            if env in value["Scope"]["EnvironmentIds"]:
                per_env[value["TemplateId"]] = value["Value"]
        for value in values:
            if not value["Scope"]["EnvironmentIds"]:
                per_env.setdefault(value["TemplateId"], value["Value"])
        view[env] = per_env
    return view


def _common_values(reach: _Reach, set_id: str) -> list[JsonDict]:
    return [
        v
        for v in _values(reach.instance, reach.tenant["Id"], COMMON)
        if v["LibraryVariableSetId"] == set_id and reach.visible(COMMON, v)
    ]


def _common_view(reach: _Reach, set_id: str) -> dict[str, Any]:
    return {
        v["TemplateId"]: v["Value"]
        for v in _common_values(reach, set_id)
        if not v["Scope"]["EnvironmentIds"]
    }


def refuse_legacy_write(instance: Instance, space_id: str | None) -> None:
    """With scoped tenant variables on, the legacy write is refused.

    Confirmed in words only: "When this feature is enabled, the original update endpoint is not
    accessible" (OctopusDeploy/cli PR #489). The status and wording are inferred: a 400 in
    Octopus's error shape that names the routes to use instead.
    """
    if instance.scoped_tenant_variables:
        raise ApiError(
            400,
            "There was a problem with your request.",
            [
                "Tenant variables cannot be modified through this endpoint while "
                "CommonVariableScopingFeatureToggle is enabled. Use "
                f"/api/{space_id}/tenants/{{id}}/projectvariables and "
                f"/api/{space_id}/tenants/{{id}}/commonvariables instead."
            ],
        )


def legacy_write(instance: Instance, space_id: str | None, tenant_id: str, body: Any) -> JsonDict:
    """`PUT`/`POST /tenants/{id}/variables` (both verbs: Octopus.Client and go POST,
    SpaceCloner and api-client.ts PUT, the server's `ModifyVariablesByTenantIdController.Put`
    shows in Issues#8005), written into the store.

    A template whose per-environment values are unchanged keeps its stored values (a value
    scoped to several environments stays one value); a changed template is stored again as
    one value per environment. Unscoped and scoped common values are kept likewise; the
    document replaces only what it can show.
    """
    tenant = _tenant(instance, space_id, tenant_id)
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    allowed = {
        "Id",
        "TenantId",
        "TenantName",
        "SpaceId",
        "ProjectVariables",
        "LibraryVariables",
        "ConcurrencyToken",
        "Links",
    }
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_request(
            *(f"The property '{u}' is not a known property of TenantVariables." for u in unknown)
        )
    token = body.get("ConcurrencyToken")
    if token not in (None, "") and token != instance.tenant_concurrency_token(tenant["Id"]):
        # No token, no check: go's struct has no ConcurrencyToken and its writes succeed
        # (research A 1.5).
        raise ApiError(
            400,
            "There was a problem with your request.",
            [STALE_LEGACY.format(id=_legacy_id(tenant))],
        )
    reach = _Reach(instance, space_id, tenant)
    errors: list[str] = []
    sent_projects = body.get("ProjectVariables") or {}
    sent_library = body.get("LibraryVariables") or {}
    if not isinstance(sent_projects, dict) or not isinstance(sent_library, dict):
        raise bad_request("ProjectVariables and LibraryVariables must be objects.")
    desired_projects: dict[str, dict[str, dict[str, Any]]] = {}
    for project_id, entry in sent_projects.items():
        if project_id not in reach.projects:
            errors.append(f"The tenant is not connected to project '{project_id}'.")
            continue
        templates = _Reach.templates(reach.projects[project_id])
        current = _project_view(reach, project_id)
        per_env: dict[str, dict[str, Any]] = {}
        variables = entry.get("Variables") if isinstance(entry, dict) else None
        for env, values in (variables or {}).items():
            if env not in reach.environments[project_id]:
                errors.append(f"The tenant is not connected to '{env}' for project '{project_id}'.")
                continue
            per_env[env] = _legacy_values(values, templates, current.get(env, {}), errors)
        desired_projects[project_id] = per_env
    desired_library: dict[str, dict[str, Any]] = {}
    for set_id, entry in sent_library.items():
        if set_id not in reach.sets:
            errors.append(f"Library variable set '{set_id}' is not used by the tenant's projects.")
            continue
        templates = _Reach.templates(reach.sets[set_id])
        variables = entry.get("Variables") if isinstance(entry, dict) else None
        desired_library[set_id] = _legacy_values(
            variables or {}, templates, _common_view(reach, set_id), errors
        )
    if errors:
        raise bad_request(*errors)

    kept = [
        v
        for v in instance.tenant_variable_values(tenant["Id"])
        if not reach.visible(_document_of(v), v)
    ]
    for project_id in reach.projects:
        kept += _legacy_project_values(
            instance, reach, project_id, desired_projects.get(project_id, {})
        )
    for set_id in reach.sets:
        kept += _legacy_common_values(instance, reach, set_id, desired_library.get(set_id, {}))
    instance.tenant_values[tenant["Id"]] = kept
    instance.bump_tenant_concurrency_token(tenant["Id"])
    return legacy_document(instance, space_id, tenant["Id"])


def _legacy_values(
    values: Any, templates: dict[str, JsonDict], current: dict[str, Any], errors: list[str]
) -> dict[str, Any]:
    """One environment's (or one set's) `{templateId: value}`, secrets resolved."""
    result: dict[str, Any] = {}
    if not isinstance(values, dict):
        errors.append("Tenant variable values must be an object keyed by template id.")
        return result
    for template_id, value in values.items():
        template = templates.get(template_id)
        if template is None:
            errors.append(f"There is no variable template '{template_id}'.")
            continue
        if value is None:
            continue
        if is_secret(value):
            if not is_sensitive_template(template):
                errors.append(f"Template '{template_id}' is not sensitive.")
                continue
            old = current.get(template_id)
            # A secret sent back hidden keeps what this environment showed.
            value = stored_secret(value, old if is_secret(old) else None)
        elif not isinstance(value, str):
            errors.append(f"The value of template '{template_id}' must be text.")
            continue
        result[template_id] = value
    return result


def _legacy_project_values(
    instance: Instance, reach: _Reach, project_id: str, desired: dict[str, dict[str, Any]]
) -> list[JsonDict]:
    stored = _project_values(reach, project_id)
    current = _project_view(reach, project_id)
    result: list[JsonDict] = []
    for template in reach.projects[project_id]["Templates"]:
        template_id = template["Id"]
        mine = [v for v in stored if v["TemplateId"] == template_id]
        wanted = {
            env: values[template_id] for env, values in desired.items() if template_id in values
        }
        shown = {
            env: values[template_id] for env, values in current.items() if template_id in values
        }
        if _same(wanted, shown):
            result += mine
            continue
        by_env = {
            v["Scope"]["EnvironmentIds"][0]: v
            for v in mine
            if len(v["Scope"]["EnvironmentIds"]) == 1
        }
        for env, value in wanted.items():
            reused = by_env.get(env)
            result.append(
                {
                    "Id": reused["Id"] if reused else instance.new_tenant_variable_id(),
                    "ProjectId": project_id,
                    "TemplateId": template_id,
                    "Value": value,
                    "Scope": {"EnvironmentIds": [env]},
                }
            )
    return result


def _legacy_common_values(
    instance: Instance, reach: _Reach, set_id: str, desired: dict[str, Any]
) -> list[JsonDict]:
    result: list[JsonDict] = []
    for value in _common_values(reach, set_id):
        if value["Scope"]["EnvironmentIds"]:
            result.append(value)  # not shown by the legacy document: left as it is
    unscoped = {
        v["TemplateId"]: v
        for v in _common_values(reach, set_id)
        if not v["Scope"]["EnvironmentIds"]
    }
    for template in reach.sets[set_id]["Templates"]:
        template_id = template["Id"]
        if template_id not in desired:
            continue
        old = unscoped.get(template_id)
        result.append(
            {
                "Id": old["Id"] if old else instance.new_tenant_variable_id(),
                "LibraryVariableSetId": set_id,
                "TemplateId": template_id,
                "Value": desired[template_id],
                "Scope": {"EnvironmentIds": []},
            }
        )
    return result


def _same(one: dict[str, Any], other: dict[str, Any]) -> bool:
    return _canonical(one) == _canonical(other)


def _canonical(values: dict[str, Any]) -> str:
    return json.dumps(values, sort_keys=True)


# ----------------------------------------------------------------- seeds


def seed_values(
    instance: Instance, space_id: str | None, tenant_id: str, values: Iterable[JsonDict]
) -> None:
    """Add values (by ids, in the store's shape, `Value` as sent) whatever the profile."""
    by_document: dict[str, list[JsonDict]] = {PROJECT: [], COMMON: []}
    for value in values:
        by_document[_document_of(value)].append(value)
    for document, added in by_document.items():
        if not added:
            continue
        current = [
            {
                "Id": v["Id"],
                OWNER_FIELD[document]: v[OWNER_FIELD[document]],
                "TemplateId": v["TemplateId"],
                "Value": v["Value"],
                "Scope": copy.deepcopy(v["Scope"]),
            }
            for v in _values(instance, tenant_id, document)
        ]
        # Stored secrets go back as new values, so nothing depends on keeping them.
        scoped_write(instance, space_id, tenant_id, document, {"Variables": current + added})


def seed_legacy(instance: Instance, space_id: str | None, tenant_id: str, body: JsonDict) -> None:
    """The legacy seed form, written through the legacy document whatever the profile."""
    legacy_write(instance, space_id, tenant_id, body)
