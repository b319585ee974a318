"""Unit tests of the Octopus HTTP client (`snapshotsync.octopus.client`).

Every call is answered by `responses`; no server runs. Sleeps are recorded by a fake and the
jitter is pinned (`rand=lambda: 0.0` or `1.0`), so the retry delays are exact and nothing waits.
"""

from __future__ import annotations

import contextlib
import logging
import pathlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from snapshotsync.errors import OctopusApiError
from snapshotsync.octopus.client import CallStats, OctopusClient, RetryPolicy

BASE = "https://octopus.example.com"
KEY = "API-ABCDEFGHIJKLMNOPQRSTUVWXYZ0123"  # shaped like a real Octopus key
ENVIRONMENTS = "/api/Spaces-1/environments"


class Sleeps:
    """A fake `time.sleep` that records the delays it was asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.now = 1000.0  # a virtual clock that only sleeping moves

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """Every registered answer must be used: a test cannot pass by skipping a call."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def debug_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    """Records of the "snapshotsync" logger at DEBUG, even after `log.setup()` stopped
    propagation (caplog listens on the root logger). The capture formats without redaction,
    so what it sees is what the client itself put in the record."""
    monkeypatch.setattr(logging.getLogger("snapshotsync"), "propagate", True)
    caplog.set_level(logging.DEBUG, logger="snapshotsync")
    return caplog


def make_client(
    sleeps: Sleeps,
    *,
    base_url: str = BASE,
    rand: float = 0.0,
    page_size: int = 500,
    retry: RetryPolicy | None = None,
    max_rps: float = 0.0,
) -> OctopusClient:
    return OctopusClient(
        base_url,
        KEY,
        retry=retry,
        page_size=page_size,
        sleep=sleeps,
        rand=lambda: rand,
        clock=sleeps.clock,
        max_rps=max_rps,
    )


def page(items: list[dict[str, Any]], total: int, next_link: str | None = None) -> dict[str, Any]:
    """A collection envelope as Octopus returns it (resourceCollection.d.ts)."""
    links = {"Self": ENVIRONMENTS}
    if next_link:
        links["Page.Next"] = next_link
    return {
        "ItemType": "Environment",
        "TotalResults": total,
        "ItemsPerPage": len(items),
        "Items": items,
        "Links": links,
    }


def envs(*numbers: int) -> list[dict[str, Any]]:
    return [{"Id": f"Environments-{n}", "Name": f"Env {n}"} for n in numbers]


def query(**params: str) -> list[Any]:
    return [matchers.query_param_matcher(params)]


# ----------------------------------------------------------------- key and logs


def test_api_key_header_is_sent_on_every_call(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    url = BASE + ENVIRONMENTS
    mocked.get(url, status=503, match=query(skip="0", take="2"))
    mocked.get(url, json=page(envs(1, 2), 3, f"{ENVIRONMENTS}?skip=2&take=2"))
    mocked.get(f"{url}?skip=2&take=2", json=page(envs(3), 3))
    mocked.post(url, json={"Id": "Environments-4", "Name": "Env 4"}, status=201)

    client = make_client(sleeps, page_size=2)
    client.list_all(ENVIRONMENTS)
    client.post(ENVIRONMENTS, {"Name": "Env 4"})

    assert len(mocked.calls) == 4  # the retry and the Next page included
    for call in mocked.calls:
        assert call.request.headers["X-Octopus-ApiKey"] == KEY
        assert call.request.headers["Accept"] == "application/json"


def test_api_key_never_reaches_a_log_record(
    mocked: responses.RequestsMock, sleeps: Sleeps, debug_log: pytest.LogCaptureFixture
) -> None:
    url = BASE + ENVIRONMENTS
    mocked.get(url, status=503)
    mocked.get(url, body=requests.ConnectionError("Connection aborted"))
    mocked.get(url, json=page(envs(1), 2))  # TotalResults disagrees: read again
    mocked.get(url, json=page(envs(1), 1))
    mocked.post(url, status=400, json={"ErrorMessage": f"bad key {KEY}", "Errors": [KEY]})
    mocked.get(BASE + "/api", status=401, body=f"<html>Invalid API key {KEY}</html>")

    client = make_client(sleeps)
    client.list_all(ENVIRONMENTS)
    with pytest.raises(OctopusApiError):
        client.post(ENVIRONMENTS, {"Name": "x"})
    with pytest.raises(OctopusApiError):
        client.server_version()

    records = [r for r in debug_log.records if r.name.startswith("snapshotsync")]
    assert len(records) >= 6  # the capture works: retries, re-read and results were logged
    assert any("503" in r.getMessage() for r in records)
    assert any("reading again" in r.getMessage() for r in records)
    for record in records:
        assert KEY not in record.getMessage()
        assert KEY not in repr(record.args)
    assert KEY not in debug_log.text


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (401, {"json": {"ErrorMessage": f"The API key {KEY} is not valid", "Errors": []}}),
        (400, {"json": {"ErrorMessage": "Bad request", "Errors": [f"key was {KEY}"]}}),
        (403, {"body": f"forbidden for {KEY}"}),
        (200, {"body": f"<html>login page for {KEY}</html>"}),  # not JSON
    ],
)
def test_api_key_never_appears_in_an_error_message(
    mocked: responses.RequestsMock, sleeps: Sleeps, status: int, answer: dict[str, Any]
) -> None:
    mocked.get(BASE + "/api/spaces", status=status, **answer)
    with pytest.raises(OctopusApiError) as caught:
        make_client(sleeps).get("api/spaces")
    assert caught.value.status == status
    assert KEY not in str(caught.value)
    assert KEY not in caught.value.body_excerpt


def test_api_key_not_in_the_error_of_a_dropped_connection(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mocked.post(BASE + ENVIRONMENTS, body=requests.ConnectionError(f"reset while sending {KEY}"))
    with pytest.raises(OctopusApiError) as caught:
        make_client(sleeps).post(ENVIRONMENTS, {"Name": "x"})
    assert caught.value.status is None
    assert KEY not in str(caught.value)


# ----------------------------------------------------------------- paging


def test_list_all_follows_next_links_and_returns_every_item_once(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    url = BASE + ENVIRONMENTS
    mocked.get(
        url,
        json=page(envs(1, 2), 5, f"{ENVIRONMENTS}?skip=2&take=2"),
        match=query(skip="0", take="2"),
    )
    mocked.get(
        url,
        json=page(envs(3, 4), 5, f"{ENVIRONMENTS}?skip=4&take=2"),
        match=query(skip="2", take="2"),
    )
    mocked.get(url, json=page(envs(5), 5), match=query(skip="4", take="2"))

    client = make_client(sleeps, page_size=2)
    items = client.list_all(ENVIRONMENTS)

    assert [i["Id"] for i in items] == [f"Environments-{n}" for n in range(1, 6)]
    assert len(mocked.calls) == 3
    assert client.stats.by_method == {"GET": 3}


def test_list_all_sends_skip_and_take_with_the_callers_parameters(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mocked.get(
        BASE + "/api/spaces",
        json=page([{"Id": "Spaces-1", "Name": "Default"}], 1),
        match=query(skip="0", take="30", partialName="Default"),
    )
    items = make_client(sleeps, page_size=30).list_all("api/spaces", {"partialName": "Default"})
    assert items == [{"Id": "Spaces-1", "Name": "Default"}]


def test_list_all_stops_at_an_empty_page_even_with_a_next_link(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    url = BASE + ENVIRONMENTS
    mocked.get(
        url, json=page(envs(1), 1, f"{ENVIRONMENTS}?skip=1&take=1"), match=query(skip="0", take="1")
    )
    mocked.get(
        url, json=page([], 1, f"{ENVIRONMENTS}?skip=2&take=1"), match=query(skip="1", take="1")
    )
    items = make_client(sleeps, page_size=1).list_all(ENVIRONMENTS)
    assert [i["Id"] for i in items] == ["Environments-1"]
    assert len(mocked.calls) == 2


def test_list_all_rereads_a_collection_that_changed_while_it_was_read(
    mocked: responses.RequestsMock, sleeps: Sleeps, debug_log: pytest.LogCaptureFixture
) -> None:
    url = BASE + ENVIRONMENTS
    second = f"{ENVIRONMENTS}?skip=2&take=2"
    # First read: Environments-3 was deleted between the pages, so 3 items but TotalResults 4.
    mocked.get(url, json=page(envs(1, 2), 4, second), match=query(skip="0", take="2"))
    mocked.get(url, json=page(envs(4), 4), match=query(skip="2", take="2"))
    # Second read, from the start: consistent.
    mocked.get(url, json=page(envs(1, 2), 3, second), match=query(skip="0", take="2"))
    mocked.get(url, json=page(envs(4), 3), match=query(skip="2", take="2"))

    items = make_client(sleeps, page_size=2).list_all(ENVIRONMENTS)

    assert [i["Id"] for i in items] == ["Environments-1", "Environments-2", "Environments-4"]
    assert len(mocked.calls) == 4
    assert "skip=0" in (mocked.calls[2].request.url or "")  # re-read from the first page
    assert any("reading again" in r.getMessage() for r in debug_log.records)


def test_list_all_gives_up_rereading_after_three_rereads(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    # A collection whose TotalResults never matches: one read and three re-reads, then the
    # items of the last read are returned as they are.
    mocked.get(BASE + ENVIRONMENTS, json=page(envs(1, 2), 10))
    items = make_client(sleeps).list_all(ENVIRONMENTS)
    assert [i["Id"] for i in items] == ["Environments-1", "Environments-2"]
    assert len(mocked.calls) == 4


def test_list_all_ignores_a_missing_total(mocked: responses.RequestsMock, sleeps: Sleeps) -> None:
    mocked.get(BASE + ENVIRONMENTS, json={"Items": envs(1), "Links": {}})
    assert make_client(sleeps).list_all(ENVIRONMENTS) == envs(1)
    assert len(mocked.calls) == 1


@pytest.mark.parametrize(
    "body",
    [{}, {"Items": None, "TotalResults": 0}, {"Items": {"Id": "x"}}, envs(1), "text"],
    ids=["empty", "null-items", "dict-items", "bare-list", "string"],
)
def test_list_all_rejects_a_page_without_items(
    mocked: responses.RequestsMock, sleeps: Sleeps, body: Any
) -> None:
    mocked.get(BASE + ENVIRONMENTS, json=body)
    with pytest.raises(OctopusApiError, match="expected a collection with Items") as caught:
        make_client(sleeps).list_all(ENVIRONMENTS)
    assert caught.value.method == "GET"
    assert ENVIRONMENTS in str(caught.value)


def test_list_all_rejects_a_malformed_later_page(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    url = BASE + ENVIRONMENTS
    mocked.get(
        url, json=page(envs(1), 2, f"{ENVIRONMENTS}?skip=1&take=1"), match=query(skip="0", take="1")
    )
    mocked.get(url, json={"Error": "oops"}, match=query(skip="1", take="1"))
    with pytest.raises(OctopusApiError, match="expected a collection with Items"):
        make_client(sleeps, page_size=1).list_all(ENVIRONMENTS)


# ----------------------------------------------------------------- retries


@pytest.mark.parametrize("status", [502, 503, 504, 429])
def test_get_is_retried_on_transient_statuses(
    mocked: responses.RequestsMock, sleeps: Sleeps, status: int
) -> None:
    mocked.get(BASE + "/api", status=status)
    mocked.get(BASE + "/api", status=status)
    mocked.get(BASE + "/api", json={"Version": "2024.2.9000"})
    client = make_client(sleeps)
    assert client.get("api") == {"Version": "2024.2.9000"}
    assert len(mocked.calls) == 3
    assert len(sleeps.delays) == 2
    assert client.stats.by_method == {"GET": 1}
    assert client.stats.retries == 2


@pytest.mark.parametrize(
    "error",
    [
        requests.ConnectionError("('Connection aborted.', RemoteDisconnected())"),
        requests.ReadTimeout("read timed out"),
    ],
    ids=["dropped", "timeout"],
)
def test_get_is_retried_on_a_dropped_connection(
    mocked: responses.RequestsMock, sleeps: Sleeps, error: Exception
) -> None:
    mocked.get(BASE + "/api", body=error)
    mocked.get(BASE + "/api", json={"Version": "1"})
    client = make_client(sleeps)
    assert client.get("api") == {"Version": "1"}
    assert len(mocked.calls) == 2
    assert sleeps.delays == [0.125]  # base_delay 0.25 with rand 0: half of it
    assert client.stats.retries == 1


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_a_lower_bound_on_the_wait(
    mocked: responses.RequestsMock, sleeps: Sleeps, status: int
) -> None:
    mocked.get(BASE + "/api", status=status, headers={"Retry-After": "3"})
    mocked.get(BASE + "/api", json={})
    make_client(sleeps, rand=1.0).get("api")
    assert sleeps.delays == [3.0]  # the backoff alone would be 0.25


def test_retry_after_is_capped_by_max_retry_after(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mocked.get(BASE + "/api", status=429, headers={"Retry-After": "3600"})
    mocked.get(BASE + "/api", json={})
    make_client(sleeps, retry=RetryPolicy(max_retry_after=5.0)).get("api")
    assert sleeps.delays == [5.0]


@pytest.mark.parametrize("value", ["Wed, 21 Oct 2015 07:28:00 GMT", "soon"])
def test_an_unreadable_retry_after_falls_back_to_the_backoff(
    mocked: responses.RequestsMock, sleeps: Sleeps, value: str
) -> None:
    mocked.get(BASE + "/api", status=429, headers={"Retry-After": value})
    mocked.get(BASE + "/api", json={})
    make_client(sleeps).get("api")
    assert sleeps.delays == [0.125]


@pytest.mark.parametrize(
    ("rand", "expected"),
    [(0.0, [0.5, 1.0, 2.0, 4.0, 8.0]), (1.0, [1.0, 2.0, 4.0, 8.0, 16.0])],
)
def test_backoff_doubles_with_equal_jitter(
    mocked: responses.RequestsMock, sleeps: Sleeps, rand: float, expected: list[float]
) -> None:
    base_delay = 1.0
    for _ in range(5):
        mocked.get(BASE + "/api", status=503)
    mocked.get(BASE + "/api", json={})
    retry = RetryPolicy(attempts=6, base_delay=base_delay, max_delay=100.0)
    make_client(sleeps, rand=rand, retry=retry).get("api")
    assert sleeps.delays == expected
    for n, delay in enumerate(sleeps.delays):
        backoff = base_delay * 2**n
        assert backoff / 2 <= delay <= backoff


def test_backoff_is_capped_by_max_delay() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=3.0)
    assert [policy.delay(n, None, lambda: 1.0) for n in range(5)] == [1.0, 2.0, 3.0, 3.0, 3.0]
    assert [policy.delay(n, None, lambda: 0.0) for n in range(5)] == [0.5, 1.0, 1.5, 1.5, 1.5]
    assert policy.delay(0, 2.5, lambda: 0.0) == 2.5


def test_post_is_not_retried_on_503(mocked: responses.RequestsMock, sleeps: Sleeps) -> None:
    mocked.post(BASE + ENVIRONMENTS, status=503)
    client = make_client(sleeps)
    with pytest.raises(OctopusApiError) as caught:
        client.post(ENVIRONMENTS, {"Name": "x"})
    assert caught.value.status == 503
    assert len(mocked.calls) == 1
    assert sleeps.delays == []
    assert client.stats.by_method == {"POST": 1}
    assert client.stats.retries == 0


@pytest.mark.parametrize(
    "error",
    [
        requests.ConnectionError("('Connection aborted.', RemoteDisconnected())"),
        requests.ReadTimeout(),
    ],
    ids=["dropped", "timeout"],
)
def test_post_is_not_retried_on_a_dropped_connection(
    mocked: responses.RequestsMock, sleeps: Sleeps, error: Exception
) -> None:
    mocked.post(BASE + ENVIRONMENTS, body=error)
    with pytest.raises(OctopusApiError) as caught:
        make_client(sleeps).post(ENVIRONMENTS, {"Name": "x"})
    assert caught.value.status is None
    assert len(mocked.calls) == 1
    assert sleeps.delays == []


def test_post_is_retried_on_429(mocked: responses.RequestsMock, sleeps: Sleeps) -> None:
    mocked.post(BASE + ENVIRONMENTS, status=429, headers={"Retry-After": "2"})
    mocked.post(BASE + ENVIRONMENTS, status=201, json={"Id": "Environments-1", "Name": "Dev"})
    client = make_client(sleeps)
    assert client.post(ENVIRONMENTS, {"Name": "x"}) == {"Id": "Environments-1", "Name": "Dev"}
    assert len(mocked.calls) == 2
    assert sleeps.delays == [2.0]
    assert client.stats.by_method == {"POST": 1}
    assert client.stats.retries == 1


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_put_and_delete_are_retried_on_503(
    mocked: responses.RequestsMock, sleeps: Sleeps, method: str
) -> None:
    url = f"{BASE}{ENVIRONMENTS}/Environments-1"
    mocked.add(method, url, status=503)
    mocked.add(method, url, body=requests.ConnectionError("Connection aborted"))
    mocked.add(method, url, json={"Id": "Environments-1", "Name": "Dev"})
    client = make_client(sleeps)
    path = f"{ENVIRONMENTS}/Environments-1"
    result = client.put(path, {"Name": "x"}) if method == "PUT" else client.delete(path)
    assert result == {"Id": "Environments-1", "Name": "Dev"}
    assert len(mocked.calls) == 3
    assert client.stats.by_method == {method: 1}
    assert client.stats.retries == 2


def test_the_last_status_is_raised_when_the_attempts_run_out(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mocked.get(BASE + "/api", status=503)
    mocked.get(BASE + "/api", status=503)
    mocked.get(BASE + "/api", status=502, body="Bad Gateway")
    client = make_client(sleeps, retry=RetryPolicy(attempts=3))
    with pytest.raises(OctopusApiError) as caught:
        client.get("api")
    assert caught.value.status == 502
    assert "HTTP 502" in str(caught.value)
    assert len(mocked.calls) == 3
    assert sleeps.delays == [0.125, 0.25]
    assert client.stats.retries == 2


def test_dropped_connections_give_up_after_the_attempts(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mocked.get(BASE + "/api", body=requests.ConnectionError("Connection aborted"))
    client = make_client(sleeps, retry=RetryPolicy(attempts=4))
    with pytest.raises(OctopusApiError) as caught:
        client.get("api")
    assert caught.value.status is None
    assert len(mocked.calls) == 4
    assert len(sleeps.delays) == 3
    assert client.stats.by_method == {"GET": 1}
    assert client.stats.retries == 3


def test_call_stats_count_calls_by_method_retries_and_writes(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    one = f"{BASE}{ENVIRONMENTS}/Environments-1"
    mocked.get(BASE + "/api", json={})
    mocked.get(one, status=503)
    mocked.get(one, json={"Id": "Environments-1", "Name": "Dev"})
    mocked.post(BASE + ENVIRONMENTS, status=201, json={"Id": "Environments-1", "Name": "Dev"})
    mocked.put(one, json={"Id": "Environments-1", "Name": "Dev"})
    mocked.delete(one, status=200)
    mocked.delete(one, status=404, json={"ErrorMessage": "gone"})

    client = make_client(sleeps)
    client.get("api")
    client.get(f"{ENVIRONMENTS}/Environments-1")
    client.post(ENVIRONMENTS, {})
    client.put(f"{ENVIRONMENTS}/Environments-1", {})
    assert client.delete(f"{ENVIRONMENTS}/Environments-1") is None  # empty answer
    with pytest.raises(OctopusApiError):
        client.delete(f"{ENVIRONMENTS}/Environments-1")  # a failed call is counted too

    assert client.stats.by_method == {"GET": 2, "POST": 1, "PUT": 1, "DELETE": 2}
    assert client.stats.retries == 1
    assert client.stats.writes == 4


def test_call_stats_writes_are_every_non_get_call() -> None:
    stats = CallStats()
    assert stats.writes == 0
    stats.add("GET", 3)
    stats.add("GET", 0)
    stats.add("PUT", 1)
    stats.add("POST", 0)
    assert stats.by_method == {"GET": 2, "PUT": 1, "POST": 1}
    assert stats.retries == 4
    assert stats.writes == 2


# ----------------------------------------------------------------- errors


def test_an_octopus_400_names_method_path_status_and_the_errors(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mocked.post(
        BASE + ENVIRONMENTS,
        status=400,
        json={
            "ErrorMessage": "There was a problem with your request.",
            "Errors": ["Name must be unique.", "The property 'Colour' is not known."],
        },
    )
    with pytest.raises(OctopusApiError) as caught:
        make_client(sleeps).post(ENVIRONMENTS, {"Name": "Env 1", "Colour": "red"})
    error = caught.value
    assert (error.method, error.url, error.status) == ("POST", ENVIRONMENTS, 400)
    message = str(error)
    for text in (
        "POST",
        ENVIRONMENTS,
        "HTTP 400",
        "There was a problem with your request.",
        "Name must be unique.",
        "The property 'Colour' is not known.",
    ):
        assert text in message
    assert len(mocked.calls) == 1  # a 400 is not retried


def test_a_non_json_error_answer_is_quoted(mocked: responses.RequestsMock, sleeps: Sleeps) -> None:
    mocked.get(BASE + "/api/spaces", status=404, body="  Not Found  ")
    with pytest.raises(OctopusApiError) as caught:
        make_client(sleeps).get("api/spaces", {"partialName": "Default"})
    assert caught.value.url.startswith("/api/spaces")
    assert str(caught.value).endswith("(HTTP 404): Not Found")
    assert len(mocked.calls) == 1  # a 404 is not retried


def test_a_non_json_answer_is_a_clear_error(mocked: responses.RequestsMock, sleeps: Sleeps) -> None:
    mocked.get(BASE + "/api", body="<html><body>Welcome to nginx!</body></html>")
    with pytest.raises(OctopusApiError, match="not JSON") as caught:
        make_client(sleeps).server_version()
    assert caught.value.status == 200
    assert "GET /api" in str(caught.value)


def test_connection_refused_says_the_server_could_not_be_reached(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    refused = requests.ConnectionError(
        "HTTPSConnectionPool(host='octopus.example.com', port=443): Max retries exceeded with "
        "url: /api (Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object>: "
        "Failed to establish a new connection: [Errno 111] Connection refused'))"
    )
    mocked.get(BASE + "/api", body=refused)
    client = make_client(sleeps, retry=RetryPolicy(attempts=2))
    with pytest.raises(OctopusApiError) as caught:
        client.server_version()
    assert caught.value.status is None
    message = str(caught.value)
    assert "GET /api" in message
    assert "no response" in message
    assert "connection refused" in message
    assert "server up" in message
    assert len(mocked.calls) == 2  # a GET is retried first


def test_connection_refused_by_a_real_closed_port(sleeps: Sleeps) -> None:
    """The real `requests` message (not a mocked one) is recognised as a refusal."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(sleeps, base_url=f"http://127.0.0.1:{port}", retry=RetryPolicy(attempts=2))
    with pytest.raises(OctopusApiError, match="connection refused") as caught:
        client.server_version()
    assert caught.value.status is None
    assert len(sleeps.delays) == 1


