"""Normal form: what the API returned -> name-keyed documents without ids. Pure.

Ids become names (the `Ref`s of `octopus.kinds`), server fields and ids are stripped,
unordered lists sorted, secrets replaced by `SENSITIVE`. Export writes this form to
`snapshot/`; plan reads the destination into it; push compares documents in it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snapshotsync import tenantvars
from snapshotsync.log import get_logger
from snapshotsync.model import SENSITIVE, JsonDict, Problem, Raw, ResourceKey, Snapshot
from snapshotsync.octopus.kinds import (
    ACTION_VOLATILE_PROPERTIES,
    ACTIONS,
    COMMON_VOLATILE,
    KIND_OF_COLLECTION,
    KINDS,
    STEPS,
    Kind,
    is_expression,
    is_version_controlled,
    walk,
)

_log = get_logger("normalize")
ID_SHAPE = re.compile(r"^[A-Za-z]+-\d+$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SCRIPT_MODULE = re.compile(r"^Octopus\.Script\.Module(\.Language)?\[(?P<name>.*)\]$")


@dataclass
class Normalized:
    resources: dict[ResourceKey, JsonDict]
    problems: list[Problem]
    # The source's own id of each resource and step, by kind: what recognises a rename
    # (`source_index`); never written into the documents.
    ids: dict[str, dict[str, list[str]]] = field(default_factory=dict)


def names_by_id(raw: Raw) -> dict[str, tuple[str, str]]:
    """Id -> (kind, name) for everything read: ids are unique within an instance."""
    by_id: dict[str, tuple[str, str]] = {}
    for collection, kind in KIND_OF_COLLECTION.items():
        for item in raw.items(collection):
            by_id[str(item["Id"])] = (kind, str(item["Name"]))
    for document in raw.documents.values():
        for path in (STEPS, ACTIONS):  # release versioning names a step by its id
            for _, _, item in walk(document, path):
                by_id[str(item["Id"])] = ("actions", str(item["Name"]))
    return by_id


class _Names:
    """Id -> (kind, name) lookups for normalizing."""

    def __init__(self, raw: Raw | None = None, by_id: dict[str, tuple[str, str]] | None = None):
        self.by_id = by_id if by_id is not None else names_by_id(raw or Raw())

    def name(self, value: str) -> str | None:
        found = self.by_id.get(value)
        return found[1] if found else None


def normalize(raw: Raw, space_id: str) -> Normalized:
    """Turn what `read` returned into normal-form documents keyed by name."""
    names = _Names(raw)
    out = Normalized({}, [])
    base = f"api/{space_id}"
    projects = {p["Id"]: p for p in raw.items("projects")}
    runbooks = {r["Id"]: r for r in raw.items("runbooks")}

    def add(kind: str, name: tuple[str, ...], document: JsonDict) -> None:
        key = ResourceKey(kind, name)
        out.resources[key] = _normal(KINDS[kind], document, names, out.problems, str(key))
        if not KINDS[kind].singleton and document.get("Id"):
            out.ids.setdefault(kind, {})[str(document["Id"])] = list(name)
        elif kind in ("deployment-processes", "runbook-processes"):
            for _, _, step in walk(document, STEPS):
                if step.get("Id"):
                    out.ids.setdefault("steps", {})[str(step["Id"])] = [*name, str(step["Name"])]

    simple = {
        "environments": "environments",
        "projectgroups": "project-groups",
        "tagsets": "tag-sets",
        "machinepolicies": "machine-policies",
        "workerpools": "worker-pools",
        "accounts": "accounts",
        "actiontemplates": "step-templates",
        "lifecycles": "lifecycles",
        "certificates": "certificates",
        "tenants": "tenants",
        "projects": "projects",
    }
    for collection, kind in simple.items():
        for item in raw.items(collection):
            add(kind, (item["Name"],), item)
    for feed in raw.items("feeds"):
        if feed.get("FeedType") not in ("BuiltIn", "OctopusProject"):  # exist everywhere
            add("feeds", (feed["Name"],), feed)
    for role in raw.items("userroles"):
        if role.get("CanBeDeleted", True):  # built-in roles exist everywhere, same names
            add("user-roles", (role["Name"],), role)
    teams = {t["Id"]: t for t in raw.items("teams") if t.get("CanBeDeleted", True)}
    for team in teams.values():
        add("teams", (team["Name"],), team)
    _team_permissions(raw, teams, add)

    for library_set in raw.items("libraryvariablesets"):
        variable_set = raw.documents[f"{base}/variables/{library_set['VariableSetId']}"]
        if library_set.get("ContentType") == "ScriptModule":
            add("script-modules", (library_set["Name"],), _script_module(library_set, variable_set))
        else:
            add("library-variable-sets", (library_set["Name"],), library_set)
            add("library-variables", (library_set["Name"],), variable_set)

    for project in projects.values():
        name = project["Name"]
        if is_version_controlled(project):
            out.problems.append(
                Problem(
                    f"projects {name}",
                    "config-as-code project: its process "
                    "and variables live in git and are not exported",
                )
            )
            continue
        add(
            "deployment-processes",
            (name,),
            raw.documents[f"{base}/projects/{project['Id']}/deploymentprocesses"],
        )
        add(
            "project-variables",
            (name,),
            raw.documents[f"{base}/variables/{project['VariableSetId']}"],
        )
    for collection, kind in (("channels", "channels"), ("projecttriggers", "triggers")):
        for item in raw.items(collection):
            owner = projects.get(item["ProjectId"])
            if owner is not None:
                add(kind, (owner["Name"], item["Name"]), item)
    for runbook in runbooks.values():
        owner = projects.get(runbook["ProjectId"])
        if owner is None:
            continue
        add("runbooks", (owner["Name"], runbook["Name"]), runbook)
        process = raw.documents[f"{base}/runbookProcesses/{runbook['RunbookProcessId']}"]
        add("runbook-processes", (owner["Name"], runbook["Name"]), process)

    templates = _template_names(raw)
    for tenant in raw.items("tenants"):
        tenant_base = f"{base}/tenants/{tenant['Id']}"
        if f"{tenant_base}/variables" in raw.documents:
            values = _legacy_tenant_variables(
                raw.documents[f"{tenant_base}/variables"], names, templates
            )
        else:
            values = _scoped_tenant_variables(
                raw.documents.get(f"{tenant_base}/projectvariables") or {},
                raw.documents.get(f"{tenant_base}/commonvariables") or {},
                names,
                templates,
            )
        if values:
            out.resources[ResourceKey("tenant-variables", (tenant["Name"],))] = values
    for problem in out.problems:
        _log.info("normalize: %s", problem)
    return out


def _normal(
    kind: Kind, source: JsonDict, names: _Names, problems: list[Problem], where: str
) -> JsonDict:
    document: JsonDict = copy.deepcopy(source)
    _translate_refs(kind, document, names, problems, where)
    if kind.name in ("deployment-processes", "runbook-processes"):
        _translate_hidden_ids(document, names)
    document = dict(_secrets(document))
    for name in COMMON_VOLATILE | kind.strip:
        document.pop(name, None)
    for path, fields in kind.strip_nested.items():
        for _, _, item in walk(document, path):
            if isinstance(item, dict):
                for name in fields:
                    item.pop(name, None)
    for path in kind.unordered:
        for container, key, value in list(walk(document, path)):
            if isinstance(value, list):
                container[key] = sorted(value, key=_sort_key)
    if kind.name in ("project-variables", "library-variables"):
        document["Variables"] = _variables(document.get("Variables", []))
    return document


def _translate_refs(
    kind: Kind, document: JsonDict, names: _Names, problems: list[Problem], where: str
) -> None:
    for ref in kind.refs:
        if ref.path[-1] == "~keys":
            for container, _, _ in list(walk(document, ref.path))[:1]:
                renamed = {}
                for key, value in container.items():
                    name = names.name(key)
                    if name is None:
                        problems.append(Problem(where, f"drops a reference to unknown id {key}"))
                    else:
                        renamed[name] = value
                container.clear()
                container.update(renamed)
            continue
        doomed: list[tuple[Any, Any]] = []
        for container, key, value in list(walk(document, ref.path)):
            if ref.when is not None and not ref.when(container):
                continue
            if not isinstance(value, str) or not value:
                continue
            parts = value.split(ref.separator) if ref.separator else [value]
            translated = []
            for part in (p.strip() for p in parts):
                name = part if is_expression(part) else names.name(part)
                if name is None and ref.target == "actions" and not GUID.match(part):
                    # A step named by its name, as Octopus.Client writes a versioning
                    # strategy's `DonorPackageStepId` ("Name[:PackageReference]"): kept.
                    name = part
                if name is None:
                    problems.append(
                        Problem(
                            where,
                            f"drops a reference to unknown id {part} "
                            f"at {'.'.join(p for p in ref.path if p != '*')}",
                        )
                    )
                else:
                    translated.append(name)
            if ref.separator:
                container[key] = ref.separator.join(sorted(translated))
            elif translated:
                container[key] = translated[0]
            else:
                doomed.append((container, key))
        for container, key in reversed(doomed):
            if isinstance(container, list):
                del container[key]
            else:
                container[key] = None


def _translate_hidden_ids(document: JsonDict, names: _Names) -> None:
    """Ids in action properties that no `Ref` names: written as typed references.

    Step packages and templates keep ids of accounts, feeds or worker pools under property
    names nobody lists in advance; an id left in the snapshot would point at nothing on
    another instance, so any property value that is exactly a known id becomes
    `{"Ref": {"kind": ..., "name": ...}}`.
    """
    for _, _, action in walk(document, ACTIONS):
        properties = action.get("Properties") or {}
        for name in ACTION_VOLATILE_PROPERTIES:
            properties.pop(name, None)
        for key, value in list(properties.items()):
            if isinstance(value, str) and _known_id(value, names):
                properties[key] = _typed_ref(value, names)
            elif isinstance(value, str) and value.startswith("{"):
                properties[key] = _json_with_refs(value, names)


def _known_id(value: str, names: _Names) -> bool:
    return bool(ID_SHAPE.match(value)) and value in names.by_id


def _typed_ref(value: str, names: _Names) -> JsonDict:
    kind, target = names.by_id[value]
    return {"Ref": {"kind": kind, "name": target}}


def _json_with_refs(value: str, names: _Names) -> Any:
    """A property holding a JSON object with ids in it, as `{"Json": {...}}` with typed refs.

    A step-template parameter of type Package holds `{"PackageId": "<package name>",
    "FeedId": "Feeds-3"}` as a string (SpaceCloner src/Cloners/ActionCloner.ps1 maps its
    FeedId by name); other parameters may do the same. A string that is not such an object,
    or holds no known id, stays as it is.
    """
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    if not isinstance(parsed, dict):
        return value
    found = False
    for key, item in parsed.items():
        if isinstance(item, str) and _known_id(item, names):
            parsed[key] = _typed_ref(item, names)
            found = True
    return {"Json": parsed} if found else value


def _secrets(value: Any) -> Any:
    """`{HasValue, NewValue}` objects become `SENSITIVE` (or None when there is no value)."""
    if isinstance(value, dict):
        if "HasValue" in value and set(value) <= {"HasValue", "NewValue", "Hint"}:
            return dict(SENSITIVE) if value.get("HasValue") else None
        return {key: _secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_secrets(item) for item in value]
    return value


def _sort_key(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _variables(variables: list[JsonDict]) -> list[JsonDict]:
    """Concise, ordered variables: defaults left out, scopes sorted, secrets masked."""
    result = []
    for variable in variables:
        concise: JsonDict = {"Name": variable["Name"]}
        sensitive = bool(variable.get("IsSensitive")) or variable.get("Type") == "Sensitive"
        concise["Value"] = dict(SENSITIVE) if sensitive else variable.get("Value")
        if variable.get("Type", "String") != "String":
            concise["Type"] = variable["Type"]
        scope = {
            dimension: sorted(values)
            for dimension, values in sorted((variable.get("Scope") or {}).items())
            if values
        }
        if scope:
            concise["Scope"] = scope
        if variable.get("Description"):
            concise["Description"] = variable["Description"]
        if variable.get("IsEditable") is False:
            concise["IsEditable"] = False
        if variable.get("Prompt"):
            concise["Prompt"] = variable["Prompt"]
        result.append(concise)
    return sorted(result, key=lambda v: (v["Name"], json.dumps(v, sort_keys=True)))


def _script_module(library_set: JsonDict, variable_set: JsonDict) -> JsonDict:
    body = language = None
    for variable in variable_set.get("Variables", []):
        match = SCRIPT_MODULE.match(str(variable.get("Name", "")))
        if match:
            if match.group(1):
                language = variable.get("Value")
            else:
                body = variable.get("Value")
    return {
        "Name": library_set["Name"],
        "Description": library_set.get("Description") or "",
        "Language": language or "PowerShell",
        "ScriptBody": body or "",
    }


def _team_permissions(
    raw: Raw, teams: dict[str, JsonDict], add: Callable[[str, tuple[str, ...], JsonDict], None]
) -> None:
    """A team's scoped user roles, together, in one document (pushed last)."""
    by_team: dict[str, list[JsonDict]] = {}
    for role in raw.items("scopeduserroles"):
        if role.get("TeamId") in teams:
            by_team.setdefault(role["TeamId"], []).append(role)
    for team_id, roles in by_team.items():
        add("team-permissions", (teams[team_id]["Name"],), {"ScopedUserRoles": roles})


