"""The names-to-ids stage: the body each write sends, in the destination's ids. Pure.

The plan decides every document in names; this stage only translates. It takes the plan's
document, the destination's own copy of it as the push just read it (raw, in ids) and `Ids`
(what the destination calls everything), and returns what to send:

- names in reference fields become ids (the inverse of `normalize`), and the server's own
  fields the normal form does not show (ids, links, versions) are carried over from the
  destination's copy, so steps, actions and values keep their ids (`sent`);
- a secret the plan holds as a marker is sent back empty where the destination has it
  (Octopus keeps it) and as the overlay's placeholder where it does not;
- a variable set is the plan's whole list of values, each paired with the destination's
  value it is (to keep its id and its secret), in the shape Octopus takes;
- tenant values are the scoped documents or the legacy one, as the destination has them.

It reads nothing and sends nothing: `push` reads the current copy, calls this, and sends.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from snapshotsync import tenantvars
from snapshotsync.changes import Change
from snapshotsync.errors import PushError
from snapshotsync.log import get_logger
from snapshotsync.model import JsonDict, Raw, copy_json, is_sensitive_marker
from snapshotsync.normalize import names_by_id, normalize_document
from snapshotsync.octopus.kinds import (
    ACTIONS,
    KIND_OF_COLLECTION,
    KINDS,
    STEPS,
    action_name,
    is_expression,
    is_version_controlled,
    walk,
)

_log = get_logger("push")

PROJECT_CHILDREN = frozenset({"channels", "runbooks", "triggers"})
# The value actions whose `after` the plan writes (merge.py); "remove" takes a value out.
WRITTEN_VALUES = ("add", "overwrite", "update-scope", "update-meta")


Name = tuple[str, ...]  # a resource's name path: ("OctoFX",), ("OctoFX", "QA")


def _lowered(name: Name) -> Name:
    return tuple(part.lower() for part in name)


class Ids:
    """Destination names -> ids, per kind, learning the ids a push creates.

    Keys are `(kind, name path)`, lower-cased (Octopus names are unique regardless of case),
    never joined strings: project `a` with runbook `b/r` and project `a/b` with runbook `r`
    are different keys. Everything the destination holds is learnt from what was read, steps
    and actions included, so a push that stopped after writing a process is finished by the
    next run (which writes that process no more and still needs its action ids).
    """

    def __init__(self, raw: Raw, aliases: Mapping[tuple[str, Name], Name] | None = None) -> None:
        # Writes of one wave run on several threads: every read and update of the maps
        # holds this lock (the writes themselves never wait on each other for it).
        self.lock = threading.RLock()
        self.ids: dict[tuple[str, Name], str] = {}
        self.keys: dict[str, tuple[str, Name]] = {}  # id -> its key, to forget an old name
        # (kind, new name) -> the name the destination has until the plan's rename is made
        self.aliases = {
            (kind, _lowered(name)): old for (kind, name), old in (aliases or {}).items()
        }
        self.docs: dict[str, JsonDict] = {}
        self.by_id = names_by_id(raw)
        self.template_versions: dict[str, Any] = {}
        for collection in KIND_OF_COLLECTION:
            for item in raw.items(collection):
                self.learn(collection, item)
        for document in raw.documents.values():
            project = self.by_id.get(str(document.get("ProjectId")))
            if project is not None and "Steps" in document:
                self.learn_actions(document, project[1])

    def learn(self, collection: str, item: JsonDict) -> None:
        """Remember a destination resource (read, or just created)."""
        with self.lock:
            self._learn(collection, item)

    def _learn(self, collection: str, item: JsonDict) -> None:
        kind = KIND_OF_COLLECTION[collection]
        name: Name = (str(item["Name"]),)
        if kind in PROJECT_CHILDREN:
            project = self.by_id.get(str(item.get("ProjectId")), ("", ""))[1]
            name = (project, *name)
        key = (kind, _lowered(name))
        previous = self.keys.get(str(item["Id"]))
        if previous is not None and previous != key:
            self._forget(previous, key, str(item["Id"]))
        self.ids[key] = str(item["Id"])
        self.keys[str(item["Id"])] = key
        self.docs[str(item["Id"])] = item
        self.by_id[str(item["Id"])] = (kind, str(item["Name"]))
        if kind == "step-templates":
            self.template_versions[str(item["Id"])] = item.get("Version", 0)

    def _forget(self, old: tuple[str, Name], new: tuple[str, Name], resource_id: str) -> None:
        """A resource now known as `new` (renamed by this push): its old name is free (a
        resource created under it next is another one), and a renamed project's channels,
        runbooks, triggers and actions are known under the project's new name."""
        if self.ids.get(old) == resource_id:
            del self.ids[old]
        if old[0] != "projects":
            return
        for child_key in [k for k in self.ids if k[1][:1] == old[1] and len(k[1]) > 1]:
            if child_key[0] in (*PROJECT_CHILDREN, "actions"):
                moved = (child_key[0], (*new[1], *child_key[1][1:]))
                self.ids[moved] = self.ids.pop(child_key)
                self.keys[self.ids[moved]] = moved

    def learn_actions(self, document: JsonDict, project: str) -> None:
        with self.lock:
            self._learn_actions(document, project)

    def _learn_actions(self, document: JsonDict, project: str) -> None:
        for path in (STEPS, ACTIONS):
            for _, _, item in walk(document, path):
                name = action_name(document, str(item["Name"]), self.by_id)
                self.ids[("actions", _lowered((project, name)))] = str(item["Id"])
                self.by_id[str(item["Id"])] = ("actions", name)
        if "RunbookId" not in document:
            # The destination's own slugs, for what names the process's actions by slug.
            for _, _, action in walk(document, ACTIONS):
                if action.get("Slug"):
                    key = _lowered((project, str(action["Name"])))
                    self.ids[("action-slugs", key)] = str(action["Slug"])

    def find(self, kind: str, name: Name) -> str | None:
        if kind == "tags":
            return name[-1]
        kinds = (
            ("library-sets",)
            if kind in ("library-variable-sets", "script-modules", "library-sets")
            else (kind,)
        )
        with self.lock:
            for one in kinds:
                found = self.ids.get((one, _lowered(name)))
                if found:
                    return found
            for one in kinds:
                old = self.aliases.get((one, _lowered(name)))
                found = self.ids.get((one, _lowered(old))) if old is not None else None
                if found:
                    return found
        return None

    def get(self, kind: str, name: Name) -> str:
        found = self.find(kind, name)
        if found is None:
            raise PushError(
                f"no {kind} named {'/'.join(name)!r} on the destination (it should have been "
                "created earlier in this push)"
            )
        return found


