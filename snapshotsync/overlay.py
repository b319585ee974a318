"""Per-target overlay files: load, validate, and the frozen `Overlay` the transform reads.

Everything wrong with an overlay is collected and reported together, each with
`file:line` and a hint: unknown keys, bad policy names, names that exist in neither
instance. A glob that matches nothing is a warning, not an error (a pattern written for
tomorrow's tenant is fine). Nothing here talks to an instance.

Names are matched the way Octopus matches them: regardless of case. A name written in
another case than the instance's (`production` for `Production`) is understood, with a
warning that says how the instance spells it. A name that is not on the source any more
but was in an earlier snapshot (a tenant deleted since, a step renamed) is a warning
("remove this entry"), so a scheduled sync does not stop for it; a name that never existed
is an error (a typo), with the closest real name as a hint. The caller passes the names of
earlier snapshots (`history`); this module reads no git.

Extensions of the overlay format beyond its first version:

- `environments:` maps a source environment to one destination name or to a list
  (`Prod: [Production, DR]`); the first name of a list is the *primary* one, used where a
  reference holds one environment only (a trigger's target).
- `prefer:` says, per destination environment that several source environments map to,
  whose values win where they disagree (`prefer: {Production: Prod}`). Without it such a
  disagreement is an error that names the values.
- `variables.values` entries are a string (the value of every source value of that
  variable, each keeping its mapped scope) or `{value: ..., environments: [...]}` (or a
  list of those): the value applies exactly to those destination environments.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from snapshotsync import log, yamlio
from snapshotsync.errors import OverlayError
from snapshotsync.identity import History
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
    "tenant-tags",  # tenants selected by their tags (`Set/Tag`, globs): added to `tenants`
)
RENAMABLE = ("accounts", "certificates", "worker-pools", "feeds")
NEW_OUT_OF_SCOPE = ("clone", "placeholder", "skip")
STEP_OUT_OF_SCOPE = ("skip", "unscope")
TENANT_VARIABLES = ("copy", "placeholder", "skip")
# Kinds whose names an overlay entry can hold, as the history of snapshots records them
# (`<project>/<name>` for channels, runbooks and steps).
HISTORY_KINDS = (
    "environments",
    "tenants",
    "lifecycles",
    "channels",
    "projects",
    "runbooks",
    "steps",
    "library-variable-sets",
    *RENAMABLE,
)
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
class ScopedValue:
    """`{value: ..., environments: [...]}`: an explicit value and where it applies."""

    value: str
    environments: tuple[str, ...]


@dataclass(frozen=True)
class VariablePolicy:
    scoping: Mapping[str, str] = field(
        default_factory=lambda: dict.fromkeys(DIMENSIONS, "skip-unless-partial")
    )
    # True: always; False: never (the guide's rule); None (not set): what nobody changed on
    # the destination since the last push (`merge.py`).
    overwrite: bool | None = None
    new_out_of_scope: str = "clone"
    placeholder: str = "Replace Me"
    sensitive_placeholder: str = "CHANGE_ME"
    # "<owner>/<name>" -> the value of every in-scope source value (each keeps its scope)
    values: Mapping[str, str] = field(default_factory=dict)
    # "<owner>/<name>" -> values that apply exactly to the destination environments given
    scoped_values: Mapping[str, tuple[ScopedValue, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Overlay:
    """How one target differs from the source."""

    path: Path
    environments: Mapping[str, str] = field(default_factory=dict)  # source -> (primary) dest
    # source -> every destination it maps to, when a list was given (`Prod: [Production, DR]`)
    environment_targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    prefer: Mapping[str, str] = field(default_factory=dict)  # destination -> winning source
    lines: Mapping[str, int] = field(default_factory=dict)  # "environments/<source>" -> line
    exclude: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    include: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rename: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    variables: VariablePolicy = field(default_factory=VariablePolicy)
    step_out_of_scope: str = "skip"
    rescope: Mapping[str, Rescope] = field(default_factory=dict)  # "<project>/<step>"
    tenant_variables: str = "copy"
    # `runbooks: {publish: true}`: publish a new snapshot of every runbook whose process the
    # push changed, so triggers and consumers run what was synced.
    publish_runbooks: bool = False
    # What each tag rule selects: "exclude.tenant-tags `Region/EU`" -> tenant names
    selected: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def excluded(self, kind: str, name: str) -> bool:
        """Whether `name` (e.g. "OctoFX/QA" for a channel) is excluded or not included."""
        if any(_matches(pattern, name) for pattern in self.exclude.get(kind, ())):
            return True
        allowed = self.include.get(kind)
        return allowed is not None and not any(_matches(p, name) for p in allowed)

    def renamed(self, kind: str, name: str) -> str:
        pairs = self.rename.get(kind, {})
        if name in pairs:
            return pairs[name]
        lowered = name.lower()
        return next((new for old, new in pairs.items() if old.lower() == lowered), name)

    def targets(self, source: str) -> tuple[str, ...]:
        """Every destination environment `source` maps to (none when it is excluded)."""
        lowered = source.lower()
        for name, primary in self.environments.items():
            if name.lower() == lowered:
                return self.environment_targets.get(name) or (primary,)
        return ()

    def sources(self, destination: str) -> tuple[str, ...]:
        """The source environments that map to `destination`."""
        lowered = destination.lower()
        return tuple(
            name
            for name in self.environments
            if any(t.lower() == lowered for t in self.targets(name))
        )

    def preferred(self, destination: str) -> str | None:
        lowered = destination.lower()
        return next((s for d, s in self.prefer.items() if d.lower() == lowered), None)

    def rescope_of(self, step: str) -> Rescope | None:
        """The rescope of `<project>/<step>`, names matched regardless of case."""
        if step in self.rescope:
            return self.rescope[step]
        lowered = step.lower()
        return next((r for name, r in self.rescope.items() if name.lower() == lowered), None)


def selection_lines(overlay: Overlay) -> list[str]:
    """What each tenant-tag rule selects, for `validate` and the plan's decisions."""
    return [
        f"{rule} selects tenants: {', '.join(names) if names else '(none)'}"
        for rule, names in overlay.selected.items()
    ]


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


