"""snapshotsync: keep Octopus Deploy instances in sync one way, through git."""

__version__ = "0.1.0"
