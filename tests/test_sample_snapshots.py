"""`sample-snapshots/`: the export of the emulator's sample instances, kept current.

The committed tree is what `snapshotsync export` writes for the sample source and
destination; this test exports them again and fails when anything differs, so the samples
never go stale. After a deliberate change, regenerate them with
`python -m tests.test_sample_snapshots --update` and review the diff.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from snapshotsync import export, layout, normalize
from snapshotsync.octopus.client import OctopusClient
from tests.helpers import API_KEY, SAMPLES, running_emulator

ROOT = Path(__file__).resolve().parent.parent / "sample-snapshots"
SEEDS = {"source": SAMPLES / "source.yaml", "destination": SAMPLES / "destination.yaml"}


def render(seed: Path) -> dict[str, str]:
    with (
        running_emulator(seed=seed, id_offset=7000) as emulator,
        OctopusClient(emulator.url, API_KEY) as client,
    ):
        space_id = client.space_id("Default")
        raw = export.read(client, space_id)
    meta = {"format_version": 1, "source": f"emulator seeded with {seed.name}", "space": "Default"}
    snapshot, _ = normalize.to_snapshot(raw, space_id, meta)
    return layout.render(snapshot)


def stored(name: str) -> dict[str, str]:
    root = ROOT / name
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_the_committed_sample_snapshot_is_current(name: str) -> None:
    fresh = render(SEEDS[name])
    current = stored(name)
    assert current, (
        f"sample-snapshots/{name} is missing: run python -m tests.test_sample_snapshots --update"
    )
    assert sorted(current) == sorted(fresh), "files differ: regenerate with --update and review"
    for path, text in fresh.items():
        assert current[path] == text, (
            f"sample-snapshots/{name}/{path} is stale: regenerate with --update"
        )


def update() -> None:
    import shutil

    for name, seed in SEEDS.items():
        target = ROOT / name
        shutil.rmtree(target, ignore_errors=True)
        for path, text in render(seed).items():
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            (target / path).write_text(text, encoding="utf-8")
        print(f"wrote {target}")


if __name__ == "__main__" and "--update" in sys.argv:
    update()
