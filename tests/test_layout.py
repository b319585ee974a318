"""File names from resource names: reversible, safe, collision-free ignoring case."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snapshotsync import layout
from snapshotsync.model import ResourceKey, Snapshot

names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


@given(names)
def test_encode_is_reversible_and_file_name_safe(name: str) -> None:
    encoded = layout.encode(name)
    assert layout.decode(encoded) == name
    assert not set('/\\:*?"<>|') & set(encoded)
    assert not any(ord(c) < 32 or ord(c) == 127 for c in encoded)
    assert not encoded.startswith(".") and not encoded.endswith((".", " "))


@given(st.lists(names, min_size=1, max_size=12, unique=True))
def test_paths_are_unique_ignoring_case_and_map_back_to_their_keys(parts: list[str]) -> None:
    keys = [ResourceKey("environments", (n,)) for n in parts]
    keys += [ResourceKey("channels", ("Web", n)) for n in parts]
    keys += [ResourceKey("projects", ("Web",)), ResourceKey("projects", ("web",))]
    paths = layout.paths(keys)
    assert len({p.lower() for p in paths.values()}) == len(keys)
    for key, path in paths.items():
        assert layout.key_of(path) == key


def test_readable_names_stay_readable() -> None:
    assert layout.encode("Dev/Test Account") == "Dev%2FTest Account"
    assert layout.encode("Zürich 東京") == "Zürich 東京"
    assert layout.encode("Octopus: Prod") == "Octopus%3A Prod"
    assert layout.paths([ResourceKey("channels", ("OctoFX", "QA"))]) == {
        ResourceKey("channels", ("OctoFX", "QA")): "projects/OctoFX/channels/QA.yaml"
    }


def test_only_names_that_clash_by_case_get_their_capitals_escaped() -> None:
    keys = [ResourceKey("environments", (n,)) for n in ("Prod", "prod", "Test")]
    paths = layout.paths(keys)
    assert paths[keys[0]] == "environments/%50rod.yaml"
    assert paths[keys[1]] == "environments/prod.yaml"
    assert paths[keys[2]] == "environments/Test.yaml"


def test_every_kind_has_a_place_and_round_trips() -> None:
    keys = [
        ResourceKey(kind, ("A b",) if "{1}" not in template else ("A b", "C/d"))
        for kind, template in layout.PATHS.items()
    ]
    snapshot = Snapshot(
        {key: {"Name": key.name[-1], "n": i} for i, key in enumerate(keys)}, {"format_version": 1}
    )
    files = layout.render(snapshot)
    assert layout.parse(files) == snapshot


def test_a_stray_file_is_named_in_the_error() -> None:
    with pytest.raises(layout.LayoutError, match=r"notes/todo\.yaml: not a snapshot file"):
        layout.parse({"notes/todo.yaml": "a: 1\n"})


def test_an_empty_name_is_refused() -> None:
    with pytest.raises(layout.LayoutError):
        layout.encode("")


@given(st.text(alphabet=string.ascii_letters, min_size=1, max_size=6))
def test_case_variants_never_share_a_file(word: str) -> None:
    variants = sorted({word, word.lower(), word.upper(), word.swapcase()})
    paths = layout.paths([ResourceKey("tag-sets", (v,)) for v in variants])
    assert len({p.lower() for p in paths.values()}) == len(variants)
