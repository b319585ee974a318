"""Where a placeholder-ledger entry stands on the destination: pending while the
placeholder (or a secret's note) is there, done once a person replaced it."""

from __future__ import annotations

from snapshotsync.ledger import status
from snapshotsync.merge import with_note
from snapshotsync.model import ResourceKey, Snapshot

KEY = ResourceKey("project-variables", ("OctoFX",))
SECRET = {
    "kind": "project-variables",
    "name": ["OctoFX"],
    "field": "variable Api.Key",
    "placeholder": "CHANGE_ME",
    "reason": "sensitive value that cannot be read from the source",
}


def _live(**value: object) -> Snapshot:
    return Snapshot({KEY: {"Variables": [{"Name": "Api.Key", "Type": "Sensitive", **value}]}})


def test_a_secret_is_pending_while_its_description_starts_with_the_note() -> None:
    assert status(SECRET, _live(Description=with_note("Key for the pricing API"))) == "pending"
    assert status(SECRET, _live(Description="Key for the pricing API")) == "done"


def test_a_plain_placeholder_is_pending_while_its_value_is_the_placeholder() -> None:
    entry = {**SECRET, "reason": "new variable scoped only to excluded environments"}
    assert status(entry, _live(Value="CHANGE_ME")) == "pending"
    assert status(entry, _live(Value="set by a person")) == "done"


def test_a_secret_outside_variables_is_for_a_person_to_check() -> None:
    entry = {"kind": "accounts", "name": ["Azure"], "field": "Password", "placeholder": "x"}
    assert status(entry, Snapshot({})) == "check"
