"""`snapshotsync plan --target T`: what a push would change, without changing anything.

Order matters for trust: the config and the overlay are validated against the snapshot
(and the last recorded destination state) before any request is made; only then is the
destination read, into the same normal form as an export, and compared.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snapshotsync import (
    changes,
    export,
    identity,
    layout,
    normalize,
    overlay,
    records,
    report,
    threeway,
    transform,
    yamlio,
)
from snapshotsync.aside import aside
from snapshotsync.changes import Plan
from snapshotsync.commands.export import INDEX_FILE, client_for, explain
from snapshotsync.errors import ExitCode, OctopusApiError, UserError
from snapshotsync.layout import LayoutError
from snapshotsync.log import get_logger, mask_secrets, redact
from snapshotsync.model import JsonDict, Raw, ResourceKey, Snapshot, lowered
from snapshotsync.octopus.client import OctopusClient
from snapshotsync.plan import make_plan
from snapshotsync.settings import Config, Settings, Target, load_config
from snapshotsync.store import SNAPSHOT_DIR, Store
from snapshotsync.threeway import Drift
from snapshotsync.transform import Clash, Decision
from snapshotsync.versions import version_skew

_log = get_logger("commands.plan")


def state_dir(target: str) -> str:
    return f"targets/{target}/state"


def base_dir(target: str) -> str:
    """What snapshotsync placed on the destination, as of the last push (`threeway.py`)."""
    return f"targets/{target}/base"


@dataclass(frozen=True)
class Inputs:
    """Everything a plan is made from, validated, before any instance is contacted."""

    config: Config
    target: Target
    store: Store
    snapshot: Snapshot
    overlay: overlay.Overlay
    warnings: tuple[str, ...]
    base: Snapshot | None = None  # None: no push recorded one yet
    # What the source renamed since the snapshot of the last push (`normalize.renames`).
    renames: Mapping[str, Mapping[tuple[str, ...], tuple[str, ...]]] = dataclasses.field(
        default_factory=dict
    )
    last_state: Snapshot | None = None  # `state/`: the destination as the last push read it


@contextmanager
def repo_lock(settings: Settings, command: str, *, exclusive: bool) -> Iterator[Store]:
    """The sync repo, held for the block: exclusively to write it, shared to read the
    working tree that export and push rewrite (see `snapshotsync.lock`)."""
    load_config(settings.repo)  # a missing or broken config is named before anything else
    store = Store(settings.repo)
    with store.lock(command, exclusive=exclusive):
        yield store


class EnvOrMasked(Mapping[str, str]):
    """The environment, for the read-only commands: a `${env:NAME}` that is not set reads as
    a stand-in (a secret like any value from the environment, so masked wherever it is
    printed), and its name is kept in `missing`, to say which values were not checked.
    Only `push` needs the real values."""

    def __init__(self) -> None:
        self.missing: list[str] = []

    def __getitem__(self, name: str) -> str:
        if name in os.environ:
            return os.environ[name]
        if name not in self.missing:
            self.missing.append(name)
        return f"<{name} not set>"

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(os.environ)

    def __len__(self) -> int:
        return len(os.environ)

    def warnings(self, overlay_path: Path) -> tuple[str, ...]:
        return tuple(
            f"{overlay_path}: ${{env:{name}}} is not set: the values that read it are masked "
            "and not checked (only push needs it)"
            for name in self.missing
        )


def load_inputs(settings: Settings, target_name: str, *, need_env: bool = False) -> Inputs:
    config = load_config(settings.repo)
    target = config.target(target_name)
    store = Store(settings.repo)
    records.check(store, target_name)  # a torn or hand-edited record is named with the fix
    base_files = store.read_tree(base_dir(target_name))
    indexes = _indexes(store, target_name) if base_files else None
    # What the last push recorded is parsed on another core while this one parses the
    # snapshot (`aside`).
    recorded = aside(lambda: (parse_base(base_files, target_name), _renames(indexes)))
    snapshot = layout.parse(store.read_tree(SNAPSHOT_DIR), str(settings.repo / SNAPSHOT_DIR))
    if not snapshot.resources:
        raise UserError(f"{settings.repo / SNAPSHOT_DIR} is empty: run `snapshotsync export` first")
    dirty = store.uncommitted(SNAPSHOT_DIR)
    if dirty:
        _log.warning(
            "%s/ has uncommitted changes (e.g. %s): they are planned, but push refuses them "
            "until they are committed",
            SNAPSHOT_DIR,
            dirty[0],
        )
    last = store.read_tree(state_dir(target_name))
    last_state = layout.parse(last, state_dir(target_name)) if last else None
    loaded, warnings = overlay.load(
        target.overlay,
        snapshot,
        last_state,
        past_names(store),
        source_identities(store, target.overlay),
    )
    environ: Mapping[str, str] = os.environ if need_env else EnvOrMasked()
    values = {
        name: overlay.expand_env(value, environ) for name, value in loaded.variables.values.items()
    }
    scoped = {
        name: tuple(
            dataclasses.replace(e, value=overlay.expand_env(e.value, environ)) for e in entries
        )
        for name, entries in loaded.variables.scoped_values.items()
    }
    if isinstance(environ, EnvOrMasked):
        warnings = [*warnings, *environ.warnings(target.overlay)]
    loaded = dataclasses.replace(
        loaded,
        variables=dataclasses.replace(loaded.variables, values=values, scoped_values=scoped),
    )
    base, renames = recorded()
    return Inputs(
        config, target, store, snapshot, loaded, tuple(warnings), base, renames, last_state
    )


def parse_base(files: Mapping[str, str], target_name: str) -> Snapshot | None:
    """`targets/<T>/base/` from its files (None before the first push), with the journal
    of a push that was killed before folding it (`commands.push.BaseRecord`) folded in."""
    if not files:
        return None
    files = dict(files)
    journal = files.pop("_journal.yaml", None)
    base = layout.parse(files, base_dir(target_name))
    if not journal:
        return base
    created = {tuple(item) for item in base.meta.get("created") or []}
    for event in yamlio.loads_fast(journal, f"{base_dir(target_name)}/_journal.yaml") or []:
        what, *key = (str(part) for part in event)
        if what == "created":
            created.add(tuple(key))
        else:
            created.discard(tuple(key))
    return Snapshot(base.resources, {**base.meta, "created": [list(k) for k in sorted(created)]})


Renames = dict[str, dict[tuple[str, ...], tuple[str, ...]]]


def source_identities(store: Store, overlay_path: Path) -> identity.History:
    """The source's ids over the repo's history, for what the overlay at `overlay_path`
    names (`identity.History`): the index each of its lines was written against is the one
    in the commit that last changed the line, or the first export after it."""

    def parse(text: str | None) -> identity.Index | None:
        return None if text is None else dict(yamlio.loads_fast(text, INDEX_FILE) or {})

    now = parse(store.read_file(INDEX_FILE)) or {}
    try:
        relative = overlay_path.resolve().relative_to(store.path.resolve()).as_posix()
    except ValueError:
        return identity.no_history(now)
    commits: list[str | None] | None = None
    by_commit: dict[str, identity.Index | None] = {}

    def written(line: int | None) -> identity.Index | None:
        nonlocal commits
        if commits is None:
            commits = store.line_commits(relative)
        if line is None or not 0 < line <= len(commits):
            return None
        commit = commits[line - 1]
        if commit is None:
            return now  # not committed yet: written against the source as it is
        if commit not in by_commit:
            text = store.show(commit, INDEX_FILE)
            if text is None:  # written before the first export: the first one after it
                later = store.versions(INDEX_FILE, since=commit)
                text = later[-1][1] if later else None
            by_commit[commit] = parse(text)
        return by_commit[commit]

    versions: list[identity.Index] | None = None

    def every_version() -> list[identity.Index]:
        nonlocal versions
        if versions is None:
            versions = [parse(text) or {} for _, text in store.versions(INDEX_FILE)]
        return versions

    return identity.History(now, written, every_version)


def _indexes(store: Store, target_name: str) -> tuple[str, str] | None:
    """The export's index of source ids as of the snapshot the last push used, and as it
    is now (None when either is missing)."""
    last_push = store.read_file(f"targets/{target_name}/last-push.yaml")
    if not last_push:
        return None
    commit = str((yamlio.loads_fast(last_push, "last-push.yaml") or {}).get("snapshot_commit"))
    if commit and not store.has_commit(commit):
        # Without it a rename on the source would read as a delete and a create: say so
        # rather than guess (a shallow clone is the default checkout of most CI systems).
        raise UserError(
            f"targets/{target_name}/last-push.yaml names snapshot commit {commit[:10]}, which "
            "is not in this clone (a shallow clone, or rewritten history): fetch the whole "
            "history (`git fetch --unshallow`; in CI, `fetch-depth: 0`) and run again; "
            "nothing was planned or written"
        )
    then = store.show(commit, INDEX_FILE) if commit else None
    now = store.read_file(INDEX_FILE)
    return (then, now) if then and now else None


def _renames(indexes: tuple[str, str] | None) -> Renames:
    """Renames on the source between the two versions of the index (`_indexes`)."""
    if indexes is None:
        return {}
    then, now = indexes
    return normalize.renames(
        yamlio.loads_fast(then, INDEX_FILE) or {}, yamlio.loads_fast(now, INDEX_FILE) or {}
    )


def past_names(store: Store) -> Mapping[str, frozenset[str]]:
    """Lower-cased names of everything earlier snapshots held, by kind (steps as
    `<project>/<step>`), so an overlay entry for something since deleted on the source is
    told apart from a typo. Read from git only when asked (an entry naming something the
    source lacks): a long history costs seconds, and most overlays never need it."""
    return _PastNames(store)


class _PastNames(Mapping[str, frozenset[str]]):
    """Names by kind, read on first use; step names (inside every past version of every
    deployment process) only when steps are asked about."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._names: dict[str, frozenset[str]] | None = None
        self._steps: frozenset[str] | None = None

    def _read(self) -> dict[str, frozenset[str]]:
        if self._names is None:
            names: dict[str, set[str]] = {}
            for path in self._store.past_files(SNAPSHOT_DIR):
                try:
                    key = layout.key_of(path)
                except LayoutError:
                    continue  # _meta.yaml, or a file of an older layout
                names.setdefault(key.kind, set()).add("/".join(key.name).lower())
            self._names = {kind: frozenset(found) for kind, found in names.items()}
        return self._names

    def _read_steps(self) -> frozenset[str]:
        if self._steps is None:
            processes = self._store.past_files(
                SNAPSHOT_DIR, lambda path: path.endswith("deployment-process.yaml")
            )
            steps = set()
            for path, texts in processes.items():
                if not path.endswith("deployment-process.yaml"):
                    continue
                project = layout.key_of(path).name[0]
                for text in texts:
                    for step in (yamlio.loads_fast(text, path) or {}).get("Steps") or []:
                        steps.add(f"{project}/{step.get('Name')}".lower())
            self._steps = frozenset(steps)
        return self._steps

    def __getitem__(self, kind: str) -> frozenset[str]:
        return self._read_steps() if kind == "steps" else self._read()[kind]

    def __iter__(self) -> Iterator[str]:
        return iter([*self._read(), "steps"])

    def __len__(self) -> int:
        return len(self._read()) + 1


