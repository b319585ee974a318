"""The one place that reads and writes YAML (ruamel.yaml), with fixed formatting.

Dumping is deterministic: keys keep the order they are given in, no line wrapping, a
trailing newline, and multi-line strings as literal block scalars so a script reads as a
script in `git diff`. Files people write (config, overlays) are loaded in round-trip mode,
which keeps line numbers so errors can point at `file:line`. The snapshot, thousands of
files written by us, goes through ruamel's libyaml-backed safe mode (`ruamel.yaml.clib`):
the round-trip writer spent 3 ms a file, most of an export's CPU (benchmarks/README.md).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from snapshotsync.errors import UserError


class YamlError(UserError):
    """A YAML file could not be parsed; the message names file and line."""


def _block_strings(representer: Any, data: str) -> Any:
    """Multi-line strings as `|` blocks (trailing spaces on a line cannot be, so they stay
    quoted)."""
    if "\n" in data and not any(line.endswith((" ", "\t")) for line in data.split("\n")):
        return representer.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return representer.represent_scalar("tag:yaml.org,2002:str", data)


def _fast() -> YAML:
    yaml = YAML(typ="safe", pure=False)  # the C emitter and parser when installed
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 1_000_000  # never fold long lines: a fold is a diff nobody made
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]  # keep key order
    yaml.representer.add_representer(str, _block_strings)
    return yaml


_FAST = threading.local()


def _fast_yaml() -> YAML:
    """One configured instance per thread (a YAML object is not thread-safe)."""
    if not hasattr(_FAST, "yaml"):
        _FAST.yaml = _fast()
    return cast(YAML, _FAST.yaml)


def dumps(data: Any) -> str:
    """Serialize `data` (plain dicts, lists, strings, numbers) with the fixed formatting."""
    buffer = io.StringIO()
    _fast_yaml().dump(plain(data), buffer)
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
    """Parse YAML we wrote ourselves into plain data, fast; errors name file and line."""
    return _parse(_fast_yaml(), text, source)


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
