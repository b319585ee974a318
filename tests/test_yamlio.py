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