TOP_KEYS = (
    "environments",
    "prefer",
    "exclude",
    "include",
    "rename",
    "variables",
    "steps",
    "tenants",
    "runbooks",
)


def load(
    path: Path,
    snapshot: Snapshot | None = None,
    destination: Snapshot | None = None,
    history: Mapping[str, frozenset[str]] | None = None,
    identities: History | None = None,
) -> tuple[Overlay, list[str]]:
    """Read and validate the overlay at `path`.

    With `snapshot` (the source) and `destination` (the last known destination state),
    names are checked too; `history` holds the lower-cased names (by `HISTORY_KINDS`) of
    earlier snapshots, so an entry for something deleted on the source since is a warning,
    not an error. `identities` follows the source's ids: an entry naming something the
    source renamed since the entry was written applies to it under its new name (with a
    warning to update the entry), and the overlay returned holds current names only.
    Returns the overlay and its warnings; errors raise one `OverlayError` listing every
    problem.
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
        overlay = _check_names(
            reader,
            data,
            overlay,
            snapshot,
            destination,
            {} if history is None else history,
            identities,
        )
    errors = [f for f in reader.findings if f.error]
    if errors:
        raise OverlayError("\n".join(f.render(path) for f in reader.findings))
    return overlay, [f.render(path) for f in reader.findings]


def _build(reader: _Reader, data: Mapping[str, Any], path: Path) -> Overlay:
    environments, targets, lines = _environments(reader, data)
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
        environment_targets=targets,
        prefer=_prefer(reader, data, targets),
        lines=lines,
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
        publish_runbooks=_publish_runbooks(reader, data),
    )


def _publish_runbooks(reader: _Reader, data: Mapping[str, Any]) -> bool:
    """`runbooks: {publish: true|false}` (default false)."""
    node = reader.mapping(data, "runbooks", ("publish",))
    publish = node.get("publish", False) if node else False
    if not isinstance(publish, bool):
        reader.error(
            data["runbooks"],
            "publish",
            "`runbooks.publish` must be true (publish a new snapshot of every runbook whose "
            "process the push changed) or false",
        )
        return False
    return publish


def _environments(
    reader: _Reader, data: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, tuple[str, ...]], dict[str, int]]:
    """`environments:` -> (source -> primary destination, source -> all, source -> line)."""
    node = reader.mapping(data, "environments")
    primary: dict[str, str] = {}
    targets: dict[str, tuple[str, ...]] = {}
    lines: dict[str, int] = {}
    seen: dict[str, str] = {}
    for source, destination in node.items():
        line = yamlio.line_of(data["environments"], source)
        if line:
            lines[f"environments/{source}"] = line
        names = destination if isinstance(destination, list) else [destination]
        if not names or not all(isinstance(n, str) and n for n in names):
            reader.error(
                data["environments"],
                source,
                f"environment `{source}` must map to a destination environment name "
                "or a list of names",
            )
            continue
        if str(source).lower() in seen:
            reader.error(
                data["environments"],
                source,
                f"environment `{source}` is mapped twice (also as `{seen[str(source).lower()]}`;"
                " names match regardless of case)",
            )
            continue
        seen[str(source).lower()] = str(source)
        unique = list(dict.fromkeys(str(n) for n in names))
        primary[str(source)] = unique[0]
        targets[str(source)] = tuple(unique)
    return primary, targets, lines


def _prefer(
    reader: _Reader, data: Mapping[str, Any], targets: Mapping[str, tuple[str, ...]]
) -> dict[str, str]:
    """`prefer: {destination: source}`: only where several sources share a destination."""
    node = reader.mapping(data, "prefer")
    result: dict[str, str] = {}
    for destination, source in node.items():
        sharing = [s for s, names in targets.items() if str(destination).lower() in _lower(names)]
        if not isinstance(source, str) or not source:
            reader.error(
                data["prefer"],
                destination,
                "`prefer` maps a destination environment "
                "to the source environment whose values win there",
            )
            continue
        if len(sharing) < 2:
            reader.error(
                data["prefer"],
                destination,
                f"prefer: `{destination}` does not receive several source environments "
                "(only needed where two or more map to one destination environment)",
            )
            continue
        match = next((s for s in sharing if s.lower() == source.lower()), None)
        if match is None:
            reader.error(
                data["prefer"],
                destination,
                f"prefer: `{source}` does not map to `{destination}`; use one of "
                + ", ".join(f"`{s}`" for s in sharing),
            )
            continue
        result[str(destination)] = match
    return result


def _lower(names: Iterable[str]) -> set[str]:
    return {name.lower() for name in names}


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
    overwrite = raw.get("overwrite")
    if overwrite is not None and not isinstance(overwrite, bool):
        reader.error(
            raw,
            "overwrite",
            "`overwrite` must be true or false (or left out: overwrite what nobody changed "
            "on the destination since the last push)",
        )
        overwrite = None
    values, scoped = _explicit_values(reader, raw)
    return VariablePolicy(
        scoping=scoping,
        overwrite=overwrite,
        new_out_of_scope=reader.choice(raw, "new-out-of-scope", NEW_OUT_OF_SCOPE, "clone"),
        placeholder=str(raw.get("placeholder", "Replace Me")),
        sensitive_placeholder=str(raw.get("sensitive-placeholder", "CHANGE_ME")),
        values=values,
        scoped_values=scoped,
    )


SCALARS = (str, int, float, bool)


def _explicit_values(
    reader: _Reader, raw: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, tuple[ScopedValue, ...]]]:
    """`variables.values`: plain strings (inherit the source's scopes) and scoped entries."""
    node = reader.mapping(raw, "values")
    values: dict[str, str] = {}
    scoped: dict[str, tuple[ScopedValue, ...]] = {}
    for name, given in node.items():
        if "/" not in str(name):
            reader.error(raw["values"], name, f"`{name}`: write `<project or set>/<variable>`")
        if isinstance(given, SCALARS):
            values[str(name)] = str(given)
            continue
        entries = given if isinstance(given, list) else [given]
        parsed: list[ScopedValue] = []
        for entry in entries:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("value"), SCALARS):
                reader.error(
                    raw["values"],
                    name,
                    f"`{name}`: a value is a string, or `{{value: ..., environments: [...]}}` "
                    "(or a list of those)",
                )
                parsed = []
                break
            reader.known_keys(entry, ("value", "environments"), f"the value of `{name}`")
            if "environments" not in entry:
                if isinstance(given, list):
                    reader.error(
                        raw["values"], name, f"`{name}`: each entry of a list needs `environments`"
                    )
                    continue
                values[str(name)] = str(entry["value"])
                continue
            environments = reader.names(entry, "environments")
            if not environments:
                reader.error(
                    entry,
                    "environments",
                    f"`{name}`: `environments` lists the destination environments the value "
                    "applies to (leave the key out to keep the source's scopes)",
                )
                continue
            parsed.append(ScopedValue(str(entry["value"]), environments))
        if parsed:
            scoped[str(name)] = tuple(parsed)
    return values, scoped


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
    history: Mapping[str, frozenset[str]],
    identities: History | None = None,
) -> Overlay:
    """Check every name against the source and return the overlay in current names: an
    entry whose thing the source renamed applies to it under its new name (`identity`)."""
    source = _SourceNames(reader, snapshot, history, identities)
    dest_envs = names_of(destination, "environments") if destination is not None else None
    environments = data.get("environments")
    followed_environments: dict[str, tuple[str, ...]] = {}
    for name in overlay.environments:
        followed_environments[name] = source.check(
            environments, name, name, ("environments",), f"environment `{name}`"
        )
        for target in overlay.targets(name):
            _check_destination_environment(
                reader, environments, name, target, dest_envs, source.known["environments"]
            )
    selections: dict[str, dict[str, tuple[str, ...]]] = {"exclude": {}, "include": {}}
    for kind, (snapshot_kind, _) in EXCLUDE_KINDS.items():
        for section in ("exclude", "include"):
            patterns = (overlay.exclude if section == "exclude" else overlay.include).get(kind, ())
            names: list[str] = []
            for index, pattern in enumerate(patterns):
                node = data[section][kind]
                if any(ch in pattern for ch in "*?["):
                    names += [pattern, *source.glob(node, index, pattern, snapshot_kind, section)]
                    if not any(_matches(pattern, n) for n in source.known[snapshot_kind]):
                        reader.warn(node, index, f"{section}.{kind}: `{pattern}` matches nothing")
                    continue
                names += source.check(
                    node,
                    index,
                    pattern,
                    (snapshot_kind,),
                    f"{section}.{kind}: `{pattern}`",
                    keep_new_holder=section == "exclude",
                )
            if patterns:
                selections[section][kind] = tuple(dict.fromkeys(names))
    selected: dict[str, tuple[str, ...]] = {}
    for section in ("exclude", "include"):
        rules = (overlay.exclude if section == "exclude" else overlay.include).get("tenant-tags")
        if rules:
            chosen = _by_tags(reader, data[section], section, rules, snapshot, selected)
            named = selections[section].get(
                "tenants",
                (overlay.exclude if section == "exclude" else overlay.include).get("tenants", ()),
            )
            selections[section]["tenants"] = tuple(dict.fromkeys([*named, *chosen]))
    rename: dict[str, dict[str, str]] = {}
    for kind, pairs in overlay.rename.items():
        rename[kind] = {}
        for name, new in pairs.items():
            label = f"rename.{kind}: `{name}`"
            for current in source.check(
                data["rename"][kind], name, name, (RENAME_KINDS[kind],), label
            ):
                rename[kind][current] = new
    rescope: dict[str, Rescope] = {}
    for step, spec in overlay.rescope.items():
        for current in source.check(
            data["steps"]["rescope"],
            step,
            step,
            ("steps",),
            f"steps.rescope: step `{step}`",
            missing=f"steps.rescope: no step `{step}` on the source",
        ):
            rescope[current] = spec
    owners: dict[str, tuple[str, ...]] = {}
    for name in [*overlay.variables.values, *overlay.variables.scoped_values]:
        owner, _, variable = name.partition("/")
        owners[name] = tuple(
            f"{current}/{variable}"
            for current in source.check(
                data["variables"]["values"],
                name,
                owner,
                ("projects", "library-variable-sets"),
                f"variables.values: `{name}`: its owner",
                missing=f"variables.values: `{name}` names no project or library variable set",
            )
        )
    destinations = {t for name in overlay.environments for t in overlay.targets(name)}
    known_destinations = destinations | (dest_envs or set())
    for name, entries in overlay.variables.scoped_values.items():
        for entry in entries:
            for environment in entry.environments:
                if environment.lower() not in _lower(known_destinations):
                    reader.error(
                        data["variables"]["values"],
                        name,
                        f"variables.values: `{name}` applies to `{environment}`, which no source "
                        "environment maps to"
                        + ("" if dest_envs is None else " and the destination does not have")
                        + _hint(environment, known_destinations),
                    )
    return _in_current_names(
        overlay, followed_environments, selections, rename, rescope, owners, selected
    )


