"""`snapshotsync export`: read the source, rewrite `snapshot/`, commit if anything changed."""

from __future__ import annotations

from snapshotsync import export, layout, normalize, report, yamlio
from snapshotsync.commands import recover
from snapshotsync.errors import ExitCode, OctopusApiError, UserError
from snapshotsync.log import get_logger
from snapshotsync.octopus.client import OctopusClient, RetryPolicy
from snapshotsync.settings import FORMAT_VERSION, Config, Http, Instance, Settings, load_config
from snapshotsync.store import SNAPSHOT_DIR, Store

_log = get_logger("commands.export")

# The source's own ids of what snapshot/ holds, kept outside the documents people review:
# how a rename on the source is recognised as one (never guessed from similar content).
INDEX_DIR = "index"
INDEX_NAME = "source-ids.yaml"
INDEX_FILE = f"{INDEX_DIR}/{INDEX_NAME}"
INDEX_NOTE = (
    "# The source's ids of what snapshot/ holds, by kind (rewritten by every export).\n"
    "# snapshotsync reads it to recognise a rename on the source; it is not for review.\n"
)


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
    with store.lock("export", exclusive=True):
        store.ensure_index_unlocked()
        recover.interrupted_writes(store)
        store.ensure_clean(SNAPSHOT_DIR)
        return _export(settings, config, store)


def _export(settings: Settings, config: Config, store: Store) -> ExitCode:
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
                # Each document is normalized, turned into text and written to its file (in
                # the scratch tree) as it arrives, while the rest is still being read.
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
        files = layout.render(snapshot, texts)
        index = INDEX_NOTE + yamlio.dumps(normalize.source_index(normalized))
        # Announced first: a run killed before its commit is recovered by the next one.
        store.begin_write(recover.EXPORT, SNAPSHOT_DIR, files)
        store.begin_write(
            recover.EXPORT_INDEX,
            INDEX_DIR,
            {INDEX_NAME: index},
            "export: the index of source ids\n\nSnapshotsync-Event: export-index",
        )
        tree.finish(files)
    store.write_tree(INDEX_DIR, {INDEX_NAME: index})
    count = len(snapshot.resources)
    version = snapshot.meta["octopus_version"]
    staged = store.stage([SNAPSHOT_DIR])  # what the message counts: the snapshot's files
    index_staged = store.stage([INDEX_DIR])
    message = recover.export_message(count, source.url, source.space, version, staged)
    committed = store.commit(
        [SNAPSHOT_DIR, INDEX_DIR], message, staged if not staged.empty else index_staged
    )
    store.end_write(recover.EXPORT)
    store.end_write(recover.EXPORT_INDEX)
    _log.info("export read %d resources with %s", count, calls)
    if committed is None:
        report.line(f"export: {count} resources, no changes since the last export (no commit)")
    else:
        sha, changes = committed
        report.line(f"export: {count} resources, {changes} files, committed {sha[:10]}")
        note_detached(store, sha)
    return ExitCode.OK


def note_detached(store: Store, sha: str) -> None:
    """A commit on a detached HEAD is kept only by a branch or a push: say so."""
    if store.detached():
        report.line(
            f"note: HEAD is detached, so commit {sha[:10]} is on no branch: keep it with "
            f"`git -C {store.path} switch -c <branch>` or `git push origin HEAD:<branch>`"
        )
