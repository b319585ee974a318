"""`snapshotsync.yaml`: parsed into frozen settings; mistakes name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapshotsync.errors import ConfigError
from snapshotsync.settings import load_config

GOOD = """\
format_version: 1
source:
  url: https://octopus.example.com
  space: Default
  api_key_env: SOURCE_OCTOPUS_API_KEY
targets:
  prod:
    url: https://octopus-prod.example.com
    space: Default
    api_key_env: PROD_OCTOPUS_API_KEY
    overlay: overlays/prod.yaml
"""


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "snapshotsync.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_a_good_config_loads(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    assert config.source.url == "https://octopus.example.com"
    assert config.target("prod").overlay == tmp_path / "overlays" / "prod.yaml"


def test_an_unknown_key_is_reported_with_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"snapshotsync.yaml:4: unknown key 'spcae'"):
        load_config(
            _write(tmp_path, GOOD.replace("  space: Default\n  api", "  spcae: Default\n  api", 1))
        )


def test_a_missing_config_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="snapshotsync init"):
        load_config(tmp_path)


def test_an_unknown_target_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no target named 'staging' \(targets: prod\)"):
        load_config(_write(tmp_path, GOOD)).target("staging")


def test_a_key_pasted_into_api_key_env_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("SOURCE_OCTOPUS_API_KEY", "API-ABCDEFGHIJKLMNOPQRSTUVWX")
    with pytest.raises(ConfigError, match="must name an environment variable"):
        load_config(_write(tmp_path, text))


def test_the_key_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(_write(tmp_path, GOOD))
    monkeypatch.delenv("SOURCE_OCTOPUS_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="SOURCE_OCTOPUS_API_KEY, which is not set"):
        config.source.api_key()
    monkeypatch.setenv("SOURCE_OCTOPUS_API_KEY", "API-FROMENVIRONMENT00000000")
    assert config.source.api_key() == "API-FROMENVIRONMENT00000000"
