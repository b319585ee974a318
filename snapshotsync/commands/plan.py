"""`snapshotsync plan --target T`: what a push would change, without changing anything.

Order matters for trust: the config and the overlay are validated against the snapshot
(and the last recorded destination state) before any request is made; only then is the
destination read, into the same normal form as an export, and compared.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass

from snapshotsync import export, layout, normalize, overlay, report, transform
from snapshotsync.commands.export import client_for, explain
from snapshotsync.errors import ExitCode, OctopusApiError, UserError
from snapshotsync.log import get_logger
from snapshotsync.model import Raw, Snapshot
from snapshotsync.octopus.client import OctopusClient
from snapshotsync.plan import Plan, make_plan
from snapshotsync.settings import Config, Settings, Target, load_config
from snapshotsync.store import SNAPSHOT_DIR, Store

_log = get_logger("commands.plan")


def state_dir(target: str) -> str:
    return f"targets/{target}/state"


@dataclass(frozen=True)
class Inputs:
    """Everything a plan is made from, validated, before any instance is contacted."""

    config: Config
    target: Target
    store: Store
    snapshot: Snapshot
    overlay: overlay.Overlay
    warnings: tuple[str, ...]


def load_inputs(settings: Settings, target_name: str) -> Inputs:
    config = load_config(settings.repo)
    target = config.target(target_name)
    store = Store(settings.repo)
    snapshot = layout.parse(store.read_tree(SNAPSHOT_DIR), str(settings.repo / SNAPSHOT_DIR))
    if not snapshot.resources:
        raise UserError(f"{settings.repo / SNAPSHOT_DIR} is empty: run `snapshotsync export` first")
    last = store.read_tree(state_dir(target_name))
    last_state = layout.parse(last, state_dir(target_name)) if last else None
    loaded, warnings = overlay.load(target.overlay, snapshot, last_state)
    values = {
        name: overlay.expand_env(value, os.environ)
        for name, value in loaded.variables.values.items()
    }
    loaded = dataclasses.replace(
        loaded, variables=dataclasses.replace(loaded.variables, values=values)
    )
    return Inputs(config, target, store, snapshot, loaded, tuple(warnings))


@dataclass(frozen=True)
class Computed:
    plan: Plan
    live: Snapshot
    raw: Raw
    space_id: str


def compute(settings: Settings, inputs: Inputs, client: OctopusClient) -> Computed:
    """Read the destination through `client` and plan against it."""
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
    facts = normalize.facts(raw)
    on_destination = {name.lower() for name in facts.get("environments", frozenset())}
    on_source = {
        key.name[0].lower() for key in inputs.snapshot.resources if key.kind == "environments"
    }
    missing = sorted(
        {
            name
            for name in inputs.overlay.environments.values()
            if name.lower() not in on_destination | on_source
        }
    )
    desired = transform.apply(inputs.snapshot, inputs.overlay, facts)
    if missing:
        desired = dataclasses.replace(
            desired,
            errors=(
                *desired.errors,
                *(
                    f"{inputs.overlay.path}: environment {name!r} exists on neither instance"
                    for name in missing
                ),
            ),
        )
    plan = make_plan(desired, live, inputs.overlay, target=target.name, facts=facts)
    plan = dataclasses.replace(plan, errors=tuple(_locate(inputs, e) for e in plan.errors))
    for decision in plan.decisions:
        _log.info("decision: %s", decision)
    for change in plan.changes:
        for value in change.values:
            _log.debug("variable %s %s: %s %s", change.key, value.name, value.action, value.reason)
    return Computed(plan, live, raw, space_id)


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
        inputs.target, inputs.target.api_key(), inputs.config.http, settings.concurrency
    )


RENDERERS = {"text": report.plan_text, "json": report.plan_json, "markdown": report.plan_markdown}


def run(settings: Settings, target_name: str, output: str, detailed_exitcode: bool) -> ExitCode:
    if output not in RENDERERS:
        raise UserError(f"--output {output!r}: use {', '.join(RENDERERS)}")
    inputs = load_inputs(settings, target_name)
    for warning in inputs.warnings:
        report.line(warning)
    with open_client(settings, inputs) as client:
        plan = compute(settings, inputs, client).plan
    report.line(RENDERERS[output](plan))
    if plan.errors:
        return ExitCode.ERROR
    if detailed_exitcode and plan.has_changes:
        return ExitCode.CHANGES
    return ExitCode.OK