def _by_tags(
    reader: _Reader,
    node: Any,
    section: str,
    rules: tuple[str, ...],
    snapshot: Snapshot,
    selected: dict[str, tuple[str, ...]],
) -> list[str]:
    """The source tenants `section.tenant-tags` selects, each rule said (an info line in
    the overlay's `selected`); a tag the source lacks is an error, a glob that selects no tag
    a warning."""
    tags = {
        f"{key.name[0]}/{tag.get('Name')}"
        for key, document in snapshot.resources.items()
        if key.kind == "tag-sets"
        for tag in document.get("Tags") or []
    }
    tenants = {
        key.name[0]: [str(t) for t in document.get("TenantTags") or []]
        for key, document in snapshot.resources.items()
        if key.kind == "tenants"
    }
    chosen: list[str] = []
    for index, rule in enumerate(rules):
        if not any(_matches(rule, tag) for tag in tags):
            if any(ch in rule for ch in "*?["):
                reader.warn(
                    node["tenant-tags"], index, f"{section}.tenant-tags: `{rule}` matches no tag"
                )
            else:
                reader.error(
                    node["tenant-tags"],
                    index,
                    f"{section}.tenant-tags: no tag `{rule}` on the source (write `Tag set/Tag`)"
                    + _hint(rule, tags),
                )
            continue
        found = sorted(
            name for name, held in tenants.items() if any(_matches(rule, t) for t in held)
        )
        selected[f"{section}.tenant-tags `{rule}`"] = tuple(found)
        chosen += found
    return chosen


