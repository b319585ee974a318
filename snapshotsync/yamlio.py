"""The one place that reads and writes YAML, with fixed formatting.

Dumping is deterministic: keys keep the order they are given in, no line wrapping, a
trailing newline, and multi-line strings as literal block scalars so a script reads as a
script in `git diff`. Files people write (config, overlays) are loaded with ruamel.yaml in
round-trip mode, which keeps line numbers so errors can point at `file:line`.

Everything written must read back the same with both readers (tests/test_yamlio.py checks
it with arbitrary Unicode): a string holding a character that libyaml and the pure-Python
reader could disagree on (the line separators U+2028/U+2029/NEL, CR, a BOM, anything
non-printable) is written double-quoted, where it is an escape. A lone UTF-16 surrogate is
not Unicode at all and cannot be stored: it is refused with a clear error.

The files snapshotsync writes (the snapshot and the records under `targets/`) never hold
YAML anchors or aliases, so `loads_fast` refuses them: an alias bomb fails at once with
`file:line` instead of growing into billions of nodes further down. Files people write
(the config, the overlays) are read by `loads`, where anchors stay a convenience.

Those files, thousands of them, are the hot path of export, plan and push. Their format is
what ruamel.yaml's libyaml-backed safe mode (`ruamel.yaml.clib`) writes for plain data, and
that writer stays the reference (`dumps_libyaml`); but ruamel's Python representer in front
of libyaml cost 1 ms a file, half of an export's CPU. `dumps` writes the same bytes itself:
libyaml's rules for choosing and writing a scalar style (ruamel.yaml.clib emitter.c:
`yaml_emitter_analyze_scalar`, `yaml_emitter_select_scalar_style`, the
`yaml_emitter_write_*` functions) applied to block mappings and sequences indented by 2,
with the implicit resolvers of ruamel's own `Resolver` and the representer's choices above.
Anything outside that subset (a key longer than 128 bytes or spanning lines, a string of
more than 100,000 characters, a type other than dict, list, str, int, float, bool and None)
goes to the reference writer. `loads_fast` reads that form itself and keeps what it read
only when `dumps` writes it back to the same text; anything else goes to libyaml.
tests/test_yamlio.py proves both identical to the reference on the sample snapshots, a
generated instance and arbitrary documents.
"""

from __future__ import annotations

import io
import re
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.resolver import Resolver

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


def dumps_libyaml(data: Any) -> str:
    """The reference writer: ruamel.yaml's representer in front of libyaml's emitter."""
    buffer = io.StringIO()
    try:
        _fast_yaml().dump(plain(data), buffer)
    except BaseException:
        _forget_fast_yaml()  # a dump stopped half-way leaves the emitter mid-document
        raise
    return buffer.getvalue()


def dumps(data: Any) -> str:
    """Serialize `data` (plain dicts, lists, strings, numbers) with the fixed formatting:
    the bytes `dumps_libyaml` writes, five to ten times faster."""
    if isinstance(data, Mapping) and data:
        out: list[str] = []
        try:
            _mapping(data, "", "", out)
        except _Unsupported:
            return dumps_libyaml(data)
        return "".join(out)
    return dumps_libyaml(data)


# ---------------------------------------------------------------- the snapshot writer


class _Unsupported(Exception):
    """Outside what `dumps` writes itself: the reference writer takes the document."""


