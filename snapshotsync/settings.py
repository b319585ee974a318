"""`snapshotsync.yaml`: the sync repo's configuration, and the frozen `Settings` built from it.

API keys are never stored in files: the config names an environment variable
(`api_key_env`) and the key is read from the environment when an instance is contacted.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from snapshotsync import log, yamlio
from snapshotsync.errors import ConfigError

CONFIG_FILE = "snapshotsync.yaml"
FORMAT_VERSION = 1
_INSTANCE_KEYS = {"url", "space", "api_key_env"}
_TARGET_KEYS = _INSTANCE_KEYS | {"overlay"}
_TOP_KEYS = {"format_version", "source", "targets", "http"}
_HTTP_KEYS = {"timeout": float, "retries": int, "backoff": float, "max_rps": float}
_TARGET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # a folder under targets/


@dataclass(frozen=True)
class Instance:
    """How to reach one Octopus instance (the key itself stays in the environment)."""

    name: str
    url: str
    space: str
    api_key_env: str

    def api_key(self) -> str:
        """Read the API key from the environment; it is registered for redaction."""
        key = os.environ.get(self.api_key_env, "")
        if not key:
            raise ConfigError(
                f"{self.name}: the API key is read from the environment variable "
                f"{self.api_key_env}, which is not set. Export it and run again."
            )
        log.register_secret(key)
        return key


@dataclass(frozen=True)
class Target(Instance):
    overlay: Path = Path()


@dataclass(frozen=True)
class Http:
    """How patient to be with a server (`http:` in snapshotsync.yaml)."""

    timeout: float = 60.0  # seconds for one call
    retries: int = 5  # retries after the first attempt
    backoff: float = 0.25  # first retry delay in seconds, doubled each time
    max_rps: float = 0.0  # calls per second to one instance (0: no limit)


@dataclass(frozen=True)
class Config:
    """The parsed `snapshotsync.yaml`."""

    path: Path
    source: Instance
    targets: dict[str, Target] = field(default_factory=dict)
    http: Http = Http()

    def target(self, name: str) -> Target:
        try:
            return self.targets[name]
        except KeyError:
            known = ", ".join(sorted(self.targets)) or "none"
            raise ConfigError(f"{self.path}: no target named {name!r} (targets: {known})") from None


def _where(path: Path, node: Any, key: str | None = None) -> str:
    line = yamlio.line_of(node, key)
    return f"{path}:{line}" if line else str(path)


def _instance_fields(path: Path, node: Any, name: str, allowed: set[str]) -> dict[str, str]:
    if not isinstance(node, dict):
        raise ConfigError(f"{_where(path, node)}: {name} must be a mapping")
    unknown = sorted(set(map(str, node)) - allowed)
    if unknown:
        raise ConfigError(
            f"{_where(path, node, unknown[0])}: unknown key {unknown[0]!r} in {name} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )
    values: dict[str, str] = {}
    for key in sorted(_INSTANCE_KEYS):
        value = node.get(key)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{_where(path, node)}: {name} needs {key!r} (a string)")
        values[key] = value
    if values["api_key_env"].startswith("API-"):
        raise ConfigError(
            f"{_where(path, node, 'api_key_env')}: api_key_env must name an environment "
            "variable, not hold the key itself"
        )
    problem = url_problem(values["url"])
    if problem:
        _, at, host = values["url"].rpartition("@")
        shown = f"***@{host}" if at else values["url"]  # never repeat a password
        raise ConfigError(
            f"{_where(path, node, 'url')}: {name} url {shown!r} {problem}: write it "
            "like https://octopus.example.com"
        )
    return values


def url_problem(url: str) -> str | None:
    """What is wrong with an Octopus server address, or None."""
    if any(c.isspace() or ord(c) < 32 for c in url):
        return "holds a space or a control character"
    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018 - an unclosed `[` of an IPv6 address fails here
    except ValueError:
        return "is not a valid URL (an IPv6 address goes in brackets: http://[::1]:8080)"
    if parts.scheme not in ("http", "https"):
        return "must start with https:// (or http://)"
    if not parts.hostname:
        return "names no host"
    if parts.username is not None or parts.password is not None:
        return "must not hold a user or a password (API keys come from the environment)"
    if parts.query or parts.fragment:
        return "must not hold a query (?...) or a fragment (#...)"
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        return "has a port that is not a number from 0 to 65535"
    return None


def find_repo(start: Path) -> Path:
    """The sync repo holding `start`, found the way git finds its repository: `start`
    itself, or the nearest directory above it with a `snapshotsync.yaml`, not past the top
    of the git work tree `start` is in. None found: `start` (its error names it)."""
    here = start.resolve()
    for directory in (here, *here.parents):
        if (directory / CONFIG_FILE).is_file():
            return start if directory == here else directory
        if (directory / ".git").exists():
            break
    return start


def load_config(repo: Path) -> Config:
    """Read and validate `<repo>/snapshotsync.yaml`."""
    path = repo / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"{path} not found: run `snapshotsync init {repo}` first, or pass --repo")
    data = yamlio.load_file(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top")
    unknown = sorted(set(map(str, data)) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{_where(path, data, unknown[0])}: unknown key {unknown[0]!r}")
    if data.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            f"{_where(path, data, 'format_version')}: format_version must be {FORMAT_VERSION}"
        )
    source = Instance(
        name="source", **_instance_fields(path, data.get("source"), "source", _INSTANCE_KEYS)
    )
    targets: dict[str, Target] = {}
    raw_targets = data.get("targets") or {}
    if not isinstance(raw_targets, dict):
        raise ConfigError(f"{_where(path, data, 'targets')}: targets must be a mapping")
    for name, node in raw_targets.items():
        if not isinstance(name, str) or not _TARGET_NAME.fullmatch(name):
            raise ConfigError(
                f"{_where(path, raw_targets, name)}: target name {name!r} must be a plain word "
                "(letters, digits, - _ .): it names the folder targets/<name>/"
            )
        values = _instance_fields(path, node, f"target {name!r}", _TARGET_KEYS)
        overlay = node.get("overlay") or f"overlays/{name}.yaml"
        targets[str(name)] = Target(name=str(name), overlay=repo / str(overlay), **values)
    return Config(path=path, source=source, targets=targets, http=_http(path, data.get("http")))


def _http(path: Path, node: Any) -> Http:
    if node is None:
        return Http()
    if not isinstance(node, dict):
        raise ConfigError(f"{_where(path, node)}: http must be a mapping")
    values: dict[str, Any] = {}
    for key, value in node.items():
        kind = _HTTP_KEYS.get(str(key))
        if kind is None:
            raise ConfigError(
                f"{_where(path, node, key)}: unknown key {key!r} in http "
                f"(allowed: {', '.join(sorted(_HTTP_KEYS))})"
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ConfigError(f"{_where(path, node, key)}: http.{key} must be a number >= 0")
        if kind is int and value != int(value):
            raise ConfigError(f"{_where(path, node, key)}: http.{key} must be a whole number")
        if key == "timeout" and not 0 < value <= 3600:
            raise ConfigError(
                f"{_where(path, node, key)}: http.timeout must be more than 0 and at most 3600 "
                "seconds (it bounds each call)"
            )
        values[str(key)] = kind(value)
    return Http(**values)


@dataclass(frozen=True)
class Settings:
    """Options shared by every command, built once at the CLI edge."""

    repo: Path
    verbose: int = 0
    concurrency: int = 8
    max_rps: float | None = None  # overrides `http.max_rps` of snapshotsync.yaml
