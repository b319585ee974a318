"""Stage 4: execute a `Plan` on the destination. It decides nothing the plan did not say.

Writes go in the order `schedule.writes` gives (the guide's "Syncing order", with fields
that name what is written later held back for a second write). Names become the
destination's ids through `Ids`, which knows everything the destination held when it was
read and learns every id created on the way. Each document (process, variable set, tenant
variables) is one PUT, built on the destination's own copy so ids, versions and fields the
snapshot does not carry survive. Secrets the destination has are sent back empty (kept);
secrets it lacks get the placeholder. A stale `Version` is answered by re-reading that
document, re-applying the same change to it, and trying once more. The first failed write
stops the push: the order of writes matters, and a re-run (which plans again) finishes the
job without duplicates.
"""

from __future__ import annotations

import functools
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import CancelledError, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from snapshotsync import schedule, tenantvars
from snapshotsync.errors import OctopusApiError, UserError
from snapshotsync.log import get_logger
from snapshotsync.model import JsonDict, Raw, ResourceKey, copy_json, is_sensitive_marker
from snapshotsync.normalize import names_by_id, normalize_document
from snapshotsync.octopus.client import OctopusClient
from snapshotsync.octopus.kinds import (
    ACTIONS,
    KIND_OF_COLLECTION,
    KINDS,
    RUNBOOK_PUBLISH,
    STEPS,
    action_name,
    is_expression,
    is_version_controlled,
    walk,
)
from snapshotsync.octopus.routes import api_path, segment
from snapshotsync.overlay import Overlay
from snapshotsync.plan import ENVIRONMENT_ORDER, Change, Plan
from snapshotsync.schedule import Write

_log = get_logger("push")

COLLECTION = {
    "environments": "environments",
    "project-groups": "projectgroups",
    "tag-sets": "tagsets",
    "feeds": "feeds",
    "git-credentials": "git-credentials",
    "teams": "teams",
    "machine-policies": "machinepolicies",
    "worker-pools": "workerpools",
    "accounts": "accounts",
    "step-templates": "actiontemplates",
    "script-modules": "libraryvariablesets",
    "library-variable-sets": "libraryvariablesets",
    "lifecycles": "lifecycles",
    "tenants": "tenants",
    "certificates": "certificates",
    "projects": "projects",
    "channels": "channels",
    "runbooks": "runbooks",
    "triggers": "projecttriggers",
}
PROJECT_CHILDREN = frozenset({"channels", "runbooks", "triggers"})
PROJECT_SCOPED = PROJECT_CHILDREN | {
    "projects",
    "deployment-processes",
    "runbook-processes",
    "project-variables",
}
PLACEHOLDER_NOTE = "snapshotsync placeholder: replace the value, then remove this note"
STALE_WORDS = ("another user", "modified", "out of date", "version")


class PushError(UserError):
    """A write failed; what was done before it is recorded."""


@dataclass(frozen=True)
class Applied:
    action: str  # created | updated
    key: ResourceKey
    detail: str = ""


@dataclass
class PushResult:
    applied: list[Applied] = field(default_factory=list)
    failed: str = ""
    retried_stale: int = 0
    seconds: float = 0.0


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


