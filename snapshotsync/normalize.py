"""Normal form: what the API returned -> name-keyed documents without ids. Pure.

Ids become names (the `Ref`s of `octopus.kinds`), server fields and ids are stripped,
unordered lists sorted, secrets replaced by `SENSITIVE`. Export writes this form to
`snapshot/`; plan reads the destination into it; push compares documents in it.

`Normalizing` does it one document at a time, as the reader hands them over, so the work
hides in the time the remaining GETs are in flight. Every name is known once the
collections are read, but for the steps and actions, which live in the processes: a
document normalized early remembers each id it looked up, and `finish` checks those
against the full map (`names_by_id` of everything read) and normalizes again the few that
looked up a name not known yet. The result is what normalizing everything at the end gives,
whatever order the documents came in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
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
    PUBLISHED_RUNBOOKS,
    STEPS,
    Kind,
    Path,
    action_name,
    descend,
    is_expression,
    is_version_controlled,
    runbooks_in_git,
    slug_key,
    walk,
)
from snapshotsync.octopus.routes import api_path

_log = get_logger("normalize")
ID_SHAPE = re.compile(r"^[A-Za-z]+-\d+$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SCRIPT_MODULE = re.compile(r"^Octopus\.Script\.Module(\.Language)?\[(?P<name>.*)\]$")


def _source_ids(ids: dict[str, dict[str, list[str]]], key: ResourceKey, source: JsonDict) -> None:
    """Remember the source's own id of a resource (of each step, for a process)."""
    kind, name = key.kind, key.name
    if not KINDS[kind].singleton and source.get("Id"):
        ids.setdefault(kind, {})[str(source["Id"])] = list(name)
    elif kind in PROCESS_KINDS:
        for _, _, step in walk(source, STEPS):
            if step.get("Id"):
                ids.setdefault("steps", {})[str(step["Id"])] = [*name, str(step["Name"])]


PROCESS_KINDS = frozenset({"deployment-processes", "runbook-processes"})
# Kinds that refer to steps or actions of other documents by id: normalized once every
# process is in (a process names its own steps, known as soon as it arrives).
_NAMES_STEPS = frozenset(
    kind.name
    for kind in KINDS.values()
    if kind.name not in PROCESS_KINDS and any(ref.target == "actions" for ref in kind.refs)
)


@dataclass
class Normalized:
    resources: dict[ResourceKey, JsonDict]
    problems: list[Problem]
    # The source's own id of each resource and step, by kind: what recognises a rename
    # (`source_index`); never written into the documents.
    ids: dict[str, dict[str, list[str]]] = field(default_factory=dict)


def names_by_id(raw: Raw) -> dict[str, tuple[str, str]]:
    """Id -> (kind, name) for everything read: ids are unique within an instance."""
    by_id = _collection_names(raw)
    for document in raw.documents.values():
        _learn_steps(by_id, document)
    return by_id


def _collection_names(raw: Raw) -> dict[str, tuple[str, str]]:
    by_id: dict[str, tuple[str, str]] = {}
    for collection, kind in KIND_OF_COLLECTION.items():
        for item in raw.items(collection):
            by_id[str(item["Id"])] = (kind, str(item["Name"]))
    return by_id


def _learn_steps(by_id: dict[str, tuple[str, str]], document: JsonDict) -> None:
    for path in (STEPS, ACTIONS):  # release versioning names a step by its id
        for _, _, item in walk(document, path):
            by_id[str(item["Id"])] = ("actions", action_name(document, str(item["Name"]), by_id))
    if "RunbookId" not in document and document.get("ProjectId"):
        # Triggers and channels name the deployment process's actions by slug.
        for _, _, action in walk(document, ACTIONS):
            if action.get("Slug"):
                key = slug_key(str(document["ProjectId"]), str(action["Slug"]))
                by_id[key] = ("actions", str(action["Name"]))


class _Walker:
    """`walk` in one document being normalized, finding its actions once: translating,
    stripping and sorting change what is inside an action, never which actions there are."""

    def __init__(self, document: JsonDict) -> None:
        self.document = document
        self.actions: list[tuple[Any, Any, Any]] | None = None

    def __call__(self, path: Path) -> list[tuple[Any, Any, Any]]:
        if path[: len(ACTIONS)] != ACTIONS:
            return walk(self.document, path)
        if self.actions is None:
            self.actions = walk(self.document, ACTIONS)
        return descend(self.actions, path[len(ACTIONS) :])


