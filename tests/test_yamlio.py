"""Deterministic YAML: fixed formatting, scripts as block scalars, errors with file:line."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.generate import Size, write_seeds
from snapshotsync import export, layout, normalize, yamlio
from snapshotsync.model import JsonDict
from snapshotsync.octopus.client import OctopusClient
from tests.helpers import API_KEY, running_emulator


def test_dump_is_deterministic_and_keeps_key_order() -> None:
    data = {"Name": "Deploy", "Properties": {"b": "1", "a": "2"}, "Tags": ["x", "y"]}
    first = yamlio.dumps(data)
    assert first == yamlio.dumps(data)
    assert first.index("Name") < first.index("Properties")
    assert first.index("b:") < first.index("a:")
    assert first.endswith("\n")


def test_scripts_become_block_scalars_and_round_trip() -> None:
    script = 'Write-Host "one"\nWrite-Host "two"\n'
    text = yamlio.dumps({"ScriptBody": script})
    assert "ScriptBody: |" in text
    assert yamlio.plain(yamlio.loads(text)) == {"ScriptBody": script}


def test_lines_with_trailing_spaces_still_round_trip() -> None:
    value = "line with trailing space \nnext"
    assert yamlio.plain(yamlio.loads(yamlio.dumps({"v": value}))) == {"v": value}


def test_long_lines_are_never_folded() -> None:
    value = "x" * 500
    assert len(yamlio.dumps({"v": value}).splitlines()) == 1


def test_a_long_string_that_escaping_lengthens_is_written_as_libyaml_writes_it() -> None:
    """Escaped, 99,990 emoji take ten characters each: past libyaml's width, where it
    folds the double-quoted scalar at a space (the data read back is the same)."""
    document = {"k" * 100: "\U0001f600" * 99_990 + " x y z"}
    text = yamlio.dumps(document)
    assert text == yamlio.dumps_libyaml(document)
    assert yamlio.loads_fast(text, "long.yaml") == document


def test_unicode_is_kept_readable() -> None:
    assert "Zürich · 東京" in yamlio.dumps({"Name": "Zürich · 東京"})


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "prod.yaml"
    path.write_text("environments:\n  Staging: Staging\n  bad: [unclosed\n", encoding="utf-8")
    with pytest.raises(yamlio.YamlError, match=r"prod.yaml:\d+: invalid YAML"):
        yamlio.load_file(path)


def test_line_of_points_at_keys() -> None:
    node = yamlio.loads("a: 1\nb:\n  c: 2\n")
    assert yamlio.line_of(node, "b") == 2
    assert yamlio.line_of(node["b"], "c") == 3


_scalars = st.one_of(
    st.text(max_size=30),
    st.integers(),
    st.booleans(),
    st.none(),
    st.sampled_from(
        [
            "yes",
            "no",
            "on",
            "0777",
            "1e3",
            "null",
            "~",
            "12:30",
            "- x",
            "a: b",
            "line\nline",
            "tail \nx",
            "  lead",
            "#hash",
            "'q'",
            '"dq"',
            "\t",
        ]
    ),
)
_documents = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(st.dictionaries(st.text(min_size=1, max_size=8), _documents, max_size=5))
def test_snapshot_yaml_round_trips_exactly(document: dict[str, object]) -> None:
    text = yamlio.dumps(document)
    assert yamlio.loads_fast(text) == document
    assert yamlio.plain(yamlio.loads(text)) == document  # the round-trip reader agrees
    assert list(yamlio.loads_fast(text)) == list(document)  # key order kept


# ---------------------------------------------------------------- the fast writer and reader
# `dumps` writes what the libyaml writer (`dumps_libyaml`) writes, byte for byte; `loads_fast`
# reads what the libyaml reader (`loads_libyaml`) reads. Proven here on every sample snapshot,
# on a generated instance, and on arbitrary documents of the snapshot's subset of YAML.

SAMPLE_SNAPSHOTS = Path(__file__).resolve().parent.parent / "sample-snapshots"


def _same(left: object, right: object) -> bool:
    """Equal, type for type (True is not 1, 1.0 is not 1) and key order included; NaN is
    itself."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        assert isinstance(right, dict)
        return list(left) == list(right) and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple):
        assert isinstance(right, list | tuple)
        return len(left) == len(right) and all(map(_same, left, right))
    if isinstance(left, float) and left != left:
        return right != right
    return left == right


