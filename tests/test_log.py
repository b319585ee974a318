"""API keys never reach a log line, on stderr or in the run's log file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from snapshotsync import log

KEY = "API-ABCDEFGHIJKLMNOPQRSTUVWXYZ12"


def test_registered_secrets_and_key_shaped_tokens_are_masked() -> None:
    log.register_secret("not-shaped-like-a-key-but-secret")
    text = log.redact(f"GET /api?apikey={KEY} with not-shaped-like-a-key-but-secret")
    assert KEY not in text and "not-shaped-like-a-key-but-secret" not in text
    assert text.count("API-***") == 2


def test_log_file_and_stderr_never_hold_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = log.setup(tmp_path, verbose=2, command="probe")
    assert path is not None and path.parent == tmp_path / ".snapshotsync" / "logs"
    logger = log.get_logger("client")
    logger.info("calling with header X-Octopus-ApiKey: %s", KEY)
    try:
        raise RuntimeError(f"server rejected {KEY}")
    except RuntimeError:
        logger.debug("failure", exc_info=True)
    for handler in logging.getLogger(log.LOGGER_NAME).handlers:
        handler.flush()
    written = path.read_text(encoding="utf-8")
    err = capsys.readouterr().err
    assert "X-Octopus-ApiKey: API-***" in written
    assert KEY not in written
    assert KEY not in err and "API-***" in err
