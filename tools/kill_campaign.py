"""A kill campaign: a push killed (kill -9) at evenly spaced write positions, then pushed
until done; each must end with the records and the destination of a fault-free push.

Too long for the test suite (about 7 s a position on 2 cores); tests/e2e/test_records.py
runs three positions of the sample push. Usage, from the repository root:

    .venv/bin/python benchmarks/generate.py /tmp/seeds --projects 25 --tenants 10 \\
        --library-sets 5
    .venv/bin/python tools/kill_campaign.py /tmp/seeds --positions 12 --work /tmp/campaign

With 25 projects the fault-free push makes about 300 writes. Records are compared as
tests/e2e/test_records.py compares them (created list, ledger entries, base data). Exits
1 when a position ends differently.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from generate import OVERLAY  # noqa: E402

from tests.e2e.test_fault_campaign import _fresh_repo  # noqa: E402
from tests.e2e.test_records import _committed, _records, _same_records  # noqa: E402
from tests.e2e.test_reliability import _push_until_done, _state  # noqa: E402
from tests.helpers import (  # noqa: E402
    API_KEY,
    export_with_overlay,
    init_repo,
    kill_push_after,
    run_cli,
    running_emulator,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", type=Path, help="folder with source.yaml and destination.yaml")
    parser.add_argument("--positions", type=int, default=12)
    parser.add_argument(
        "--first", type=int, default=1, help="skip the positions before this write (resume)"
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/snapshotsync-kill-campaign"))
    args = parser.parse_args()
    os.environ["SOURCE_OCTOPUS_API_KEY"] = os.environ["PROD_OCTOPUS_API_KEY"] = API_KEY
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    source_seed, destination_seed = args.seeds / "source.yaml", args.seeds / "destination.yaml"
    failures = 0
    with (
        running_emulator(seed=source_seed, id_offset=1000) as source,
        running_emulator(seed=destination_seed, id_offset=9000) as reference,
    ):
        repo = init_repo(args.work / "reference", source, reference)
        export_with_overlay(repo, OVERLAY)
        template = args.work / "template"
        shutil.copytree(repo, template, symlinks=True)
        reference.session.delete(f"{reference.url}/api/emulator/stats")
        run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
        writes = int(reference.stats()["writes"])
        records, state = _records(repo), _state(reference)
        print(f"fault-free push: {writes} writes", flush=True)
        step = writes / (args.positions + 1)
        positions = sorted({max(1, round(step * (i + 1))) for i in range(args.positions)})
        for position in [p for p in positions if p >= args.first]:
            with running_emulator(seed=destination_seed, id_offset=5000) as destination:
                faulty = _fresh_repo(template, args.work / f"at-{position}", destination.url)
                started = time.monotonic()
                kill_push_after(faulty, destination, writes=position)
                runs = _push_until_done(faulty)
                try:
                    _same_records(_records(faulty), records)
                    same_records = True
                except AssertionError:
                    same_records = False
                same_destination = _state(destination) == state
                ok = same_records and same_destination and _committed(faulty)
                failures += not ok
                print(
                    f"killed after write {position}: {runs} run(s) to finish, records "
                    f"{'equal' if same_records else 'DIFFER'}, destination "
                    f"{'equal' if same_destination else 'DIFFERS'}, "
                    f"{time.monotonic() - started:.1f} s",
                    flush=True,
                )
                shutil.rmtree(faulty.parent, ignore_errors=True)
    print(f"{failures} of {args.positions} positions ended differently")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