# ----------------------------------------------------------------- Octopus specifics


def test_server_version_reads_version_from_the_root_document(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mocked.get(
        BASE + "/api",
        json={
            "Application": "Octopus Deploy",
            "Version": "2024.2.9000",
            "ApiVersion": "3.0.0",
            "Links": {},
        },
    )
    assert make_client(sleeps).server_version() == "2024.2.9000"


def test_server_version_without_version_is_an_error(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mocked.get(BASE + "/api", json={"Application": "Something else"})
    with pytest.raises(OctopusApiError, match="no Version"):
        make_client(sleeps).server_version()


SPACES = [
    {"Id": "Spaces-2", "Name": "Default Copy", "IsDefault": False},
    {"Id": "Spaces-1", "Name": "Default", "IsDefault": True},
]


@pytest.mark.parametrize("name", ["Default", "default", "DEFAULT"])
def test_space_id_matches_the_exact_name_case_insensitively(
    mocked: responses.RequestsMock, sleeps: Sleeps, name: str
) -> None:
    mocked.get(
        BASE + "/api/spaces",
        json=page(SPACES, 2),
        match=query(skip="0", take="500", partialName=name),
    )
    assert make_client(sleeps).space_id(name) == "Spaces-1"


def test_space_id_of_the_copy_is_not_the_default(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mocked.get(BASE + "/api/spaces", json=page(SPACES[:1], 1))
    assert make_client(sleeps).space_id("default copy") == "Spaces-2"


def test_a_missing_space_lists_the_known_spaces(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mocked.get(
        BASE + "/api/spaces",
        json=page(SPACES[:1], 1),
        match=query(skip="0", take="500", partialName="Default C"),
    )
    mocked.get(
        BASE + "/api/spaces",
        json=page([*SPACES, {"Id": "Spaces-3", "Name": "Apps"}], 3),
        match=query(skip="0", take="500"),
    )
    with pytest.raises(OctopusApiError) as caught:
        make_client(sleeps).space_id("Default C")
    message = str(caught.value)
    assert "no space named 'Default C'" in message
    assert "spaces: Apps, Default, Default Copy" in message
    assert caught.value.status == 404


def test_a_missing_space_on_an_empty_server(mocked: responses.RequestsMock, sleeps: Sleeps) -> None:
    mocked.get(BASE + "/api/spaces", json=page([], 0))
    with pytest.raises(OctopusApiError, match=r"spaces: none"):
        make_client(sleeps).space_id("Default")
    assert len(mocked.calls) == 2


# ----------------------------------------------------------------- url()


@pytest.mark.parametrize(
    ("base_url", "root"),
    [
        ("https://host", "https://host/"),
        ("https://host/", "https://host/"),
        ("https://host/octopus", "https://host/octopus/"),
        ("https://host/octopus/", "https://host/octopus/"),
        ("http://host:8080/a/b/", "http://host:8080/a/b/"),
    ],
)
@pytest.mark.parametrize(
    ("path", "rest"),
    [
        ("api", "api"),
        ("/api", "api"),
        ("api/spaces", "api/spaces"),
        ("/api/Spaces-1/environments?skip=30&take=30", "api/Spaces-1/environments?skip=30&take=30"),
    ],
)
def test_url_joins_relative_paths_to_the_base(
    sleeps: Sleeps, base_url: str, root: str, path: str, rest: str
) -> None:
    assert make_client(sleeps, base_url=base_url).url(path) == root + rest


@pytest.mark.parametrize("base_url", ["https://host", "https://host/octopus/"])
@pytest.mark.parametrize(
    "link", ["https://other.example.com/api/spaces?skip=2", "http://host/api/x"]
)
def test_url_leaves_absolute_links_alone(sleeps: Sleeps, base_url: str, link: str) -> None:
    assert make_client(sleeps, base_url=base_url).url(link) == link


@pytest.mark.parametrize("base_url", ["https://host/octopus", "https://host/octopus/"])
def test_calls_and_next_links_go_under_a_path_prefix(
    mocked: responses.RequestsMock, sleeps: Sleeps, base_url: str
) -> None:
    url = "https://host/octopus" + ENVIRONMENTS
    mocked.get(
        url, json=page(envs(1), 2, f"{ENVIRONMENTS}?skip=1&take=1"), match=query(skip="0", take="1")
    )
    mocked.get(url, json=page(envs(2), 2), match=query(skip="1", take="1"))
    items = make_client(sleeps, base_url=base_url, page_size=1).list_all(ENVIRONMENTS)
    assert [i["Id"] for i in items] == ["Environments-1", "Environments-2"]
    assert all((c.request.url or "").startswith(url) for c in mocked.calls)


def test_links_that_already_carry_the_path_prefix_are_not_doubled() -> None:
    client = OctopusClient("https://host/octopus/", "API-PREFIXTEST00000000000000")
    assert client.url("/octopus/api/Spaces-1/projects?skip=30") == (
        "https://host/octopus/api/Spaces-1/projects?skip=30"
    )
    assert client.url("/api/Spaces-1") == "https://host/octopus/api/Spaces-1"
    assert client.url("api") == "https://host/octopus/api"


def test_max_rps_spaces_calls_evenly(mocked: responses.RequestsMock, sleeps: Sleeps) -> None:
    for _ in range(5):
        mocked.get(f"{BASE}/api", json={"Version": "2024.2.1"})
    client = make_client(sleeps, max_rps=10)
    for _ in range(5):
        client.server_version()
    assert sleeps.delays == pytest.approx([0.1, 0.1, 0.1, 0.1])


def test_a_429_pauses_every_call_of_the_client_not_only_its_own(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    from snapshotsync.octopus.client import Throttle

    throttle = Throttle(clock=sleeps.clock, sleep=sleeps)
    throttle.pause(3.0)  # what a 429 with Retry-After: 3 does, seen from another thread
    throttle.wait()
    assert sleeps.delays == [3.0]
    throttle.wait()
    assert sleeps.delays == [3.0]  # the pause is over; no rate limit set


def test_an_html_error_page_says_what_answered_not_the_page(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    page = "<html><head><title>Sign in - Contoso</title></head><body>secret form</body></html>"
    mocked.get(BASE + "/api/spaces", body=page, status=404, content_type="text/html")
    with pytest.raises(OctopusApiError) as caught:
        make_client(sleeps).get("api/spaces")
    message = str(caught.value)
    assert "<html" not in message and "secret form" not in message
    assert f"{BASE} answered with an HTML page titled 'Sign in - Contoso', not JSON" in message


# ----------------------------------------------------------------- the key stays home


def test_a_redirect_to_another_host_is_refused_and_never_gets_the_key(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mocked.get(
        f"{BASE}{ENVIRONMENTS}",
        status=302,
        headers={"Location": "https://evil.example.net/api/Spaces-1/environments"},
    )
    client = make_client(sleeps)
    with pytest.raises(OctopusApiError, match=r"redirected to another server \(https://evil"):
        client.get(ENVIRONMENTS)
    assert [call.request.url for call in mocked.calls] == [f"{BASE}{ENVIRONMENTS}"]


def test_a_redirect_on_a_write_is_never_followed_as_a_get(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mocked.post(
        f"{BASE}{ENVIRONMENTS}", status=301, headers={"Location": f"{BASE}/octopus{ENVIRONMENTS}"}
    )
    client = make_client(sleeps)
    with pytest.raises(OctopusApiError, match=r"POST .* \(HTTP 301\): .*never re-sent"):
        client.post(ENVIRONMENTS, {"Name": "Staging"})
    assert [call.request.method for call in mocked.calls] == ["POST"]


def test_a_get_redirected_within_the_server_is_followed(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mocked.get(f"{BASE}/api", status=301, headers={"Location": "/api/"})
    mocked.get(f"{BASE}/api/", json={"Version": "2024.2.1"})
    assert make_client(sleeps).server_version() == "2024.2.1"


def test_a_next_link_to_another_server_is_refused(
    mocked: responses.RequestsMock, sleeps: Sleeps
) -> None:
    mocked.get(
        f"{BASE}{ENVIRONMENTS}",
        json=page(envs(1), 2, "https://evil.example.net/api/Spaces-1/environments?skip=1"),
    )
    with pytest.raises(OctopusApiError, match="points to another server"):
        make_client(sleeps).list_all(ENVIRONMENTS)
    assert len(mocked.calls) == 1


@pytest.mark.parametrize(
    ("base_url", "warned"),
    [
        ("http://octopus.example.com", True),
        ("http://10.0.0.5:8080", True),
        ("https://octopus.example.com", False),
        ("http://127.0.0.1:8080", False),
        ("http://localhost:8080", False),
        ("http://[::1]:8080", False),
    ],
)
def test_plain_http_to_a_host_that_is_not_loopback_is_warned_about(
    debug_log: pytest.LogCaptureFixture, sleeps: Sleeps, base_url: str, warned: bool
) -> None:
    make_client(sleeps, base_url=base_url).close()
    warnings = [r for r in debug_log.records if r.levelno == logging.WARNING]
    assert bool(warnings) == warned
    if warned:
        assert "unencrypted" in warnings[0].getMessage() and len(warnings) == 1


class _Server:
    """A loopback HTTP server answering every connection with `answer(connection)`."""

    def __init__(self, answer: Any) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(8)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.requests: list[bytes] = []
        self.answer = answer
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            with connection:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(data)
                with contextlib.suppress(OSError):  # the client hung up
                    self.answer(connection)

    def close(self) -> None:
        self.socket.close()


def test_over_real_http_the_key_never_follows_a_redirect_to_another_port() -> None:
    elsewhere = _Server(lambda c: c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"))
    redirect = (
        f"HTTP/1.1 302 Found\r\nLocation: {elsewhere.url}/api\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    home = _Server(lambda c: c.sendall(redirect))
    try:
        with (
            OctopusClient(home.url, KEY, retry=RetryPolicy(attempts=1)) as client,
            pytest.raises(OctopusApiError, match="redirected to another server"),
        ):
            client.get("api")
        assert len(home.requests) == 1 and KEY.encode() in home.requests[0]
        assert elsewhere.requests == []
    finally:
        home.close()
        elsewhere.close()


# ----------------------------------------------------------------- a deadline per call


def _trickle(head: bytes, body: bytes, delay: float) -> Any:
    def answer(connection: socket.socket) -> None:
        for byte in head + body:
            connection.sendall(bytes([byte]))
            time.sleep(delay)

    return answer


@pytest.mark.parametrize(
    "where", ["body", "headers"], ids=["trickled body", "trickled status line and headers"]
)
def test_a_server_that_trickles_its_answer_is_cut_off_at_the_deadline(where: str) -> None:
    body = b'{"Version": "' + b"9" * 200 + b'"}'
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    if where == "body":
        server = _Server(lambda c: (c.sendall(head), _trickle(b"", body, 0.05)(c)))
    else:
        server = _Server(_trickle(head, body, 0.05))
    try:
        # Each byte comes well within the 1 s read timeout; the whole answer would take
        # 10 s or more: only a deadline on the whole call stops it.
        with (
            OctopusClient(server.url, KEY, timeout=1.0, retry=RetryPolicy(attempts=1)) as client,
            pytest.raises(OctopusApiError, match=r"no complete answer within 1 s"),
        ):
            client.get("api")
    finally:
        server.close()


def test_calls_within_their_deadline_are_untouched_and_the_connection_is_reused() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + b'{"Version": "1.2.3"}'
    server = _Server(lambda c: c.sendall(answer))
    try:
        with OctopusClient(server.url, KEY, timeout=5.0) as client:
            assert client.server_version() == "1.2.3"
            assert client.server_version() == "1.2.3"
    finally:
        server.close()


def test_proxy_and_certificate_settings_come_from_the_environment_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    from snapshotsync.octopus.client import OctopusClient

    key = "API-TESTKEY0000000000000000000"

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    with OctopusClient("https://octopus.example.com", key) as out:
        session = out._session
        assert session.proxies.get("https") == "http://proxy.corp.example:3128"
        assert session.verify == str(bundle)
        assert session.trust_env is False  # not looked up again on every call
    with OctopusClient(
        "https://octopus.internal.example", "API-TESTKEY0000000000000000000"
    ) as inside:
        assert not inside._session.proxies.get("https")  # NO_PROXY holds
