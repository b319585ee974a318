"""`replies.check`: each reply has the shape the tool needs, or one line names route and
field; `routes.segment`: an id is one escaped path segment."""

from __future__ import annotations

from typing import Any

import pytest

from snapshotsync.octopus import replies
from snapshotsync.octopus.routes import api_path, segment

PROJECTS = "/api/Spaces-1/projects"


def _error(method: str, path: str, reply: Any) -> str:
    with pytest.raises(replies.UnexpectedReply) as caught:
        replies.check(method, path, reply)
    return str(caught.value)


def test_a_name_of_the_wrong_type_names_route_and_field() -> None:
    page = {"Items": [{"Id": "Projects-1", "Name": ["x"], "VariableSetId": "v-1"}]}
    message = _error("GET", PROJECTS + "?skip=0&take=30", page)
    assert message.startswith(
        "the server's reply to GET /api/Spaces-1/projects had a Name of type list "
        "(at Items[0].Name)"
    )
    assert "\n" not in message


@pytest.mark.parametrize("bad", ["../x", "..", ".", "", "a/b", "a?b", "a#b", "a b", "a%2F"])
def test_an_id_that_cannot_go_into_a_url_is_refused(bad: str) -> None:
    message = _error("POST", "/api/Spaces-1/environments", {"Id": bad, "Name": "Dev"})
    assert "not an Octopus id" in message


def test_a_write_reply_without_id_or_name_is_refused() -> None:
    assert "had no Id" in _error("POST", "/api/Spaces-1/feeds", {"Name": "F"})
    assert "had no Name" in _error("PUT", "/api/Spaces-1/feeds/Feeds-1", {"Id": "Feeds-1"})


def test_documents_are_checked_where_the_tool_reads_them() -> None:
    process = {"Steps": [{"Name": "A", "Actions": [{"Name": "A", "Properties": {"x": 1}}]}]}
    message = _error("GET", "/api/Spaces-1/projects/Projects-1/deploymentprocesses", process)
    where = "Steps[0].Actions[0].Properties['x']"
    assert f"had a Properties value of type number (at {where})" in message
    variables = {"Variables": [{"Name": "V", "Scope": {"Environment": "Environments-1"}}]}
    message = _error("PUT", "/api/Spaces-1/variables/variableset-Projects-1", variables)
    assert "had a Scope value of type string (at Variables[0].Scope['Environment'])" in message


def test_a_project_that_is_not_version_controlled_needs_its_variable_set() -> None:
    message = _error("GET", PROJECTS + "/Projects-1", {"Id": "Projects-1", "Name": "P"})
    assert "had no VariableSetId" in message
    controlled = {"Id": "Projects-1", "Name": "P", "IsVersionControlled": True}
    replies.check("GET", PROJECTS + "/Projects-1", controlled)


def test_fields_the_tool_only_copies_are_not_checked_and_deletes_not_at_all() -> None:
    replies.check(
        "GET",
        "/api/Spaces-1/environments/Environments-1",
        {"Id": "Environments-1", "Name": "Dev", "Description": ["anything"], "Extra": 7},
    )
    replies.check("DELETE", "/api/Spaces-1/environments/Environments-1", "whatever")
    replies.check("GET", "/api/unknown/route/x", 7)


def test_an_id_is_one_escaped_segment() -> None:
    assert segment("Projects-1") == "Projects-1"
    assert segment("../x") == "..%2Fx"
    assert segment("..") == "%2E%2E"
    assert segment("a b?c#d%") == "a%20b%3Fc%23d%25"
    assert api_path("Spaces-1", "projects", "../x", "channels") == (
        "api/Spaces-1/projects/..%2Fx/channels"
    )
