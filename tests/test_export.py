"""Reading an instance (`export.py`): normalizing while the remaining GETs are in flight."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from snapshotsync import export, layout, normalize
from snapshotsync.model import JsonDict, ResourceKey
from snapshotsync.octopus.client import OctopusClient
from tests.helpers import API_KEY, SAMPLES, Emulator, running_emulator

GATE_TIMEOUT = 60.0  # seconds: only reached when nothing is normalized during the read


class _HeldBack(OctopusClient):
    """Holds the GETs of tenant variables (asked for last, one by one or all at once at
    `/tenantvariables/all`) until `gate` opens."""

    def __init__(self, url: str, gate: threading.Event) -> None:
        super().__init__(url, API_KEY)
        self.gate = gate
        self.held = 0

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        if (path.endswith("variables") and "/tenants/" in path) or "/tenantvariables/" in path:
            self.held += 1
            if not self.gate.wait(GATE_TIMEOUT):
                raise AssertionError(f"{path}: nothing was normalized while it was held back")
        return super().get(path, params)


def test_documents_are_normalized_and_written_while_the_rest_is_still_being_read(
    source_emulator: Emulator,
) -> None:
    """The GETs of tenant variables wait until a deployment process has been normalized and
    its file written: a reader that normalizes only after its last GET would wait for ever
    (here: fail)."""
    gate = threading.Event()
    heard: list[ResourceKey] = []
    written: dict[str, str] = {}
    texts = layout.Texts(lambda path, text: written.__setitem__(path, text))

    def on_resource(key: ResourceKey, document: JsonDict) -> None:
        heard.append(key)
        texts.add(key, document)
        if key.kind == "deployment-processes" and any("deployment-process" in p for p in written):
            gate.set()

    with _HeldBack(source_emulator.url, gate) as client:
        space_id = client.space_id("Default")
        raw, normalized = export.read_normalized(
            client, space_id, on_resource=on_resource, on_keys=texts.expect
        )
    assert client.held > 0
    assert any(key.kind == "tenant-variables" for key in normalized.resources)
    first_tenant_variables = next(i for i, k in enumerate(heard) if k.kind == "tenant-variables")
    assert any(k.kind == "deployment-processes" for k in heard[:first_tenant_variables])
    assert normalized.resources == normalize.normalize(raw, space_id).resources
    snapshot, _ = normalize.snapshot_of(raw, normalized, {})
    files = layout.render(snapshot, texts)
    assert {path: files[path] for path in written} == written  # written ahead where they go


@pytest.mark.parametrize("seed", ["source.yaml", "destination.yaml"])
def test_reading_while_normalizing_gives_what_normalizing_at_the_end_gives(seed: str) -> None:
    with (
        running_emulator(seed=SAMPLES / seed, id_offset=3000) as emulator,
        OctopusClient(emulator.url, API_KEY) as client,
    ):
        space_id = client.space_id("Default")
        texts = layout.Texts()
        raw, normalized = export.read_normalized(client, space_id, on_resource=texts.add)
        again = export.read(client, space_id)
    meta = {"format_version": 1}
    snapshot, problems = normalize.snapshot_of(raw, normalized, meta)
    expected, expected_problems = normalize.to_snapshot(again, space_id, meta)
    assert list(snapshot.resources.items()) == list(expected.resources.items())
    assert snapshot.meta == expected.meta and problems == expected_problems
    assert list(raw.documents) == list(again.documents)  # in the order they are listed
    assert layout.render(snapshot, texts) == layout.render(expected)
    assert texts.by_key  # the texts were written ahead, as the documents came


class _Watching(OctopusClient):
    """Says when the first document (not a collection) is asked for."""

    def __init__(self, url: str) -> None:
        super().__init__(url, API_KEY)
        self.document_asked = threading.Event()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        if path.endswith("/deploymentprocesses") or "/variables/" in path:
            self.document_asked.set()
        return super().get(path, params)


def test_the_documents_are_asked_for_before_the_collections_are_normalized(
    source_emulator: Emulator,
) -> None:
    """Normalizing (and writing) what the collections hold is a second of work on a large
    space: it is done while the documents are being read, not before they are asked for.
    `on_keys` is heard before anything is normalized; it waits for a document's GET."""
    asked_first: list[bool] = []

    with _Watching(source_emulator.url) as client:

        def on_keys(keys: list[ResourceKey]) -> None:
            asked_first.append(client.document_asked.wait(GATE_TIMEOUT))

        space_id = client.space_id("Default")
        raw, normalized = export.read_normalized(client, space_id, on_keys=on_keys)
    assert asked_first == [True]
    assert normalized.resources == normalize.normalize(raw, space_id).resources


def test_a_failure_while_normalizing_is_raised_once_the_calls_in_flight_are_done(
    source_emulator: Emulator,
) -> None:
    class Broken(Exception):
        pass

    def on_keys(keys: list[ResourceKey]) -> None:
        raise Broken

    with OctopusClient(source_emulator.url, API_KEY) as client:
        space_id = client.space_id("Default")
        with pytest.raises(Broken):
            export.read_normalized(client, space_id, on_keys=on_keys)
        assert client.space_id("Default") == space_id  # the client is still usable
