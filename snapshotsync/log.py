"""Logging: a per-run log file under `.snapshotsync/logs/` and terse stderr output.

API keys never reach a log: every handler formats through a `RedactingFormatter` that replaces any
registered secret (the keys read from the environment) and anything shaped like an Octopus
API key (`API-` followed by 20+ letters or digits) with `API-***`.
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

LOGGER_NAME = "snapshotsync"
LOG_DIR = Path(".snapshotsync") / "logs"
_API_KEY_SHAPE = re.compile(r"API-[A-Za-z0-9]{20,}")
_REDACTED = "API-***"
_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Make `value` unprintable in every log record from now on."""
    if value:
        _secrets.add(value)


def redact(text: str) -> str:
    """Return `text` with every registered secret and API-key-shaped token masked."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    return _API_KEY_SHAPE.sub(_REDACTED, text)


class RedactingFormatter(logging.Formatter):
    """Masks secrets in the whole formatted record, traceback included.

    Redacting the formatted text (not the record) is what makes it hold for tracebacks: the
    exception text is rendered by the formatter, after any filter has run.
    """

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def get_logger(name: str = "") -> logging.Logger:
    """The snapshotsync logger, or a child of it."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def setup(repo: Path | None, verbose: int = 0, command: str = "run") -> Path | None:
    """Log everything to a new file for this run and warnings (or more, with -v) to stderr.

    Returns the log file's path, or None when the log directory cannot be created (a
    read-only checkout must not stop a read-only command).
    """
    logger = get_logger()
    logger.setLevel(logging.DEBUG)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = False

    console = logging.StreamHandler(sys.stderr)
    console.setLevel(
        logging.DEBUG if verbose >= 2 else logging.INFO if verbose else logging.WARNING
    )
    console.setFormatter(RedactingFormatter("%(levelname)s %(message)s"))
    logger.addHandler(console)

    if repo is None:
        return None
    log_dir = repo / LOG_DIR
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = log_dir / f"{stamp}-{command}.log"
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setLevel(logging.DEBUG)
    file_handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(file_handler)
    return path
