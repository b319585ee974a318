"""Stage 1: read an Octopus instance: every collection and the documents hanging off them.

`read` is used twice: by `export` for the source, and by `plan` for the destination, so both
sides go through the same normalizing (`normalize.py`). Reading is two rounds of concurrent
GETs (bounded by `concurrency`): first every collection (paged), then the documents that
hang off them (deployment and runbook processes, variable sets, tenant variables). Nothing
is read twice.

The documents are read in bulk (`octopus/bulk.py`): processes and variable sets through the
space's id-filtered lists, about fifty a request, and the legacy tenant variables of every
tenant through `/tenantvariables/all`; scoped tenant variables have no bulk form (two GETs a
tenant). Whatever a bulk reply does not give (a server that ignores `ids`, a document missing
from the reply, a server without the route) is read one document at a time, as before; the
documents are the same either way, and so is the snapshot.

`read_normalized` normalizes while it reads: once the collections are in, each document is
handed to `normalize.Normalizing` as it arrives, in this thread, while the remaining GETs
are in flight; the CPU work hides in the time spent waiting for the server. Processes are
asked for first: most other documents name their steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from snapshotsync.errors import OctopusApiError
from snapshotsync.log import get_logger
from snapshotsync.model import Raw
from snapshotsync.normalize import Normalized, Normalizing, OnKeys, OnResource
from snapshotsync.octopus import bulk as bulk_reads
from snapshotsync.octopus.client import OctopusClient
from snapshotsync.octopus.kinds import is_version_controlled, runbooks_in_git
from snapshotsync.octopus.routes import api_path

_log = get_logger("export")

# API collection (under /api/{space}/) -> the key the raw data is kept under.
SPACE_COLLECTIONS = (
    "environments",
    "projectgroups",
    "tagsets",
    "feeds",
    "git-credentials",
    "teams",
    "machinepolicies",
    "workerpools",
    "accounts",
    "actiontemplates",
    "libraryvariablesets",
    "lifecycles",
    "certificates",
    "tenants",
    "projects",
    "channels",
    "runbooks",
    "projecttriggers",
    "scopeduserroles",
    "machines",
    "workers",
)
GLOBAL_COLLECTIONS = ("userroles",)
# Collections with several items a project, read whole at `/all` (one request, a plain array,
# "Lists all of the channels in the supplied Octopus Deploy Space": OctopusDeploy/docs
# `src/pages/docs/api/_generated/channels.md`, `runbooks.md`, `tenants.md`).
ALL_AT_ONCE = ("channels", "runbooks", "tenants")
# With this toggle on, tenant variables are scoped values on their own routes and the legacy
# document can no longer be written (OctopusDeploy/cli#489; the Octopus CLI and the Terraform
# provider choose the API by it, not by the server's version).
SCOPED_TENANT_VARIABLES = "CommonVariableScopingFeatureToggle"

Progress = Callable[[int, int], None]  # (documents read so far, documents known so far)


def read(
    client: OctopusClient,
    space_id: str,
    *,
    concurrency: int = 8,
    progress: Progress | None = None,
    bulk: bool = True,
) -> Raw:
    """Read every collection and sub-document of a space, `concurrency` calls at a time
    (`bulk=False`: one GET per document)."""
    return _read(client, space_id, concurrency, progress, None, bulk)


def read_normalized(
    client: OctopusClient,
    space_id: str,
    *,
    concurrency: int = 8,
    progress: Progress | None = None,
    on_resource: OnResource | None = None,
    on_keys: OnKeys | None = None,
    bulk: bool = True,
) -> tuple[Raw, Normalized]:
    """`read`, and `normalize.normalize` of what was read, done while reading.

    `on_resource` hears each document as it is normalized, `on_keys` which are to come
    (see `Normalizing`).
    """
    started: list[Normalizing] = []

    def start(raw: Raw) -> Callable[[str, Any], None]:
        started.append(Normalizing(raw, space_id, on_resource, on_keys))
        return started[0].add

    raw = _read(client, space_id, concurrency, progress, start, bulk)
    return raw, started[0].finish(raw)


# Given the collections read, what takes each document as it arrives.
Start = Callable[[Raw], Callable[[str, Any], None]]


def _read(
    client: OctopusClient,
    space_id: str,
    concurrency: int,
    progress: Progress | None,
    start: Start | None,
    bulk: bool = True,
) -> Raw:
    raw = Raw(
        version=client.server_version(),
        scoped_tenant_variables=client.feature_enabled(SCOPED_TENANT_VARIABLES),
    )
    counter = _Counter(progress)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="read") as pool:
        lists = {name: api_path(space_id, name) for name in SPACE_COLLECTIONS}
        lists.update({name: f"api/{name}" for name in GLOBAL_COLLECTIONS})
        counter.known(len(lists))
        calls: dict[str, tuple[Callable[[str], Any], str]] = {
            name: (client.list_all, path) for name, path in lists.items()
        }
        if bulk:
            calls.update({name: (partial(_all, client), lists[name]) for name in ALL_AT_ONCE})
        listed = _run_all(pool, calls, counter)
        raw.collections = {name: list(items) for name, items in listed.items()}
        paths = list(_document_paths(raw, space_id))
        counter.known(len(paths))
        # The documents are asked for before `start`: it normalizes (and export writes)
        # every resource the collections hold, a second of work on a large space that
        # their reading hides.
        taker = (lambda: start(raw)) if start is not None else None
        if bulk:
            read = _read_documents(pool, client, _bulk_reads(raw, space_id), counter, taker)
            # Two paths naming one document id would share a bulk entry: read the other.
            read.update({path: client.get(path) for path in paths if path not in read})
        else:
            first = sorted(paths, key=lambda path: not _is_process(path))
            read = _run_all(pool, {path: (client.get, path) for path in first}, counter, taker)
        raw.documents = {path: read[path] for path in paths}
    return raw


@dataclass
class _Bulk:
    """Documents read through one bulk route: `route` (an id-filtered list; `paged` if it
    answers the collection envelope) gives the document at each path, by id."""

    route: str
    paged: bool
    paths: dict[str, str] = field(default_factory=dict)  # id -> the document's own path

    def add(self, resource_id: Any, path: str) -> None:
        self.paths[str(resource_id)] = path


@dataclass
class _Reads:
    """What round two reads: the bulk groups (processes first), the legacy tenant
    variables (tenant id -> path, read through `/tenantvariables/all`) and single paths."""

    groups: list[_Bulk]
    tenant_variables: dict[str, str]
    tenant_variables_route: str
    single: list[str]


def _bulk_reads(raw: Raw, space_id: str) -> _Reads:
    base = f"api/{space_id}"
    processes = _Bulk(f"{base}/deploymentprocesses", paged=True)
    runbook_processes = _Bulk(f"{base}/runbookProcesses", paged=True)
    variables = _Bulk(f"{base}/variables/all", paged=False)
    tenant_variables: dict[str, str] = {}
    single: list[str] = []
    for project in raw.items("projects"):
        if is_version_controlled(project):
            continue  # no space-wide list holds what lives in git
        processes.add(project["DeploymentProcessId"], _project_process(base, project))
        variables.add(project["VariableSetId"], f"{base}/variables/{project['VariableSetId']}")
    for runbook in raw.items("runbooks"):
        process_id = runbook["RunbookProcessId"]
        runbook_processes.add(process_id, f"{base}/runbookProcesses/{process_id}")
    for library_set in raw.items("libraryvariablesets"):
        set_id = library_set["VariableSetId"]
        variables.add(set_id, f"{base}/variables/{set_id}")
    for tenant in raw.items("tenants"):
        tenant_base = f"{base}/tenants/{tenant['Id']}"
        if raw.scoped_tenant_variables:
            single += [f"{tenant_base}/projectvariables", f"{tenant_base}/commonvariables"]
        else:
            tenant_variables[str(tenant["Id"])] = f"{tenant_base}/variables"
    groups = [processes, runbook_processes, variables]
    return _Reads(groups, tenant_variables, f"{base}/tenantvariables/all", single)


def _all(client: OctopusClient, path: str) -> list[Any]:
    """A collection at its `/all` route, or paged where the server has no such route."""
    try:
        items = client.get(f"{path}/all")
    except OctopusApiError as error:
        if error.status not in (404, 405):
            raise
        return client.list_all(path)
    if not isinstance(items, list):
        raise OctopusApiError("GET", f"{path}/all", 200, "expected a list")
    return items


def _project_process(base: str, project: dict[str, Any]) -> str:
    return f"{base}/projects/{project['Id']}/deploymentprocesses"


# What one call of round two gave: documents by path, and the paths still to read one by one.
_Got = tuple[dict[str, Any], list[str]]
# A bulk reply that cannot be used is read document by document: the route is missing on
# this server (404, 405) or the request line was refused on the way (414).
_NO_BULK = frozenset({404, 405, 414})


def _read_documents(
    pool: ThreadPoolExecutor,
    client: OctopusClient,
    reads: _Reads,
    counter: _Counter,
    taker: Callable[[], Callable[[str, Any], None]] | None,
) -> dict[str, Any]:
    """Round two, in bulk: every chunk asked for at once (processes first); what a reply
    does not give is asked for again, one document a call, as soon as that is known. Like
    `_run_all`: `taker` takes each document as it comes, the first failure cancels the
    calls not started and is raised once the running ones are done."""
    ignored: set[str] = set()  # routes whose server ignores `ids`: the rest go one by one

    def chunk(group: _Bulk, ids: list[str]) -> _Got:
        paths = [group.paths[i] for i in ids]
        if group.route in ignored:
            return {}, paths
        try:
            found = bulk_reads.read_chunk(client, group.route, ids, paged=group.paged)
        except OctopusApiError as error:
            if error.status not in _NO_BULK:
                raise
            _log.info("GET %s: %s; reading one by one", group.route, error)
            found = None
        if found is None:
            ignored.add(group.route)
            return {}, paths
        got = {group.paths[i]: doc for i, doc in found.items()}
        return got, [path for path in paths if path not in got]

    def tenants() -> _Got:
        wanted = reads.tenant_variables
        try:
            answer = client.get(reads.tenant_variables_route)
        except OctopusApiError as error:
            if error.status not in _NO_BULK:
                raise
            return {}, list(wanted.values())
        if not isinstance(answer, list):
            raise OctopusApiError("GET", reads.tenant_variables_route, 200, "expected a list")
        # Tenants created since the list was read are not asked for; any not in the
        # answer are read one by one.
        by_tenant = {
            str(doc.get("TenantId")).lower(): doc for doc in answer if isinstance(doc, dict)
        }
        got = {path: by_tenant[t.lower()] for t, path in wanted.items() if t.lower() in by_tenant}
        return got, [path for path in wanted.values() if path not in got]

    def one(path: str) -> _Got:
        return {path: client.get(path)}, []

    futures: set[Future[_Got]] = set()
    for group in reads.groups:
        ids = list(group.paths)
        for part in bulk_reads.chunks(client, group.route, ids, paged=group.paged):
            futures.add(pool.submit(chunk, group, part))
    if reads.tenant_variables:
        futures.add(pool.submit(tenants))
    futures.update(pool.submit(one, path) for path in reads.single)
    results: dict[str, Any] = {}
    try:
        take = taker() if taker is not None else None
        while futures:
            done, futures = wait(futures, return_when=FIRST_COMPLETED)
            for future in done:
                got, rest = future.result()
                futures.update(pool.submit(one, path) for path in rest)
                for path, document in got.items():
                    results[path] = document
                    counter.one_done()
                    if take is not None:
                        take(path, document)
    except BaseException:
        for future in futures:
            future.cancel()
        wait(futures)  # let running calls finish before the pool is shut down
        raise
    return results


class _Counter:
    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.total = 0
        self.done = 0

    def known(self, more: int) -> None:
        self.total += more
        self.report()

    def one_done(self) -> None:
        self.done += 1
        self.report()

    def report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total)


def _run_all(
    pool: ThreadPoolExecutor,
    calls: dict[str, tuple[Callable[[str], Any], str]],
    counter: _Counter,
    taker: Callable[[], Callable[[str, Any], None]] | None = None,
) -> dict[str, Any]:
    """Run the calls concurrently; once they are all asked for, `taker` (in this thread)
    gives what takes each result as it comes. The first failure cancels the calls not
    started and is raised once the running ones are done."""
    futures: dict[Future[Any], str] = {
        pool.submit(fn, arg): key for key, (fn, arg) in calls.items()
    }
    for future in futures:
        future.add_done_callback(lambda _: counter.one_done())
    results: dict[str, Any] = {}
    try:
        take = taker() if taker is not None else None
        for future in as_completed(futures):
            key = futures[future]
            results[key] = future.result()
            if take is not None:
                take(key, results[key])
    except BaseException:
        for future in futures:
            future.cancel()
        wait(futures)  # let running calls finish before the pool is shut down
        raise
    return {key: results[key] for key in calls}


def _is_process(path: str) -> bool:
    return path.endswith("/deploymentprocesses") or "/runbookProcesses/" in path


def _document_paths(raw: Raw, space_id: str) -> Iterable[str]:
    # `normalize._units` names the same documents by the same paths.
    for project in raw.items("projects"):
        if is_version_controlled(project):
            continue  # its process and variables live in git, not in the database
        yield api_path(space_id, "projects", project["Id"], "deploymentprocesses")
        yield api_path(space_id, "variables", project["VariableSetId"])
    in_git = {p["Id"] for p in raw.items("projects") if runbooks_in_git(p)}
    for runbook in raw.items("runbooks"):
        if runbook.get("ProjectId") not in in_git:  # read through git routes, left out
            yield api_path(space_id, "runbookProcesses", runbook["RunbookProcessId"])
    for library_set in raw.items("libraryvariablesets"):
        yield api_path(space_id, "variables", library_set["VariableSetId"])
    for tenant in raw.items("tenants"):
        if raw.scoped_tenant_variables:
            yield api_path(space_id, "tenants", tenant["Id"], "projectvariables")
            yield api_path(space_id, "tenants", tenant["Id"], "commonvariables")
        else:
            yield api_path(space_id, "tenants", tenant["Id"], "variables")


__all__ = ["Progress", "Raw", "read", "read_normalized"]