def _template_names(raw: Raw) -> dict[str, str]:
    names: dict[str, str] = {}
    for owner in [*raw.items("projects"), *raw.items("libraryvariablesets")]:
        for template in owner.get("Templates") or []:
            names[str(template["Id"])] = str(template["Name"])
    return names


def _legacy_tenant_variables(
    document: JsonDict, names: _Names, templates: dict[str, str]
) -> JsonDict:
    """The legacy document (a value per project template per environment, library values
    unscoped) in normal form (`tenantvars`)."""
    values: dict[str, dict[str, dict[str, list[JsonDict]]]] = {}

    def add(kind: str, owner: str, template_id: str, value: Any, scope: list[str]) -> None:
        value = _secrets(value)
        if value is None:  # a secret with no value: nothing is set
            return
        template = templates.get(template_id, template_id)
        entry: JsonDict = {"Value": value}
        if scope:
            entry["Environments"] = scope
        values.setdefault(kind, {}).setdefault(owner, {}).setdefault(template, []).append(entry)

    for project_id, entry in (document.get("ProjectVariables") or {}).items():
        project = names.name(project_id) or project_id
        for environment, per_template in (entry.get("Variables") or {}).items():
            for template_id, value in (per_template or {}).items():
                add("ProjectVariables", project, template_id, value, [_name(names, environment)])
    for set_id, entry in (document.get("LibraryVariables") or {}).items():
        library = names.name(set_id) or set_id
        for template_id, value in (entry.get("Variables") or {}).items():
            add("CommonVariables", library, template_id, value, [])
    return tenantvars.document(values)