@dataclass
class _Pusher:
    client: OctopusClient
    space: str
    ids: Ids
    overlay: Overlay
    raw: Raw
    result: PushResult
    progress: Callable[[int, int], None] | None = None
    landed: Callable[[ResourceKey], None] | None = None  # a creation the server made

    # ------------------------------------------------------------------ helpers

    def path(self, *parts: str) -> str:
        """A path under the space; every part (an id, from a reply) one escaped segment."""
        return api_path(self.space, *parts)

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

    def secrets(self, document: Any, base: Any) -> Any:
        """SENSITIVE markers: kept where the destination has a value, else the placeholder."""
        if is_sensitive_marker(document):
            has = isinstance(base, dict) and base.get("HasValue")
            return {
                "HasValue": True,
                "NewValue": None if has else self.overlay.variables.sensitive_placeholder,
            }
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

    def body(
        self,
        kind: str,
        after: JsonDict,
        base: JsonDict | None,
        project: str | None,
        live: JsonDict | None = None,
    ) -> JsonDict:
        """The plan's document for `base` (the raw destination document; None to create),
        in the destination's ids; `live` is `base` in the normal form (`_sent`)."""
        translated = self.secrets(self.to_ids(kind, after, project), base)
        return dict(_sent(base or {}, self.live_ids(kind, live, project), translated))

    def live_ids(self, kind: str, live: JsonDict | None, project: str | None) -> JsonDict | None:
        """The destination's document in the normal form, its references back in ids (so its
        fields line up with the raw document's, keys that are ids included); None when a name
        in it cannot be translated (then `_sent` keeps every raw field the plan's lacks)."""
        if live is None:
            return None
        try:
            return self.to_ids(kind, live, project)
        except PushError:
            return None

    def put_versioned(self, path: str, build: Callable[[JsonDict], JsonDict]) -> JsonDict:
        """GET a versioned document, PUT `build(current)`; on a stale Version, once more."""
        current = self.client.get(path)
        try:
            return dict(self.client.put(path, build(current)))
        except OctopusApiError as error:
            if error.status not in (400, 409) or not any(
                word in error.body_excerpt.lower() for word in STALE_WORDS
            ):
                raise
        _log.info("PUT %s: the document changed since it was read; re-reading and retrying", path)
        with self.lock:
            self.result.retried_stale += 1
        return dict(self.client.put(path, build(self.client.get(path))))

    # ------------------------------------------------------------------ kinds

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.local = threading.local()  # what the write this thread makes has applied

    def _done(self, applied: Applied) -> None:
        self.local.applied.append(applied)
        if applied.action == "created" and self.landed is not None:
            # Recorded as it lands, not once its wave is over: a kill mid-wave loses none.
            self.landed(applied.key)

    def apply(self, write: Write) -> list[Applied]:
        """Make one write (on any thread); what it applied, in the order it did."""
        self.local.applied = []
        self._apply(write)
        return list(self.local.applied)

    def _apply(self, write: Write) -> None:
        change = write.change
        kind = change.key.kind
        after = write.document
        if write.part == "delete":
            self._delete(change)
            return
        # The project whose channels, runbooks and actions this document's names mean: its
        # own for a project (release creation channel, donor package step, provisioning
        # runbooks) and for everything inside one.
        project = change.key.name[0] if kind in PROJECT_SCOPED else None
        if kind in ("deployment-processes", "runbook-processes"):
            self._process(change, after)
        elif kind in ("project-variables", "library-variables"):
            self._variables(change, after)
        elif kind == "tenant-variables":
            self._tenant_variables(change, after)
        elif kind == "team-permissions":
            self._permissions(change, after)
        elif kind == "script-modules":
            self._script_module(change, after)
        elif change.key == ENVIRONMENT_ORDER:
            self._environment_order(change, after)
        elif kind == RUNBOOK_PUBLISH:
            self._publish_runbook(change)
        else:
            self._resource(change, kind, after, project)

    def _resource(self, change: Change, kind: str, after: JsonDict, project: str | None) -> None:
        collection = COLLECTION.get(kind)
        global_route = kind == "user-roles"
        base_path = "api/userroles" if global_route else self.path(collection or kind)
        after = copy_json(after)
        if kind == "library-variable-sets":
            after["ContentType"] = "Variables"
        existing_id = self.ids.find(kind, (change.live_key or change.key).name)
        base = self.ids.docs.get(existing_id) if existing_id else None
        body = self.body(kind, after, base, project, change.before)
        if kind in PROJECT_CHILDREN:
            body["ProjectId"] = self.ids.get("projects", (project or "",))
        if kind == "projects" and is_version_controlled(base):
            _without_deployment_settings(body)
        if base is None and not global_route:
            # Octopus.Client sets the space on every create in a space (BasicRepository
            # .EnrichSpaceId); for teams the body's SpaceId is what makes it a space team
            # rather than a system team (OctopusDeployLabs/terraform-provider-octopusdeploy
            # #151: a team posted without it "still created System Team").
            body["SpaceId"] = self.space
        if base is None:
            created = self.client.post(base_path, body)
            self.ids.learn(collection or "userroles", created)
            self._done(Applied("created", change.key))
            if kind == "projects":
                # The server gives a new project its Default channel: learn it, so the
                # plan's "create channel Default" becomes an update, not a duplicate.
                for channel in self.client.list_all(
                    self.path("projects", created["Id"], "channels")
                ):
                    self.ids.learn("channels", channel)
        else:
            updated = self.client.put(f"{base_path}/{segment(existing_id)}", body)
            self.ids.learn(collection or "userroles", updated)
            self._done(Applied("updated", change.key))

    def _delete(self, change: Change) -> None:
        """Delete a resource snapshotsync created (the plan decided it may)."""
        kind = change.key.kind
        if kind == "script-modules":
            resource_id = self.ids.get("library-sets", change.key.name)
            collection = "libraryvariablesets"
        else:
            resource_id = self.ids.get(kind, change.key.name)
            collection = COLLECTION.get(kind, kind)
        path = api_path("userroles", resource_id) if kind == "user-roles" else None
        self.client.delete(path or self.path(collection, resource_id))
        self._done(Applied("deleted", change.key))

    def _environment_order(self, change: Change, after: JsonDict) -> None:
        # A bare array of every environment id, in order (Octopus.Client
        # EnvironmentRepository.Sort, api-client.ts environmentRepository.ts).
        ids = [self.ids.get("environments", (name,)) for name in after.get("Order") or []]
        self.client.put(self.path("environments", "sortorder"), ids)
        self._done(Applied("updated", change.key))

    def _publish_runbook(self, change: Change) -> None:
        """A new snapshot of the runbook, published (the plan decided it should be).

        `POST /projects/{id}/runbookSnapshots` with `Publish` set: "Publishes the snapshot
        when set to any non-blank value, making it the snapshot that runbook triggers and
        'published' runs use" (Octopus's API reference, runbook-snapshots). Named as the UI
        names snapshots ("Snapshot" and a short random part): names are unique per project.
        """
        project_id = self.ids.get("projects", (change.key.name[0],))
        runbook_id = self.ids.get("runbooks", change.key.name)
        body = {
            "ProjectId": project_id,
            "RunbookId": runbook_id,
            "SpaceId": self.space,
            "Name": f"Snapshot {uuid.uuid4().hex[:7].upper()}",
            "Notes": "Published by snapshotsync with the process it synced.",
            "Publish": "true",
        }
        snapshot = self.client.post(self.path("projects", project_id, "runbookSnapshots"), body)
        with self.ids.lock:
            runbook = self.ids.docs.get(runbook_id)
            if runbook is not None:
                runbook["PublishedRunbookSnapshotId"] = snapshot.get("Id")
        self._done(Applied("created", change.key, "published"))

    def _process(self, change: Change, after: JsonDict) -> None:
        project = change.key.name[0]
        if change.key.kind == "deployment-processes":
            path = self.path(
                "projects", self.ids.get("projects", (project,)), "deploymentprocesses"
            )
        else:
            runbook = self.known("runbooks", self.ids.get("runbooks", change.key.name))
            path = self.path("runbookProcesses", str(runbook["RunbookProcessId"]))
        translated = self.to_ids(change.key.kind, after, project)
        live = self.live_ids(change.key.kind, change.before, project)

        # A step someone added after the plan read the process is theirs: kept.
        planned = {
            str(step.get("Name", "")).lower()
            for document in (change.before or {}, after)
            for step in document.get("Steps") or []
        }

        def build(current: JsonDict) -> JsonDict:
            steps = _sent(
                current.get("Steps") or [],
                (live or {}).get("Steps"),
                translated.get("Steps") or [],
            )
            steps += [
                step
                for step in current.get("Steps") or []
                if str(step.get("Name", "")).lower() not in planned
            ]
            body = {**current, "Steps": self.secrets(steps, current.get("Steps"))}
            return body

        saved = self.put_versioned(path, build)
        self.ids.learn_actions(saved, project)
        self._done(Applied("updated" if change.before else "created", change.key))

    def known(self, collection: str, resource_id: str) -> JsonDict:
        """A destination document already read or returned by a write (GET only if not)."""
        with self.ids.lock:
            found = self.ids.docs.get(resource_id)
        if found is None:
            found = dict(self.client.get(self.path(collection, resource_id)))
            with self.ids.lock:
                self.ids.docs.setdefault(resource_id, found)
        return found

    def _variable_set_path(self, change: Change) -> str:
        if change.key.kind == "project-variables":
            owner = self.known("projects", self.ids.get("projects", change.key.name))
        else:
            owner = self.known("libraryvariablesets", self.ids.get("library-sets", change.key.name))
        return self.path("variables", str(owner["VariableSetId"]))

    def _variables(self, change: Change, after: JsonDict) -> None:
        """Apply the plan's value actions to the live set, in one PUT.

        Values are found by their normal form (they carry no ids in the plan). On a retry
        after a stale Version, a value someone else changed meanwhile is not found and is
        left for the next plan; a value that is already there is not added twice.
        """
        del after
        path = self._variable_set_path(change)
        project = change.key.name[0] if change.key.kind == "project-variables" else None

        def build(current: JsonDict) -> JsonDict:
            live_raw = list(current.get("Variables") or [])
            live = [self._normal_value(change.key.kind, v) for v in live_raw]
            variables = list(live_raw)
            pending = list(range(len(live_raw)))
            removed: set[int] = set()
            for action in change.values:
                if action.action == "remove":
                    index = next((i for i in pending if live[i] == action.before), None)
                    if index is not None:
                        pending.remove(index)
                        removed.add(index)
                    continue
                if action.action not in WRITTEN_VALUES or not action.after:
                    continue
                if action.before is None:  # an add: skip it when the value is already there
                    # Matched by what the value is (name, type, value, scope), not by its
                    # description: a secret added with the placeholder carries our note, and
                    # a retry after a lost reply must still recognise it.
                    wanted = _identity(action.after)
                    index = next((i for i in pending if _identity(live[i]) == wanted), None)
                    if index is None:
                        variables.append(self._raw_value(action.after, None, project))
                    else:
                        pending.remove(index)
                    continue
                index = next((i for i in pending if live[i] == action.before), None)
                if index is None:
                    _log.info(
                        "%s %s: changed on the destination meanwhile; left for the next plan",
                        change.key,
                        action.name,
                    )
                    continue
                pending.remove(index)
                variables[index] = self._raw_value(action.after, live_raw[index], project)
            kept = [v for i, v in enumerate(variables) if i not in removed]
            return {**current, "Variables": kept}

        self.put_versioned(path, build)
        self._done(Applied("updated" if change.before else "created", change.key))

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
            raw["Value"] = (
                None if base is not None else self.overlay.variables.sensitive_placeholder
            )
            if base is None:
                # A secret cannot be read back, so the note is how `cleanup` (and a person in
                # the UI) can tell the placeholder is still there.
                raw["Description"] = PLACEHOLDER_NOTE
                normal.pop("Description", None)
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

    def _script_module(self, change: Change, after: JsonDict) -> None:
        name = after["Name"]
        existing_id = self.ids.find("library-sets", (name,))
        body = {
            "Name": name,
            "Description": after.get("Description", ""),
            "ContentType": "ScriptModule",
        }
        if existing_id:
            saved = self.client.put(
                self.path("libraryvariablesets", existing_id),
                {**self.ids.docs[existing_id], **body},
            )
        else:
            saved = self.client.post(self.path("libraryvariablesets"), body)
        self.ids.learn("libraryvariablesets", saved)
        module = {
            f"Octopus.Script.Module[{name}]": after.get("ScriptBody", ""),
            f"Octopus.Script.Module.Language[{name}]": after.get("Language", "PowerShell"),
        }

        def build(current: JsonDict) -> JsonDict:
            others = [v for v in current.get("Variables") or [] if v.get("Name") not in module]
            kept = {v["Name"]: v for v in current.get("Variables") or [] if v.get("Name") in module}
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

        self.put_versioned(self.path("variables", str(saved["VariableSetId"])), build)
        self._done(Applied("created" if not existing_id else "updated", change.key))

    def _tenant_variables(self, change: Change, after: JsonDict) -> None:
        """The values the plan adds or overwrites, and only those, written in the
        destination's shape: the scoped documents (one PUT each, the whole document, as
        the server replaces it) or the legacy one. Re-read and re-applied once when the
        write is refused as out of date ("Modification failed for 'TenantVariable' document
        ... submitted data was out of date", OctopusDeployLabs/terraform-provider-
        octopusdeploy#907)."""
        tenant_id = self.ids.get("tenants", change.key.name)
        before = tenantvars.per_environment(change.before or {}, "before")
        wanted = tenantvars.per_environment(after, "after")
        delta = {
            key: value
            for key, value in wanted.items()
            if key not in before or before[key].value != value.value
        }
        gone = [value for key, value in before.items() if key not in wanted]
        if self.raw.scoped_tenant_variables:
            for kind, route, owner_field in (
                ("ProjectVariables", "projectvariables", "ProjectId"),
                ("CommonVariables", "commonvariables", "LibraryVariableSetId"),
            ):
                part = [v for k, v in delta.items() if k[0] == kind]
                removed = [v for v in gone if v.kind == kind]
                if part or removed:
                    self.put_versioned(
                        self.path("tenants", tenant_id, route),
                        functools.partial(
                            self._scoped_body,
                            kind=kind,
                            owner_field=owner_field,
                            values=part,
                            removed=removed,
                            tenant_id=tenant_id,
                        ),
                    )
        elif delta or gone:
            path = self.path("tenants", tenant_id, "variables")
            self.put_versioned(
                path, lambda current: self._legacy_body(current, delta.values(), gone)
            )
        self._done(Applied("updated", change.key))

    def _owner_id(self, kind: str, owner: str) -> str:
        target = "projects" if kind == "ProjectVariables" else "library-sets"
        return self.ids.get(target, (owner,))

    def _template_id(self, kind: str, owner_id: str, template: str) -> str | None:
        collection = "projects" if kind == "ProjectVariables" else "libraryvariablesets"
        templates = self.known(collection, owner_id).get("Templates") or []
        return next(
            (str(t["Id"]) for t in templates if str(t.get("Name", "")).lower() == template.lower()),
            None,
        )

    def _tenant_value(self, value: Any, current: Any) -> Any:
        """A secret the destination has is sent back as read (kept); one it lacks gets the
        placeholder; anything else is sent as it is."""
        if not is_sensitive_marker(value):
            return value
        if isinstance(current, dict) and current.get("HasValue"):
            return {"HasValue": True, "NewValue": None}
        return {"HasValue": True, "NewValue": self.overlay.variables.sensitive_placeholder}

    def _legacy_body(
        self,
        current: JsonDict,
        values: Iterable[tenantvars.Value],
        removed: Iterable[tenantvars.Value] = (),
    ) -> JsonDict:
        body = copy_json(current)
        for item in removed:
            owner_id = self._owner_id(item.kind, item.owner)
            template_id = self._template_id(item.kind, owner_id, item.template)
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
            template_id = self._template_id(item.kind, owner_id, item.template)
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
            target[template_id] = self._tenant_value(item.value, target.get(template_id))
        return body

    def _scoped_body(
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
            template_id = self._template_id(kind, owner_id, value.template)
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
            template_id = self._template_id(kind, owner_id, value.template)
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
                if set(item["Scope"]["EnvironmentIds"]) == scope and not is_sensitive_marker(
                    value.value
                ):
                    item["Value"] = value.value
                elif item["Value"] != value.value and not is_sensitive_marker(value.value):
                    _log.info(
                        "tenant %s: %s %s in %s is part of a value kept for more environments; "
                        "left for a person to split",
                        tenant_id,
                        value.owner,
                        value.template,
                        value.environment,
                    )
                continue
            group = new.setdefault(
                (owner_id, template_id, value.entry),
                {
                    owner_field: owner_id,
                    "TemplateId": template_id,
                    "Value": self._tenant_value(value.value, None),
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

    def _permissions(self, change: Change, after: JsonDict) -> None:
        team_id = self.ids.get("teams", change.key.name)
        gone = [v.before for v in change.values if v.action == "remove" and v.before]
        if gone:
            wanted = [_key(role) for role in gone]
            for raw_role in self.client.list_all(self.path("teams", team_id, "scopeduserroles")):
                normal = normalize_document(
                    "team-permissions", {"ScopedUserRoles": [raw_role]}, self.ids.by_id
                )["ScopedUserRoles"][0]
                if _key(normal) in wanted:
                    wanted.remove(_key(normal))
                    self.client.delete(self.path("scopeduserroles", str(raw_role["Id"])))
        before = {_key(r) for r in (change.before or {}).get("ScopedUserRoles") or []}
        for role in after.get("ScopedUserRoles") or []:
            if _key(role) in before:
                continue
            translated = self.to_ids("team-permissions", {"ScopedUserRoles": [role]}, None)
            body = {**translated["ScopedUserRoles"][0], "TeamId": team_id, "SpaceId": self.space}
            self.client.post(self.path("scopeduserroles"), body)
        self._done(Applied("updated" if change.before else "created", change.key))


def _wave(
    pool: ThreadPoolExecutor, pusher: _Pusher, wave: list[Write]
) -> tuple[dict[int, list[Applied]], list[tuple[int, str]]]:
    """Run one wave's writes together. After a failure no write of it still waiting
    starts; the ones running finish. Returns what each completed write applied, by its
    index in the wave, and the failures (index, error)."""
    stop = threading.Event()

    def make(write: Write) -> list[Applied]:
        if stop.is_set():  # a write of this wave failed: no new write starts
            raise CancelledError
        try:
            return pusher.apply(write)
        except (OctopusApiError, PushError):
            stop.set()
            raise

    futures = {pool.submit(make, write): index for index, write in enumerate(wave)}
    applied: dict[int, list[Applied]] = {}
    failures: list[tuple[int, str]] = []
    for future in as_completed(futures):
        index = futures[future]
        try:
            applied[index] = future.result()
        except CancelledError:
            continue
        except (OctopusApiError, PushError) as error:
            failures.append((index, str(error)))
            for waiting in futures:
                waiting.cancel()  # only writes that have not started are cancelled
    return applied, failures


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


def _identity(value: JsonDict) -> tuple[str, str, str, str]:
    """What makes a variable value the same value: name (any case), type, value and scope."""
    return (
        str(value.get("Name", "")).lower(),
        str(value.get("Type") or "String"),
        json.dumps(value.get("Value"), sort_keys=True),
        json.dumps(value.get("Scope") or {}, sort_keys=True),
    )


def _key(role: JsonDict) -> str:
    return json.dumps(role, sort_keys=True)


WRITTEN_VALUES = ("add", "overwrite", "update-scope", "update-meta")


def _sent(raw: Any, normal: Any, document: Any) -> Any:
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
            result[key] = _sent(raw.get(key), shown.get(key) if shown is not None else None, value)
        return result
    if isinstance(document, list) and isinstance(raw, list):
        raws = _by_name(raw)
        normals = _by_name(normal if isinstance(normal, list) else [])
        sent = []
        for item in document:
            name = _name_of(item)
            sent.append(
                copy_json(item) if name is None else _sent(raws.get(name), normals.get(name), item)
            )
        return sent
    return copy_json(document)


def _name_of(item: Any) -> str | None:
    if isinstance(item, dict) and isinstance(item.get("Name"), str):
        return str(item["Name"]).lower()
    return None


def _by_name(items: list[Any]) -> dict[str, Any]:
    return {name: item for item in items if (name := _name_of(item)) is not None}


def push(
    plan: Plan,
    client: OctopusClient,
    space_id: str,
    raw: Raw,
    overlay: Overlay,
    progress: Callable[[int, int], None] | None = None,
    written: Callable[[ResourceKey], None] | None = None,
    concurrency: int = 1,
    landed: Callable[[ResourceKey], None] | None = None,
) -> PushResult:
    """Apply `plan`'s writes, wave by wave (`schedule.waves`), `concurrency` at a time.

    On the first failure no new write starts; those in flight finish, and what was written
    is exactly what is reported. `written(key)` is called as soon as every write of a
    resource has been made, so the caller can record it there and then: what was written is
    known even if the run is killed before it ends. `landed(key)` is called (on the thread
    that made it) as soon as the server has created `key`."""
    if plan.errors:
        raise PushError("the plan has errors; nothing was written")
    started = time.monotonic()
    result = PushResult()
    aliases = {
        (c.key.kind, c.key.name): c.live_key.name for c in plan.changes if c.live_key is not None
    }
    pusher = _Pusher(client, space_id, Ids(raw, aliases), overlay, raw, result, landed=landed)
    scheduled = schedule.writes(plan)
    remaining = Counter(write.change.key for write in scheduled)
    done = 0
    with ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="write") as pool:
        for wave in schedule.waves(scheduled):
            applied, failures = _wave(pool, pusher, wave)
            for index, write in enumerate(wave):  # in plan order, whatever finished first
                if index not in applied:
                    continue
                result.applied += applied[index]
                done += 1
                remaining[write.change.key] -= 1
                if written is not None and remaining[write.change.key] == 0:
                    written(write.change.key)
                if progress is not None:
                    progress(done, len(scheduled))
            if failures:
                index, error = min(failures)
                result.failed = f"{wave[index].change.key}: {error}"
                _log.info("push stopped at %s: %s", wave[index].change.key, error)
                break
    result.seconds = time.monotonic() - started
    return result