_LONGEST = 100_000  # longer strings could reach libyaml's width of 1,000,000 and fold
_INDENT = "  "
# What is written double-quoted, escaped: what libyaml's emitter cannot print (IS_PRINTABLE
# is LF, ASCII 0x20-0x7E, U+00A0 to U+D7FF and U+E000 to U+FFFD without the BOM: so tabs and
# characters beyond U+FFFF are escaped too), and what `_block_strings` has escaped besides
# (_NEEDS_ESCAPES: the line separators U+2028 and U+2029).
_DOUBLE_QUOTED = re.compile("[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]")
_BREAKS = "\r\n\x85\u2028\u2029"
_BLANKZ = "[ \t\r\n\x85\u2028\u2029\x00]"
# What makes a plain scalar ambiguous in block context (yaml_emitter_analyze_scalar's
# block_indicators): a document marker or an indicator first, `: ` anywhere, ` #` anywhere.
_BLOCK_INDICATOR = re.compile(
    "^(?:---|\\.\\.\\.|[#,\\[\\]{}&*!|>'\"%@`]|[?:\\-](?:" + _BLANKZ + "|\\Z))"
    "|[\\s\\S]:(?:" + _BLANKZ + "|\\Z)"
    "|" + _BLANKZ + "#"
)
_SPACE_NEXT_TO_BREAK = re.compile("[" + _BREAKS + "] | [" + _BREAKS + "]")
_LINE_RUNS = re.compile("\n+")
# What a double-quoted scalar escapes: the not printable, line breaks, the BOM, `"` and `\\`.
_DOUBLE_ESCAPED = re.compile(
    "[^\\x20\\x21\\x23-\\x5b\\x5d-\\x7e\\xa0-\\u2027\\u202a-\\ud7ff\\ue000-\\ufefe\\uff00-\\ufffd]"
)
_NAMED_ESCAPES = {
    "\x00": "\\0",
    "\x07": "\\a",
    "\x08": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\x0b": "\\v",
    "\x0c": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
    '"': '\\"',
    "\\": "\\\\",
    "\x85": "\\N",
    "\xa0": "\\_",
    "\u2028": "\\L",
    "\u2029": "\\P",
}
# The implicit resolvers the reference writer asks (ruamel's YAML 1.2 `Resolver`), by first
# character: a string one of them matches must be quoted, or it would read back as a number,
# a boolean, null, a date...
_RESOLVERS: dict[str, list[tuple[str, Any]]] = {
    first: list(pairs) for first, pairs in Resolver.yaml_implicit_resolvers.items()
}
_FLOAT_TAG = "tag:yaml.org,2002:float"
# Names, property keys, environments, booleans... repeat across thousands of files: what
# was worked out for one is remembered (short texts only, at most _CACHE_LIMIT of each).
_KEYS: dict[str, str] = {}  # key -> its text
_TOKENS: dict[str, str] = {}  # one-line string -> its text after `key:` or `-`
_CACHE_LIMIT = 20_000
_CACHED_LENGTH = 200


def _resolved(text: str) -> str | None:
    """The tag a plain scalar `text` would be read as, None for a string."""
    for tag, regexp in _RESOLVERS.get(text[:1], ()):
        if regexp.match(text):
            return str(tag)
    return None


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02X}"
    if code <= 0xFFFF:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


def _double_quoted(text: str) -> str:
    return '"' + _DOUBLE_ESCAPED.sub(_escape, text) + '"'


def _plain_allowed(text: str) -> bool:
    """A one-line string without unprintable characters that libyaml writes plain."""
    return (
        text != ""
        and text[0] != " "
        and text[-1] != " "
        and _BLOCK_INDICATOR.search(text) is None
        and _resolved(text) is None
    )


def _one_line(text: str) -> str:
    """The text of a string without line breaks or unprintable characters."""
    if _plain_allowed(text):
        return text
    return "'" + text.replace("'", "''") + "'"


def _remember(cache: dict[str, str], text: str, token: str) -> str:
    if len(text) <= _CACHED_LENGTH:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[text] = token
    return token


def _key(key: Any) -> str:
    text = key if type(key) is str else str(key)
    token = _KEYS.get(text)
    if token is not None:
        return token
    if len(text) > 32 and len(text.encode("utf-8", "surrogatepass")) > 128:
        raise _Unsupported  # not a simple key: written as `? key`
    if any(char in text for char in _BREAKS):
        raise _Unsupported  # a key spanning lines is never simple either
    if _SURROGATE.search(text):
        raise _Unsupported  # not Unicode: the reference writer refuses it clearly
    token = _double_quoted(text) if _DOUBLE_QUOTED.search(text) else _one_line(text)
    return _remember(_KEYS, text, token)


