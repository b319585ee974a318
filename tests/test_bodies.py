"""The names-to-ids stage: a variable set's body is the plan's whole list of values, each
sent as the destination's value it is; the push adds no rule of its own."""

from __future__ import annotations

from typing import Any

from snapshotsync.bodies import Bodies, Ids
from snapshotsync.changes import Change
from snapshotsync.merge import ValueAction, with_note
from snapshotsync.model import JsonDict, Raw, ResourceKey
from snapshotsync.normalize import normalize_document

KEY = ResourceKey("project-variables", ("App",))
RAW = Raw(
    collections={
        "environments": [
            {"Id": "Environments-1", "Name": "Production"},
            {"Id": "Environments-2", "Name": "Test"},
        ],
        "projects": [{"Id": "Projects-1", "Name": "App", "VariableSetId": "variableset-1"}],
    }
)


def _value(value_id: str, name: str, value: Any, *envs: str, **more: Any) -> JsonDict:
    sensitive = more.pop("sensitive", False)
    return {
        "Id": value_id,
        "Name": name,
        "Value": None if sensitive else value,
        "Type": "Sensitive" if sensitive else "String",
        "IsSensitive": sensitive,
        "Scope": {"Environment": list(envs)} if envs else {},
        **more,
    }


def _bodies() -> Bodies:
    return Bodies(Ids(RAW), "Spaces-1", "CHANGE_ME")


def _normal(raws: list[JsonDict]) -> list[JsonDict]:
    return list(
        normalize_document("project-variables", {"Variables": raws}, _bodies().ids.by_id)[
            "Variables"
        ]
    )


def _body(
    read: list[JsonDict],
    wanted: list[JsonDict],
    current: list[JsonDict] | None = None,
    values: tuple[ValueAction, ...] = (),
) -> list[JsonDict]:
    """What is sent for the plan (`wanted`, in names) over what it read (`read`, raw),
    with the destination holding `current` when the write is made."""
    before = {"Variables": _normal(read)}
    change = Change("update", KEY, before, {"Variables": wanted}, values=values)
    sent = _bodies().variable_set(change, {"Variables": wanted}, {"Variables": current or read})
    return list(sent["Variables"])


def test_a_value_the_plan_read_and_left_out_goes_and_the_others_keep_their_ids() -> None:
    read = [
        _value("v1", "A", "1"),
        _value("v2", "Gone", "2"),
        _value("v3", "S", None, sensitive=True),
    ]
    normal = _normal(read)
    sent = _body(read, [normal[0], normal[2]])
    assert [(v["Id"], v["Name"]) for v in sent] == [("v1", "A"), ("v3", "S")]
    assert sent[1]["Value"] is None  # the secret sent back empty: Octopus keeps it


def test_a_changed_value_is_the_one_it_was_with_its_id_and_secret() -> None:
    read = [_value("v1", "A", "1", "Environments-1"), _value("v2", "S", None, sensitive=True)]
    normal = _normal(read)
    rescoped = {**normal[1], "Scope": {"Environment": ["Production", "Test"]}}
    overwritten = {**normal[0], "Value": "2", "Description": "new words"}
    sent = _body(
        read,
        [overwritten, rescoped],
        values=(
            ValueAction("overwrite", "A", normal[0], overwritten),
            ValueAction("update-scope", "S", normal[1], rescoped),
        ),
    )
    assert sent[0] == {**read[0], "Value": "2", "Description": "new words"}
    assert sent[1]["Id"] == "v2" and sent[1]["Value"] is None
    assert sent[1]["Scope"] == {"Environment": ["Environments-1", "Environments-2"]}


def test_a_description_the_plan_drops_is_not_sent() -> None:
    read = [_value("v1", "A", "1", Description="old words")]
    normal = _normal(read)
    plain = {k: v for k, v in normal[0].items() if k != "Description"}
    sent = _body(read, [plain], values=(ValueAction("update-meta", "A", normal[0], plain),))
    assert sent == [{k: v for k, v in read[0].items() if k != "Description"}]


def test_a_new_secret_gets_the_placeholder_once_even_when_a_lost_reply_wrote_it() -> None:
    read = [_value("v1", "A", "1")]
    normal = _normal(read)
    secret = {
        "Name": "Key",
        "Value": {"Sensitive": "value unknown"},
        "Type": "Sensitive",
        "Description": with_note("The service's key"),  # the plan's: note, then the source's
    }
    first = _body(read, [normal[0], secret])
    assert first[1]["Value"] == "CHANGE_ME"
    assert first[1]["Description"] == with_note("The service's key")
    # The try was written, its reply lost: the retry finds it and adds no second one.
    landed = [*read, {**first[1], "Id": "v9", "Value": None}]
    again = _body(read, [normal[0], secret], current=landed)
    assert [v["Id"] for v in again] == ["v1", "v9"]


def test_a_value_added_after_the_plan_read_the_set_stays() -> None:
    read = [_value("v1", "A", "1"), _value("v2", "Gone", "2")]
    normal = _normal(read)
    theirs = _value("v7", "Theirs", "mine")
    sent = _body(read, [normal[0]], current=[*read, theirs])
    assert [v["Id"] for v in sent] == ["v1", "v7"]


def test_a_change_to_a_value_someone_changed_meanwhile_is_left_for_the_next_plan() -> None:
    read = [_value("v1", "A", "1")]
    normal = _normal(read)
    overwritten = {**normal[0], "Value": "2"}
    meanwhile = [_value("v1", "A", "changed by a person")]
    sent = _body(
        read,
        [overwritten],
        current=meanwhile,
        values=(ValueAction("overwrite", "A", normal[0], overwritten),),
    )
    assert sent == meanwhile  # neither overwritten nor added a second time
