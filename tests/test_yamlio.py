"""Deterministic YAML: fixed formatting, scripts as block scalars, errors with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapshotsync import yamlio


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