@dataclass(frozen=True)
class Bodies:
    """Plan documents (names) -> write bodies (the destination's ids), for one space."""

    ids: Ids
    space: str
    placeholder: str  # the overlay's `sensitive-placeholder`, for a secret the destination lacks

    # ------------------------------------------------------------------ names -> ids

    def to_ids(self, kind: str, document: JsonDict, project: str | None) -> JsonDict:
        """Names in reference fields -> destination ids (the inverse of export)."""
        document = copy_json(document)
        for ref in KINDS[kind].refs:
            if ref.path[-1] == "~keys":
                for container, _, _ in walk(document, ref.path)[:1]:
                    renamed = {self.ids.get(ref.target, (k,)): v for k, v in container.items()}
                    container.clear()
                    container.update(renamed)
                continue
            for container, key, value in walk(document, ref.path):
                if ref.when is not None and not ref.when(container):
                    continue
                if not isinstance(value, str) or not value:
                    continue
                names = value.split(ref.separator) if ref.separator else [value]
                target = "action-slugs" if ref.slug else ref.target
                translated = [
                    n.strip() if is_expression(n) else self._id(target, n.strip(), project)
                    for n in names
                ]
                container[key] = (ref.separator or "").join(translated)
        self._hidden_ids(document)
        for _, _, action in walk(document, ACTIONS):
            properties = action.get("Properties") or {}
            template = properties.get("Octopus.Action.Template.Id")
            if template:
                properties["Octopus.Action.Template.Version"] = str(
                    self.ids.template_versions.get(template, 0)
                )
        return document

    def _hidden_ids(self, document: Any) -> None:
        """Typed references anywhere in `document` -> the destination's ids, and JSON held in
        a string written back as that string (the inverse of `normalize`'s hidden-id pass)."""
        stack: list[Any] = [document]
        while stack:
            node = stack.pop()
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in list(items):
                if _is_typed_ref(value):
                    node[key] = self._typed_ref(value)
                elif isinstance(value, dict) and set(value) == {"Json"}:
                    inner = {
                        k: self._typed_ref(v) if _is_typed_ref(v) else v
                        for k, v in value["Json"].items()
                    }
                    node[key] = json.dumps(inner, separators=(",", ":"))
                elif isinstance(value, dict | list):
                    stack.append(value)

    def _typed_ref(self, value: JsonDict) -> str:
        ref = value["Ref"]
        return self.ids.get(str(ref["kind"]), (str(ref["name"]),))

    def _id(self, target: str, name: str, project: str | None) -> str:
        if target in ("channels", "runbooks", "actions", "action-slugs") and project is not None:
            return self.ids.get(target, (project, name))
        if target == "process-owners":
            found = (
                self.ids.find("projects", (name,))
                if name.lower() == (project or "").lower()
                else self.ids.find("runbooks", (project or "", name))
            )
            if found is None:
                raise PushError(f"no project or runbook named {name!r} on the destination")
            return found
        return self.ids.get(target, (name,))

    def live_ids(self, kind: str, live: JsonDict | None, project: str | None) -> JsonDict | None:
        """The destination's document in the normal form, its references back in ids (so its
        fields line up with the raw document's, keys that are ids included); None when a name
        in it cannot be translated (then `sent` keeps every raw field the plan's lacks)."""
        if live is None:
            return None
        try:
            return self.to_ids(kind, live, project)
        except PushError:
            return None

    def secrets(self, document: Any, base: Any) -> Any:
        """SENSITIVE markers: kept where the destination has a value, else the placeholder."""
        if is_sensitive_marker(document):
            has = isinstance(base, dict) and base.get("HasValue")
            return {"HasValue": True, "NewValue": None if has else self.placeholder}
        if isinstance(document, dict):
            base_dict = base if isinstance(base, dict) else {}
            return {k: self.secrets(v, base_dict.get(k)) for k, v in document.items()}
        if isinstance(document, list):
            base_list = base if isinstance(base, list) else []
            by_name = {b.get("Name"): b for b in base_list if isinstance(b, dict)}
            return [
                self.secrets(
                    item, by_name.get(item.get("Name")) if isinstance(item, dict) else None
                )
                for item in document
            ]
        return document

    # ------------------------------------------------------------------ resources

    def resource(
        self,
        kind: str,
        after: JsonDict,
        base: JsonDict | None,
        project: str | None,
        live: JsonDict | None = None,
    ) -> JsonDict:
        """A resource's whole body: the plan's document on `base` (the destination's raw
        document; None to create), `live` being `base` in the normal form (`sent`)."""
        after = copy_json(after)
        if kind == "library-variable-sets":
            after["ContentType"] = "Variables"
        translated = self.secrets(self.to_ids(kind, after, project), base)
        body = dict(sent(base or {}, self.live_ids(kind, live, project), translated))
        if kind in PROJECT_CHILDREN:
            body["ProjectId"] = self.ids.get("projects", (project or "",))
        if kind == "projects" and base is not None and is_version_controlled(base):
            _without_deployment_settings(body)
        if base is None and kind != "user-roles":
            # Octopus.Client sets the space on every create in a space (BasicRepository
            # .EnrichSpaceId); for teams the body's SpaceId is what makes it a space team
            # rather than a system team (OctopusDeployLabs/terraform-provider-octopusdeploy
            # #151: a team posted without it "still created System Team").
            body["SpaceId"] = self.space
        return body

    def environment_order(self, after: JsonDict) -> list[str]:
        """A bare array of every environment id, in order (Octopus.Client
        EnvironmentRepository.Sort, api-client.ts environmentRepository.ts)."""
        return [self.ids.get("environments", (name,)) for name in after.get("Order") or []]

    def runbook_snapshot(self, project_id: str, runbook_id: str, name: str) -> JsonDict:
        """A published snapshot of the runbook: `POST /projects/{id}/runbookSnapshots` with
        `Publish` set "publishes the snapshot when set to any non-blank value, making it the
        snapshot that runbook triggers and 'published' runs use" (Octopus's API reference,
        runbook-snapshots)."""
        return {
            "ProjectId": project_id,
            "RunbookId": runbook_id,
            "SpaceId": self.space,
            "Name": name,
            "Notes": "Published by snapshotsync with the process it synced.",
            "Publish": "true",
        }

    # ------------------------------------------------------------------ processes

    def process(self, change: Change, document: JsonDict, current: JsonDict) -> JsonDict:
        """The plan's steps on the destination's current process. A step someone added
        after the plan read the process is not the plan's to decide: it is sent as it is."""
        kind = change.key.kind
        project = change.key.name[0]
        translated = self.to_ids(kind, document, project)
        live = self.live_ids(kind, change.before, project)
        planned = {
            str(step.get("Name", "")).lower()
            for read in (change.before or {}, document)
            for step in read.get("Steps") or []
        }
        steps = sent(
            current.get("Steps") or [], (live or {}).get("Steps"), translated.get("Steps") or []
        )
        steps += [
            step
            for step in current.get("Steps") or []
            if str(step.get("Name", "")).lower() not in planned
        ]
        return {**current, "Steps": self.secrets(steps, current.get("Steps"))}

    # ------------------------------------------------------------------ variable sets

    def variable_set(self, change: Change, document: JsonDict, current: JsonDict) -> JsonDict:
        """The plan's whole list of values (`document`) on the destination's current
        set, in one body.

        Each of the plan's values is sent as the destination's value it is: the same value
        (unchanged, or already written by a try whose reply was lost), or the one the plan
        changed into it (`change.values`: an overwrite, a new scope, new metadata), so ids
        and secrets are kept; the others are new. A value the plan read and left out of its
        list goes. A value the plan never read (added on the destination after it) is not
        the plan's to decide: it stays; and a change whose value someone changed meanwhile
        is left for the next plan."""
        kind = change.key.kind
        project = change.key.name[0] if kind == "project-variables" else None
        raws = list(current.get("Variables") or [])
        normals = [_shown(self._normal_value(kind, raw)) for raw in raws]
        pending = list(range(len(raws)))
        read = Counter(_shown(v) for v in (change.before or {}).get("Variables") or [])
        changed = [
            (_shown(a.after), _shown(a.before))
            for a in change.values
            if a.action in WRITTEN_VALUES and a.before is not None and a.after
        ]

        def take(wanted: str, by: Any = None) -> int | None:
            for index in pending:
                if (normals[index] if by is None else by(index)) == wanted:
                    pending.remove(index)
                    if read[normals[index]] > 0:
                        read[normals[index]] -= 1
                    return index
            return None

        variables: list[JsonDict] = []
        for value in document.get("Variables") or []:
            value = _clean(value)
            shown = _shown(value)
            index = take(shown)
            if index is not None:  # the destination's value, as it is
                variables.append(raws[index])
                continue
            was = next((b for a, b in changed if a == shown), None)
            if was is not None:
                changed.remove((shown, was))
                index = take(was)
                if index is None:
                    _log.info(
                        "%s %s: changed on the destination meanwhile; left for the next plan",
                        change.key,
                        value.get("Name"),
                    )
                    continue
                variables.append(self._raw_value(value, raws[index], project))
                continue
            # A new value. Already there when a try whose reply was lost wrote it: found by
            # what it is (name, type, value, scope), not by its description, since a secret
            # added with the placeholder carries the note.
            index = take(_identity(value), lambda i: _identity(json.loads(normals[i])))
            variables.append(
                raws[index] if index is not None else self._raw_value(value, None, project)
            )
        for index in pending:
            if read[normals[index]] > 0:
                read[normals[index]] -= 1  # read by the plan and left out: it goes
            else:
                variables.append(raws[index])  # added after the plan read the set: theirs
        return {**current, "Variables": variables}

    def _normal_value(self, kind: str, raw_value: JsonDict) -> JsonDict:
        normal = normalize_document(kind, {"Variables": [raw_value]}, self.ids.by_id)
        return dict(normal["Variables"][0])

    def _raw_value(self, value: JsonDict, base: JsonDict | None, project: str | None) -> JsonDict:
        translated = self.to_ids("project-variables", {"Variables": [value]}, project)
        normal = translated["Variables"][0]
        raw: JsonDict = dict(base or {})
        raw["Name"] = normal["Name"]
        raw["Type"] = normal.get("Type", "String")
        raw["Scope"] = normal.get("Scope", {})
        sensitive = raw["Type"] == "Sensitive" or is_sensitive_marker(normal.get("Value"))
        raw["IsSensitive"] = sensitive
        known = normal.get("Value") if isinstance(normal.get("Value"), str) else None
        if sensitive and known is not None:
            # A secret given by the overlay (e.g. `${env:DB_PASSWORD}`): written as it is.
            raw["Type"] = "Sensitive"
            raw["Value"] = known
        elif sensitive:
            raw["Type"] = "Sensitive"
            raw["Value"] = None if base is not None else self.placeholder
        else:
            raw["Value"] = normal.get("Value")
        for optional in ("Description", "Prompt"):
            if optional in normal:
                raw[optional] = normal[optional]
            elif base is not None:
                raw.pop(optional, None)  # the plan's value has none: it goes
        if "IsEditable" in normal:
            raw["IsEditable"] = normal["IsEditable"]
        return raw

    # ------------------------------------------------------------------ script modules

    def script_module(self, after: JsonDict, base: JsonDict | None) -> JsonDict:
        """A script module's library variable set (ContentType ScriptModule)."""
        body = {
            "Name": after["Name"],
            "Description": after.get("Description", ""),
            "ContentType": "ScriptModule",
        }
        return {**base, **body} if base is not None else body

    def script_module_values(self, after: JsonDict, current: JsonDict) -> JsonDict:
        """The module's body and language as the two values Octopus keeps them in; the
        set's other values as they are."""
        name = after["Name"]
        module = {
            f"Octopus.Script.Module[{name}]": after.get("ScriptBody", ""),
            f"Octopus.Script.Module.Language[{name}]": after.get("Language", "PowerShell"),
        }
        variables = current.get("Variables") or []
        others = [v for v in variables if v.get("Name") not in module]
        kept = {v["Name"]: v for v in variables if v.get("Name") in module}
        values = [
            {
                **kept.get(k, {}),
                "Name": k,
                "Value": v,
                "Type": "String",
                "IsSensitive": False,
                "Scope": {},
            }
            for k, v in module.items()
        ]
        return {**current, "Variables": others + values}

    # ------------------------------------------------------------------ tenant variables

    def tenant_values(
        self, change: Change, document: JsonDict
    ) -> tuple[list[tenantvars.Value], list[tenantvars.Value]]:
        """The values the plan sets (added or different) and the ones it takes out, value by
        value and environment by environment: the plan's document against the one it read."""
        before = tenantvars.per_environment(change.before or {}, "before")
        wanted = tenantvars.per_environment(document, "after")
        values = [
            value
            for key, value in wanted.items()
            if key not in before or before[key].value != value.value
        ]
        gone = [value for key, value in before.items() if key not in wanted]
        return values, gone

    def tenant_owners(self, values: Iterable[tenantvars.Value]) -> set[tuple[str, str]]:
        """(collection, id) of each project and library set whose templates `values` name:
        what the push reads (if it has not) before building a tenant body."""
        return {
            (
                "projects" if value.kind == "ProjectVariables" else "libraryvariablesets",
                self._owner_id(value.kind, value.owner),
            )
            for value in values
        }

    def _owner_id(self, kind: str, owner: str) -> str:
        target = "projects" if kind == "ProjectVariables" else "library-sets"
        return self.ids.get(target, (owner,))

    def _template_id(self, owner_id: str, template: str) -> str | None:
        with self.ids.lock:
            owner = self.ids.docs.get(owner_id) or {}
        return next(
            (
                str(t["Id"])
                for t in owner.get("Templates") or []
                if str(t.get("Name", "")).lower() == template.lower()
            ),
            None,
        )

    def tenant_legacy(
        self,
        current: JsonDict,
        values: Iterable[tenantvars.Value],
        removed: Iterable[tenantvars.Value] = (),
    ) -> JsonDict:
        """The legacy document (`/tenants/{id}/variables`) with `values` set and `removed`
        taken out: a value per project template per environment, one per library template."""
        body = copy_json(current)
        for item in removed:
            owner_id = self._owner_id(item.kind, item.owner)
            template_id = self._template_id(owner_id, item.template)
            if item.kind == "ProjectVariables" and item.environment:
                entry = (body.get("ProjectVariables") or {}).get(owner_id) or {}
                environment_id = self.ids.get("environments", (item.environment,))
                ((entry.get("Variables") or {}).get(environment_id) or {}).pop(
                    template_id or "", None
                )
            elif item.kind == "CommonVariables":
                entry = (body.get("LibraryVariables") or {}).get(owner_id) or {}
                (entry.get("Variables") or {}).pop(template_id or "", None)
        for item in values:
            owner_id = self._owner_id(item.kind, item.owner)
            template_id = self._template_id(owner_id, item.template)
            if template_id is None:
                continue
            if item.kind == "ProjectVariables":
                if item.environment is None:
                    continue  # the plan gives a legacy destination per-environment values only
                entry = body.setdefault("ProjectVariables", {}).setdefault(owner_id, {})
                environment_id = self.ids.get("environments", (item.environment,))
                target = entry.setdefault("Variables", {}).setdefault(environment_id, {})
            else:
                entry = body.setdefault("LibraryVariables", {}).setdefault(owner_id, {})
                target = entry.setdefault("Variables", {})
            target[template_id] = self.secrets(item.value, target.get(template_id))
        return body

    def tenant_scoped(
        self,
        current: JsonDict,
        kind: str,
        owner_field: str,
        values: list[tenantvars.Value],
        removed: list[tenantvars.Value],
        tenant_id: str,
    ) -> JsonDict:
        """The whole scoped document: every value the destination has (the PUT replaces the
        document: what it leaves out is deleted, per the Octopus CLI's update.go), with the
        plan's values set or added. Items carry only what the write command takes
        (go-octopusdeploy pkg/variables/tenant_project_variable.go)."""
        read = current.get("Variables") or current.get(kind) or []
        items = [
            {
                "Id": item.get("Id"),
                owner_field: item.get(owner_field),
                "TemplateId": item.get("TemplateId"),
                "Value": item.get("Value"),
                "Scope": {
                    "EnvironmentIds": list((item.get("Scope") or {}).get("EnvironmentIds") or [])
                },
            }
            for item in read
        ]
        for value in removed:
            owner_id = self._owner_id(kind, value.owner)
            template_id = self._template_id(owner_id, value.template)
            environment = (
                self.ids.get("environments", (value.environment,)) if value.environment else None
            )
            for item in list(items):
                scope = item["Scope"]["EnvironmentIds"]
                if item[owner_field] != owner_id or item["TemplateId"] != template_id:
                    continue
                if environment is None and not scope:
                    items.remove(item)
                elif environment in scope:
                    scope.remove(environment)
                    if not scope:  # never left unscoped: that would mean everywhere
                        items.remove(item)
        new: dict[tuple[str, str, tuple[str, int]], JsonDict] = {}
        for value in values:
            owner_id = self._owner_id(kind, value.owner)
            template_id = self._template_id(owner_id, value.template)
            if template_id is None:
                continue
            environment = (
                self.ids.get("environments", (value.environment,)) if value.environment else None
            )
            scope = {environment} if environment else set()
            same = [
                i
                for i in items
                if i[owner_field] == owner_id
                and i["TemplateId"] == template_id
                and (
                    environment in i["Scope"]["EnvironmentIds"]
                    or (not environment and not i["Scope"]["EnvironmentIds"])
                )
            ]
            if same:
                item = same[0]
                if is_sensitive_marker(value.value) or item["Value"] == value.value:
                    continue  # a secret the destination has (kept), or already this value
                if set(item["Scope"]["EnvironmentIds"]) == scope:
                    item["Value"] = value.value
                    continue
                # One environment of a value held for several: that environment leaves the
                # item (the others keep it) and gets its own value below.
                item["Scope"]["EnvironmentIds"].remove(environment)
            group = new.setdefault(
                (owner_id, template_id, value.entry),
                {
                    owner_field: owner_id,
                    "TemplateId": template_id,
                    "Value": self.secrets(value.value, None),
                    "Scope": {"EnvironmentIds": []},
                },
            )
            if environment:
                group["Scope"]["EnvironmentIds"].append(environment)
        body: JsonDict = {
            "TenantId": tenant_id,
            "SpaceId": self.space,
            "Variables": [*items, *(new[k] for k in sorted(new))],
        }
        if current.get("ConcurrencyToken"):
            # Passed back as read, so a save someone made since is refused (and re-read),
            # never overwritten: Octopus's API reference for these routes, "always pass it
            # back ... omitting it skips the check and risks silently overwriting their
            # changes" (OctopusDeploy/docs src/pages/docs/api/_generated/tenants.md).
            body["ConcurrencyToken"] = current["ConcurrencyToken"]
        return body

    # ------------------------------------------------------------------ team roles

    def roles_removed(self, change: Change, current: list[JsonDict]) -> list[str]:
        """The ids of the team's scoped roles the plan takes out, found by what they are."""
        wanted = [_role(v.before) for v in change.values if v.action == "remove" and v.before]
        found = []
        for raw_role in current:
            normal = normalize_document(
                "team-permissions", {"ScopedUserRoles": [raw_role]}, self.ids.by_id
            )["ScopedUserRoles"][0]
            if _role(normal) in wanted:
                wanted.remove(_role(normal))
                found.append(str(raw_role["Id"]))
        return found

    def roles_added(self, change: Change, team_id: str) -> list[JsonDict]:
        """A body for each scoped role in the plan's document that the team did not have."""
        before = {_role(r) for r in (change.before or {}).get("ScopedUserRoles") or []}
        bodies = []
        for role in (change.after or {}).get("ScopedUserRoles") or []:
            if _role(role) in before:
                continue
            translated = self.to_ids("team-permissions", {"ScopedUserRoles": [role]}, None)
            bodies.append(
                {**translated["ScopedUserRoles"][0], "TeamId": team_id, "SpaceId": self.space}
            )
        return bodies


