"""Stage 4: execute a `Plan` on the destination: an executor, with no rule of its own.

Writes go in the order `schedule.writes` gives (the guide's "Syncing order", with fields
that name what is written later held back for a second write), wave by wave. For each
write the push reads the destination's current copy where there is one, has `bodies.py`
(the pure names-to-ids stage) turn the plan's document into the body, and sends it: one PUT
a document (process, variable set, tenant variables). `Ids` knows everything the
destination held when it was read and learns every id created on the way. A stale
`Version` is answered by re-reading that document, building its body again and trying once
more. The first failed write stops the push: the order of writes matters, and a re-run
(which plans again) finishes the job without duplicates.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import CancelledError, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from snapshotsync import schedule
from snapshotsync.bodies import PROJECT_CHILDREN, Bodies, Ids
from snapshotsync.changes import ENVIRONMENT_ORDER, Change, Plan
from snapshotsync.errors import OctopusApiError, PushError
from snapshotsync.log import get_logger
from snapshotsync.merge import PLACEHOLDER_NOTE
from snapshotsync.model import JsonDict, Raw, ResourceKey
from snapshotsync.octopus.client import OctopusClient
from snapshotsync.octopus.kinds import RUNBOOK_PUBLISH
from snapshotsync.octopus.routes import api_path, segment
from snapshotsync.overlay import Overlay
from snapshotsync.schedule import Write

__all__ = ["PLACEHOLDER_NOTE", "Applied", "PushError", "PushResult", "push"]

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
PROJECT_SCOPED = PROJECT_CHILDREN | {
    "projects",
    "deployment-processes",
    "runbook-processes",
    "project-variables",
}
STALE_WORDS = ("another user", "modified", "out of date", "version")


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


@dataclass
class _Pusher:
    client: OctopusClient
    space: str
    ids: Ids
    bodies: Bodies
    result: PushResult
    scoped_tenant_variables: bool
    landed: Callable[[ResourceKey], None] | None = None  # a creation the server made

    def path(self, *parts: str) -> str:
        """A path under the space; every part (an id, from a reply) one escaped segment."""
        return api_path(self.space, *parts)

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

    def known(self, collection: str, resource_id: str) -> JsonDict:
        """A destination document already read or returned by a write (GET only if not)."""
        with self.ids.lock:
            found = self.ids.docs.get(resource_id)
        if found is None:
            found = dict(self.client.get(self.path(collection, resource_id)))
            with self.ids.lock:
                self.ids.docs.setdefault(resource_id, found)
        return found

    # ------------------------------------------------------------------ writes

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
        if write.part == "delete":
            self._delete(change)
            return
        if kind in ("deployment-processes", "runbook-processes"):
            self._process(change, write.document)
        elif kind in ("project-variables", "library-variables"):
            self._variables(change, write.document)
        elif kind == "tenant-variables":
            self._tenant_variables(change, write.document)
        elif kind == "team-permissions":
            self._permissions(change)
        elif kind == "script-modules":
            self._script_module(change, write.document)
        elif change.key == ENVIRONMENT_ORDER:
            self.client.put(
                self.path("environments", "sortorder"),
                self.bodies.environment_order(write.document),
            )
            self._done(Applied("updated", change.key))
        elif kind == RUNBOOK_PUBLISH:
            self._publish_runbook(change)
        else:
            self._resource(change, kind, write.document)

    def _resource(self, change: Change, kind: str, after: JsonDict) -> None:
        # The project whose channels, runbooks and actions this document's names mean: its
        # own for a project (release creation channel, donor package step, provisioning
        # runbooks) and for everything inside one.
        project = change.key.name[0] if kind in PROJECT_SCOPED else None
        collection = COLLECTION.get(kind)
        base_path = "api/userroles" if kind == "user-roles" else self.path(collection or kind)
        existing_id = self.ids.find(kind, (change.live_key or change.key).name)
        base = self.ids.docs.get(existing_id) if existing_id else None
        body = self.bodies.resource(kind, after, base, project, change.before)
        if existing_id is None:
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

    def _publish_runbook(self, change: Change) -> None:
        """A new snapshot of the runbook, published (the plan decided it should be), named
        as the UI names snapshots ("Snapshot" and a short random part: unique per project)."""
        project_id = self.ids.get("projects", (change.key.name[0],))
        runbook_id = self.ids.get("runbooks", change.key.name)
        name = f"Snapshot {uuid.uuid4().hex[:7].upper()}"
        snapshot = self.client.post(
            self.path("projects", project_id, "runbookSnapshots"),
            self.bodies.runbook_snapshot(project_id, runbook_id, name),
        )
        with self.ids.lock:
            runbook = self.ids.docs.get(runbook_id)
            if runbook is not None:
                runbook["PublishedRunbookSnapshotId"] = snapshot.get("Id")
        self._done(Applied("created", change.key, "published"))

    def _process(self, change: Change, document: JsonDict) -> None:
        project = change.key.name[0]
        if change.key.kind == "deployment-processes":
            path = self.path(
                "projects", self.ids.get("projects", (project,)), "deploymentprocesses"
            )
        else:
            runbook = self.known("runbooks", self.ids.get("runbooks", change.key.name))
            path = self.path("runbookProcesses", str(runbook["RunbookProcessId"]))
        saved = self.put_versioned(path, functools.partial(self.bodies.process, change, document))
        self.ids.learn_actions(saved, project)
        self._done(Applied("updated" if change.before else "created", change.key))

    def _variables(self, change: Change, document: JsonDict) -> None:
        if change.key.kind == "project-variables":
            owner = self.known("projects", self.ids.get("projects", change.key.name))
        else:
            owner = self.known("libraryvariablesets", self.ids.get("library-sets", change.key.name))
        path = self.path("variables", str(owner["VariableSetId"]))
        self.put_versioned(path, functools.partial(self.bodies.variable_set, change, document))
        self._done(Applied("updated" if change.before else "created", change.key))

    def _script_module(self, change: Change, after: JsonDict) -> None:
        existing_id = self.ids.find("library-sets", (after["Name"],))
        body = self.bodies.script_module(after, self.ids.docs[existing_id] if existing_id else None)
        if existing_id:
            saved = self.client.put(self.path("libraryvariablesets", existing_id), body)
        else:
            saved = self.client.post(self.path("libraryvariablesets"), body)
        self.ids.learn("libraryvariablesets", saved)
        self.put_versioned(
            self.path("variables", str(saved["VariableSetId"])),
            functools.partial(self.bodies.script_module_values, after),
        )
        self._done(Applied("created" if not existing_id else "updated", change.key))

    def _tenant_variables(self, change: Change, document: JsonDict) -> None:
        """The values the plan sets or takes out, in the destination's shape: the scoped
        documents (one PUT each) or the legacy one. Re-read and re-applied once when the
        write is refused as out of date ("Modification failed for 'TenantVariable' document
        ... submitted data was out of date", OctopusDeployLabs/terraform-provider-
        octopusdeploy#907)."""
        tenant_id = self.ids.get("tenants", change.key.name)
        values, gone = self.bodies.tenant_values(change, document)
        for collection, owner_id in sorted(self.bodies.tenant_owners([*values, *gone])):
            self.known(collection, owner_id)  # its templates name what the body sets
        if self.scoped_tenant_variables:
            for kind, route, owner_field in (
                ("ProjectVariables", "projectvariables", "ProjectId"),
                ("CommonVariables", "commonvariables", "LibraryVariableSetId"),
            ):
                part = [v for v in values if v.kind == kind]
                removed = [v for v in gone if v.kind == kind]
                if part or removed:
                    self.put_versioned(
                        self.path("tenants", tenant_id, route),
                        functools.partial(
                            self.bodies.tenant_scoped,
                            kind=kind,
                            owner_field=owner_field,
                            values=part,
                            removed=removed,
                            tenant_id=tenant_id,
                        ),
                    )
        elif values or gone:
            self.put_versioned(
                self.path("tenants", tenant_id, "variables"),
                functools.partial(self.bodies.tenant_legacy, values=values, removed=gone),
            )
        self._done(Applied("updated", change.key))

    def _permissions(self, change: Change) -> None:
        team_id = self.ids.get("teams", change.key.name)
        if any(v.action == "remove" for v in change.values):
            current = self.client.list_all(self.path("teams", team_id, "scopeduserroles"))
            for role_id in self.bodies.roles_removed(change, list(current)):
                self.client.delete(self.path("scopeduserroles", role_id))
        for body in self.bodies.roles_added(change, team_id):
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
    ids = Ids(raw, aliases)
    bodies = Bodies(ids, space_id, overlay.variables.sensitive_placeholder)
    pusher = _Pusher(
        client, space_id, ids, bodies, result, raw.scoped_tenant_variables, landed=landed
    )
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
