"""Where each resource lives in the snapshot tree, and the text of each file. Pure.

File names come from resource names and are reversible (percent-decoding gives the name
back): characters that file systems or git treat specially (`/ \\ : * ? " < > | %`, control
characters, a leading dot, a trailing dot or space) are percent-encoded. Names that would
collide on a case-insensitive file system (`Prod` and `prod` in one folder) get their
capital letters percent-encoded too, so every name keeps a file of its own; the YAML inside
holds the real name either way.

A file name holds at most 255 bytes on every common file system. A name whose encoded form
would not fit is shortened: a prefix of its encoded form, `%~` (which encoding never
produces: a `%` is always escaped) and 16 hex digits of the name's SHA-256, and the full
name is kept in `_names.yaml` at the root of the tree, written only when a name was
shortened. Names that fit keep exactly the file name they always had.

`parse` checks what it reads, so a hand edit fails with a line naming the file and field
rather than deep inside the transform: every file has its place, and the fields the
transform walks into have their shape (a list of steps, a mapping of scopes, ...).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from snapshotsync import yamlio
from snapshotsync.errors import UserError
from snapshotsync.model import JsonDict, ResourceKey, Snapshot

META_FILE = "_meta.yaml"
NAMES_FILE = "_names.yaml"  # shortened file name -> full name, only when one was shortened
MAX_FILE_NAME = 255  # bytes in one path component (ext4, APFS, NTFS, ...)
_SHORTENED = "%~"  # never produced by `encode`, where a raw % is always escaped
_HASH_DIGITS = 16

# kind -> path template; {0}, {1} are the encoded parts of the key's name.
PATHS: dict[str, str] = {
    "environments": "environments/{0}.yaml",
    "project-groups": "project-groups/{0}.yaml",
    "tag-sets": "tag-sets/{0}.yaml",
    "feeds": "feeds/{0}.yaml",
    "git-credentials": "git-credentials/{0}.yaml",
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


class LayoutError(UserError, ValueError):
    """A file in the snapshot tree that does not belong there or cannot be read as one."""


def _escape(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def encode(name: str, *, escape_capitals: bool = False) -> str:
    """A file-name-safe, reversible form of `name`."""
    if not name:
        raise LayoutError("a resource without a name cannot be stored")
    text = _UNSAFE.sub(lambda m: _escape(m.group()), name)
    if escape_capitals:
        # Every letter a case-insensitive file system would fold: `Ñ` as well as `N`.
        text = "".join(_escape(c) if c != c.lower() else c for c in text)
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
            encoded = encode(part, escape_capitals=(folder, part) in clashing)
            parts.append(_fit(encoded, part, _SUFFIX[key.kind][depth]))
        result[key] = PATHS[key.kind].format(*parts)
    return result


def _component_suffixes(template: str) -> tuple[int, ...]:
    """For each name part of a template, the bytes its file name adds (`.yaml`: 5)."""
    lengths = []
    for index in range(template.count("{")):
        component = next(c for c in template.split("/") if f"{{{index}}}" in c)
        lengths.append(len(component.encode()) - len(f"{{{index}}}"))
    return tuple(lengths)


_SUFFIX = {kind: _component_suffixes(template) for kind, template in PATHS.items()}


def _fit(encoded: str, name: str, suffix: int) -> str:
    """`encoded`, or its shortened form when the file name would exceed the limit."""
    room = MAX_FILE_NAME - suffix
    if len(encoded.encode("utf-8")) <= room:
        return encoded
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_DIGITS]
    budget = room - len(_SHORTENED) - _HASH_DIGITS
    prefix = encoded.encode("utf-8")[:budget].decode("utf-8", "ignore")  # whole characters
    prefix = re.sub(r"%[0-9A-F]?$", "", prefix)  # and whole escapes
    return f"{prefix}{_SHORTENED}{digest}"


def long_names(snapshot_keys: list[ResourceKey]) -> dict[str, str]:
    """Shortened file-name parts -> the full names they stand for (see the module doc)."""
    if not any(map(_may_be_shortened, snapshot_keys)):
        return {}  # the usual case, found without encoding every name (push asks per write)
    names = {}
    for key, path in paths(snapshot_keys).items():
        match = _match(key.kind, path)
        for part, name in zip(match.groups(), key.name, strict=True):
            if _SHORTENED in part:
                names[part] = name
    return dict(sorted(names.items()))


@functools.lru_cache(maxsize=65_536)
def _may_be_shortened(key: ResourceKey) -> bool:
    """Whether a part of `key`'s name might not fit a file name: encoding writes at most
    three bytes (`%XX`) for each byte of the name, so a name three times whose size fits
    never needs shortening."""
    return any(
        3 * len(part.encode("utf-8", "surrogatepass")) + _SUFFIX[key.kind][depth] > MAX_FILE_NAME
        for depth, part in enumerate(key.name)
    )


def _folder_of(kind: str, depth: int) -> str:
    """Kinds whose names share a folder: a project's name is one folder for all its parts."""
    template = PATHS[kind]
    return template.split("{", 1)[0] if depth == 0 else template.split("}", 1)[1].split("{")[0]


