"""Reading a space in bulk gives exactly what reading it one document at a time gives.

Every instance the tests know (the guide's sample source and destination, the fidelity seed,
a generated instance large enough for several chunks a route), under both tenant-variable
profiles; a server that ignores `ids` (the fallback); frozen copies of processes and variable
sets in the unfiltered lists; faults during the bulk reads.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from snapshotsync import export, layout, normalize
from snapshotsync.emulator import Config
from snapshotsync.errors import OctopusApiError
from snapshotsync.octopus.client import OctopusClient, RetryPolicy
from tests.helpers import (
    API_KEY,
    FROZEN_VARIABLE,
    SAMPLES,
    Emulator,
    git,
    init_repo,
    mark_frozen_copies,
    run_cli,
    running_emulator,
    with_frozen_copies,
)

ROOT = Path(__file__).resolve().parents[2]
FIDELITY = Path(__file__).parent / "seeds" / "fidelity-source.yaml"
OLD, SCOPED = "2024.2.9000", "2025.2.0"
FAST_RETRIES = RetryPolicy(attempts=8, base_delay=0.001, max_delay=0.01)


@functools.cache
def generated_seed() -> Path:
    """The benchmark's synthetic instance at 60 projects (120 runbooks, 30 tenants): more
    than one chunk of ids on every bulk route."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import generate
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    directory = Path(__import__("tempfile").mkdtemp(prefix="snapshotsync-bulk-"))
    return Path(generate.dump(generate.source_seed(generate.Size(60, 30, 6)), directory / "g.yaml"))


SEEDS = {
    "source": lambda: SAMPLES / "source.yaml",
    "destination": lambda: SAMPLES / "destination.yaml",
    "fidelity": lambda: FIDELITY,
    "generated": generated_seed,
}


def render(client: OctopusClient, *, bulk: bool) -> tuple[dict[str, str], list[tuple[str, Any]]]:
    """The snapshot's files, and the documents read in their order."""
    space_id = client.space_id("Default")
    raw = export.read(client, space_id, bulk=bulk)
    snapshot, _ = normalize.to_snapshot(raw, space_id, {"format_version": 1})
    return layout.render(snapshot), list(raw.documents.items())


@contextmanager
def reading(emulator: Emulator) -> Iterator[OctopusClient]:
    with OctopusClient(emulator.url, API_KEY, retry=FAST_RETRIES) as client:
        yield client


def gets(emulator: Emulator) -> int:
    return int(emulator.stats()["by_method"].get("GET", 0))


@pytest.mark.parametrize("version", [OLD, SCOPED])
@pytest.mark.parametrize("name", sorted(SEEDS))
def test_bulk_and_per_document_reads_give_the_same_snapshot(name: str, version: str) -> None:
    with running_emulator(seed=SEEDS[name](), server_version=version) as emulator:
        with reading(emulator) as client:
            one_by_one, documents = render(client, bulk=False)
            per_document = gets(emulator)
            emulator.session.delete(f"{emulator.url}/api/emulator/stats")
            in_bulk, bulk_documents = render(client, bulk=True)
        stats = emulator.stats()
    assert in_bulk == one_by_one
    assert bulk_documents == documents  # the same documents, in the same order
    assert stats["by_method"]["GET"] <= per_document
    if not documents:
        return  # an instance with nothing but collections (the sample destination)
    assert stats["by_method"]["GET"] < per_document
    assert [route for route in stats["by_route"] if route.endswith("?ids")], stats["by_route"]
    # Read in bulk: no process or variable set was read alone.
    assert "GET runbookprocesses" not in stats["by_route"]
    assert "GET projects/deploymentprocesses" not in stats["by_route"]
    assert "GET variables" not in stats["by_route"]
    if version == OLD:
        assert stats["by_route"].get("GET tenantvariables") == 1
        assert "GET tenants/variables" not in stats["by_route"]


@pytest.mark.parametrize("version", [OLD, SCOPED])
def test_a_server_that_ignores_ids_gives_the_same_snapshot_through_the_fallback(
    version: str,
) -> None:
    with running_emulator(
        seed=generated_seed(), server_version=version, config=Config(ignore_ids=True)
    ) as old:
        with reading(old) as client:
            one_by_one, documents = render(client, bulk=False)
            old.session.delete(f"{old.url}/api/emulator/stats")
            fallback, fallback_documents = render(client, bulk=True)
        routes = old.stats()["by_route"]
    assert fallback == one_by_one and fallback_documents == documents
    # One reply per route showed the filter ignored (a few more were in flight by then);
    # the documents were then read one by one.
    assert routes["GET runbookprocesses"] >= 100
    assert routes["GET projects/deploymentprocesses"] >= 50


