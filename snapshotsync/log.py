"""Logging: a per-run log file under `.snapshotsync/logs/` and terse stderr output.

API keys never reach a log: every handler formats through a `RedactingFormatter` that replaces any
registered secret (the keys read from the environment) and anything shaped like an Octopus
API key (`API-` followed by 20+ letters or digits) with `API-***`. A secret is also found
where it was escaped on its way into the text (JSON, a Python repr), and `mask_secrets` masks
it inside data before the data is written anywhere (the records under `targets/`).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LOGGER_NAME = "snapshotsync"
LOG_DIR = Path(".snapshotsync") / "logs"
_API_KEY_SHAPE = re.compile(r"API-[A-Za-z0-9]{20,}")
_REDACTED = "API-***"
_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Make `value` unprintable in every log record from now on, as it is and in the forms
    JSON and Python's repr escape it to."""
    if value:
        _secrets.update(
            form
            for form in (
                value,
                json.dumps(value)[1:-1],
                json.dumps(value, ensure_ascii=False)[1:-1],
                repr(value)[1:-1],
            )
            if form
        )


def _mask(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, _REDACTED)
    return text


def redact(text: str) -> str:
    """Return `text` with every registered secret and API-key-shaped token masked."""
    return _API_KEY_SHAPE.sub(_REDACTED, _mask(text))


def mask_secrets(value: Any, *, key_shapes: bool = False) -> Any:
    """`value` (plain data) with every registered secret masked in every text, keys
    included; with `key_shapes`, anything shaped like an API key too (for output)."""
    if not _secrets and not key_shapes:
        return value
    if isinstance(value, str):
        return redact(value) if key_shapes else _mask(value)
    if isinstance(value, dict):
        return {
            mask_secrets(k, key_shapes=key_shapes): mask_secrets(v, key_shapes=key_shapes)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        masked = [mask_secrets(item, key_shapes=key_shapes) for item in value]
        return masked if isinstance(value, list) else tuple(masked)
    return value


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