def clash_error(loaded: overlay.Overlay, clash: Clash) -> str:
    """A clash, placed at the overlay's line that maps the first of its environments."""
    line = next(
        (
            loaded.lines[f"environments/{s}"]
            for s in loaded.environments
            if s.lower() in {c.lower() for c in clash.sources}
            and f"environments/{s}" in loaded.lines
        ),
        None,
    )
    where = f"{loaded.path}:{line}" if line else str(loaded.path)
    return f"{where}: error: {clash}"


@dataclass(frozen=True)
class Computed:
    plan: Plan
    live: Snapshot
    raw: Raw
    space_id: str


def compute(
    settings: Settings,
    inputs: Inputs,
    client: OctopusClient,
    *,
    force: bool = False,
    prune: bool = False,
) -> Computed:
    """Read the destination through `client` and plan against it."""
    target = inputs.target
    live, raw, space_id = read_destination(settings, inputs, client)
    facts = normalize.facts(raw)
    desired = transform.apply(inputs.snapshot, inputs.overlay, facts)
    missing, respelled = _destination_environments(inputs, facts)
    selected = [
        Decision(str(inputs.overlay.path), selection)
        for selection in overlay.selection_lines(inputs.overlay)
    ]
    desired = dataclasses.replace(
        desired,
        errors=(*desired.errors, *missing),
        decisions=(*selected, *respelled, *desired.decisions),
    )
    plan = make_plan(
        desired,
        live,
        inputs.overlay,
        target=target.name,
        facts=facts,
        base=inputs.base,
        force=force,
        prune=prune,
        renames=inputs.renames,
    )
    clashes = {str(clash): clash_error(inputs.overlay, clash) for clash in desired.clashes}
    plan = dataclasses.replace(
        plan, errors=tuple(clashes.get(e) or _locate(inputs, e) for e in plan.errors)
    )
    for decision in plan.decisions:
        _log.info("decision: %s", decision)
    for change in plan.changes:
        for value in change.values:
            _log.debug("variable %s %s: %s %s", change.key, value.name, value.action, value.reason)
    return Computed(plan, live, raw, space_id)