@pytest.mark.parametrize("ignore_ids", [False, True])
def test_frozen_copies_in_the_unfiltered_lists_never_reach_the_snapshot(
    tmp_path: Path, ignore_ids: bool
) -> None:
    plain = SAMPLES / "source.yaml"
    with running_emulator(seed=plain) as emulator, reading(emulator) as client:
        expected, _ = render(client, bulk=False)
    seed = with_frozen_copies(plain, tmp_path, releases=3)
    config = Config(ignore_ids=ignore_ids)
    with running_emulator(seed=seed, config=config) as emulator, reading(emulator) as client:
        assert mark_frozen_copies(emulator.instance) > 10
        files, _ = render(client, bulk=True)
    assert files == expected
    text = "\n".join(files.values())
    assert "(frozen)" not in text and FROZEN_VARIABLE["Name"] not in text


def test_no_request_line_is_refused_on_a_large_instance() -> None:
    with running_emulator(seed=generated_seed()) as emulator, reading(emulator) as client:
        render(client, bulk=True)
        routes = emulator.stats()["by_route"]
    assert not [route for route in routes if route.startswith("414")]


@pytest.mark.parametrize("kind", ["503", "429", "drop"])
@pytest.mark.parametrize("version", [OLD, SCOPED])
def test_faults_during_bulk_reads_still_give_the_exact_snapshot(version: str, kind: str) -> None:
    """503s, 429s and dropped replies, each on 30 % of the calls, bulk reads included."""
    with running_emulator(seed=generated_seed(), server_version=version) as emulator:
        with reading(emulator) as client:
            expected, documents = render(client, bulk=False)
        emulator.session.delete(f"{emulator.url}/api/emulator/stats")
        emulator.configure(fault_rate=0.3, fault_kinds=[kind], fault_seed=22, retry_after=0)
        with reading(emulator) as client:
            files, faulty_documents = render(client, bulk=True)
        stats = emulator.stats()
    assert stats["faults"][kind] > 5
    assert any(route.endswith("?ids") for route in stats["by_route"])
    assert files == expected and faulty_documents == documents


@pytest.mark.usefixtures("keys")
def test_the_export_command_writes_the_same_snapshot_in_bulk_and_through_the_fallback(
    tmp_path: Path,
) -> None:
    """`snapshotsync export`, the reader plan, drift and push share: the tree it commits is
    the same whether the server filters by ids or not."""
    with running_emulator(seed=generated_seed(), server_version=OLD) as emulator:
        trees = []
        for ignore_ids in (False, True):
            emulator.configure(ignore_ids=ignore_ids)
            repo = init_repo(tmp_path / f"ignore-{ignore_ids}", emulator)
            run_cli("export", "--repo", str(repo))
            trees.append(git(repo, "rev-parse", "HEAD:snapshot"))
    assert trees[0] == trees[1]


class _NoBulkRoutes(OctopusClient):
    """A server (or a proxy in front of it) that answers 404 to `/all` routes and 414 to
    any `ids` filter."""

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        if path.endswith("/all") and "/spaces" not in path:
            raise OctopusApiError("GET", path, 404, "The resource was not found.")
        if params and "ids" in params:
            raise OctopusApiError("GET", path, 414, "")
        return super().get(path, params)


@pytest.mark.parametrize("version", [OLD, SCOPED])
def test_without_the_bulk_routes_every_document_is_read_one_by_one(version: str) -> None:
    with running_emulator(seed=FIDELITY, server_version=version) as emulator:
        with reading(emulator) as client:
            expected, documents = render(client, bulk=False)
        with _NoBulkRoutes(emulator.url, API_KEY) as client:
            files, fallback_documents = render(client, bulk=True)
    assert files == expected and fallback_documents == documents


class _BrokenBulkRoute(OctopusClient):
    """A server that fails a bulk read in a way no fallback can mend (403: no permission)."""

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        if params and "ids" in params and path.endswith("/variables/all"):
            raise OctopusApiError("GET", path, 403, "You do not have permission.")
        return super().get(path, params)


def test_a_bulk_read_that_fails_otherwise_fails_the_read(source_emulator: Emulator) -> None:
    with _BrokenBulkRoute(source_emulator.url, API_KEY) as client:
        space_id = client.space_id("Default")
        with pytest.raises(OctopusApiError, match="permission"):
            export.read(client, space_id)
        assert client.space_id("Default") == space_id  # the client is still usable
