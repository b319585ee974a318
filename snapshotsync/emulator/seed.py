"""Build an emulator instance from a YAML fixture written by hand, by names.

A seed uses the API's own field names, but every field that holds an id (see
`schema.Ref`) holds a *name* instead: `LifecycleId: Default Lifecycle`,
`Scope: {Environment: [Production]}`. Collections are top-level keys, in any order; they are
created in dependency order. A few keys exist only in seeds, to nest what the API keeps in
separate documents:

- projects: `Channels`, `DeploymentProcess` (`{Steps: [...]}`), `Runbooks` (each with a
  `Process`, and `Published: true` to publish a snapshot of it, which a run-runbook trigger
  needs), `Variables` (a list), `Triggers`. A project's `VersioningStrategy`,
  `ReleaseCreationStrategy`, `AutoCreateRelease` and `(De)ProvisioningRunbookId` are written
  after its channels, process and runbooks exist, as a real server needs, and so are its
  channels' version `Rules` and `GitResourceRules` (they name steps of the process); their
  channel and
  runbook names resolve within the project. `PersistenceSettings: {Type: VersionControlled,
  Url, DefaultBranch, Credentials, ...}` makes a version-controlled project: created in the
  database with its children, then converted as a real client does;
  `Releases` (a list of `{Version}`) freezes a copy of the project's process and variable
  sets for each release, and a runbook's `Snapshots` (a list of `{Name}`) of its process
  and variables for each snapshot, as a real server does (`bulk.py`): only the frozen
  copies are kept, not the releases or snapshots themselves;
- library variable sets: `Variables`;
- tenants: `ProjectEnvironments` (`{project: [environments]}`) and `Variables`, in either
  of two forms. The legacy document's, one value per environment:
  `{ProjectVariables: {project: {environment: {template: value}}},
  LibraryVariables: {set: {template: value}}}`. Or a list of scoped values, as the 2025.2
  API keeps them: `[{Project: p, Template: t, Value: v, Environments: [e1, e2]},
  {LibraryVariableSet: s, Template: t, Value: v, Environments: []}]` (no `Environments`, or
  an empty list: unscoped). Both load whatever the server version;
- teams: `ScopedUserRoles` (a list of scoped user roles, by names). A team and its roles
  belong to the seed's space; `SpaceId: null` makes a system team (or a system-level role).

An item whose name already exists (the built-in `Default Lifecycle`, say) updates it. Every
write goes through the same validation as the HTTP API, so a bad seed fails the same way a
bad request would, with the item named.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from snapshotsync.emulator import bulk, runbook_snapshots, tenant_variables, version_control
from snapshotsync.emulator.schema import KINDS, JsonDict, Ref, walk
from snapshotsync.emulator.state import ApiError, Instance

ORDER = (
    "environments",
    "projectgroups",
    "tagsets",
    "feeds",
    "git-credentials",
    "workerpools",
    "userroles",
    "teams",
    # Tenants by name (their project links are set once the projects exist): accounts,
    # certificates and targets scoped to tenants name them.
    "tenants",
    "accounts",
    # After accounts: a policy that updates Tentacles names its account.
    "machinepolicies",
    "actiontemplates",
    "libraryvariablesets",
    "lifecycles",
    "certificates",
    "machines",
    "workers",
    "projects",
)
SEED_ONLY = {
    "projects": {
        "Channels",
        "DeploymentProcess",
        "Runbooks",
        "Variables",
        "Triggers",
        "Releases",
    },
    "libraryvariablesets": {"Variables"},
    "tenants": {"ProjectEnvironments", "Variables"},
    "teams": {"ScopedUserRoles"},
}


_SCOPED_VALUE_KEYS = frozenset(
    {"Project", "LibraryVariableSet", "Template", "Value", "Environments"}
)


_PROJECT_LATER = (
    "VersioningStrategy",
    "ReleaseCreationStrategy",
    "AutoCreateRelease",
    "ProvisioningRunbookId",
    "DeprovisioningRunbookId",
)


class SeedError(Exception):
    """A seed cannot be loaded; the message names the item."""


def load_file(instance: Instance, path: Path) -> None:
    """Load the YAML seed at `path` into `instance`."""
    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except Exception as error:
        raise SeedError(f"{path}: cannot read the seed: {error}") from None
    try:
        load(instance, data or {})
    except SeedError as error:
        raise SeedError(f"{path}: {error}") from None


def load(instance: Instance, data: JsonDict) -> None:
    """Load a parsed seed into `instance`."""
    unknown = sorted(set(data) - set(ORDER) - {"space"})
    if unknown:
        raise SeedError(f"unknown top-level keys {unknown} (known: space, {', '.join(ORDER)})")
    with instance.lock:
        _Loader(instance, data).run()


class _Loader:
    def __init__(self, instance: Instance, data: JsonDict) -> None:
        self.instance = instance
        self.data = data
        self.space_id = self._space(data.get("space"))

    def _space(self, name: str | None) -> str:
        if not name:
            return self.instance.default_space_id()
        existing = self.instance.find_by_name(None, "spaces", name)
        if existing is None:
            existing = self.instance.create(None, "spaces", {"Name": name})
        return str(existing["Id"])

    def run(self) -> None:
        passes: list[tuple[str, Callable[[Any], None]]] = [
            (collection, partial(self._item, collection)) for collection in ORDER
        ]
        passes += [("tenants", self._tenant_links), ("teams", self._team_roles)]
        for collection, apply in passes:
            for item in self.data.get(collection) or []:
                name = item.get("Name", "?") if isinstance(item, dict) else "?"
                try:
                    apply(item)
                except ApiError as error:
                    reason = "; ".join([error.message, *error.errors])
                    raise SeedError(f"{collection} {name!r}: {reason}") from None
                except (SeedError, KeyError, TypeError, ValueError) as error:
                    raise SeedError(f"{collection} {name!r}: {error}") from None

    # ----------------------------------------------------------------- names -> ids

    def _id_of(self, target: str, name: str, project_id: str | None = None) -> str:
        instance, sid = self.instance, self.space_id
        if target == "tags":
            return name
        if target == "actions":
            for process in self._processes(project_id):
                for _, _, action in walk(process, ("Steps", "*", "Actions", "*")):
                    if action["Name"].lower() == name.lower():
                        return str(action["Id"])
            raise SeedError(f"no action named {name!r} in the project's processes")
        if target == "processowners":
            project = instance.docs["projects"].get(project_id or "")
            if project is not None and project["Name"].lower() == name.lower():
                return str(project["Id"])
            runbook = instance.find_by_name(sid, "runbooks", name, project_id)
            if runbook is None:
                raise SeedError(f"no project or runbook named {name!r}")
            return str(runbook["Id"])
        parent = project_id if KINDS[target].unique_within else None
        doc = instance.find_by_name(
            sid if KINDS[target].space_scoped else None, target, name, parent
        )
        if doc is None and KINDS[target].mixed_scope:
            doc = instance.find_by_name(None, target, name)  # a system team
        if doc is None:
            raise SeedError(f"no {target} named {name!r}")
        return str(doc["Id"])

    def _processes(self, project_id: str | None) -> list[JsonDict]:
        project = self.instance.docs["projects"].get(project_id or "")
        if project is None:
            return []
        found = [self.instance.docs["deploymentprocesses"][project["DeploymentProcessId"]]]
        for runbook in self.instance.space_items(self.space_id, "runbooks"):
            if runbook["ProjectId"] == project_id:
                found.append(self.instance.docs["runbookprocesses"][runbook["RunbookProcessId"]])
        return found

    def _resolve(self, collection: str, doc: JsonDict, project_id: str | None = None) -> JsonDict:
        """Replace the names in `doc`'s reference fields with ids."""
        doc = copy.deepcopy(doc)
        for ref in KINDS[collection].refs:
            self._resolve_ref(ref, doc, project_id)
        return doc

    def _resolve_ref(self, ref: Ref, doc: JsonDict, project_id: str | None) -> None:
        if ref.path[-1] == "@keys":
            for container, _, _ in list(walk(doc, ref.path)):
                renamed = {self._id_of(ref.target, k, project_id): v for k, v in container.items()}
                container.clear()
                container.update(renamed)
                break
            return
        for container, key, value in list(walk(doc, ref.path)):
            if ref.when is not None and not ref.when(container):
                continue
            container[key] = ref.replace(
                value, lambda name: self._id_of(ref.target, name, project_id)
            )

    # ----------------------------------------------------------------- items

    def _upsert(self, collection: str, body: JsonDict, project_id: str | None = None) -> JsonDict:
        instance, sid = self.instance, self.space_id
        space = sid if KINDS[collection].space_scoped else None
        if KINDS[collection].mixed_scope:
            space = body.get("SpaceId") or None
        existing = instance.find_by_name(space, collection, str(body.get("Name", "")), project_id)
        if existing is not None:
            return instance.update(
                space, collection, existing["Id"], {**_visible(existing), **body}
            )
        return instance.create(space, collection, body)

    def _item(self, collection: str, item: JsonDict) -> None:
        if not isinstance(item, dict):
            raise SeedError(f"each {collection} entry must be a mapping")
        extra = SEED_ONLY.get(collection, set())
        body = {k: v for k, v in item.items() if k not in extra}
        if collection == "teams" and "SpaceId" not in body:
            body["SpaceId"] = self.space_id  # a space team unless the seed says `SpaceId: null`
        if collection == "tenants":
            self._upsert(collection, self._resolve(collection, body))
            return
        later = {}
        git = None
        if collection == "projects":
            # What points into the project's own process, channels and runbooks is written
            # once they exist, as a real server requires (see `state._check_release_strategies`).
            later = {k: body.pop(k) for k in _PROJECT_LATER if k in body}
            # A version-controlled project is created in the database, then converted.
            persistence = body.get("PersistenceSettings") or {}
            if isinstance(persistence, dict) and persistence.get("Type") == "VersionControlled":
                git = body.pop("PersistenceSettings")
        doc = self._upsert(collection, self._resolve(collection, body))
        if collection == "libraryvariablesets" and "Variables" in item:
            self._variables(doc["VariableSetId"], item["Variables"], None)
        if collection == "projects":
            self._project_children(doc, item)
            if later:
                current = self.instance.find(self.space_id, "projects", doc["Id"])
                resolved = self._resolve("projects", later, doc["Id"])
                self.instance.update(
                    self.space_id, "projects", doc["Id"], {**_visible(current), **resolved}
                )
            if git is not None and not doc["IsVersionControlled"]:
                settings = {k: v for k, v in git.items() if k != "Type"}
                version_control.convert(
                    self.instance,
                    self.space_id,
                    doc["Id"],
                    {"CommitMessage": "Seeded", "VersionControlSettings": settings},
                )

    def _project_children(self, project: JsonDict, item: JsonDict) -> None:
        pid = project["Id"]
        ruled = []
        for channel in item.get("Channels") or []:
            # Version rules name steps of the process: written once it exists, as a real
            # server needs (see `Instance._check_channel_rules`).
            rules = {k: channel[k] for k in ("Rules", "GitResourceRules") if channel.get(k)}
            created = self._child("channels", {**channel, **{key: [] for key in rules}}, pid)
            if rules:
                ruled.append((created, rules))
        runbooks = []
        snapshots: list[tuple[str, int]] = []
        for runbook in item.get("Runbooks") or []:
            body = {
                k: v for k, v in runbook.items() if k not in ("Process", "Snapshots", "Published")
            }
            doc = self._child("runbooks", body, pid)
            runbooks.append((doc, runbook.get("Process"), runbook.get("Published")))
            snapshots.append((doc["Id"], len(runbook.get("Snapshots") or [])))
        if item.get("DeploymentProcess"):
            process_id = project["DeploymentProcessId"]
            self._process("deploymentprocesses", process_id, item["DeploymentProcess"], pid)
        for runbook, process, published in runbooks:
            if process:
                self._process("runbookprocesses", runbook["RunbookProcessId"], process, pid)
            if published:
                runbook_snapshots.create(
                    self.instance,
                    self.space_id,
                    project,
                    {"Name": "Seeded", "RunbookId": runbook["Id"], "Publish": "true"},
                    {},
                )
        for channel, rules in ruled:
            current = self.instance.find(self.space_id, "channels", channel["Id"])
            self.instance.update(
                self.space_id, "channels", channel["Id"], {**_visible(current), **rules}
            )
        if "Variables" in item:
            self._variables(project["VariableSetId"], item["Variables"], pid)
        for trigger in item.get("Triggers") or []:
            self._child("projecttriggers", trigger, pid)
        # Frozen last: a release or snapshot copies what the project holds by then.
        for _ in item.get("Releases") or []:
            bulk.freeze_release(self.instance, self.space_id, pid)
        for runbook_id, count in snapshots:
            for _ in range(count):
                bulk.freeze_runbook(self.instance, self.space_id, runbook_id)

    def _child(self, collection: str, body: JsonDict, project_id: str) -> JsonDict:
        """A channel, runbook or trigger of a project: names resolve within the project."""
        resolved = self._resolve(collection, {**body, "ProjectId": None}, project_id)
        return self._upsert(collection, {**resolved, "ProjectId": project_id}, project_id)

    def _process(self, collection: str, process_id: str, body: JsonDict, project_id: str) -> None:
        current = self.instance.find(self.space_id, collection, process_id)
        resolved = self._resolve(collection, body, project_id)
        self.instance.update(
            self.space_id,
            collection,
            process_id,
            {"Steps": resolved.get("Steps", []), "Version": current["Version"]},
        )

    def _variables(self, set_id: str, variables: list[JsonDict], project_id: str | None) -> None:
        current = self.instance.find(self.space_id, "variables", set_id)
        resolved = self._resolve("variables", {"Variables": variables}, project_id)
        self.instance.update(
            self.space_id,
            "variables",
            set_id,
            {"Variables": resolved["Variables"], "Version": current["Version"]},
        )

    # ----------------------------------------------------------------- second pass

    def _tenant_links(self, item: JsonDict) -> None:
        instance, sid = self.instance, self.space_id
        tenant = instance.find_by_name(sid, "tenants", item["Name"])
        assert tenant is not None
        if "ProjectEnvironments" in item:
            links = self._resolve("tenants", {"ProjectEnvironments": item["ProjectEnvironments"]})
            instance.update(
                sid,
                "tenants",
                tenant["Id"],
                {**_visible(tenant), "ProjectEnvironments": links["ProjectEnvironments"]},
            )
        values = item.get("Variables")
        if not values:
            return
        if isinstance(values, list):
            self._scoped_tenant_values(tenant, values)
            return
        body: JsonDict = {"ProjectVariables": {}, "LibraryVariables": {}}
        for project_name, per_env in (values.get("ProjectVariables") or {}).items():
            project = instance.find_by_name(sid, "projects", project_name)
            if project is None:
                raise SeedError(f"tenant {item['Name']!r}: no project named {project_name!r}")
            templates = {t["Name"].lower(): t["Id"] for t in project["Templates"]}
            body["ProjectVariables"][project["Id"]] = {
                "Variables": {
                    self._id_of("environments", env): _by_template(templates, vals)
                    for env, vals in per_env.items()
                }
            }
        for set_name, vals in (values.get("LibraryVariables") or {}).items():
            lvs = instance.find_by_name(sid, "libraryvariablesets", set_name)
            if lvs is None:
                raise SeedError(f"tenant {item['Name']!r}: no library variable set {set_name!r}")
            templates = {t["Name"].lower(): t["Id"] for t in lvs["Templates"]}
            body["LibraryVariables"][lvs["Id"]] = {"Variables": _by_template(templates, vals)}
        tenant_variables.seed_legacy(instance, sid, tenant["Id"], body)

    def _scoped_tenant_values(self, tenant: JsonDict, values: list[Any]) -> None:
        """`[{Project | LibraryVariableSet, Template, Value, Environments}]`, by names."""
        instance, sid = self.instance, self.space_id
        added = []
        for value in values:
            if not isinstance(value, dict):
                raise SeedError("each tenant variable value must be a mapping")
            unknown = sorted(set(value) - _SCOPED_VALUE_KEYS)
            if unknown or ("Project" in value) == ("LibraryVariableSet" in value):
                raise SeedError(
                    f"a tenant variable value has {sorted(value)}: give Project or "
                    "LibraryVariableSet, Template, Value and optionally Environments"
                )
            if "Project" in value:
                owner = self._id_of("projects", str(value["Project"]))
                owner_doc = instance.docs["projects"][owner]
                owner_field = "ProjectId"
            else:
                owner = self._id_of("libraryvariablesets", str(value["LibraryVariableSet"]))
                owner_doc = instance.docs["libraryvariablesets"][owner]
                owner_field = "LibraryVariableSetId"
            templates = {t["Name"].lower(): t["Id"] for t in owner_doc["Templates"]}
            template = str(value.get("Template", ""))
            if template.lower() not in templates:
                raise SeedError(f"no variable template named {template!r}")
            added.append(
                {
                    owner_field: owner,
                    "TemplateId": templates[template.lower()],
                    "Value": value.get("Value"),
                    "Scope": {
                        "EnvironmentIds": [
                            self._id_of("environments", str(env))
                            for env in value.get("Environments") or []
                        ]
                    },
                }
            )
        tenant_variables.seed_values(instance, sid, tenant["Id"], added)

    def _team_roles(self, item: JsonDict) -> None:
        space = item.get("SpaceId", self.space_id) or None
        team = self.instance.find_by_name(space, "teams", item["Name"])
        assert team is not None
        for role in item.get("ScopedUserRoles") or []:
            # A role in the seed's space unless it says `SpaceId: null` (system level).
            role = {"SpaceId": self.space_id, **role, "TeamId": team["Id"]}
            body = self._resolve("scopeduserroles", {**role, "TeamId": None})
            self.instance.create(role["SpaceId"], "scopeduserroles", {**body, "TeamId": team["Id"]})


def _visible(doc: JsonDict) -> JsonDict:
    return {k: v for k, v in doc.items() if k not in ("Id", "SpaceId", "Links")}


def _by_template(templates: dict[str, str], values: Any) -> JsonDict:
    result: JsonDict = {}
    for name, value in (values or {}).items():
        if name.lower() not in templates:
            raise SeedError(f"no variable template named {name!r}")
        result[templates[name.lower()]] = value
    return result
