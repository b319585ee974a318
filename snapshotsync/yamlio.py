"""The one place that reads and writes YAML (ruamel.yaml), with fixed formatting.

Dumping is deterministic: keys keep the order they are given in, two-space indentation,
no line wrapping, a trailing newline, and multi-line strings as literal block scalars so a
script reads as a script in `git diff`. Loading keeps line numbers so errors can point at
`file:line`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

from snapshotsync.errors import UserError


class YamlError(UserError):
    """A YAML file could not be parsed; the message names file and line."""


def _dumper() -> YAML:
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 1_000_000  # never fold long lines: a fold is a diff nobody made
    yaml.allow_unicode = True
    return yaml


def _literalize(value: Any) -> Any:
    """Turn multi-line strings into block scalars, recursively."""
    if isinstance(value, str):
        # Trailing spaces on a line cannot be represented in a block scalar.
        if "\n" in value and not any(line.endswith((" ", "\t")) for line in value.split("\n")):
            return LiteralScalarString(value)
        return value
    if isinstance(value, Mapping):
        return {key: _literalize(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_literalize(item) for item in value]
    return value


def dumps(data: Any) -> str:
    """Serialize `data` to YAML text with the project's fixed formatting."""
    buffer = io.StringIO()
    _dumper().dump(_literalize(data), buffer)
    return buffer.getvalue()


def loads(text: str, source: str = "<string>") -> Any:
    """Parse YAML text, keeping line numbers (CommentedMap/CommentedSeq)."""
    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise YamlError(f"{source}{line}: invalid YAML: {exc.problem or exc}") from None
    except YAMLError as exc:
        raise YamlError(f"{source}: invalid YAML: {exc}") from None


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
    """Convert ruamel's round-trip containers to plain dicts, lists and strings."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, str):
        return str(value)
    return value