def read_destination(
    settings: Settings, inputs: Inputs, client: OctopusClient
) -> tuple[Snapshot, Raw, str]:
    """The destination in normal form, what was read of it, and its space id."""
    target = inputs.target
    try:
        with report.progress(f"read {target.url}") as tick:
            space_id = client.space_id(target.space)
            raw, normalized = export.read_normalized(
                client, space_id, concurrency=settings.concurrency, progress=tick
            )
    except OctopusApiError as error:
        raise explain(error, target) from None
    meta = {
        "format_version": 1,
        "source": target.url,
        "space": target.space,
        "tenant_variables": "scoped" if raw.scoped_tenant_variables else "legacy",
    }
    live, _ = normalize.snapshot_of(raw, normalized, meta)
    return live, raw, space_id


def _destination_environments(
    inputs: Inputs, facts: Mapping[str, frozenset[str]]
) -> tuple[list[str], list[Decision]]:
    """Mapped names on neither instance (errors), and names the destination spells in
    another case (matched regardless of case, as the server does; said in the plan)."""
    on_destination = {name.lower(): name for name in facts.get("environments", frozenset())}
    on_source = {
        key.name[0].lower() for key in inputs.snapshot.resources if key.kind == "environments"
    }
    loaded = inputs.overlay
    missing, respelled = [], []
    for source in loaded.environments:
        where = str(loaded.path)
        if f"environments/{source}" in loaded.lines:
            where += f":{loaded.lines[f'environments/{source}']}"
        for name in loaded.targets(source):
            spelled = on_destination.get(name.lower())
            if spelled is None and name.lower() not in on_source:
                missing.append(f"{where}: environment {name!r} exists on neither instance")
            elif spelled is not None and spelled != name:
                # A quiet plan lists no decisions: this one is likely a typo, so it is also
                # a warning (stderr), whatever the verbosity.
                _log.warning(
                    "%s: environment `%s` is `%s` on the destination: matched regardless of "
                    "case (did you mean `%s`?)",
                    where,
                    name,
                    spelled,
                    spelled,
                )
                respelled.append(
                    Decision(
                        where,
                        f"environment `{name}` is `{spelled}` on the destination: matched "
                        f"regardless of case (did you mean `{spelled}`?)",
                    )
                )
    return sorted(set(missing)), respelled