def _without_deployment_settings(body: JsonDict) -> None:
    """A config-as-code project's PUT, as the Terraform provider sends it (resource_project.go):
    deployment settings at their defaults or left out, since the route refuses them ("Cannot
    update deployment settings for a version controlled project with this endpoint")."""
    body["DefaultGuidedFailureMode"] = "EnvironmentDefault"
    body["DeploymentChangesTemplate"] = ""
    body["ReleaseNotesTemplate"] = ""
    body.pop("ProjectConnectivityPolicy", None)
    body.pop("VersioningStrategy", None)


def _is_typed_ref(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("Ref"), dict)


def _clean(value: JsonDict) -> JsonDict:
    """A value without the transform's working markers (`~` keys)."""
    return {k: v for k, v in value.items() if not k.startswith("~")}


def _shown(value: Any) -> str:
    """A normal-form value as one comparable string."""
    return json.dumps(value, sort_keys=True)


def _identity(value: JsonDict) -> str:
    """What makes a variable value the same value: name (any case), type, value and scope."""
    return json.dumps(
        [
            str(value.get("Name", "")).lower(),
            str(value.get("Type") or "String"),
            value.get("Value"),
            value.get("Scope") or {},
        ],
        sort_keys=True,
    )


def _role(role: JsonDict) -> str:
    return json.dumps(role, sort_keys=True)


