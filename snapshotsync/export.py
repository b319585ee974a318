"""Stage 1: read an Octopus instance: every collection and the documents hanging off them.

`read` is used twice: by `export` for the source, and by `plan` for the destination, so both
sides go through the same normalizing (`normalize.py`). Reading is two rounds of concurrent
GETs (bounded by `concurrency`): first every collection (paged), then the documents that
hang off them (deployment and runbook processes, variable sets, tenant variables). Nothing
is read twice.

`read_normalized` normalizes while it reads: once the collections are in, each document is
handed to `normalize.Normalizing` as it arrives, in this thread, while the remaining GETs
are in flight; the CPU work hides in the time spent waiting for the server. Processes are
asked for first: most other documents name their steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed, wait
from typing import Any

from snapshotsync.log import get_logger
from snapshotsync.model import Raw
from snapshotsync.normalize import Normalized, Normalizing, OnKeys, OnResource
from snapshotsync.octopus.client import OctopusClient
from snapshotsync.octopus.kinds import is_version_controlled
from snapshotsync.octopus.routes import api_path

_log = get_logger("export")

# API collection (under /api/{space}/) -> the key the raw data is kept under.
SPACE_COLLECTIONS = (
    "environments",
    "projectgroups",
    "tagsets",
    "feeds",
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
) -> Raw:
    """Read every collection and sub-document of a space, `concurrency` calls at a time."""
    return _read(client, space_id, concurrency, progress, None)


def read_normalized(
    client: OctopusClient,
    space_id: str,
    *,
    concurrency: int = 8,
    progress: Progress | None = None,
    on_resource: OnResource | None = None,
    on_keys: OnKeys | None = None,
) -> tuple[Raw, Normalized]:
    """`read`, and `normalize.normalize` of what was read, done while reading.

    `on_resource` hears each document as it is normalized, `on_keys` which are to come
    (see `Normalizing`).
    """
    started: list[Normalizing] = []

    def start(raw: Raw) -> Callable[[str, Any], None]:
        started.append(Normalizing(raw, space_id, on_resource, on_keys))
        return started[0].add

    raw = _read(client, space_id, concurrency, progress, start)
    return raw, started[0].finish(raw)


# Given the collections read, what takes each document as it arrives.
Start = Callable[[Raw], Callable[[str, Any], None]]


def _read(
    client: OctopusClient,
    space_id: str,
    concurrency: int,
    progress: Progress | None,
    start: Start | None,
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
        listed = _run_all(
            pool, {name: (client.list_all, path) for name, path in lists.items()}, counter
        )
        raw.collections = {name: list(items) for name, items in listed.items()}
        paths = list(_document_paths(raw, space_id))
        counter.known(len(paths))
        first = sorted(paths, key=lambda path: not _is_process(path))
        # The documents are asked for before `start`: it normalizes (and export writes)
        # every resource the collections hold, a second of work on a large space that
        # their reading hides.
        read = _run_all(
            pool,
            {path: (client.get, path) for path in first},
            counter,
            (lambda: start(raw)) if start is not None else None,
        )
        raw.documents = {path: read[path] for path in paths}
    return raw


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
    for runbook in raw.items("runbooks"):
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