class _Names:
    """Id -> (kind, name) lookups for normalizing; with `seen`, every lookup is remembered
    (id -> what it found), so `Normalizing.finish` can check them against the full map."""

    def __init__(
        self,
        by_id: dict[str, tuple[str, str]],
        seen: dict[str, tuple[str, str] | None] | None = None,
    ) -> None:
        self.by_id = by_id
        self.seen = seen

    def lookup(self, value: str) -> tuple[str, str] | None:
        found = self.by_id.get(value)
        if self.seen is not None:
            self.seen[value] = found
        return found

    def name(self, value: str) -> str | None:
        found = self.lookup(value)
        return found[1] if found else None


def normalize(raw: Raw, space_id: str) -> Normalized:
    """Turn what `read` returned into normal-form documents keyed by name."""
    normalizing = Normalizing(raw, space_id)
    for path, document in raw.documents.items():
        normalizing.add(path, document)
    return normalizing.finish(raw)


Documents = Mapping[str, JsonDict]  # by API path
# What a unit does once its documents are in: the document it makes, or None.
Build = Callable[[Documents, _Names, list[Problem]], JsonDict | None]
OnResource = Callable[[ResourceKey, JsonDict], None]
# Hears the keys of the resources normalizing will most likely make (the tenants without
# variables make none).
OnKeys = Callable[[list[ResourceKey]], None]


@dataclass
class _Unit:
    """One step of normalizing, in the order `normalize` takes them: a resource (or only a
    note, `key` None) made from collection items and the documents at `needs`."""

    key: ResourceKey | None
    needs: tuple[str, ...]
    build: Build
    names_steps: bool = False  # refers to steps or actions: waits for every process
    source: JsonDict | str | None = None  # the item, or the path of the document, it is of
    document: JsonDict | None = None
    problems: list[Problem] = field(default_factory=list)
    seen: dict[str, tuple[str, str] | None] | None = None  # None until it ran

    def run(self, documents: Documents, names: _Names) -> JsonDict | None:
        self.problems = []
        self.document = self.build(documents, names, self.problems)
        self.seen = names.seen
        return self.document


class Normalizing:
    """`normalize`, one document at a time as the reader hands them over. Pure.

    Made once the collections are read (`raw`, documents or not); `add` each document as it
    arrives; `finish` with everything read. `on_resource` hears each document made, as it
    is made: a resource may be heard twice (made early, then again by `finish`), the last
    time counts. `on_keys` hears first which resources are to come.
    """

    def __init__(
        self,
        raw: Raw,
        space_id: str,
        on_resource: OnResource | None = None,
        on_keys: OnKeys | None = None,
    ) -> None:
        self.on_resource = on_resource
        self.units = _units(raw, space_id)
        if on_keys is not None:  # before any resource is heard
            on_keys([unit.key for unit in self.units if unit.key is not None])
        self.documents: dict[str, JsonDict] = {}
        self.by_id = _collection_names(raw)
        self.processes = {
            need
            for unit in self.units
            if unit.key is not None and unit.key.kind in PROCESS_KINDS
            for need in unit.needs
        }
        self.waiting: dict[str, list[_Unit]] = {}
        for unit in self.units:
            for need in unit.needs:
                self.waiting.setdefault(need, []).append(unit)
        self.held: list[_Unit] = []  # ready, but naming steps while processes are missing
        for unit in self.units:
            if not unit.needs:
                self._ready(unit)

    def add(self, path: str, document: JsonDict) -> None:
        """One document read (at its API path)."""
        self.documents[path] = document
        _learn_steps(self.by_id, document)
        for unit in self.waiting.pop(path, ()):
            if all(need in self.documents for need in unit.needs):
                self._ready(unit)
        self.processes.discard(path)
        if not self.processes and self.held:
            held, self.held = self.held, []
            for unit in held:
                self._run(unit, self.documents, _Names(self.by_id, {}))

    def _ready(self, unit: _Unit) -> None:
        if unit.names_steps and self.processes:
            self.held.append(unit)
        else:
            self._run(unit, self.documents, _Names(self.by_id, {}))

    def _run(self, unit: _Unit, documents: Documents, names: _Names) -> None:
        document = unit.run(documents, names)
        if document is not None and unit.key is not None and self.on_resource is not None:
            self.on_resource(unit.key, document)

    def finish(self, raw: Raw) -> Normalized:
        """Everything normalized, as `normalize(raw)` would: early work whose lookups the
        full map of names answers the same way is kept, the rest done again."""
        full = _Names(names_by_id(raw))
        out = Normalized({}, [])
        for unit in self.units:
            seen = unit.seen
            if seen is None or any(full.by_id.get(value) != found for value, found in seen.items()):
                self._run(unit, raw.documents, full)
            if unit.key is not None and unit.document is not None:
                out.resources[unit.key] = unit.document
                if unit.source is not None:
                    source = unit.source
                    _source_ids(
                        out.ids,
                        unit.key,
                        raw.documents[source] if isinstance(source, str) else source,
                    )
            out.problems.extend(unit.problems)
        for problem in out.problems:
            _log.info("normalize: %s", problem)
        return out


