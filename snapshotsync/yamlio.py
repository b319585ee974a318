"""The one place that reads and writes YAML (ruamel.yaml), with fixed formatting.

Dumping is deterministic: keys keep the order they are given in, no line wrapping, a
trailing newline, and multi-line strings as literal block scalars so a script reads as a
script in `git diff`. Files people write (config, overlays) are loaded in round-trip mode,
which keeps line numbers so errors can point at `file:line`. The snapshot, thousands of
files written by us, goes through ruamel's libyaml-backed safe mode (`ruamel.yaml.clib`):
the round-trip writer spent 3 ms a file, most of an export's CPU (benchmarks/README.md).

Everything written must read back the same with both readers (tests/test_yamlio.py checks
it with arbitrary Unicode): a string holding a character that libyaml and the pure-Python
reader could disagree on (the line separators U+2028/U+2029/NEL, CR, a BOM, anything
non-printable) is written double-quoted, where it is an escape. A lone UTF-16 surrogate is
not Unicode at all and cannot be stored: it is refused with a clear error.

The files snapshotsync writes (the snapshot and the records under `targets/`) never hold
YAML anchors or aliases, so `loads_fast` refuses them: an alias bomb fails at once with
`file:line` instead of growing into billions of nodes further down. Files people write
(the config, the overlays) are read by `loads`, where anchors stay a convenience.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent

from snapshotsync.errors import UserError


class YamlError(UserError):
    """A YAML file could not be parsed; the message names file and line."""


# Characters outside YAML's printable set, and the line breaks other than LF that the two
# readers treat differently inside plain, single-quoted and block scalars.
_NEEDS_ESCAPES = re.compile(
    "[^\t\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
# Where an anchor (`&a`) or an alias (`*a`) could start: cheap to look for, so the event
# scan that finds them exactly only runs on the files that might hold one.
_ANCHOR_OR_ALIAS = re.compile(r"(?:^|[\s\[{,:])[&*][^\s\[\]{},]", re.MULTILINE)


def _block_strings(representer: Any, data: str) -> Any:
    """Multi-line strings as `|` blocks (trailing spaces on a line cannot be, so they stay
    quoted); strings with characters the readers could disagree on, double-quoted."""
    special = _NEEDS_ESCAPES.search(data)
    if special is not None:
        surrogate = _SURROGATE.search(data)
        if surrogate is not None:
            raise YamlError(
                f"a text holds a lone UTF-16 surrogate (U+{ord(surrogate.group()):04X}), "
                f"which is not Unicode and cannot be stored: {data[:40]!r}"
            )
        return representer.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    if "\n" in data and not any(line.endswith((" ", "\t")) for line in data.split("\n")):
        return representer.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return representer.represent_scalar("tag:yaml.org,2002:str", data)


class _NoAliases(SafeConstructor):
    """The safe constructor, refusing a node met twice (what an alias is, once composed)."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        if node in self.constructed_objects or node in self.recursive_objects:
            raise _AliasFound(node.start_mark.line)
        return super().construct_object(node, deep)


class _AliasFound(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _fast() -> YAML:
    yaml = YAML(typ="safe", pure=False)  # the C emitter and parser when installed
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 1_000_000  # never fold long lines: a fold is a diff nobody made
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]  # keep key order
    yaml.representer.add_representer(str, _block_strings)
    yaml.representer.ignore_aliases = lambda _data: True  # never write an anchor
    yaml.Constructor = _NoAliases
    return yaml


_FAST = threading.local()


def _fast_yaml() -> YAML:
    """One configured instance per thread (a YAML object is not thread-safe)."""
    if not hasattr(_FAST, "yaml"):
        _FAST.yaml = _fast()
    return cast(YAML, _FAST.yaml)


def _forget_fast_yaml() -> None:
    if hasattr(_FAST, "yaml"):
        del _FAST.yaml


def dumps(data: Any) -> str:
    """Serialize `data` (plain dicts, lists, strings, numbers) with the fixed formatting."""
    buffer = io.StringIO()
    try:
        _fast_yaml().dump(plain(data), buffer)
    except BaseException:
        _forget_fast_yaml()  # a dump stopped half-way leaves the emitter mid-document
        raise
    return buffer.getvalue()


def _parse(yaml: YAML, text: str, source: str) -> Any:
    try:
        return yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise YamlError(f"{source}{line}: invalid YAML: {exc.problem or exc}") from None
    except YAMLError as exc:
        raise YamlError(f"{source}: invalid YAML: {exc}") from None


def loads_fast(text: str, source: str = "<string>") -> Any:
    """Parse YAML we wrote ourselves (the snapshot, the records) into plain data, fast;
    errors name file and line. Anchors and aliases are refused: we never write them."""
    try:
        if _ANCHOR_OR_ALIAS.search(text):
            _refuse_anchors(_fast_yaml(), text, source)
        return _load_without_aliases(text, source)
    except BaseException:
        _forget_fast_yaml()  # a parse stopped half-way may leave state behind
        raise


def _load_without_aliases(text: str, source: str) -> Any:
    """The load itself, whose constructor refuses any node used twice (an alias)."""
    try:
        return _parse(_fast_yaml(), text, source)
    except _AliasFound as found:
        _forget_fast_yaml()  # the constructor stopped half-way
        raise _alias_error(source, found.line) from None


def _refuse_anchors(yaml: YAML, text: str, source: str) -> None:
    try:
        for event in yaml.parse(text):
            if isinstance(event, AliasEvent) or getattr(event, "anchor", None):
                raise _alias_error(source, event.start_mark.line)
    except YAMLError:
        _forget_fast_yaml()
        return  # the load that follows reports it with its line


def _alias_error(source: str, line: int) -> YamlError:
    return YamlError(
        f"{source}:{line + 1}: YAML anchors and aliases (&name, *name) are not allowed in "
        "files snapshotsync writes: write the value out in full"
    )


def loads(text: str, source: str = "<string>") -> Any:
    """Parse YAML text, keeping line numbers (CommentedMap/CommentedSeq)."""
    return _parse(YAML(typ="rt"), text, source)


def load_file(path: Path) -> Any:
    """Parse a YAML file; errors name the file and the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlError(f"{path}: cannot read: {exc.strerror}") from None
    return loads(text, str(path))


def line_of(node: Any, key: str | int | None = None) -> int | None:
    """The 1-based line of `node` (or of `node[key]`) in its source, when known."""
    if isinstance(node, CommentedMap | CommentedSeq):
        try:
            if key is None:
                return int(node.lc.line) + 1
            return (
                int(node.lc.key(key)[0] if isinstance(node, CommentedMap) else node.lc.item(key)[0])
                + 1
            )
        except (KeyError, IndexError, TypeError):
            return None
    return None


def plain(value: Any) -> Any:
    """Convert ruamel's round-trip types to plain dicts, lists, strings and numbers."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value
