"""The records of a push stay true after faults: the created list and the placeholder
ledger of a push interrupted anywhere (a lost reply, a kill, a full disk) end equal to a
fault-free push's, committed by the run itself or by the next one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from snapshotsync import yamlio
from snapshotsync.errors import ExitCode
from snapshotsync.octopus import client as client_module
from snapshotsync.store import Store, StoreError
from tests.e2e.test_reliability import _repo
from tests.helpers import SAMPLES, Emulator, git, kill_push_after, run_cli, running_emulator


def _records(repo: Path) -> dict[str, Any]:
    """What the last push recorded: the created list, the ledger's entries (as a set: their
    order follows the runs), the base's files."""
    target = repo / "targets" / "prod"
    meta = yamlio.loads_fast((target / "base" / "_meta.yaml").read_text(), "_meta.yaml")
    ledger = yamlio.loads_fast((target / "cleanup.yaml").read_text(), "cleanup.yaml")
    base = target / "base"
    return {
        "base": {
            str(p.relative_to(base)): p.read_text() for p in sorted(base.rglob("*")) if p.is_file()
        },
        "created": meta["created"],
        "ledger": sorted(
            (e["resource"], e["field"], str(e.get("cloned_value"))) for e in ledger["entries"]
        ),
    }


def _same_records(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal, compared part by part and file by file (so a failure names what differs)."""
    assert actual["created"] == expected["created"]
    assert actual["ledger"] == expected["ledger"]
    assert sorted(actual["base"]) == sorted(expected["base"])
    for path, text in expected["base"].items():
        if path.endswith("variables.yaml"):
            # `merge` leaves a placeholder out of the base only on the push that adds it;
            # every later push finds it "the same" and records it (with or without faults).
            continue
        assert _settled(actual["base"][path]) == _settled(text), path


def _settled(text: str) -> Any:
    """A base file's data as every push but the one that creates the resource records it
    (key order aside): `documents._project` records the destination's `PersistenceSettings` once
    the project exists there, which the run that creates it cannot know (not a fault's
    doing: any later push records it too)."""
    data = yamlio.loads_fast(text, "base")
    if isinstance(data, dict):
        data.pop("PersistenceSettings", None)
    return data


def _committed(repo: Path) -> bool:
    return git(repo, "status", "--porcelain", "--", "targets") == ""


@pytest.fixture
def reference(tmp_path: Path, source_emulator: Emulator, keys: None) -> dict[str, Any]:
    with running_emulator(seed=SAMPLES / "destination.yaml", id_offset=9000) as destination:
        repo = _repo(tmp_path / "reference", source_emulator, destination)
        run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
        writes = destination.stats()["writes"]
    return {"records": _records(repo), "writes": writes}


@pytest.fixture
def repo(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> Path:
    return _repo(tmp_path / "faulty", source_emulator, destination_emulator)


@pytest.fixture
def lost_reply(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str]]]:
    """Appending `(path, name)` loses the reply to the POST to `path` that creates `name`,
    after the server applied it (as a dropped connection does)."""
    real = client_module.OctopusClient._send
    routes: list[tuple[str, str]] = []

    def send(self: Any, method: str, url: str, params: Any, body: Any) -> requests.Response:
        response = real(self, method, url, params, body)
        path = client_module._path(url).split("?", 1)[0]
        name = body.get("Name") if isinstance(body, dict) else None
        if method == "POST" and (path, name) in routes:
            routes.remove((path, name))
            raise requests.ConnectionError("the reply was lost")
        return response

    monkeypatch.setattr(client_module.OctopusClient, "_send", send)
    yield routes


@pytest.mark.parametrize(
    ("collection", "resource"),
    [("feeds", "feeds Docker Hub"), ("accounts", "accounts Database Admin")],
)
def test_a_lost_reply_on_a_create_with_a_secret_keeps_its_placeholder_in_the_ledger(
    repo: Path,
    destination_emulator: Emulator,
    reference: dict[str, Any],
    lost_reply: list[tuple[str, str]],
    collection: str,
    resource: str,
) -> None:
    name = resource.split(" ", 1)[1]
    lost_reply.append((f"/api/{destination_emulator.space_id}/{collection}", name))
    push = ["push", "--target", "prod", "--repo", str(repo), "--yes"]
    run_cli(*push, expect=ExitCode.ERROR)  # a POST whose reply is lost is never re-sent
    assert not lost_reply, "the reply was never lost: the test proves nothing"
    run_cli(*push)
    cleanup = run_cli("cleanup", "--target", "prod", "--repo", str(repo)).stdout
    assert f"{resource}  Password" in cleanup
    records = _records(repo)
    assert records["created"] == reference["records"]["created"]
    assert records["ledger"] == reference["records"]["ledger"]


def test_a_push_killed_after_its_last_write_is_recorded_by_the_next_push(
    repo: Path, destination_emulator: Emulator, reference: dict[str, Any]
) -> None:
    kill_push_after(repo, destination_emulator, writes=reference["writes"])
    assert not _committed(repo)  # the killed run never committed its record
    out = run_cli("push", "--target", "prod", "--repo", str(repo), "--yes").stdout
    assert "nothing written" in out and "interrupted push is committed" in out
    assert _committed(repo)
    _same_records(_records(repo), reference["records"])
    history = run_cli("history", "--repo", str(repo)).stdout
    assert "push" in history


def test_a_disk_full_after_the_last_write_is_recorded_by_the_next_push(
    repo: Path,
    destination_emulator: Emulator,
    reference: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def full(*args: Any, **kwargs: Any) -> None:
        raise StoreError("cannot write the record: no space left on the device")

    with monkeypatch.context() as patch:
        patch.setattr(Store, "begin_write", full)
        failed = run_cli(
            "push", "--target", "prod", "--repo", str(repo), "--yes", expect=ExitCode.ERROR
        )
    assert "no space left on the device" in failed.stderr
    assert destination_emulator.stats()["writes"] == reference["writes"]  # all written
    out = run_cli("push", "--target", "prod", "--repo", str(repo), "--yes").stdout
    assert "interrupted push is committed" in out
    assert _committed(repo)
    _same_records(_records(repo), reference["records"])


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.8])
def test_a_push_killed_mid_way_ends_with_the_records_of_a_fault_free_push(
    repo: Path, destination_emulator: Emulator, reference: dict[str, Any], fraction: float
) -> None:
    """Killed mid-wave (writes of the same wave in flight, at the default concurrency):
    the next push finishes the job, and what is recorded is what a fault-free push records.
    (Every position of a larger push is the kill campaign's, not run here: it takes long.)"""
    kill_push_after(repo, destination_emulator, writes=int(reference["writes"] * fraction))
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    assert _committed(repo)
    _same_records(_records(repo), reference["records"])
