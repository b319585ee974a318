"""Stage 1: read an Octopus instance: every collection and the documents hanging off them.

`read` is used twice: by `export` for the source, and by `plan` for the destination, so both
sides go through the same normalizing (`normalize.py`). Reading is two rounds of concurrent
GETs (bounded by `concurrency`): first every collection (paged), then the documents that
hang off them (deployment and runbook processes, variable sets, tenant variables). Nothing
is read twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any

from snapshotsync.log import get_logger
from snapshotsync.model import Raw
from snapshotsync.octopus.client import OctopusClient
from snapshotsync.octopus.kinds import is_version_controlled

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
    raw = Raw(
        version=client.server_version(),
        scoped_tenant_variables=client.feature_enabled(SCOPED_TENANT_VARIABLES),
    )
    counter = _Counter(progress)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="read") as pool:
        lists = {name: f"api/{space_id}/{name}" for name in SPACE_COLLECTIONS}
        lists.update({name: f"api/{name}" for name in GLOBAL_COLLECTIONS})
        counter.known(len(lists))
        listed = _run_all(
            pool, {name: (client.list_all, path) for name, path in lists.items()}, counter
        )
        raw.collections = {name: list(items) for name, items in listed.items()}
        paths = list(_document_paths(raw, space_id))
        counter.known(len(paths))
        raw.documents = _run_all(pool, {path: (client.get, path) for path in paths}, counter)
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
    pool: ThreadPoolExecutor, calls: dict[str, tuple[Callable[[str], Any], str]], counter: _Counter
) -> dict[str, Any]:
    """Run the calls concurrently; the first failure cancels the rest and is raised."""
    futures: dict[Future[Any], str] = {
        pool.submit(fn, arg): key for key, (fn, arg) in calls.items()
    }
    for future in futures:
        future.add_done_callback(lambda _: counter.one_done())
    done, pending = wait(futures, return_when=FIRST_EXCEPTION)
    for future in pending:
        future.cancel()
    for future in done:
        error = future.exception()
        if error is not None:
            wait(pending)  # let running calls finish before the pool is shut down
            raise error
    return {futures[future]: future.result() for future in futures}


def _document_paths(raw: Raw, space_id: str) -> Iterable[str]:
    base = f"api/{space_id}"
    for project in raw.items("projects"):
        if is_version_controlled(project):
            continue  # its process and variables live in git, not in the database
        yield f"{base}/projects/{project['Id']}/deploymentprocesses"
        yield f"{base}/variables/{project['VariableSetId']}"
    for runbook in raw.items("runbooks"):
        yield f"{base}/runbookProcesses/{runbook['RunbookProcessId']}"
    for library_set in raw.items("libraryvariablesets"):
        yield f"{base}/variables/{library_set['VariableSetId']}"
    for tenant in raw.items("tenants"):
        if raw.scoped_tenant_variables:
            yield f"{base}/tenants/{tenant['Id']}/projectvariables"
            yield f"{base}/tenants/{tenant['Id']}/commonvariables"
        else:
            yield f"{base}/tenants/{tenant['Id']}/variables"


__all__ = ["Progress", "Raw", "read"]
