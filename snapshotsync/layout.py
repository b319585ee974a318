"""Where each resource lives in the snapshot tree, and the text of each file. Pure.

File names come from resource names and are reversible (percent-decoding gives the name
back): characters that file systems or git treat specially (`/ \\ : * ? " < > | %`, control
characters, a leading dot, a trailing dot or space) are percent-encoded. Names that would
collide on a case-insensitive file system (`Prod` and `prod` in one folder) get their
capital letters percent-encoded too, so every name keeps a file of its own; the YAML inside
holds the real name either way.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from snapshotsync import yamlio
from snapshotsync.model import JsonDict, ResourceKey, Snapshot

META_FILE = "_meta.yaml"

# kind -> path template; {0}, {1} are the encoded parts of the key's name.
PATHS: dict[str, str] = {
    "environments": "environments/{0}.yaml",
    "project-groups": "project-groups/{0}.yaml",
    "tag-sets": "tag-sets/{0}.yaml",
    "feeds": "feeds/{0}.yaml",
    "user-roles": "user-roles/{0}.yaml",
    "teams": "teams/{0}/team.yaml",
    "team-permissions": "teams/{0}/permissions.yaml",
    "machine-policies": "machine-policies/{0}.yaml",
    "worker-pools": "worker-pools/{0}.yaml",
    "accounts": "accounts/{0}.yaml",
    "step-templates": "step-templates/{0}.yaml",
    "script-modules": "script-modules/{0}.yaml",
    "lifecycles": "lifecycles/{0}.yaml",
    "tenants": "tenants/{0}/tenant.yaml",
    "tenant-variables": "tenants/{0}/variables.yaml",
    "certificates": "certificates/{0}.yaml",
    "library-variable-sets": "library-variable-sets/{0}/set.yaml",
    "library-variables": "library-variable-sets/{0}/variables.yaml",
    "projects": "projects/{0}/project.yaml",
    "channels": "projects/{0}/channels/{1}.yaml",
    "deployment-processes": "projects/{0}/deployment-process.yaml",
    "runbooks": "projects/{0}/runbooks/{1}/runbook.yaml",
    "runbook-processes": "projects/{0}/runbooks/{1}/process.yaml",
    "project-variables": "projects/{0}/variables.yaml",
    "triggers": "projects/{0}/triggers/{1}.yaml",
}
_PATTERNS = [
    (
        kind,
        re.compile(
            "^"
            + re.escape(template).replace(r"\{0\}", "([^/]+)").replace(r"\{1\}", "([^/]+)")
            + "$"
        ),
    )
    for kind, template in PATHS.items()
]
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|%]')


class LayoutError(ValueError):
    """A file in the snapshot tree that does not belong to any kind."""


def _escape(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def encode(name: str, *, escape_capitals: bool = False) -> str:
    """A file-name-safe, reversible form of `name`."""
    if not name:
        raise LayoutError("a resource without a name cannot be stored")
    text = _UNSAFE.sub(lambda m: _escape(m.group()), name)
    if escape_capitals:
        text = re.sub(r"[A-Z]", lambda m: _escape(m.group()), text)
    if text.startswith("."):
        text = _escape(".") + text[1:]
    if text.endswith((".", " ")):
        text = text[:-1] + _escape(text[-1])
    return text


def decode(part: str) -> str:
    return unquote(part, errors="strict")


def paths(snapshot_keys: list[ResourceKey]) -> dict[ResourceKey, str]:
    """The relative path of every resource, collision-free on case-insensitive systems."""
    # Names sharing a folder: parts at the same depth with the same parent prefix.
    folders: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for key in snapshot_keys:
        for depth, part in enumerate(key.name):
            folders[(_folder_of(key.kind, depth), *key.name[:depth])].add(part)
    clashing: set[tuple[tuple[str, ...], str]] = set()
    for folder, names in folders.items():
        by_lower: dict[str, list[str]] = defaultdict(list)
        for name in names:
            by_lower[encode(name).lower()].append(name)
        for group in by_lower.values():
            if len(group) > 1:
                clashing.update((folder, name) for name in group)
    result = {}
    for key in snapshot_keys:
        parts = []
        for depth, part in enumerate(key.name):
            folder = (_folder_of(key.kind, depth), *key.name[:depth])
            parts.append(encode(part, escape_capitals=(folder, part) in clashing))
        result[key] = PATHS[key.kind].format(*parts)
    return result


def _folder_of(kind: str, depth: int) -> str:
    """Kinds whose names share a folder: a project's name is one folder for all its parts."""
    template = PATHS[kind]
    return template.split("{", 1)[0] if depth == 0 else template.split("}", 1)[1].split("{")[0]


def key_of(path: str) -> ResourceKey:
    """The resource a relative path holds (the inverse of `paths`)."""
    for kind, pattern in _PATTERNS:
        match = pattern.match(path)
        if match:
            return ResourceKey(kind, tuple(decode(part) for part in match.groups()))
    raise LayoutError(f"{path}: not a snapshot file (unknown place in the tree)")


class Texts:
    """The text of documents written ahead of `render` (export writes each one as soon as
    it is normalized, while the rest is still being read), by key.

    With `write` and the keys expected (`expect`), each text also goes to `write` under the
    path its resource will have, so the files too are written while reading; `render` is
    still what says which files the tree holds (the writer of the tree reconciles).
    """

    def __init__(self, write: Callable[[str, str], None] | None = None) -> None:
        self.by_key: dict[ResourceKey, tuple[JsonDict, str]] = {}
        self.write = write
        self.places: dict[ResourceKey, str] = {}

    def expect(self, keys: Iterable[ResourceKey]) -> None:
        """The resources the snapshot will most likely hold: their paths are known now."""
        self.places = paths(sorted(set(keys)))

    def add(self, key: ResourceKey, document: JsonDict) -> None:
        text = yamlio.dumps(document)
        self.by_key[key] = (document, text)
        place = self.places.get(key)
        if self.write is not None and place is not None:
            self.write(place, text)

    def of(self, key: ResourceKey, document: JsonDict) -> str:
        """The text of `document`: the one written ahead when it was this very document."""
        ahead = self.by_key.get(key)
        if ahead is not None and ahead[0] is document:
            return ahead[1]
        return yamlio.dumps(document)


def render(snapshot: Snapshot, texts: Texts | None = None) -> dict[str, str]:
    """Every file of the snapshot tree: relative path -> YAML text."""
    texts = texts or Texts()
    files = {META_FILE: yamlio.dumps(dict(snapshot.meta))}
    for key, path in paths(sorted(snapshot.resources)).items():
        files[path] = texts.of(key, snapshot.resources[key])
    return files


def parse(files: Mapping[str, str], source: str = "snapshot") -> Snapshot:
    """The snapshot held by a tree of files (relative path -> YAML text)."""
    resources: dict[ResourceKey, JsonDict] = {}
    meta: dict[str, Any] = {}
    for path, text in sorted(files.items()):
        where = f"{source}/{path}"
        data = yamlio.loads_fast(text, where)
        if path == META_FILE:
            meta = dict(data or {})
            continue
        key = key_of(path)
        if not isinstance(data, dict):
            raise LayoutError(f"{where}: expected a mapping")
        resources[key] = data
    return Snapshot(resources, meta)
