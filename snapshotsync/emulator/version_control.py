"""Config-as-code (version-controlled) projects: conversion, and deployment settings by route.

- A project is created in the database and then converted: `POST /api/{space}/projects/{id}/
  git/convert` with `{CommitMessage, VersionControlSettings, InitialCommitBranchName?}`,
  answered with `{Messages: []}` (go-octopusdeploy `pkg/projects/project_service.go`,
  `convert_to_vcs.go`, `convert_to_vcs_response.go`). A project POSTed with version-control
  persistence settings is refused: "this will generate an error from the endpoint if
  specified. Persistence settings are available AFTER the project has been created or
  converted" (go `project_service.go`). Conversion is one-way (OctopusDeploy/Issues#7555).
- Deployment settings live at `/projects/{id}/deploymentsettings` for a database project and
  at `/projects/{id}/{gitRef}/deploymentsettings` for a version-controlled one (go
  `pkg/deployments/deployment_service.go`; Octopus.Client `DeploymentSettingsResource.cs`,
  `ModifyDeploymentSettingsCommand.cs` adds `ChangeDescription`); the project route refuses
  them for a version-controlled project (`state.refuse_settings_on_project_route`).
- Its deployment process is served at `/projects/{id}/{gitRef}/deploymentprocesses`; the
  database routes answer that the resource is version-controlled (Issues#7555 quotes "We
  received a request for a version-controlled resource on a non-version control route").

Simplification: the emulator keeps one copy of a version-controlled project's settings and
process whatever the git ref (no branches).
"""

from __future__ import annotations

import copy
from typing import Any

from snapshotsync.emulator.schema import JsonDict
from snapshotsync.emulator.state import (
    VERSION_CONTROLLED,
    ApiError,
    Instance,
    bad_request,
    hide_secrets,
    is_version_controlled,
)

# Deployment settings: name in the settings document -> name on the project document (the
# project calls the connectivity policy `ProjectConnectivityPolicy`, go `project.go`).
SETTINGS_ON_PROJECT = {
    "ConnectivityPolicy": "ProjectConnectivityPolicy",
    "DefaultGuidedFailureMode": "DefaultGuidedFailureMode",
    "VersioningStrategy": "VersioningStrategy",
    "ReleaseNotesTemplate": "ReleaseNotesTemplate",
    "DefaultToSkipIfAlreadyInstalled": "DefaultToSkipIfAlreadyInstalled",
    "DeploymentChangesTemplate": "DeploymentChangesTemplate",
    "ForcePackageDownload": "ForcePackageDownload",
}
# Settings the project document does not carry (Octopus.Client DeploymentSettingsResource.cs).
SETTINGS_ONLY: JsonDict = {
    "FailTargetDiscovery": False,
    "CancelQueuedTasks": False,
    "CancelRunningTasks": False,
}
NON_VCS_ROUTE = (
    "We received a request for a version-controlled resource on a non-version control route. "
    "Please use the route that includes a git reference (/projects/{projectId}/{gitRef}/...)."
)
CREDENTIALS = {
    "Anonymous": set(),
    "Reference": {"Id"},
    "UsernamePassword": {"Username", "Password"},
    "GitHub": {"Id"},
}


def convert(instance: Instance, space_id: str | None, project_id: str, body: Any) -> JsonDict:
    """`POST /projects/{id}/git/convert`."""
    project = instance.find(space_id, "projects", project_id)
    if is_version_controlled(project):
        # The server's words, OctopusDeploy/Issues#7555.
        raise bad_request(
            "Unable to convert project to version control. It is already a version controlled!"
        )
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    unknown = sorted(
        set(body) - {"CommitMessage", "VersionControlSettings", "InitialCommitBranchName"}
    )
    if unknown:
        raise bad_request(*(f"The property '{u}' is not a known property." for u in unknown))
    settings = body.get("VersionControlSettings")
    if not isinstance(settings, dict):
        raise bad_request("VersionControlSettings is required.")
    persistence = _persistence(settings)
    instance.git_settings[project["Id"]] = {
        **{name: copy.deepcopy(project.get(field)) for name, field in SETTINGS_ON_PROJECT.items()},
        **copy.deepcopy(instance.project_settings.get(project["Id"], SETTINGS_ONLY)),
    }
    project["IsVersionControlled"] = True
    project["PersistenceSettings"] = persistence
    return {"Messages": []}


