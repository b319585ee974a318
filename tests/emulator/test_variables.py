"""Sensitive variables on a variable-set PUT over real HTTP: the variable's `Id` alone decides
whether an empty value keeps the secret (go-octopusdeploy #449/#450, measured on a 2026.x
server)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.test_http import new_project
from tests.helpers import Emulator

SECRET = "eighteen-chars-abc"  # the measured starting value was 18 characters long


def stored(e: Emulator, set_id: str) -> list[dict[str, Any]]:
    return list(e.instance.docs["variables"][set_id]["Variables"])


@pytest.mark.parametrize(
    ("send_id", "value", "expected"),
    [
        (True, "", SECRET),
        (True, None, SECRET),
        (True, "newvalue123", "newvalue123"),
        (False, "", ""),
        (False, None, ""),
        (False, "newvalue123", "newvalue123"),
    ],
)
def test_the_id_alone_decides_whether_a_secret_is_kept(
    emulator: Emulator, send_id: bool, value: Any, expected: str
) -> None:
    project = new_project(emulator, "OctoFX")
    path = f"variables/{project['VariableSetId']}"
    document = emulator.get(path)
    document["Variables"] = [{"Name": "Db.Password", "Value": SECRET, "Type": "Sensitive"}]
    assert emulator.put(path, document).status_code == 200
    read = emulator.get(path)
    original = read["Variables"][0]
    assert original["Value"] is None  # never shown
    sent = {**original, "Value": value}
    if not send_id:
        del sent["Id"]
    response = emulator.put(path, {**read, "Variables": [sent]})
    assert response.status_code == 200, response.text
    [after] = stored(emulator, project["VariableSetId"])
    assert after["Value"] == expected
    # Without an Id the variable is a new one: a fresh id, never the old one's.
    assert (after["Id"] == original["Id"]) is send_id
    assert len(after["Id"]) == 36


def test_a_new_variable_never_inherits_a_secret_of_the_same_name(emulator: Emulator) -> None:
    project = new_project(emulator, "OctoFX")
    path = f"variables/{project['VariableSetId']}"
    document = emulator.get(path)
    document["Variables"] = [
        {"Name": "Api.Key", "Value": "old-secret", "Type": "Sensitive", "IsSensitive": True}
    ]
    assert emulator.put(path, document).status_code == 200
    read = emulator.get(path)
    # The old variable left out, a new one of the same name and scope sent without an Id.
    fresh = {"Name": "Api.Key", "Value": None, "Type": "Sensitive", "IsSensitive": True}
    assert emulator.put(path, {**read, "Variables": [fresh]}).status_code == 200
    [after] = stored(emulator, project["VariableSetId"])
    assert after["Value"] == "" and after["Id"] != read["Variables"][0]["Id"]
    assert "old-secret" not in str(stored(emulator, project["VariableSetId"]))
