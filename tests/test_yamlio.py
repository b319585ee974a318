"""Deterministic YAML: fixed formatting, scripts as block scalars, errors with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

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
