"""Per-target overlay files: load, validate, and the frozen `Overlay` the transform reads.

Everything wrong with an overlay is collected and reported together, each with
`file:line` and a hint: unknown keys, bad policy names, names that exist in neither
instance. A glob that matches nothing is a warning, not an error (a pattern written for
tomorrow's tenant is fine). Nothing here talks to an instance.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snapshotsync import log, yamlio
from snapshotsync.errors import OverlayError
from snapshotsync.model import Snapshot

POLICIES = (
    "error-unless-exact",
    "skip-unless-exact",
    "error-unless-partial",
    "skip-unless-partial",
    "ignore",
    "ignore-on-new",
)
DIMENSIONS = ("environment", "channel", "machine", "tenant-tag", "action", "process-owner")
EXCLUDABLE = (
    "tenants",
    "lifecycles",
    "channels",
    "projects",
    "runbooks",
    "steps",
    "certificates",
)
RENAMABLE = ("accounts", "certificates", "worker-pools", "feeds")
NEW_OUT_OF_SCOPE = ("clone", "placeholder", "skip")
STEP_OUT_OF_SCOPE = ("skip", "unscope")
TENANT_VARIABLES = ("copy", "placeholder", "skip")
# Which snapshot kind each exclusion names, and whether names are "<project>/<name>".
EXCLUDE_KINDS = {
    "tenants": ("tenants", False),
    "lifecycles": ("lifecycles", False),
    "channels": ("channels", True),
    "projects": ("projects", False),
    "runbooks": ("runbooks", True),
    "steps": ("steps", True),
    "certificates": ("certificates", False),
}
RENAME_KINDS = {
    "accounts": "accounts",
    "certificates": "certificates",
    "worker-pools": "worker-pools",
    "feeds": "feeds",
}
_ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Rescope:
    environments: tuple[str, ...] | None = None
    channels: tuple[str, ...] | None = None


@dataclass(frozen=True)
class VariablePolicy:
    scoping: Mapping[str, str] = field(
        default_factory=lambda: dict.fromkeys(DIMENSIONS, "skip-unless-partial")
    )
    overwrite: bool = False
    new_out_of_scope: str = "clone"
    placeholder: str = "Replace Me"
    sensitive_placeholder: str = "CHANGE_ME"
    values: Mapping[str, str] = field(default_factory=dict)  # "<owner>/<name>" -> value


@dataclass(frozen=True)
class Overlay:
    """How one target differs from the source."""

    path: Path
    environments: Mapping[str, str] = field(default_factory=dict)  # source -> destination
    exclude: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    include: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rename: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    variables: VariablePolicy = field(default_factory=VariablePolicy)
    step_out_of_scope: str = "skip"
    rescope: Mapping[str, Rescope] = field(default_factory=dict)  # "<project>/<step>"
    tenant_variables: str = "copy"

    def excluded(self, kind: str, name: str) -> bool:
        """Whether `name` (e.g. "OctoFX/QA" for a channel) is excluded or not included."""
        if any(_matches(pattern, name) for pattern in self.exclude.get(kind, ())):
            return True
        allowed = self.include.get(kind)
        return allowed is not None and not any(_matches(p, name) for p in allowed)

    def renamed(self, kind: str, name: str) -> str:
        return self.rename.get(kind, {}).get(name, name)


def _matches(pattern: str, name: str) -> bool:
    return fnmatch.fnmatchcase(name.lower(), pattern.lower())


@dataclass(frozen=True)
class Finding:
    """An overlay problem with its place in the file."""

    line: int | None
    message: str
    error: bool = True

    def render(self, path: Path) -> str:
        where = f"{path}:{self.line}" if self.line else str(path)
        return f"{where}: {'error' if self.error else 'warning'}: {self.message}"


class _Reader:
    """Walks the parsed YAML, collecting findings instead of stopping at the first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.findings: list[Finding] = []

    def error(self, node: Any, key: str | int | None, message: str) -> None:
        self.findings.append(Finding(yamlio.line_of(node, key), message))

    def warn(self, node: Any, key: str | int | None, message: str) -> None:
        self.findings.append(Finding(yamlio.line_of(node, key), message, error=False))

    def mapping(
        self, parent: Any, key: str, allowed: Iterable[str] | None = None
    ) -> dict[str, Any]:
        node = parent.get(key) if isinstance(parent, Mapping) else None
        if node is None:
            return {}
        if not isinstance(node, Mapping):
            self.error(parent, key, f"`{key}` must be a mapping")
            return {}
        if allowed is not None:
            self.known_keys(node, allowed, f"`{key}`")
        return dict(node)

    def known_keys(self, node: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
        allowed = list(allowed)
        for key in node:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = (
                    f"; did you mean `{close[0]}`?" if close else f"; allowed: {', '.join(allowed)}"
                )
                self.error(node, key, f"unknown key `{key}` in {where}{hint}")

    def choice(self, node: Any, key: str, allowed: tuple[str, ...], default: str) -> str:
        value = node.get(key, default) if isinstance(node, Mapping) else default
        if value not in allowed:
            close = difflib.get_close_matches(str(value), allowed, n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"use one of {', '.join(allowed)}"
            self.error(node, key, f"`{key}: {value}` is not a valid value; {hint}")
            return default
        return str(value)

    def names(self, parent: Any, key: str) -> tuple[str, ...]:
        node = parent.get(key) if isinstance(parent, Mapping) else None
        if node is None:
            return ()
        if not isinstance(node, list) or not all(isinstance(item, str) for item in node):
            self.error(parent, key, f"`{key}` must be a list of names or globs")
            return ()
        return tuple(str(item) for item in node)


TOP_KEYS = ("environments", "exclude", "include", "rename", "variables", "steps", "tenants")


def load(
    path: Path, snapshot: Snapshot | None = None, destination: Snapshot | None = None
) -> tuple[Overlay, list[str]]:
    """Read and validate the overlay at `path`.

    With `snapshot` (the source) and `destination` (the last known destination state),
    names are checked too. Returns the overlay and its warnings; errors raise one
    `OverlayError` listing every problem.
    """
    if not path.is_file():
        raise OverlayError(f"{path}: overlay file not found (create it, even as `{{}}`)")
    data = yamlio.load_file(path)
    reader = _Reader(path)
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise OverlayError(f"{path}: an overlay is a mapping (see the overlay format)")
    reader.known_keys(data, TOP_KEYS, "the overlay")
    overlay = _build(reader, data, path)
    if snapshot is not None:
        _check_names(reader, data, overlay, snapshot, destination)
    errors = [f for f in reader.findings if f.error]
    if errors:
        raise OverlayError("\n".join(f.render(path) for f in reader.findings))
    return overlay, [f.render(path) for f in reader.findings]


def _build(reader: _Reader, data: Mapping[str, Any], path: Path) -> Overlay:
    environments_node = reader.mapping(data, "environments")
    environments = {}
    for source, destination in environments_node.items():
        if not isinstance(destination, str) or not destination:
            reader.error(
                data["environments"],
                source,
                f"environment `{source}` must map to a destination environment name",
            )
        else:
            environments[str(source)] = destination
    exclude_node = reader.mapping(data, "exclude", EXCLUDABLE)
    exclude = {kind: reader.names(exclude_node and data["exclude"], kind) for kind in EXCLUDABLE}
    include_node = reader.mapping(data, "include", EXCLUDABLE)
    include = {
        kind: reader.names(data["include"], kind)
        for kind in EXCLUDABLE
        if include_node and kind in include_node
    }
    rename_node = reader.mapping(data, "rename", RENAMABLE)
    rename: dict[str, dict[str, str]] = {}
    for kind in RENAMABLE:
        pairs = reader.mapping(data["rename"], kind) if rename_node else {}
        rename[kind] = {str(k): str(v) for k, v in pairs.items()}
    variables = _variables(reader, data)
    steps_node = reader.mapping(data, "steps", ("out-of-scope", "rescope"))
    rescope: dict[str, Rescope] = {}
    for step, spec in (reader.mapping(data["steps"], "rescope") if steps_node else {}).items():
        if not isinstance(spec, Mapping):
            reader.error(
                data["steps"]["rescope"],
                step,
                "a rescope is a mapping of `environments` and/or `channels` lists",
            )
            continue
        reader.known_keys(spec, ("environments", "channels"), f"rescope of `{step}`")
        environments_list = reader.names(spec, "environments") if "environments" in spec else None
        channels_list = reader.names(spec, "channels") if "channels" in spec else None
        rescope[str(step)] = Rescope(environments_list, channels_list)
    tenants_node = reader.mapping(data, "tenants", ("variables",))
    return Overlay(
        path=path,
        environments=environments,
        exclude=exclude,
        include=include,
        rename=rename,
        variables=variables,
        step_out_of_scope=reader.choice(
            data["steps"] if steps_node else {}, "out-of-scope", STEP_OUT_OF_SCOPE, "skip"
        ),
        rescope=rescope,
        tenant_variables=reader.choice(
            data["tenants"] if tenants_node else {}, "variables", TENANT_VARIABLES, "copy"
        ),
    )


def _variables(reader: _Reader, data: Mapping[str, Any]) -> VariablePolicy:
    keys = (
        "scoping",
        "overwrite",
        "new-out-of-scope",
        "placeholder",
        "sensitive-placeholder",
        "values",
    )
    node = reader.mapping(data, "variables", keys)
    if not node:
        return VariablePolicy()
    raw = data["variables"]
    scoping = dict.fromkeys(DIMENSIONS, "skip-unless-partial")
    given = raw.get("scoping")
    if isinstance(given, str):
        scoping = dict.fromkeys(
            DIMENSIONS, reader.choice(raw, "scoping", POLICIES, "skip-unless-partial")
        )
    elif isinstance(given, Mapping):
        reader.known_keys(given, DIMENSIONS, "`variables.scoping`")
        for dimension in DIMENSIONS:
            if dimension in given:
                scoping[dimension] = reader.choice(
                    given, dimension, POLICIES, "skip-unless-partial"
                )
    elif given is not None:
        reader.error(raw, "scoping", "`scoping` is a policy name or a mapping of dimension: policy")
    overwrite = raw.get("overwrite", False)
    if not isinstance(overwrite, bool):
        reader.error(raw, "overwrite", "`overwrite` must be true or false")
        overwrite = False
    values_node = reader.mapping(raw, "values")
    values = {}
    for name, value in values_node.items():
        if "/" not in str(name):
            reader.error(raw["values"], name, f"`{name}`: write `<project or set>/<variable>`")
        if not isinstance(value, str | int | float | bool):
            reader.error(raw["values"], name, f"`{name}`: a value must be a string")
            continue
        values[str(name)] = str(value)
    return VariablePolicy(
        scoping=scoping,
        overwrite=overwrite,
        new_out_of_scope=reader.choice(raw, "new-out-of-scope", NEW_OUT_OF_SCOPE, "clone"),
        placeholder=str(raw.get("placeholder", "Replace Me")),
        sensitive_placeholder=str(raw.get("sensitive-placeholder", "CHANGE_ME")),
        values=values,
    )


def expand_env(value: str, environ: Mapping[str, str]) -> str:
    """`${env:NAME}` in an explicit value reads the environment (never stored in git)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise OverlayError(
                f"an overlay value needs the environment variable {name}, which is not set"
            )
        log.register_secret(environ[name])  # values from the environment are secrets
        return environ[name]

    return _ENV_REFERENCE.sub(replace, value)


def _check_names(
    reader: _Reader,
    data: Mapping[str, Any],
    overlay: Overlay,
    snapshot: Snapshot,
    destination: Snapshot | None,
) -> None:
    def names_of(shot: Snapshot | None, kind: str) -> set[str]:
        if shot is None:
            return set()
        return {"/".join(key.name) for key in shot.resources if key.kind == kind}

    source_envs = names_of(snapshot, "environments")
    dest_envs = names_of(destination, "environments")
    for source, target in overlay.environments.items():
        if source.lower() not in {e.lower() for e in source_envs}:
            hint = _hint(source, source_envs)
            reader.error(
                data["environments"],
                source,
                f"environment `{source}` does not exist on the source{hint}",
            )
        if destination is not None and target.lower() not in {
            e.lower() for e in dest_envs | source_envs
        }:
            reader.error(
                data["environments"],
                source,
                f"environment `{target}` exists on neither instance{_hint(target, dest_envs)}",
            )
    steps = {
        f"{key.name[0]}/{step['Name']}"
        for key, doc in snapshot.resources.items()
        if key.kind == "deployment-processes"
        for step in doc.get("Steps", [])
    }
    for kind, (snapshot_kind, _) in EXCLUDE_KINDS.items():
        known = steps if kind == "steps" else names_of(snapshot, snapshot_kind)
        for section in ("exclude", "include"):
            patterns = (overlay.exclude if section == "exclude" else overlay.include).get(kind, ())
            for index, pattern in enumerate(patterns):
                if any(_matches(pattern, name) for name in known):
                    continue
                node = data[section][kind]
                if any(ch in pattern for ch in "*?["):
                    reader.warn(node, index, f"{section}.{kind}: `{pattern}` matches nothing")
                else:
                    reader.error(
                        node,
                        index,
                        f"{section}.{kind}: `{pattern}` does not exist on "
                        f"the source{_hint(pattern, known)}",
                    )
    for kind, pairs in overlay.rename.items():
        known = names_of(snapshot, RENAME_KINDS[kind])
        for source in pairs:
            if source not in known:
                reader.error(
                    data["rename"][kind],
                    source,
                    f"rename.{kind}: `{source}` does not exist on the source{_hint(source, known)}",
                )
    for step in overlay.rescope:
        if step not in steps:
            reader.error(
                data["steps"]["rescope"],
                step,
                f"steps.rescope: no step `{step}` on the source{_hint(step, steps)}",
            )
    owners = {
        "/".join(key.name) + "/"
        for key in snapshot.resources
        if key.kind in ("projects", "library-variable-sets")
    }
    for name in overlay.variables.values:
        if not any(name.startswith(owner) for owner in owners):
            reader.error(
                data["variables"]["values"],
                name,
                f"variables.values: `{name}` names no project or library variable set",
            )


def _hint(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""