def _match(kind: str, path: str) -> re.Match[str]:
    match = dict(_PATTERNS)[kind].match(path)
    assert match is not None, (kind, path)
    return match


def key_of(path: str, names: Mapping[str, str] | None = None) -> ResourceKey:
    """The resource a relative path holds (the inverse of `paths`); `names` is the index of
    shortened names (`_names.yaml`)."""
    for kind, pattern in _PATTERNS:
        match = pattern.match(path)
        if match:
            return ResourceKey(kind, tuple(_name(part, path, names) for part in match.groups()))
    raise LayoutError(
        f"{path}: not a snapshot file (unknown place in the tree): snapshotsync only reads "
        "the files export writes; move it out of the tree"
    )


def _name(part: str, path: str, names: Mapping[str, str] | None) -> str:
    if _SHORTENED not in part:
        return decode(part)
    if names is None or part not in names:
        raise LayoutError(
            f"{path}: a shortened file name with no entry in {NAMES_FILE}: export again "
            "to rewrite both"
        )
    return names[part]


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
        try:
            text = yamlio.dumps(document)
        except yamlio.YamlError:
            return  # `render` says so, naming the resource
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
    keys = sorted(snapshot.resources)
    for key, path in paths(keys).items():
        try:
            files[path] = texts.of(key, snapshot.resources[key])
        except yamlio.YamlError as error:
            raise LayoutError(f"{key}: {error}") from None
    shortened = long_names(keys)
    if shortened:
        files[NAMES_FILE] = yamlio.dumps({"names": shortened})
    return files


def parse(files: Mapping[str, str], source: str = "snapshot") -> Snapshot:
    """The snapshot held by a tree of files (relative path -> YAML text)."""
    resources: dict[ResourceKey, JsonDict] = {}
    meta: dict[str, Any] = {}
    names = _names_index(files, source)
    for path, text in sorted(files.items()):
        where = f"{source}/{path}"
        if path == NAMES_FILE:
            continue
        try:
            key = None if path == META_FILE else key_of(path, names)
        except LayoutError as error:
            raise LayoutError(f"{source}/{error}") from None
        data = yamlio.loads_fast(text, where)
        if not isinstance(data, dict) and not (key is None and data is None):
            raise LayoutError(f"{where}: expected a mapping at the top")
        problem = _shape_problem(data or {})
        if problem is not None:
            field, expected, found = problem
            line = _line_of(text, field)
            what = "is missing" if found == "missing" else f"must be {expected}, not {found}"
            raise LayoutError(
                f"{where}{f':{line}' if line else ''}: {_dotted(field)} {what}: fix the hand "
                "edit, or export again"
            )
        if key is None:
            meta = dict(data or {})
            created = meta.get("created")
            if created is not None and not (
                isinstance(created, list)
                and all(
                    isinstance(item, list)
                    and len(item) >= 2
                    and all(isinstance(part, str) for part in item)
                    for item in created
                )
            ):
                raise LayoutError(
                    f"{where}: `created:` must be a list of [kind, name...] lists of strings: "
                    f"restore the committed one (git checkout -- {where}), or fix the hand edit"
                )
        elif isinstance(data, dict):
            resources[key] = data
    return Snapshot(resources, meta)


def _names_index(files: Mapping[str, str], source: str) -> dict[str, str]:
    text = files.get(NAMES_FILE)
    if text is None:
        return {}
    data = yamlio.loads_fast(text, f"{source}/{NAMES_FILE}")
    names = data.get("names") if isinstance(data, dict) else None
    if not isinstance(names, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in names.items()
    ):
        raise LayoutError(
            f"{source}/{NAMES_FILE}: expected `names:` mapping shortened file names to names"
        )
    return names


# ---------------------------------------------------------------------- shapes
#
# The fields the transform and the plan walk into, by name (Octopus names a field the same
# wherever it appears). A list or mapping may be null (read as empty); a text may be null.