def _outcome(read: Callable[[str, str], object], text: str) -> tuple[str, object]:
    """What a reader makes of `text`: its data, or its error (libyaml's reader can fail with
    more than `YamlError`, e.g. a list as a key: the fast reader must fail alike)."""
    try:
        return "data", read(text, "snapshot/x.yaml")
    except Exception as error:
        return type(error).__name__, str(error)


@pytest.fixture(scope="module")
def generated_instance(tmp_path_factory: pytest.TempPathFactory) -> dict[str, JsonDict]:
    """The benchmark's generated instance, at a size that keeps the test quick, as export
    normalizes it (every kind of document: processes, variables, tenants...)."""
    seeds = write_seeds(tmp_path_factory.mktemp("seeds"), Size(12, 6, 3))[0]
    with (
        running_emulator(seed=seeds, id_offset=9000) as emulator,
        OctopusClient(emulator.url, API_KEY) as client,
    ):
        space_id = client.space_id("Default")
        raw = export.read(client, space_id)
    snapshot, _ = normalize.to_snapshot(raw, space_id, {"format_version": 1})
    paths = layout.paths(sorted(snapshot.resources))
    documents = {paths[key]: document for key, document in snapshot.resources.items()}
    return {layout.META_FILE: dict(snapshot.meta), **documents}


def test_a_generated_instance_is_written_and_read_alike_by_both(
    generated_instance: dict[str, JsonDict],
) -> None:
    assert len(generated_instance) > 150
    for path, document in generated_instance.items():
        text = yamlio.dumps_libyaml(document)
        assert yamlio.dumps(document) == text, path
        assert _same(yamlio.loads_fast(text, path), yamlio.loads_libyaml(text, path)), path
        assert _same(yamlio.loads_fast(text, path), document), path


def test_the_sample_snapshots_are_written_and_read_alike_by_both() -> None:
    files = sorted(SAMPLE_SNAPSHOTS.rglob("*.yaml"))
    assert len(files) > 50
    for path in files:
        text = path.read_text(encoding="utf-8")
        data = yamlio.loads_libyaml(text, str(path))
        assert yamlio.dumps_libyaml(data) == text, path
        assert yamlio.dumps(data) == text, path
        assert _same(yamlio.loads_fast(text, str(path)), data), path


# Every kind of string the writer treats apart: look-alikes of other types, indicators,
# quotes, leading and trailing blanks, line breaks of every kind, the unprintable.
_TRICKY_STRINGS = [
    *("", " ", "yes", "no", "on", "y", "null", "Null", "NULL", "~", "true", "True", "FALSE"),
    *("0", "-0", "007", "0777", "0x1F", "0o17", "0b11", "+1", "1_000", "1e3", "1.5", ".5"),
    *(".inf", "-.inf", ".nan", "12:30", "2024-01-01", "2001-12-14t21:59:43.10-05:00", "="),
    *("<<", "-", "- x", "-x", "--- a", "---", "...", "a: b", "a:", "a:b", ":a", "::", "a #b"),
    *("#x", "x#", "&a", "*a", "!a", "|", ">", "%", "@", "`", "[a]", "{a}", ",", "?", "? a"),
    *("'q'", '"dq"', "a'b", 'a"b', "back\\slash", " lead", "trail ", "\t", "a\tb", "tab\t"),
    *("line\nline", "tail \nx", "x\n", "\n", "\n\n", "a\n\n", " \n", "a\n b", "a\n\nb "),
    *("a\nb ", "\na", " a\nb", "a\n\n\nb", "'\n'", "#\n", "a\rb", "a\r\nb", "\x85", "a\x85b"),
    *("\u2028", "a\u2028b", "a\u2029b\n", "\ufeff", "\ufeffbom", "\x00", "\x7f", "\x1b"),
    *("\U0001f600", "\xa0", "a\xa0", "Zürich · 東京", "\ufffe", "\uffff", "\ue000"),
]
_ALPHABET = "\n\r\x85\u2028\u2029\ufeff\t\x00\x07 a#:-'\"&*|!>%@`[]{},?.~=<0123456789eE+_x\\é"
_strings = st.one_of(
    st.sampled_from(_TRICKY_STRINGS),
    st.text(st.sampled_from(_ALPHABET), max_size=12),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=24),
    st.lists(st.text(st.sampled_from("ab #:' "), max_size=6), min_size=2, max_size=4).map(
        "\n".join
    ),  # scripts: lines with and without trailing spaces
)
_keys = st.one_of(
    _strings,
    st.text(st.sampled_from("aé東 :"), min_size=30, max_size=80),  # around 128 bytes
)
_leaves = st.one_of(
    _strings,
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(),
    st.booleans(),
    st.none(),
)
_subset_documents = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(_keys, inner, max_size=4),
    ),
    max_leaves=25,
)
_snapshot_files = st.dictionaries(_keys, _subset_documents, min_size=1, max_size=5)