def _string(text: str, indent: str) -> str:
    """A string's text after `key:` or `-`, for a node indented by `indent`."""
    token = _TOKENS.get(text)
    if token is not None:
        return token
    if len(text) > _LONGEST or _SURROGATE.search(text):
        raise _Unsupported  # folded by libyaml, or refused by the representer
    if _DOUBLE_QUOTED.search(text):
        quoted = _double_quoted(text)
        if len(quoted) > _LONGEST:
            # Escaping made it up to ten times longer (`\U0001F600`): libyaml may fold it
            # at a space past its width, which this writer does not do.
            raise _Unsupported
        return _remember(_TOKENS, text, " " + quoted)
    if "\n" not in text:
        return _remember(_TOKENS, text, " " + _one_line(text))
    lines = text.split("\n")
    scalar_indent = indent + _INDENT
    if not any(line.endswith(" ") for line in lines):
        # The representer asks for a literal block, and libyaml agrees (nothing escaped).
        hint = "2" if text[0] in " \n" else ""
        if text[-1] != "\n":
            chomp = "-"
        elif len(text) == 1 or text[-2] == "\n":
            chomp = "+"
        else:
            chomp = ""
        body = "\n".join(scalar_indent + line if line else "" for line in lines)
        return f" |{hint}{chomp}\n{body}"
    if _SPACE_NEXT_TO_BREAK.search(text):
        return " " + _double_quoted(text)
    # Only the last line ends with a space: single-quoted, each run of line breaks written
    # once more (a single-quoted scalar folds one), the next line indented.
    quoted = text.replace("'", "''")
    folded = _LINE_RUNS.sub(lambda run: "\n" * (len(run.group()) + 1) + scalar_indent, quoted)
    return " '" + folded + "'"


def _float(value: float) -> str:
    if value != value:
        text = ".nan"
    elif value == float("inf"):
        text = ".inf"
    elif value == -float("inf"):
        text = "-.inf"
    else:
        text = repr(value).lower()
    if _resolved(text) != _FLOAT_TAG or _BLOCK_INDICATOR.search(text):
        raise _Unsupported  # the reference writer would tag it
    return " " + text


def _scalar(value: Any, indent: str) -> str:
    """The text of a scalar after `key:` or `-`, with its leading space."""
    if isinstance(value, str):
        return _string(value if type(value) is str else str(value), indent)
    if value is None:
        return " null"
    if isinstance(value, bool):
        return " true" if value else " false"
    if isinstance(value, int):
        return " " + str(int(value))
    if isinstance(value, float):
        return _float(float(value))
    raise _Unsupported


def _mapping(mapping: Mapping[Any, Any], first: str, indent: str, out: list[str]) -> None:
    """A non-empty block mapping whose keys start at `indent`; `first` starts the first line
    (`indent` itself, or the `- ` of the sequence item it is)."""
    prefix = first
    child = indent + _INDENT
    for key, value in mapping.items():
        head = prefix + _key(key) + ":"
        prefix = indent
        if type(value) is str:
            token = _TOKENS.get(value) or _string(value, indent)
        elif isinstance(value, Mapping):
            if value:
                out.append(head + "\n")
                _mapping(value, child, child, out)
                continue
            token = " {}"
        elif isinstance(value, list | tuple):
            if value:
                out.append(head + "\n")
                _sequence(value, indent, indent, out)  # libyaml does not indent these
                continue
            token = " []"
        else:
            token = _scalar(value, indent)
        out.append(head + token if token[-1] == "\n" else head + token + "\n")


def _sequence(items: list[Any] | tuple[Any, ...], first: str, indent: str, out: list[str]) -> None:
    """A non-empty block sequence whose dashes are at `indent`; `first` starts the first
    line (like `_mapping`)."""
    prefix = first
    child = indent + _INDENT
    for value in items:
        head = prefix + "-"
        prefix = indent
        if type(value) is str:
            token = _TOKENS.get(value) or _string(value, indent)
        elif isinstance(value, Mapping):
            if value:
                _mapping(value, head + " ", child, out)
                continue
            token = " {}"
        elif isinstance(value, list | tuple):
            if value:
                _sequence(value, head + " ", child, out)
                continue
            token = " []"
        else:
            token = _scalar(value, indent)
        out.append(head + token if token[-1] == "\n" else head + token + "\n")


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
    """Parse YAML we wrote ourselves into plain data, fast; errors name file and line.

    Text in the form `dumps` writes is read by `_read_canonical`, and what it read counts
    only when `dumps` writes it back to the very same text: then libyaml would have read the
    same data (what `dumps` writes reads back exactly, tests/test_yamlio.py). Whole-line
    comments at the head (the header of `index/source-ids.yaml`) are skipped first: YAML
    ignores them. Anything else, a hand edit, a comment further down, a different style,
    goes to libyaml.
    """
    body = _HEAD_COMMENTS.sub("", text, count=1)
    data = _read_canonical(body)
    if data is not None and _writes_back(data, body):
        return data
    return loads_libyaml(text, source)