_TEXT = "text"
_NAME = "name"  # a text, never null
_FIELDS = "mapping"  # a mapping whose own fields are checked by name
_NAMED = "named mapping"  # the same, with a `Name` (a variable)
_ANY_MAPPING = "any mapping"  # a mapping of user-named entries, not looked into
Shape = str | tuple[str, Any]
_TEXTS: Shape = ("list", _TEXT)
_MAPPINGS: Shape = ("list", _FIELDS)
_SHAPES: dict[str, Shape] = {
    "Name": _NAME,
    "Type": _TEXT,
    "Steps": _MAPPINGS,
    "Actions": _MAPPINGS,
    "Phases": _MAPPINGS,
    "Packages": _MAPPINGS,
    "Variables": ("list", _NAMED),
    "ScopedUserRoles": _MAPPINGS,
    "Templates": _MAPPINGS,
    "Channels": _TEXTS,
    "Environments": _TEXTS,
    "ExcludedEnvironments": _TEXTS,
    "TenantTags": _TEXTS,
    "AutomaticDeploymentTargets": _TEXTS,
    "OptionalDeploymentTargets": _TEXTS,
    "Scope": ("map", _TEXTS),
    "ProjectEnvironments": ("map", _TEXTS),
    # Tenant values (`tenantvars`): owner -> template -> values, each {Environments?, Value}.
    "ProjectVariables": ("map", ("map", _MAPPINGS)),
    "CommonVariables": ("map", ("map", _MAPPINGS)),
    "Properties": _ANY_MAPPING,
    "Container": _FIELDS,
    "Filter": _FIELDS,
    "ReleaseCreationStrategy": _FIELDS,
}


def _shape_of(field: str) -> Shape | None:
    if field in _SHAPES:
        return _SHAPES[field]
    if field.endswith("Ids"):
        return _TEXTS
    if field.endswith("Id"):
        return _TEXT
    return None


def _is_typed_ref(value: Any) -> bool:
    """`{"Ref": {"kind": ..., "name": ...}}`: what an id found by the hidden-id pass becomes."""
    if not isinstance(value, dict) or len(value) != 1 or not isinstance(value.get("Ref"), dict):
        return False
    ref = value["Ref"]
    return set(ref) == {"kind", "name"} and all(isinstance(v, str) for v in ref.values())


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return "a text"


_PLURAL = {_TEXT: "texts", _NAME: "texts"}


def _describe(shape: Shape) -> str:
    if shape in (_TEXT, _NAME):
        return "a text"
    return "a list" if isinstance(shape, tuple) and shape[0] == "list" else "a mapping"


def _shape_problem(
    value: Any, shape: Shape = _FIELDS, where: tuple[str | int, ...] = ()
) -> tuple[tuple[str | int, ...], str, str] | None:
    """(path, expected, found) of the first value not of its shape, or None."""
    if value is None:
        return (where, "a text", "null") if shape == _NAME else None
    if shape == _TEXT and _is_typed_ref(value):
        return None  # an id no registry reference names, written by name (`normalize`)
    if shape in (_TEXT, _NAME):
        return None if isinstance(value, str) else (where, "a text", _kind_of(value))
    if isinstance(shape, tuple):
        container, inner = shape
        if container == "list":
            if not isinstance(value, list):
                return where, f"a list of {_PLURAL.get(inner, 'mappings')}", _kind_of(value)
            items: list[tuple[str | int, Any]] = list(enumerate(value))
        else:
            if not isinstance(value, dict):
                return where, "a mapping", _kind_of(value)
            items = list(value.items())
        for index, item in items:
            if item is None:
                return (*where, index), _describe(inner), "null"
            found = _shape_problem(item, inner, (*where, index))
            if found is not None:
                return found
        return None
    if not isinstance(value, dict):
        return where, "a mapping", _kind_of(value)
    if shape == _NAMED and "Name" not in value:
        return (*where, "Name"), "a text", "missing"
    for key, item in value.items():
        if not isinstance(key, str):
            return (*where, str(key)), "a field named by a text (quote it)", _kind_of(key)
        if shape == _ANY_MAPPING:
            continue
        field_shape = _shape_of(key)
        if field_shape is not None:
            found = _shape_problem(item, field_shape, (*where, key))
        elif isinstance(item, dict):
            found = _shape_problem(item, _FIELDS, (*where, key))
        elif isinstance(item, list):
            found = next(
                (
                    problem
                    for index, element in enumerate(item)
                    if isinstance(element, dict)
                    and (problem := _shape_problem(element, _FIELDS, (*where, key, index)))
                ),
                None,
            )
        else:
            found = None
        if found is not None:
            return found
    return None


def _dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "the document"


def _line_of(text: str, path: tuple[str | int, ...]) -> int | None:
    """The line of `path` in `text` (read again, with line numbers: only on an error)."""
    try:
        node = yamlio.loads(text)
    except UserError:
        return None
    line = yamlio.line_of(node)
    for part in path:
        try:
            line = yamlio.line_of(node, part) or line
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    return line
