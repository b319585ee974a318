"""One module per command: each composes the stages and returns an `ExitCode`."""

from __future__ import annotations

from snapshotsync.errors import NotYetAvailableError

# Which issue brings each command that has not landed yet; removed as they land.
PENDING = {
    "demo": "push",
}


def not_yet_available(command: str) -> NotYetAvailableError:
    """The error a command of the contract raises until its implementation lands."""
    return NotYetAvailableError(
        f"`snapshotsync {command}` is not yet available: it lands with the "
        f"{PENDING[command]} work. The Octopus emulator already runs: "
        "python -m snapshotsync.emulator --port 0 --api-key API-DEMO"
    )
