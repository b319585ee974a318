"""`python -m snapshotsync` runs the command line."""

from snapshotsync.cli import main

main()