def _scoped_tenant_variables(
    projects: JsonDict, common: JsonDict, names: _Names, templates: dict[str, str]
) -> JsonDict:
    """The scoped documents (`/projectvariables`, `/commonvariables`, Octopus 2025.2+) in
    normal form. Their values sit in `Variables` (`ProjectVariables`/`CommonVariables` on
    servers before March 2025: go-octopusdeploy e4916748, "rename properties to match API")."""
    values: dict[str, dict[str, dict[str, list[JsonDict]]]] = {}
    for kind, document, owner_field, legacy_name in (
        ("ProjectVariables", projects, "ProjectId", "ProjectVariables"),
        ("CommonVariables", common, "LibraryVariableSetId", "CommonVariables"),
    ):
        for item in document.get("Variables") or document.get(legacy_name) or []:
            value = _secrets(item.get("Value"))
            if value is None:
                continue
            owner = _name(names, str(item.get(owner_field)))
            template = templates.get(str(item.get("TemplateId")), str(item.get("TemplateId")))
            scope = [_name(names, e) for e in (item.get("Scope") or {}).get("EnvironmentIds") or []]
            entry: JsonDict = {"Value": value}
            if scope:
                entry["Environments"] = scope
            values.setdefault(kind, {}).setdefault(owner, {}).setdefault(template, []).append(entry)
    return tenantvars.document(values)


