"""`kinds.walk` against its definition: the path, one step at a time, recursively."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from snapshotsync.octopus.kinds import KINDS, Path, walk


def _defined(document: Any, path: Path) -> Iterator[tuple[Any, Any, Any]]:
    """What `walk` means, written the plain way: a generator per step of the path."""
    if not path:
        return
    step, rest = path[0], path[1:]
    if step == "~keys":
        if isinstance(document, dict):
            yield from ((document, key, key) for key in document)
        return
    if step == "*":
        children = list(enumerate(document)) if isinstance(document, list) else []
    elif step == "~values":
        children = list(document.items()) if isinstance(document, dict) else []
    else:
        children = (
            [(step, document[step])] if isinstance(document, dict) and step in document else []
        )
    for key, value in children:
        if rest:
            yield from _defined(value, rest)
        else:
            yield document, key, value


_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from(["x", "Id", "Steps"])),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["Steps", "Actions", "Id", "Name", "Scope", "Properties", "Filter"]),
            inner,
        ),
    ),
    max_leaves=30,
)
# Every path the kinds declare, and the shapes none of them has yet (`~values`, `~keys`
# in the middle, the empty path).
_paths = sorted(
    {ref.path for kind in KINDS.values() for ref in kind.refs}
    | {path for kind in KINDS.values() for path in (*kind.unordered, *kind.strip_nested)}
    | {(), ("~values", "Id"), ("~keys", "Id"), ("Steps", "*", "~values"), ("~values", "~keys")}
)


@settings(max_examples=300)
@given(_json, st.sampled_from(_paths))
def test_walk_finds_what_the_definition_finds_in_the_same_order(document: Any, path: Path) -> None:
    assert walk(document, path) == list(_defined(document, path))


def test_walk_gives_the_containers_themselves_so_a_value_can_be_replaced() -> None:
    document = {"Steps": [{"Actions": [{"Name": "a"}, {"Name": "b"}]}]}
    for container, key, value in walk(document, ("Steps", "*", "Actions", "*", "Name")):
        container[key] = value.upper()
    assert document == {"Steps": [{"Actions": [{"Name": "A"}, {"Name": "B"}]}]}
