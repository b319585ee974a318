"""`octopus/bulk.py`: ids in chunks under the URL limit, the subset check, paging."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import requests

from snapshotsync.emulator import Config
from snapshotsync.errors import OctopusApiError
from snapshotsync.octopus import bulk
from snapshotsync.octopus.client import OctopusClient
from tests.helpers import API_KEY, SAMPLES, Emulator, running_emulator, with_frozen_copies


def _line(client: OctopusClient, path: str, ids: list[str], paged: bool) -> int:
    """The request line requests sends for this chunk, CRLF included."""
    prepared = requests.Request("GET", client.url(path), params=bulk._params(ids, paged)).prepare()
    assert prepared.url is not None
    target = prepared.url.split("//", 1)[1]
    target = target[target.index("/") :]
    return len(f"GET {target} HTTP/1.1\r\n")


@pytest.mark.parametrize("paged", [True, False])
def test_ids_go_in_chunks_of_fifty_at_most(paged: bool) -> None:
    client = OctopusClient("http://127.0.0.1:9/", API_KEY)
    ids = [f"deploymentprocess-Projects-{n}" for n in range(1, 121)]
    parts = list(bulk.chunks(client, "api/Spaces-1/deploymentprocesses", ids, paged=paged))
    assert [len(p) for p in parts] == [50, 50, 20]
    assert [i for p in parts for i in p] == ids


@pytest.mark.parametrize("prefix", ["", "octopus/"])
def test_a_chunk_never_makes_a_request_line_over_8_kb(prefix: str) -> None:
    """Long ids (and a server under a path prefix) make smaller chunks: every request line,
    as requests puts it on the wire, stays under the limit real servers and proxies keep."""
    client = OctopusClient(f"http://127.0.0.1:9/{prefix}", API_KEY)
    ids = [f"variableset-LibraryVariableSets-{n}-{'x' * 300}" for n in range(200)]
    path = "api/Spaces-1/variables/all"
    parts = list(bulk.chunks(client, path, ids, paged=False))
    assert [i for p in parts for i in p] == ids
    assert len(parts) > 200 // bulk.MAX_IDS  # the length, not the count, cut them
    lines = [_line(client, path, part, False) for part in parts]
    assert max(lines) <= bulk.MAX_REQUEST_LINE < 8192
    # Each chunk is as full as the limit allows: one more id would pass it.
    for part, following in itertools.pairwise(parts):
        assert _line(client, path, [*part, following[0]], False) > bulk.MAX_REQUEST_LINE


def test_an_id_too_long_for_any_request_line_is_an_error_naming_it() -> None:
    client = OctopusClient("http://127.0.0.1:9/", API_KEY)
    with pytest.raises(OctopusApiError, match="request line over"):
        list(bulk.chunks(client, "api/Spaces-1/variables/all", ["x" * 9000], paged=False))


def test_read_chunk_gives_the_documents_asked_for_by_id(source_emulator: Emulator) -> None:
    with OctopusClient(source_emulator.url, API_KEY) as client:
        space = f"api/{source_emulator.space_id}"
        projects = client.get(f"{space}/projects/all")
        wanted = [p["DeploymentProcessId"].upper() for p in projects] + ["deploymentprocess-x"]
        found = bulk.read_chunk(client, f"{space}/deploymentprocesses", wanted, paged=True)
        assert found is not None
        assert set(found) == set(wanted[:-1])  # keyed as asked; the unknown one is missing
        for project in projects:
            one = client.get(f"{space}/projects/{project['Id']}/deploymentprocesses")
            assert found[project["DeploymentProcessId"].upper()] == one


def test_read_chunk_follows_next_when_the_server_pages_smaller(
    source_emulator: Emulator,
) -> None:
    source_emulator.configure(max_take=1)  # ItemsPerPage is not what was asked for
    with OctopusClient(source_emulator.url, API_KEY) as client:
        space = f"api/{source_emulator.space_id}"
        runbooks = client.get(f"{space}/runbooks/all")
        wanted = [r["RunbookProcessId"] for r in runbooks]
        assert len(wanted) > 1
        found = bulk.read_chunk(client, f"{space}/runbookProcesses", wanted, paged=True)
    assert found is not None and sorted(found) == sorted(wanted)
    assert source_emulator.stats()["by_route"]["GET runbookprocesses?ids"] == len(wanted)


def test_a_server_that_ignores_ids_is_told_by_the_reply(tmp_path: Path) -> None:
    """An older server answers the unfiltered list (with frozen copies): the reply is not
    used, whether it is paged or an array."""
    seed = with_frozen_copies(SAMPLES / "source.yaml", tmp_path)
    with (
        running_emulator(seed=seed, config=Config(ignore_ids=True)) as old,
        OctopusClient(old.url, API_KEY) as client,
    ):
        space = f"api/{old.space_id}"
        project = client.get(f"{space}/projects/all")[0]
        # The second copy of the process: the unfiltered list holds the live one and the
        # first copy before it (an unfiltered page holding only ids asked for is right).
        listed = client.get(f"{space}/deploymentprocesses", {"take": 1000})["Items"]
        process = [d["Id"] for d in listed if "-s-1-" in d["Id"]][:1]
        assert len(process) == 1
        sets = [project["VariableSetId"]]
        assert bulk.read_chunk(client, f"{space}/deploymentprocesses", process, paged=True) is None
        assert bulk.read_chunk(client, f"{space}/variables/all", sets, paged=False) is None


class _NoNextLink(OctopusClient):
    """A server that leaves `Page.Next` out of its pages (OctopusDeploy/Issues#8128)."""

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        reply = super().get(path, params)
        if isinstance(reply, dict) and isinstance(reply.get("Links"), dict):
            reply["Links"].pop("Page.Next", None)
        return reply


def test_read_chunk_pages_by_count_without_a_next_link(source_emulator: Emulator) -> None:
    source_emulator.configure(max_take=1)
    with _NoNextLink(source_emulator.url, API_KEY) as client:
        space = f"api/{source_emulator.space_id}"
        wanted = [r["RunbookProcessId"] for r in client.get(f"{space}/runbooks/all")]
        assert len(wanted) > 1
        found = bulk.read_chunk(client, f"{space}/runbookProcesses", wanted, paged=True)
    assert found is not None and sorted(found) == sorted(wanted)