def sent(raw: Any, normal: Any, document: Any) -> Any:
    """What a write sends: `document` (the plan's, in ids) whole, plus the server's own
    fields of the destination's `raw` document at every level: those its normal form
    (`normal`) does not show (ids, links, versions), so steps and actions keep their ids.
    A field the normal form shows and `document` lacks is not sent: the plan decided it goes.
    Without a normal form to tell them apart (a part the plan did not read), every field
    of `raw` the document lacks is kept."""
    if is_sensitive_marker(document):
        return copy_json(document)
    if isinstance(document, dict) and isinstance(raw, dict):
        shown = normal if isinstance(normal, dict) else None
        result = {
            key: copy_json(value)
            for key, value in raw.items()
            if key not in document and (shown is None or key not in shown)
        }
        for key, value in document.items():
            result[key] = sent(raw.get(key), shown.get(key) if shown is not None else None, value)
        return result
    if isinstance(document, list) and isinstance(raw, list):
        raws = _by_name(raw)
        normals = _by_name(normal if isinstance(normal, list) else [])
        result_list = []
        for item in document:
            name = _name_of(item)
            result_list.append(
                copy_json(item) if name is None else sent(raws.get(name), normals.get(name), item)
            )
        return result_list
    return copy_json(document)


def _name_of(item: Any) -> str | None:
    if isinstance(item, dict) and isinstance(item.get("Name"), str):
        return str(item["Name"]).lower()
    return None


def _by_name(items: list[Any]) -> dict[str, Any]:
    return {name: item for item in items if (name := _name_of(item)) is not None}
