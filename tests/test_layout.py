"""File names from resource names: reversible, safe, collision-free ignoring case."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from snapshotsync import layout
from snapshotsync.errors import UserError
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


def test_a_stray_file_is_a_user_error_saying_what_to_do() -> None:
    with pytest.raises(UserError, match=r"^snapshot/notes\.txt: not a snapshot file .*move it"):
        layout.parse({"notes.txt": "a: 1\n"}, "snapshot")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "Name: OctoFX\nSteps:\n  Name: Deploy\n",
            r"deployment-process\.yaml:2: Steps must be a list of mappings, not a mapping",
        ),
        (
            "Name: OctoFX\nSteps:\n- Name: Deploy\n  Actions:\n  - Name: a\n    Properties: [x]\n",
            r":6: Steps\[0\]\.Actions\[0\]\.Properties must be a mapping, not a list",
        ),
        (
            "Variables:\n- Name: A\n  Scope: {Environment: Staging}\n",
            r"variables\.yaml:3: Variables\[0\]\.Scope\.Environment must be a list of texts, "
            r"not a text",
        ),
        ("Variables:\n- Value: x\n", r"variables\.yaml:2: Variables\[0\]\.Name is missing"),
        ("Name: [a]\nLifecycleId: x\n", r"deployment-process\.yaml:1: Name must be a text"),
        ("- a\n- b\n", r"deployment-process\.yaml: expected a mapping at the top"),
    ],
)
def test_a_value_of_the_wrong_type_is_named_with_file_line_and_field(
    text: str, message: str
) -> None:
    path = (
        "projects/OctoFX/variables.yaml"
        if text.startswith("Variables")
        else "projects/OctoFX/deployment-process.yaml"
    )
    with pytest.raises(UserError, match=message):
        layout.parse({path: text}, "snapshot")


def test_a_meta_file_that_is_not_a_mapping_is_a_user_error() -> None:
    with pytest.raises(UserError, match=r"_meta\.yaml: expected a mapping"):
        layout.parse({"_meta.yaml": "[1, 2]\n"}, "snapshot")


long_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=60, max_size=300
)


@given(st.lists(long_names, min_size=1, max_size=4, unique=True))
def test_long_names_fit_the_file_system_and_come_back_whole(parts: list[str]) -> None:
    keys = [ResourceKey("environments", (n,)) for n in parts]
    keys += [ResourceKey("channels", (n, n)) for n in parts]
    snapshot = Snapshot({key: {"Name": key.name[-1]} for key in keys}, {"format_version": 1})
    files = layout.render(snapshot)
    for path in files:
        assert all(len(part.encode("utf-8")) <= 255 for part in path.split("/")), path
    assert len({p.lower() for p in files}) == len(files)
    assert layout.parse(files) == snapshot


def test_a_long_name_is_shortened_with_a_hash_and_indexed() -> None:
    name = "東京 " * 90  # 630 bytes of UTF-8
    key = ResourceKey("environments", (name,))
    files = layout.render(Snapshot({key: {"Name": name}}, {}))
    path = next(p for p in files if p.startswith("environments/"))
    assert len(path.split("/")[1].encode()) <= 255 and "%~" in path
    assert path.split("/")[1].startswith("東京 東京")  # still readable
    assert layout.yamlio.loads_fast(files["_names.yaml"]) == {"names": {path[13:-5]: name}}


def test_names_that_fit_keep_their_file_name_and_need_no_index() -> None:
    name = "x" * 250  # 250 + ".yaml" = 255 bytes: fits
    key = ResourceKey("environments", (name,))
    files = layout.render(Snapshot({key: {"Name": name}}, {}))
    assert sorted(files) == ["_meta.yaml", f"environments/{name}.yaml"]


def test_a_shortened_name_missing_from_the_index_is_a_clear_error() -> None:
    with pytest.raises(UserError, match=r"shortened file name with no entry in _names\.yaml"):
        layout.parse({"environments/abc%~0123456789abcdef.yaml": "Name: x\n"})


def test_names_that_clash_only_by_a_capital_outside_ascii_get_files_of_their_own() -> None:
    keys = [ResourceKey("environments", (n,)) for n in ("Ñ", "ñ", "Ärzte", "ärzte")]
    paths = layout.paths(keys)
    assert len({p.lower() for p in paths.values()}) == len(keys)
    assert all(layout.key_of(path) == key for key, path in paths.items())


# Names around the size where shortening starts: 250 bytes of file name, or three times as
# many bytes as the name has when every character is escaped (capitals clashing by case).
_around_the_limit = st.one_of(
    st.integers(70, 90).map(lambda n: "A" * n),
    st.integers(70, 90).map(lambda n: "a" * n),
    st.integers(240, 260).map(lambda n: "x" * n),
    st.integers(20, 30).map(lambda n: "東" * n),
    st.integers(75, 90).map(lambda n: "/" * n),
    st.text(st.sampled_from("aA/%東."), min_size=1, max_size=120),
)


@given(st.lists(_around_the_limit, min_size=1, max_size=5, unique=True))
def test_long_names_finds_every_shortened_name_and_only_those(names: list[str]) -> None:
    keys = sorted(
        {ResourceKey("environments", (n,)) for n in names}
        | {ResourceKey("environments", (n.swapcase(),)) for n in names}  # clash by case
        | {ResourceKey("channels", (n, n)) for n in names}
    )
    shortened = {
        part.removesuffix(".yaml")
        for path in layout.paths(keys).values()
        for part in path.split("/")
        if "%~" in part
    }
    assert set(layout.long_names(keys)) == shortened