_MISSING = re.compile(r"needs \S+ '(?P<name>.+?)'")


def _locate(inputs: Inputs, error: str) -> str:
    """Point an error about a snapshot resource at its file and, when found, the line."""
    places = layout.paths(sorted(inputs.snapshot.resources))
    for key, path in places.items():
        if not error.startswith(f"{key}: "):
            continue
        files = inputs.store.read_tree(SNAPSHOT_DIR)
        where = f"{SNAPSHOT_DIR}/{path}"
        match = _MISSING.search(error)
        if match and path in files:
            for number, line in enumerate(files[path].splitlines(), start=1):
                if line.rstrip().endswith(match.group("name")):
                    where += f":{number}"
                    break
        return f"{where}: {error}"
    return error


def open_client(settings: Settings, inputs: Inputs) -> OctopusClient:
    return client_for(
        inputs.target,
        inputs.target.api_key(),
        inputs.config.http,
        settings.concurrency,
        settings.max_rps,
    )


RENDERERS = {"text": report.plan_text, "json": report.plan_json, "markdown": report.plan_markdown}


@dataclass(frozen=True)
class Shown:
    """How much of a plan is printed: the markdown's size budget, and where the whole plan
    is written for a shortened one to point to."""

    budget: int = report.MARKDOWN_BUDGET
    full_plan: Path | None = None
    allow_version_skew: bool = False
    out: Path | None = None  # `plan --out`: the saved plan (`commands.savedplan`)


def save_plan(path: Path, inputs: Inputs, computed: Computed, *, prune: bool, force: bool) -> None:
    """`plan --out`: the plan and what it was made from, for `push --plan` to apply exactly."""
    from snapshotsync.commands import savedplan

    if computed.plan.errors:
        report.warning(f"--out {path}: not written: a plan with errors cannot be pushed")
        return
    commits = savedplan.inputs_of(inputs.store, inputs.target.name, inputs.target.overlay)
    options = savedplan.Options(prune=prune, force=force)
    savedplan.write(path, savedplan.document(computed.plan, commits, computed.live, options))