# Comment lines of YAML's printable characters (YAML 1.2, c-printable) but line separators
# and the byte order mark: anything else (a control character...) goes to libyaml.
_COMMENT_CHARS = "\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
_HEAD_COMMENTS = re.compile(f"\\A(?:#[{_COMMENT_CHARS}\U00010000-\U0010ffff]*\n)+")


def loads_libyaml(text: str, source: str = "<string>") -> Any:
    """The reference reader of the files we write: ruamel.yaml's safe mode over libyaml.
    Errors name file and line. Anchors and aliases are refused: we never write them."""
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


# ---------------------------------------------------------------- the snapshot reader


class _NotCanonical(Exception):
    """Not in the form `dumps` writes: libyaml reads it."""


# Characters `dumps` never writes as they are (it escapes them in double quotes), line breaks
# other than LF among them: a text holding one is not canonical. Tabs and CRs too.
_NOT_WRITTEN_RAW = _DOUBLE_QUOTED
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]{0,30})")
_FLOAT = re.compile(r"-?(?:[0-9]+\.[0-9]+(?:e[-+][0-9]+)?|[0-9]+e[-+][0-9]+|\.inf)|\.nan")
_SINGLE_KEY = re.compile(r"'((?:[^']|'')*)':(?= |$)")
_DOUBLE_KEY = re.compile(r'"((?:[^"\\]|\\.)*)":(?= |$)')
_UNESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)")
_UNESCAPED = {
    "0": "\x00",
    "a": "\x07",
    "b": "\x08",
    "t": "\t",
    "n": "\n",
    "v": "\x0b",
    "f": "\x0c",
    "r": "\r",
    "e": "\x1b",
    '"': '"',
    "\\": "\\",
    "/": "/",
    " ": " ",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_PLAIN_READ: dict[str, Any] = {}  # plain scalar text -> value


def _read_canonical(text: str) -> Any:
    """The data of a text in the form `dumps` writes (a non-empty block mapping), or None."""
    if not text.endswith("\n") or _NOT_WRITTEN_RAW.search(text):
        return None
    lines = text.split("\n")
    lines.pop()
    try:
        data, end = _read_mapping(lines, 0, 0)
    except (_NotCanonical, IndexError, ValueError):
        return None
    return data if end == len(lines) else None


def _writes_back(data: Any, text: str) -> bool:
    try:
        return dumps(data) == text
    except (ValueError, YAMLError, UserError):
        return False


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if len(code) > 1:
        char = chr(int(code[1:], 16))
        if "\ud800" <= char <= "\udfff":
            raise _NotCanonical  # not Unicode: `dumps` never writes one
        return char
    named = _UNESCAPED.get(code)
    if named is None:
        raise _NotCanonical
    return named


def _plain_value(token: str) -> Any:
    value = _PLAIN_READ.get(token, _PLAIN_READ)
    if value is not _PLAIN_READ:
        return value
    tag = _resolved(token)
    if tag is None:
        value = token
    elif token in ("true", "false"):
        value = token == "true"
    elif token == "null":
        value = None
    elif _INTEGER.fullmatch(token):
        value = int(token)
    elif _FLOAT.fullmatch(token):
        value = float(token)
    else:
        raise _NotCanonical  # another spelling of a number, a date...: libyaml knows them all
    if len(token) <= _CACHED_LENGTH:
        if len(_PLAIN_READ) >= _CACHE_LIMIT:
            _PLAIN_READ.clear()
        _PLAIN_READ[token] = value
    return value


def _quoted(token: str) -> str:
    """A one-line quoted scalar."""
    if token[0] == "'":
        inner = token[1:-1]
        if len(token) < 2 or token[-1] != "'" or "'" in inner.replace("''", ""):
            raise _NotCanonical
        return inner.replace("''", "'")
    if len(token) < 2 or token[-1] != '"':
        raise _NotCanonical
    inner = token[1:-1]
    if '"' in inner.replace("\\\\", "").replace('\\"', ""):
        raise _NotCanonical
    return _UNESCAPE.sub(_unescape, inner) if "\\" in inner else inner


def _read_scalar(token: str, lines: list[str], i: int, indent: str) -> tuple[Any, int]:
    """The scalar `token` (what follows `key: ` or `- ` on line i); literal blocks take the
    lines after it, indented by `indent` + 2. Returns the value and the next line."""
    first = token[0]
    if first == "|":
        return _read_literal(token, lines, i, indent + _INDENT)
    if first == "'" or first == '"':
        return _quoted(token), i + 1
    if token == "[]":
        return [], i + 1
    if token == "{}":
        return {}, i + 1
    return _plain_value(token), i + 1


def _read_literal(header: str, lines: list[str], i: int, indent: str) -> tuple[str, int]:
    hints = header[1:]
    if hints not in ("", "-", "+", "2", "2-", "2+"):
        raise _NotCanonical
    body: list[str] = []
    width = len(indent)
    i += 1
    while i < len(lines):
        line = lines[i]
        if line.startswith(indent):
            body.append(line[width:])
        elif line == "":
            body.append("")
        else:
            break
        i += 1
    chomp = hints[-1:]
    if chomp == "+":
        return "\n".join(body) + "\n", i
    while body and body[-1] == "":
        raise _NotCanonical  # trailing blank lines only come with `+`
    if not body:
        raise _NotCanonical
    return "\n".join(body) + ("" if chomp == "-" else "\n"), i


def _split_key(rest: str) -> tuple[str, str] | None:
    """(key, what follows `key:`) when `rest` is a mapping entry, else None."""
    first = rest[0]
    if first == "'" or first == '"':
        match = (_SINGLE_KEY if first == "'" else _DOUBLE_KEY).match(rest)
        if match is None:
            return None
        return _quoted(rest[: match.end() - 1]), rest[match.end() :]
    colon = rest.find(": ")
    if colon < 0:
        if rest[-1] != ":":
            return None
        colon = len(rest) - 1
    key = sys.intern(rest[:colon])  # one string for all the "Name"s: less memory
    if _resolved(key) is not None:
        raise _NotCanonical  # a key read as a number, a boolean...: libyaml decides
    return key, rest[colon + 1 :]


def _read_mapping(lines: list[str], i: int, column: int) -> tuple[dict[str, Any], int]:
    """The block mapping whose keys are at `column`, from line i on (whose first `column`
    characters are spaces, or the dashes of the sequence items it is in)."""
    indent = " " * column
    mapping: dict[str, Any] = {}
    rest = lines[i][column:]
    while True:
        entry = _split_key(rest) if rest else None
        if entry is None:
            raise _NotCanonical
        key, after = entry
        if key in mapping:
            raise _NotCanonical  # a duplicate key: libyaml says so
        if after:
            if after[0] != " ":
                raise _NotCanonical
            value, i = _read_scalar(after[1:], lines, i, indent)
        else:
            i += 1
            following = lines[i]
            if following.startswith("- ", column) and following.startswith(indent):
                value, i = _read_sequence(lines, i, column)
            elif following.startswith(indent + _INDENT) and following[column + 2] != " ":
                value, i = _read_mapping(lines, i, column + 2)
            else:
                raise _NotCanonical
        mapping[key] = value
        if i == len(lines):
            return mapping, i
        line = lines[i]
        if (
            not line.startswith(indent)
            or line[column : column + 1] in ("", " ")
            or line.startswith("- ", column)
        ):
            return mapping, i  # the mapping ends (`_read_canonical` checks what follows)
        rest = line[column:]


def _read_sequence(lines: list[str], i: int, column: int) -> tuple[list[Any], int]:
    """The block sequence whose dashes are at `column`, from line i on (as `_read_mapping`)."""
    items: list[Any] = []
    dash = " " * column + "- "
    line = lines[i]
    value: Any
    while True:
        rest = line[column + 2 :]
        if rest.startswith("- "):
            value, i = _read_sequence(lines, i, column + 2)
        elif rest[0] != "|" and _split_key(rest) is not None:
            value, i = _read_mapping(lines, i, column + 2)
        else:
            value, i = _read_scalar(rest, lines, i, " " * column)
        items.append(value)
        if i == len(lines):
            return items, i
        line = lines[i]
        if not line.startswith(dash):
            return items, i
