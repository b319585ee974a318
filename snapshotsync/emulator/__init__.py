"""A faithful emulator of the Octopus Deploy REST API, for tests, benchmarks and `demo`.

It is written from Octopus's published contracts, independently of the rest of
snapshotsync, and imports nothing from it (a test enforces this), so it cannot share the
tool's mistakes. Start it with `python -m snapshotsync.emulator --port 0 --api-key KEY`.
"""

from snapshotsync.emulator.server import Config, EmulatorServer, serve, start
from snapshotsync.emulator.state import Instance

__all__ = ["Config", "EmulatorServer", "Instance", "serve", "start"]