def _name(names: _Names, resource_id: str) -> str:
    return names.name(resource_id) or resource_id


def source_index(normalized: Normalized) -> dict[str, dict[str, list[str]]]:
    """Kind -> source id -> name path, sorted: the export's rename index. Steps are keyed
    `steps` with `[project, step]` (deployment processes) or `[project, runbook, step]`."""
    return {kind: dict(sorted(ids.items())) for kind, ids in sorted(normalized.ids.items()) if ids}


def renames(
    before: dict[str, dict[str, list[str]]], after: dict[str, dict[str, list[str]]]
) -> dict[str, dict[tuple[str, ...], tuple[str, ...]]]:
    """Kind -> old name path (lower-cased) -> new name path, for every source id that is in
    both indexes under another name: what the source renamed between two exports."""
    found: dict[str, dict[tuple[str, ...], tuple[str, ...]]] = {}
    for kind, ids in after.items():
        old = before.get(kind) or {}
        for source_id, name in ids.items():
            previous = old.get(source_id)
            if previous is not None and [p.lower() for p in previous] != [p.lower() for p in name]:
                found.setdefault(kind, {})[tuple(p.lower() for p in previous)] = tuple(name)
    return found


def to_snapshot(raw: Raw, space_id: str, meta: dict[str, Any]) -> tuple[Snapshot, list[Problem]]:
    """Read data -> Snapshot (with the version in `meta`) and the problems found."""
    normalized = normalize(raw, space_id)
    return Snapshot(
        normalized.resources, {**meta, "octopus_version": raw.version}
    ), normalized.problems


def facts(raw: Raw) -> dict[str, frozenset[str]]:
    """Names of everything on an instance, built-ins included, by snapshot kind."""
    names: dict[str, set[str]] = {}
    for kind, name in _Names(raw).by_id.values():
        names.setdefault(kind, set()).add(name)
    for library_set in raw.items("libraryvariablesets"):
        kind = (
            "script-modules"
            if library_set.get("ContentType") == "ScriptModule"
            else ("library-variable-sets")
        )
        names.setdefault(kind, set()).add(str(library_set["Name"]))
    return {kind: frozenset(values) for kind, values in names.items()}


def normalize_document(
    kind: str, document: JsonDict, by_id: dict[str, tuple[str, str]]
) -> JsonDict:
    """One document in normal form (push re-reads a document and compares it again)."""
    return _normal(KINDS[kind], document, _Names(by_id=by_id), [], kind)