def _persistence(settings: JsonDict) -> JsonDict:
    """Git persistence settings as stored (go `pkg/projects/git_persistence_settings.go`)."""
    allowed = {
        "Type",
        "Url",
        "BasePath",
        "DefaultBranch",
        "ProtectedDefaultBranch",
        "ProtectedBranchNamePatterns",
        "Credentials",
        "ConversionState",
    }
    unknown = sorted(set(settings) - allowed)
    errors = [
        f"The property '{u}' is not a known property of VersionControlSettings." for u in unknown
    ]
    if not settings.get("Url"):
        errors.append("VersionControlSettings.Url is required.")
    credentials = settings.get("Credentials") or {"Type": "Anonymous"}
    kind = credentials.get("Type") if isinstance(credentials, dict) else None
    if kind not in CREDENTIALS:
        errors.append(f"Credentials.Type must be one of {', '.join(CREDENTIALS)}.")
    elif set(credentials) - {"Type"} - CREDENTIALS[kind]:
        errors.append(f"Unknown properties in {kind} credentials.")
    if errors:
        raise bad_request(*errors)
    credentials = copy.deepcopy(credentials)
    if kind == "UsernamePassword":
        password = credentials.get("Password") or {}
        credentials["Password"] = {
            "HasValue": bool(password.get("NewValue")),
            "NewValue": password.get("NewValue"),
            "Hint": password.get("Hint"),
        }
    return {
        "Type": VERSION_CONTROLLED,
        "Url": settings["Url"],
        "BasePath": settings.get("BasePath") or ".octopus",
        "DefaultBranch": settings.get("DefaultBranch") or "main",
        "ProtectedDefaultBranch": bool(settings.get("ProtectedDefaultBranch")),
        "ProtectedBranchNamePatterns": list(settings.get("ProtectedBranchNamePatterns") or []),
        "Credentials": credentials,
        # Read back with what has moved into git (go `git_persistence_settings.go`). Inferred:
        # a conversion may say runbooks move too (config-as-code runbooks, 2025.1 cloud).
        "ConversionState": {
            "VariablesAreInGit": bool(
                (settings.get("ConversionState") or {}).get("VariablesAreInGit")
            ),
            "RunbooksAreInGit": bool(
                (settings.get("ConversionState") or {}).get("RunbooksAreInGit")
            ),
        },
    }


def settings_document(
    instance: Instance, space_id: str | None, project: JsonDict, git_ref: str | None
) -> JsonDict:
    """`GET .../deploymentsettings` for a database project (`git_ref` None) or with a git ref."""
    _check_route(project, git_ref)
    if git_ref is None:
        values = {name: project.get(field) for name, field in SETTINGS_ON_PROJECT.items()}
        values.update(instance.project_settings.get(project["Id"], SETTINGS_ONLY))
        self_link = f"/api/{space_id}/projects/{project['Id']}/deploymentsettings"
    else:
        values = instance.git_settings[project["Id"]]
        self_link = f"/api/{space_id}/projects/{project['Id']}/{git_ref}/deploymentsettings"
    document: JsonDict = hide_secrets(copy.deepcopy(values))
    return {
        "Id": f"deploymentsettings-{project['Id']}",
        "SpaceId": space_id,
        "ProjectId": project["Id"],
        **document,
        "Links": {"Self": self_link},
    }


def put_settings(
    instance: Instance, space_id: str | None, project: JsonDict, git_ref: str | None, body: Any
) -> JsonDict:
    """`PUT .../deploymentsettings`: the settings document, plus `ChangeDescription` (the commit
    message) for a version-controlled project."""
    _check_route(project, git_ref)
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    allowed = {*SETTINGS_ON_PROJECT, *SETTINGS_ONLY, "Id", "SpaceId", "ProjectId", "Links"}
    if git_ref is not None:
        allowed.add("ChangeDescription")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_request(
            *(f"The property '{u}' is not a known property of DeploymentSettings." for u in unknown)
        )
    sent = {
        k: copy.deepcopy(v)
        for k, v in body.items()
        if k in SETTINGS_ON_PROJECT or k in SETTINGS_ONLY
    }
    if git_ref is None:
        # The project's own fields go through the project's validation (versioning strategy
        # against the process, and the rest).
        project_body = {k: v for k, v in project.items() if k not in ("Id", "SpaceId", "Links")}
        project_body.update(
            {SETTINGS_ON_PROJECT[k]: v for k, v in sent.items() if k in SETTINGS_ON_PROJECT}
        )
        instance.update(space_id, "projects", project["Id"], project_body)
        stored = instance.project_settings.setdefault(project["Id"], dict(SETTINGS_ONLY))
        stored.update({k: v for k, v in sent.items() if k in SETTINGS_ONLY})
    else:
        current = instance.git_settings[project["Id"]]
        instance.check_versioning(
            project, sent.get("VersioningStrategy", current["VersioningStrategy"])
        )
        current.update(sent)
    return settings_document(instance, space_id, project, git_ref)


def _check_route(project: JsonDict, git_ref: str | None) -> None:
    if git_ref is None and is_version_controlled(project):
        raise bad_request(NON_VCS_ROUTE)
    if git_ref is not None and not is_version_controlled(project):
        # Inferred wording: a git ref on a database project names nothing.
        raise ApiError(
            404, f"The project '{project['Name']}' is not version controlled: there is no git ref."
        )


# The server's words for a git runbook asked for on a database route (OctopusDeploy/Issues
# #9249, config-as-code runbooks: "There was a problem with your request. Received a request
# for a version-controlled resource on a non-version control route. To access this
# resource, include a Git ref in the route.").
NON_VCS_RUNBOOK_ROUTE = (
    "Received a request for a version-controlled resource on a non-version control route. "
    "To access this resource, include a Git ref in the route."
)


def runbooks_in_git(project: JsonDict | None) -> bool:
    settings = (project or {}).get("PersistenceSettings") or {}
    return bool(
        is_version_controlled(project or {})
        and (settings.get("ConversionState") or {}).get("RunbooksAreInGit")
    )


def refuse_git_runbooks(project: JsonDict | None) -> None:
    """Runbooks, runbook processes and snapshots of a project whose runbooks are in git are
    not served on the database routes (Issues#9249)."""
    if runbooks_in_git(project):
        raise bad_request(NON_VCS_RUNBOOK_ROUTE)


def require_git_route(project: JsonDict, git_ref: str | None) -> None:
    """Process routes: with a git ref only for version-controlled projects, and vice versa."""
    _check_route(project, git_ref)