def _in_current_names(
    overlay: Overlay,
    environments: Mapping[str, tuple[str, ...]],
    selections: Mapping[str, Mapping[str, tuple[str, ...]]],
    rename: Mapping[str, Mapping[str, str]],
    rescope: Mapping[str, Rescope],
    owners: Mapping[str, tuple[str, ...]],
    selected: Mapping[str, tuple[str, ...]],
) -> Overlay:
    """`overlay` with each entry under the current names of what it named (`_check_names`)."""
    primary: dict[str, str] = {}
    targets: dict[str, tuple[str, ...]] = {}
    lines: dict[str, int] = {}
    for name, currents in environments.items():
        for current in currents:
            primary[current] = overlay.environments[name]
            if name in overlay.environment_targets:
                targets[current] = overlay.environment_targets[name]
            if f"environments/{name}" in overlay.lines:
                lines[f"environments/{current}"] = overlay.lines[f"environments/{name}"]
    follows = {name.lower(): currents for name, currents in environments.items()}
    prefer = {
        destination: next(iter(follows.get(source.lower()) or (source,)))
        for destination, source in overlay.prefer.items()
    }

    def values(mapping: Mapping[str, Any]) -> dict[str, Any]:
        return {
            current: value
            for name, value in mapping.items()
            for current in owners.get(name, (name,))
        }

    variables = replace(
        overlay.variables,
        values=values(overlay.variables.values),
        scoped_values=values(overlay.variables.scoped_values),
    )
    return replace(
        overlay,
        environments=primary,
        environment_targets=targets,
        prefer=prefer,
        lines={**overlay.lines, **lines},
        exclude={**overlay.exclude, **selections["exclude"]},
        include={**overlay.include, **selections["include"]},
        selected=selected,
        rename=rename,
        rescope=rescope,
        variables=variables,
    )


