"""`snapshotsync export`: read the source, rewrite `snapshot/`, commit if anything changed."""

from __future__ import annotations

from snapshotsync import export, layout, normalize, report
from snapshotsync.errors import ExitCode, OctopusApiError, UserError
from snapshotsync.log import get_logger
from snapshotsync.octopus.client import OctopusClient, RetryPolicy
from snapshotsync.settings import FORMAT_VERSION, Http, Instance, Settings, load_config
from snapshotsync.store import SNAPSHOT_DIR, Store

_log = get_logger("commands.export")


def explain(error: OctopusApiError, instance: Instance) -> UserError:
    """The same failure, with what the user can do about it."""
    if error.status == 401:
        return UserError(
            f"{instance.url} refused the API key in ${instance.api_key_env} "
            f"(HTTP 401): check that the key is valid and not expired"
        )
    if error.status == 403:
        return UserError(f"{instance.url}: the API key's user lacks a permission: {error}")
    if error.status is None:
        return UserError(f"cannot reach {instance.url}: {error.body_excerpt}")
    return error


def client_for(
    instance: Instance, key: str, http: Http, concurrency: int, max_rps: float | None = None
) -> OctopusClient:
    retry = RetryPolicy(attempts=http.retries + 1, base_delay=http.backoff)
    return OctopusClient(
        instance.url,
        key,
        concurrency=concurrency,
        timeout=http.timeout,
        retry=retry,
        max_rps=http.max_rps if max_rps is None else max_rps,
    )


def run(settings: Settings) -> ExitCode:
    config = load_config(settings.repo)
    store = Store(settings.repo)
    store.ensure_clean(SNAPSHOT_DIR)
    source = config.source
    key = source.api_key()
    with store.tree_writer(SNAPSHOT_DIR) as tree:
        try:
            with (
                client_for(
                    source, key, config.http, settings.concurrency, settings.max_rps
                ) as client,
                report.progress(f"export {source.url}") as tick,
            ):
                space_id = client.space_id(source.space)
                # Each document is normalized, turned into text and written to its file as
                # it arrives, while the rest is still being read.
                texts = layout.Texts(tree.write)
                raw, normalized = export.read_normalized(
                    client,
                    space_id,
                    concurrency=settings.concurrency,
                    progress=tick,
                    on_resource=texts.add,
                    on_keys=texts.expect,
                )
                calls = dict(client.stats.by_method)
                if client.throttle.waited:
                    _log.info(
                        "the rate limit held calls back %.2f s in all", client.throttle.waited
                    )
        except OctopusApiError as error:
            raise explain(error, source) from None
        meta = {"format_version": FORMAT_VERSION, "source": source.url, "space": source.space}
        snapshot, problems = normalize.snapshot_of(raw, normalized, meta)
        for problem in problems:
            report.line(f"note: {problem}")
        tree.finish(layout.render(snapshot, texts))
    count = len(snapshot.resources)
    version = snapshot.meta["octopus_version"]
    staged = store.stage([SNAPSHOT_DIR])
    message = (
        f"export: {count} resources from {source.url} ({source.space}, Octopus {version}): "
        f"{staged}\n\n"
        f"Snapshotsync-Event: export\nSource: {source.url}\nSpace: {source.space}\n"
        f"Octopus-Version: {version}\nResources: {count}\nAdded: {staged.added}\n"
        f"Changed: {staged.changed}\nRemoved: {staged.removed}"
    )
    committed = store.commit([SNAPSHOT_DIR], message, staged)
    _log.info("export read %d resources with %s", count, calls)
    if committed is None:
        report.line(f"export: {count} resources, no changes since the last export (no commit)")
    else:
        sha, changes = committed
        report.line(f"export: {count} resources, {changes} files, committed {sha[:10]}")
    return ExitCode.OK
