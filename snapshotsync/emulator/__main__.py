"""`python -m snapshotsync.emulator`: run one emulated Octopus instance until killed.

The first line printed is `listening on http://127.0.0.1:PORT`, once requests are accepted.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from snapshotsync.emulator.seed import SeedError, load_file
from snapshotsync.emulator.server import FAULT_KINDS, Config, serve
from snapshotsync.emulator.state import Instance


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m snapshotsync.emulator",
        description="An emulated Octopus Deploy server on loopback.",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", required=True, help="the only accepted X-Octopus-ApiKey")
    parser.add_argument(
        "--server-version",
        default="2024.2.9000",
        help="2025.2 or later: scoped tenant variables (CommonVariableScopingFeatureToggle on)",
    )
    parser.add_argument(
        "--feature-toggle",
        action="append",
        default=[],
        metavar="NAME=on|off",
        help="switch one feature toggle whatever the version (repeatable)",
    )
    parser.add_argument("--seed", type=Path, help="a YAML fixture written by names")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0, help="0..1, per request")
    parser.add_argument(
        "--fault-kinds", default=",".join(FAULT_KINDS), help="comma-separated: 503,429,drop"
    )
    parser.add_argument("--fault-seed", type=int, default=0)
    parser.add_argument("--retry-after", type=int, default=1, help="seconds, sent with 429")
    parser.add_argument("--page-size", type=int, default=30)
    parser.add_argument(
        "--ignore-ids",
        action="store_true",
        help="answer lists as an older server that ignores the ids filter",
    )
    parser.add_argument(
        "--id-offset",
        type=int,
        default=None,
        help="added to every generated id number (default: random multiple of 100000)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    kinds = [k for k in args.fault_kinds.split(",") if k]
    if set(kinds) - set(FAULT_KINDS):
        print(f"unknown fault kinds: {sorted(set(kinds) - set(FAULT_KINDS))}", file=sys.stderr)
        return 2
    toggles: dict[str, bool] = {}
    for setting in args.feature_toggle:
        name, _, state = setting.partition("=")
        if not name or state.lower() not in ("on", "off", "true", "false"):
            print(f"--feature-toggle wants NAME=on or NAME=off, not {setting!r}", file=sys.stderr)
            return 2
        toggles[name] = state.lower() in ("on", "true")
    offset = args.id_offset
    if offset is None:
        offset = random.SystemRandom().randrange(1, 10_000) * 100_000
    instance = Instance(
        id_offset=offset, server_version=args.server_version, feature_toggles=toggles
    )
    if args.seed:
        try:
            load_file(instance, args.seed)
        except SeedError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    config = Config(
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        fault_kinds=kinds,
        fault_seed=args.fault_seed,
        retry_after=args.retry_after,
        page_size=args.page_size,
        ignore_ids=args.ignore_ids,
    )
    server = serve(instance, args.api_key, config, port=args.port)
    print(f"listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