def _units(raw: Raw, space_id: str) -> list[_Unit]:
    """What `normalize` does, in its order, as units that wait for their documents."""
    units: list[_Unit] = []
    projects = {p["Id"]: p for p in raw.items("projects")}
    runbooks = {r["Id"]: r for r in raw.items("runbooks")}

    def add(kind: str, name: tuple[str, ...], source: JsonDict | str) -> None:
        """A resource from a collection item, or from the document at the path `source`."""
        key = ResourceKey(kind, name)
        needs = (source,) if isinstance(source, str) else ()
        build = partial(_resource, KINDS[kind], source, str(key))
        units.append(_Unit(key, needs, build, kind in _NAMES_STEPS, source))

    simple = {
        "environments": "environments",
        "projectgroups": "project-groups",
        "tagsets": "tag-sets",
        "git-credentials": "git-credentials",
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
    for team_id, roles in _team_roles(raw, teams).items():
        add("team-permissions", (teams[team_id]["Name"],), {"ScopedUserRoles": roles})

    for library_set in raw.items("libraryvariablesets"):
        path = api_path(space_id, "variables", library_set["VariableSetId"])
        if library_set.get("ContentType") == "ScriptModule":
            key = ResourceKey("script-modules", (library_set["Name"],))
            build = partial(_script_module_resource, library_set, path, str(key))
            units.append(_Unit(key, (path,), build))
        else:
            add("library-variable-sets", (library_set["Name"],), library_set)
            add("library-variables", (library_set["Name"],), path)

    for project in projects.values():
        name = project["Name"]
        if is_version_controlled(project):
            note = Problem(
                f"projects {name}",
                "config-as-code project: its process and variables live in git and are not "
                "exported",
            )
            units.append(_Unit(None, (), partial(_note, note)))
            continue
        add(
            "deployment-processes",
            (name,),
            api_path(space_id, "projects", project["Id"], "deploymentprocesses"),
        )
        add("project-variables", (name,), api_path(space_id, "variables", project["VariableSetId"]))
    for collection, kind in (("channels", "channels"), ("projecttriggers", "triggers")):
        for item in raw.items(collection):
            owner = projects.get(item["ProjectId"])
            if owner is not None:
                add(kind, (owner["Name"], item["Name"]), item)
    for project in projects.values():
        if runbooks_in_git(project):
            note = Problem(
                f"projects {project['Name']}",
                "config-as-code runbooks: its runbooks live in git and are not exported "
                "(the database routes refuse them; no git ref is configured to read them)",
            )
            units.append(_Unit(None, (), partial(_note, note)))
    for runbook in runbooks.values():
        owner = projects.get(runbook["ProjectId"])
        if owner is None or runbooks_in_git(owner):
            continue
        add("runbooks", (owner["Name"], runbook["Name"]), runbook)
        process = api_path(space_id, "runbookProcesses", runbook["RunbookProcessId"])
        add("runbook-processes", (owner["Name"], runbook["Name"]), process)

    templates = _template_names(raw)
    for tenant in raw.items("tenants"):
        tenant_base = api_path(space_id, "tenants", tenant["Id"])
        needs = (
            (f"{tenant_base}/projectvariables", f"{tenant_base}/commonvariables")
            if raw.scoped_tenant_variables
            else (f"{tenant_base}/variables",)
        )
        key = ResourceKey("tenant-variables", (tenant["Name"],))
        units.append(_Unit(key, needs, partial(_tenant_variables, tenant_base, templates)))
    return units


def _resource(
    kind: Kind,
    source: JsonDict | str,
    where: str,
    documents: Documents,
    names: _Names,
    problems: list[Problem],
) -> JsonDict:
    document = documents[source] if isinstance(source, str) else source
    return _normal(kind, document, names, problems, where)


def _script_module_resource(
    library_set: JsonDict,
    path: str,
    where: str,
    documents: Documents,
    names: _Names,
    problems: list[Problem],
) -> JsonDict:
    module = _script_module(library_set, documents[path])
    return _normal(KINDS["script-modules"], module, names, problems, where)


def _note(note: Problem, _documents: Documents, _names: _Names, problems: list[Problem]) -> None:
    problems.append(note)


def _tenant_variables(
    tenant_base: str,
    templates: dict[str, str],
    documents: Documents,
    names: _Names,
    _problems: list[Problem],
) -> JsonDict | None:
    if f"{tenant_base}/variables" in documents:
        values = _legacy_tenant_variables(documents[f"{tenant_base}/variables"], names, templates)
    else:
        values = _scoped_tenant_variables(
            documents.get(f"{tenant_base}/projectvariables") or {},
            documents.get(f"{tenant_base}/commonvariables") or {},
            names,
            templates,
        )
    return values or None


def _normal(
    kind: Kind, source: JsonDict, names: _Names, problems: list[Problem], where: str
) -> JsonDict:
    # `_secrets` copies every dict and list (the raw data stays as read: push needs it).
    document: JsonDict = dict(_secrets(source))
    find = _Walker(document)
    _translate_refs(kind, find, names, problems, where)
    if kind.name in PROCESS_KINDS:
        for _, _, action in find(ACTIONS):
            properties = action.get("Properties") or {}
            for name in ACTION_VOLATILE_PROPERTIES:
                properties.pop(name, None)
            if action.get("ActionType") == PROCESS_TEMPLATE:
                problems.append(_process_template_note(where, action))
    for name in COMMON_VOLATILE | kind.strip:
        document.pop(name, None)
    for path, fields in kind.strip_nested.items():
        for _, _, item in find(path):
            if isinstance(item, dict):
                for name in fields:
                    item.pop(name, None)
    if kind.name not in _OWN_VALUES:
        _translate_hidden_ids(document, names)
    for path in kind.unordered:
        for container, key, value in find(path):
            if isinstance(value, list):
                container[key] = sorted(value, key=_sort_key)
    if kind.name in ("project-variables", "library-variables"):
        document["Variables"] = _variables(document.get("Variables", []))
    return document


def _translate_refs(
    kind: Kind, find: _Walker, names: _Names, problems: list[Problem], where: str
) -> None:
    for ref in kind.refs:
        if ref.path[-1] == "~keys":
            for container, _, _ in find(ref.path)[:1]:
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
        for container, key, value in find(ref.path):
            if ref.when is not None and not ref.when(container):
                continue
            if not isinstance(value, str) or not value:
                continue
            parts = value.split(ref.separator) if ref.separator else [value]
            translated = []
            for part in (p.strip() for p in parts):
                lookup = slug_key(str(find.document.get("ProjectId")), part) if ref.slug else part
                name = part if is_expression(part) else names.name(lookup)
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


# A step that runs a Platform Hub process template, by slug and version mask (the Terraform
# provider's process step: `Octopus.Action.ProcessTemplate.Reference.Slug`, `...VersionMask`).
PROCESS_TEMPLATE = "Octopus.ProcessTemplate"


def _process_template_note(where: str, action: JsonDict) -> Problem:
    """Platform Hub is instance-wide and kept in its own git repository: nothing of it is
    synced, and whether the destination shares the template to its space is not checked
    (`/api/platformhub/processtemplates/{slug}/share` needs system-level access)."""
    properties = action.get("Properties") or {}
    slug = properties.get("Octopus.Action.ProcessTemplate.Reference.Slug", "?")
    mask = properties.get("Octopus.Action.ProcessTemplate.Reference.VersionMask", "?")
    return Problem(
        where,
        f"step {action.get('Name')!r} runs Platform Hub process template {slug!r} "
        f"(version {mask}): copied as it is; the destination must have that template shared "
        "to its space (not checked)",
    )


# Kinds whose values are the user's data, typed where they hold ids (a variable's `Type`
# says when its value is an account, certificate or worker pool): no value is guessed at.
_OWN_VALUES = frozenset({"project-variables", "library-variables"})
# Fields that are never an id, whatever they look like: names, and package names (a package
# may be called `Projects-2`; a deploy-a-release package is a project by the registry's `Ref`).
_NEVER_IDS = frozenset(
    {"Name", "Description", "Notes", "PackageId", "Octopus.Action.Package.PackageId"}
)


def _translate_hidden_ids(document: JsonDict, names: _Names) -> None:
    """Ids no `Ref` names, anywhere in a document of any kind, written as typed references.

    Ids hide where nobody lists them in advance: step packages and step templates keep ids of
    accounts, feeds or worker pools under property names of their own (in a process and in a
    step template's own `Properties`), a Git dependency names its git credential, and newer
    servers add fields. An id left in the snapshot would point at nothing on another
    instance (or at another resource), so every value that is exactly an id of something
    read becomes `{"Ref": {"kind": ..., "name": ...}}`, and a JSON object in a string that
    holds such ids becomes `{"Json": {...}}` with typed references inside. Runs after the
    registry's references are names and the server's own fields are stripped, so only the
    ids nothing else accounts for are left. Push turns both back (`push.Ids`).
    """
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            if isinstance(value, dict | list):
                if not (isinstance(value, dict) and _is_marker(value)):
                    stack.append(value)
            elif isinstance(value, str) and key not in _NEVER_IDS:
                if _known_id(value, names):
                    node[key] = _typed_ref(value, names)
                elif value.startswith("{"):
                    node[key] = _secrets(_json_with_refs(value, names))


def _is_marker(value: JsonDict) -> bool:
    """A typed reference, or a masked secret: nothing inside is an id to translate."""
    return ("Ref" in value and len(value) == 1) or "HasValue" in value


def _known_id(value: str, names: _Names) -> bool:
    return bool(ID_SHAPE.match(value)) and names.lookup(value) is not None


def _typed_ref(value: str, names: _Names) -> JsonDict:
    found = names.lookup(value)
    assert found is not None  # `_known_id` said so
    kind, target = found
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
        if "HasValue" in value and set(value) <= _SECRET_FIELDS:
            return dict(SENSITIVE) if value.get("HasValue") else None
        return {
            key: _secrets(item) if isinstance(item, dict | list) else item
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_secrets(item) if isinstance(item, dict | list) else item for item in value]
    return value


_SECRET_FIELDS = frozenset({"HasValue", "NewValue", "Hint"})


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


def _team_roles(raw: Raw, teams: dict[str, JsonDict]) -> dict[str, list[JsonDict]]:
    """A team's scoped user roles, together: one document per team (pushed last)."""
    by_team: dict[str, list[JsonDict]] = {}
    for role in raw.items("scopeduserroles"):
        if role.get("TeamId") in teams:
            by_team.setdefault(role["TeamId"], []).append(role)
    return by_team


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
    return snapshot_of(raw, normalize(raw, space_id), meta)


def snapshot_of(
    raw: Raw, normalized: Normalized, meta: dict[str, Any]
) -> tuple[Snapshot, list[Problem]]:
    """What `to_snapshot` gives, from what `Normalizing` (or `normalize`) made of `raw`."""
    snapshot = Snapshot(normalized.resources, {**meta, "octopus_version": raw.version})
    return snapshot, normalized.problems


def facts(raw: Raw) -> dict[str, frozenset[str]]:
    """Names of everything on an instance, built-ins included, by snapshot kind."""
    names: dict[str, set[str]] = {}
    for kind, name in names_by_id(raw).values():
        names.setdefault(kind, set()).add(name)
    for library_set in raw.items("libraryvariablesets"):
        kind = (
            "script-modules"
            if library_set.get("ContentType") == "ScriptModule"
            else ("library-variable-sets")
        )
        names.setdefault(kind, set()).add(str(library_set["Name"]))
    # Runbooks with a published snapshot, as `<project>/<runbook>`: what a scheduled trigger
    # can run (the normal form leaves `PublishedRunbookSnapshotId` out, an id).
    projects = {str(p["Id"]): str(p["Name"]) for p in raw.items("projects")}
    for runbook in raw.items("runbooks"):
        project = projects.get(str(runbook.get("ProjectId")))
        if project is not None and runbook.get("PublishedRunbookSnapshotId"):
            names.setdefault(PUBLISHED_RUNBOOKS, set()).add(f"{project}/{runbook['Name']}")
    return {kind: frozenset(values) for kind, values in names.items()}


def normalize_document(
    kind: str, document: JsonDict, by_id: dict[str, tuple[str, str]]
) -> JsonDict:
    """One document in normal form (push re-reads a document and compares it again)."""
    return _normal(KINDS[kind], document, _Names(by_id), [], kind)