def check_versions(inputs: Inputs, computed: Computed, *, allow: bool) -> None:
    """Refuse what push would refuse: instances too many versions apart (the guide's rule,
    `versions.version_skew`), so a plan never passes what its push then stops."""
    source_version = str(inputs.snapshot.meta.get("octopus_version", ""))
    skew = version_skew(source_version, computed.raw.version)
    if skew and not allow:
        raise UserError(f"{skew}: push would refuse it (--allow-version-skew overrides)")


def render(
    plan: Plan, output: str, settings: Settings, shown: Shown, base: Snapshot | None = None
) -> str:
    """The plan in `output`'s format; quiet unless `--verbose`; the whole plan (verbose
    text) also written to `shown.full_plan` when asked."""
    if shown.full_plan is not None:
        try:
            full = report.plan_text(plan, verbose=True, base=base)
            shown.full_plan.write_text(redact(full) + "\n")
        except OSError as error:
            raise UserError(
                f"--full-plan {shown.full_plan}: cannot write it ({error.strerror}); "
                "name a file in a directory that exists"
            ) from None
    if output == "markdown":
        where = str(shown.full_plan) if shown.full_plan is not None else None
        return report.plan_markdown(plan, budget=shown.budget, full_plan=where, base=base)
    if output == "text":
        return report.plan_text(plan, verbose=settings.verbose > 0, base=base)
    return report.plan_json(plan, base=base)


def run(
    settings: Settings,
    target_name: str,
    output: str,
    detailed_exitcode: bool,
    *,
    prune: bool = False,
    force: bool = False,
    shown: Shown | None = None,
) -> ExitCode:
    with repo_lock(settings, f"plan --target {target_name}", exclusive=False):
        return _plan(
            settings,
            target_name,
            output,
            detailed_exitcode,
            prune=prune,
            force=force,
            shown=shown or Shown(),
        )


def _plan(
    settings: Settings,
    target_name: str,
    output: str,
    detailed_exitcode: bool,
    *,
    prune: bool,
    force: bool,
    shown: Shown,
) -> ExitCode:
    if output not in RENDERERS:
        raise UserError(f"--output {output!r}: use {', '.join(RENDERERS)}")
    inputs = load_inputs(settings, target_name)
    for warning in inputs.warnings:
        report.warning(warning)  # stdout is the plan (JSON with --output json)
    with open_client(settings, inputs) as client:
        computed = compute(settings, inputs, client, force=force, prune=prune)
        check_versions(inputs, computed, allow=shown.allow_version_skew)
        plan = computed.plan
    if shown.out is not None:
        save_plan(shown.out, inputs, computed, prune=prune, force=force)
    report.line(render(plan, output, settings, shown, inputs.base))
    if plan.errors:
        return ExitCode.ERROR
    if detailed_exitcode and plan.has_changes:
        return ExitCode.CHANGES
    return ExitCode.OK


def hand_edits(inputs: Inputs, live: Snapshot, ledger: list[dict[str, Any]]) -> list[Drift]:
    """What differs on the destination from what the last push placed there (`base/`), and
    what was added by hand inside it, before the last push's kept edits are set aside
    (`changes.since_kept`). The values the last push wrote for a person to replace (the
    cleanup ledger's placeholders, clones) are not snapshotsync's to hold, nor added by hand.
    """
    if inputs.base is None:
        return []
    by_name = {lowered(key): key for key in live.resources}
    matched: dict[ResourceKey, JsonDict] = {}
    for key in inputs.base.resources:
        found = by_name.get(lowered(key))
        if found is not None:
            # The base holds values from the environment masked (the repo never holds a
            # secret): the destination's are masked the same way before they are compared.
            matched[key] = mask_secrets(live.resources[found])
    before = inputs.last_state.resources if inputs.last_state else None
    found_drift = threeway.drift(
        inputs.base.resources,
        matched,
        changes.parts,
        {key: mask_secrets(doc) for key, doc in before.items()} if before else None,
    )
    placeholders = {
        (
            str(e.get("kind")),
            tuple(str(n).lower() for n in e.get("name") or []),
            str(e.get("field", "")).removeprefix("variable ").lower(),
        )
        for e in ledger
    }
    return [
        d
        for d in found_drift
        if not (
            d.change == "added"
            and isinstance(d.live, dict)
            and (*lowered(d.key), str(d.live.get("Name", "")).lower()) in placeholders
        )
    ]