@settings(max_examples=500)
@given(_snapshot_files)
def test_the_fast_writer_writes_what_libyaml_writes(document: dict[str, object]) -> None:
    assert yamlio.dumps(document) == yamlio.dumps_libyaml(document)


@settings(max_examples=300)
@given(_snapshot_files)
def test_the_fast_reader_reads_what_libyaml_reads(document: dict[str, object]) -> None:
    """And what was written: the subset round-trips, type for type."""
    text = yamlio.dumps(document)
    fast = _outcome(yamlio.loads_fast, text)
    assert _same(fast, _outcome(yamlio.loads_libyaml, text))
    assert _same(fast, ("data", document))


@settings(max_examples=200)
@given(_snapshot_files, st.lists(st.text(st.characters(exclude_characters="\n\r")), max_size=3))
def test_comment_lines_at_the_head_are_read_fast_and_as_libyaml_reads_them(
    document: dict[str, object], comments: list[str]
) -> None:
    """The index's header comment costs no trip through libyaml (0.25 s a read for the
    benchmark instance's index), and the data is what libyaml reads."""
    body = yamlio.dumps(document)
    text = "".join(f"#{comment}\n" for comment in comments) + body
    expected = _outcome(yamlio.loads_libyaml, text)
    assert _same(_outcome(yamlio.loads_fast, text), expected)
    printable = all(c.isprintable() and c not in "\x85\u2028\u2029" for c in "".join(comments))
    with mock.patch.object(yamlio, "loads_libyaml", _never):
        if printable and _outcome(yamlio.loads_fast, body)[0] == "data":
            assert _same(_outcome(yamlio.loads_fast, text), expected)


def _never(text: str, source: str = "") -> object:
    raise AssertionError(f"read by libyaml: {text[:80]!r}")


@settings(max_examples=300)
@given(_snapshot_files, st.data())
def test_hand_edited_files_are_read_as_libyaml_reads_them(
    document: dict[str, object], data: st.DataObject
) -> None:
    """Anything but the canonical form (an edit anywhere: a character dropped, doubled,
    replaced) reads exactly as libyaml reads it, data or error."""
    text = yamlio.dumps(document)
    at = data.draw(st.integers(0, len(text)))
    edit = data.draw(
        st.sampled_from(["drop", "double", "replace", "insert"])
        if at < len(text)
        else st.just("insert")
    )
    char = data.draw(st.sampled_from(" \n-:'\"#|>&*!{}[],?\\\tx1"))
    if edit == "drop":
        text = text[:at] + text[at + 1 :]
    elif edit == "double":
        text = text[:at] + text[at] + text[at:]
    elif edit == "replace":
        text = text[:at] + char + text[at + 1 :]
    else:
        text = text[:at] + char + text[at:]
    assert _same(_outcome(yamlio.loads_fast, text), _outcome(yamlio.loads_libyaml, text))


@pytest.mark.parametrize(
    "text",
    [
        "a: 1 # a comment\n",
        "# a comment\na: 1\n",
        "a: {b: 1}\n",
        "a: [1, 2]\n",
        "a:\n    b: 1\n",
        "a:\n  - 1\n",
        "a: 0x1F\n",
        "a: 2024-01-01\n",
        "1: a\n",
        "a: 1\na: 2\n",
        "a: 'multi\n\n  line '\n",
        'a: "x\\\n  y"\n',
        "a: |\n  x\n\n",
        "a: |4\n      x\n",
        "a: b: c\n",
        "a:\n",
        "---\na: 1\n",
        "a: 1\n...\n",
        "? a\n: 1\n",
        "a: !!str 1\n",
        "a: &x 1\nb: *x\n",
    ],
)
def test_texts_outside_the_canonical_form_are_read_by_libyaml(text: str) -> None:
    assert _same(_outcome(yamlio.loads_fast, text), _outcome(yamlio.loads_libyaml, text))