def names_of(shot: Snapshot, kind: str) -> set[str]:
    """The names of `kind` in a snapshot (`<project>/<name>` for a project's parts; steps
    of deployment processes too)."""
    if kind == "steps":
        return {
            f"{key.name[0]}/{step['Name']}"
            for key, doc in shot.resources.items()
            if key.kind == "deployment-processes"
            for step in doc.get("Steps", [])
        }
    return {"/".join(key.name) for key in shot.resources if key.kind == kind}


class _SourceNames:
    """Checks names against the source: exact, another case (warning), renamed on the
    source since the entry was written (warning; the entry follows it), deleted since an
    earlier snapshot (warning), or never there (error, with the closest name)."""

    def __init__(
        self,
        reader: _Reader,
        snapshot: Snapshot,
        history: Mapping[str, frozenset[str]],
        identities: History | None = None,
    ) -> None:
        self.reader = reader
        self.history = history
        self.identities = identities
        self.known = {kind: names_of(snapshot, kind) for kind in HISTORY_KINDS}

    def check(
        self,
        node: Any,
        key: str | int,
        name: str,
        kinds: tuple[str, ...],
        label: str,
        *,
        missing: str | None = None,
        keep_new_holder: bool = False,
    ) -> tuple[str, ...]:
        """The current names the entry applies to. `label` names the entry in messages;
        `missing` replaces the error's text; `keep_new_holder`: when the source renamed what
        the entry named and something new took the old name, the entry applies to both (an
        exclusion never lets either through)."""
        known: set[str] = set().union(*(self.known[kind] for kind in kinds))
        followed = self._follow(node, key, name, kinds, label, known, keep_new_holder)
        if followed is not None:
            return followed
        if name in known:
            return (name,)
        spelled = next((k for k in sorted(known) if k.lower() == name.lower()), None)
        if spelled is not None:
            self.reader.warn(
                node,
                key,
                f"{label} is spelled `{spelled}` on the source (names match regardless of "
                "case; write it as the server does)",
            )
        elif any(name.lower() in self.history.get(kind, frozenset()) for kind in kinds):
            self.reader.warn(node, key, f"{label} is no longer on the source; remove this entry")
        else:
            text = missing or f"{label} does not exist on the source"
            self.reader.error(node, key, f"{text}{_hint(name, known)}")
        return (name,)

    def _follow(
        self,
        node: Any,
        key: str | int,
        name: str,
        kinds: tuple[str, ...],
        label: str,
        known: set[str],
        keep_new_holder: bool,
    ) -> tuple[str, ...] | None:
        """What `check` returns when the source renamed what `name` named; None otherwise."""
        if self.identities is None:
            return None
        line = yamlio.line_of(node, key)
        found = [self.identities.follow(kind, name, line) for kind in kinds]
        currents = tuple(dict.fromkeys(n for names in found if names for n in names))
        if not currents or name.lower() in {c.lower() for c in currents}:
            return None  # not renamed (or gone: the plain checks say so)
        shown = ", ".join(f"`{c}`" for c in currents)
        self.reader.warn(
            node,
            key,
            f"{label} was renamed {shown} on the source; update this entry (it applies to "
            f"{shown} until then)",
        )
        if name.lower() not in _lower(known):
            return currents
        if keep_new_holder:
            self.reader.warn(
                node,
                key,
                f"{label}: `{name}` now also names another item on the source, created since "
                "this entry was written: the entry applies to both",
            )
            return (*currents, name)
        self.reader.warn(
            node,
            key,
            f"{label}: `{name}` now names another item on the source, created since this "
            f"entry was written: the entry keeps applying to {shown}, not to the new `{name}`",
        )
        return currents

    def glob(self, node: Any, key: int, pattern: str, kind: str, section: str) -> tuple[str, ...]:
        """What `pattern` selected when written and the source renamed out of its reach:
        still selected, with a warning."""
        if self.identities is None:
            return ()
        renamed = self.identities.matched(kind, pattern, yamlio.line_of(node, key))
        if renamed:
            shown = ", ".join(f"`{c}`" for c in renamed)
            self.reader.warn(
                node,
                key,
                f"{section}.{kind}: `{pattern}` matched what the source has since renamed "
                f"{shown}: still selected; add the new name(s) to this list or rename back",
            )
        return renamed


def _check_destination_environment(
    reader: _Reader,
    node: Any,
    source: str,
    target: str,
    dest_envs: set[str] | None,
    source_envs: set[str],
) -> None:
    """A mapped destination name, against the destination as last recorded (if any)."""
    if dest_envs is None:
        return  # not known before the first push: `plan` checks it against the destination
    if target in dest_envs:
        return
    spelled = next((e for e in dest_envs if e.lower() == target.lower()), None)
    if spelled is not None:
        reader.warn(
            node,
            source,
            f"environment `{target}` is `{spelled}` on the destination (names match regardless "
            f"of case; did you mean `{spelled}`?)",
        )
    elif target.lower() not in _lower(source_envs):
        reader.error(
            node,
            source,
            f"environment `{target}` exists on neither instance{_hint(target, dest_envs)}",
        )


def _hint(name: str, known: Iterable[str]) -> str:
    by_lower = {k.lower(): k for k in sorted(known)}
    close = difflib.get_close_matches(name.lower(), sorted(by_lower), n=1)
    return f" (did you mean `{by_lower[close[0]]}`?)" if close else ""