def test_what_the_fast_writer_leaves_to_libyaml_is_written_alike() -> None:
    for document in (
        {"k" * 129: 1},  # a key of more than 128 bytes: `? key`
        {"a\nb": 1},  # a key spanning lines
        {"v": "x " * 60_000},  # long enough to reach libyaml's width
        {"d": datetime.date(2024, 1, 1)},
        {"b": b"bytes"},
        {},
    ):
        assert yamlio.dumps(document) == yamlio.dumps_libyaml(document)
    for not_a_mapping in ([1, 2], "text", None, 3):
        assert yamlio.dumps(not_a_mapping) == yamlio.dumps_libyaml(not_a_mapping)


# Any Unicode text the API could send (a lone surrogate is not Unicode: tested below), with
# the characters the two readers used to disagree on drawn often.
_TRICKY = "\n\r\x85\u2028\u2029\ufeff\t a#:-'\"&*|"
_unicode = st.one_of(
    st.text(st.sampled_from(_TRICKY), max_size=8),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=24),
)
_unicode_documents = st.recursive(
    st.one_of(_unicode, st.integers(), st.booleans(), st.none()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(_unicode, inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=400)
@given(st.dictionaries(_unicode, _unicode_documents, max_size=4))
def test_any_unicode_text_round_trips_through_both_readers(document: dict[str, object]) -> None:
    text = yamlio.dumps(document)
    assert yamlio.loads_fast(text, "snapshot/x.yaml") == document
    assert yamlio.plain(yamlio.loads(text)) == document


@pytest.mark.parametrize(
    "value",
    [
        "OctoFx-Dev\n\u2028",  # the cloned value that broke the ledger
        "a\n\u2028b",
        "\n\u2029",
        "a\n\x85b",
        "x\r\ny",
        "\ufeffbom",
        "tab\tand\x7fdel",
    ],
)
def test_a_record_with_line_separators_reads_back(value: str) -> None:
    """The ledger's shape: a value followed by more entries, read by the record reader."""
    entries = [{"field": "variable X", "cloned_value": value}, {"field": "next", "n": 1}]
    text = "# Placeholders\n" + yamlio.dumps({"entries": entries})
    assert yamlio.loads_fast(text, "targets/prod/cleanup.yaml") == {"entries": entries}
    assert yamlio.plain(yamlio.loads(text)) == {"entries": entries}


def test_a_lone_surrogate_is_refused_clearly() -> None:
    with pytest.raises(yamlio.YamlError, match=r"lone UTF-16 surrogate \(U\+D800\)"):
        yamlio.dumps({"Value": "x\ud800y"})


def test_shared_objects_are_written_out_in_full_never_as_anchors() -> None:
    shared = {"Environment": ["Staging"]}
    text = yamlio.dumps({"a": shared, "b": shared, "c": [shared, shared]})
    assert "&" not in text and "*" not in text
    assert yamlio.loads_fast(text) == {"a": shared, "b": shared, "c": [shared, shared]}


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("Name: x\nScope: &s {Role: [web]}\nOther: *s\n", 2),
        ("Name: x\nSteps:\n- &step {Name: a}\n", 3),
        ("a: [&x 1, *x]\n", 1),
        ('{"a":&x [1], "b":*x}\n', 1),  # JSON-like keys need no space before a value
        ('{"a":&x 1}\n', 1),
    ],
)
def test_anchors_and_aliases_are_refused_with_file_and_line(text: str, line: int) -> None:
    with pytest.raises(yamlio.YamlError, match=rf"^snapshot/a\.yaml:{line}: YAML anchors"):
        yamlio.loads_fast(text, "snapshot/a.yaml")


def test_an_alias_bomb_fails_at_once() -> None:
    """A billion laughs: 9 levels of 9 aliases, 9**9 leaves once expanded."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    bomb = "\n".join(lines) + "\n"
    with pytest.raises(yamlio.YamlError, match=r"^snapshot/bomb\.yaml:1: YAML anchors"):
        yamlio.loads_fast(bomb, "snapshot/bomb.yaml")


def test_aliases_are_refused_even_where_the_quick_look_cannot_see_them() -> None:
    """The constructor refuses a node met twice whatever the text looks like."""
    with pytest.raises(yamlio.YamlError, match="anchors and aliases"):
        yamlio._load_without_aliases("a: &x [1]\nb: *x\n", "s.yaml")
