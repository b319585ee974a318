"""`snapshotsync.yaml`: parsed into frozen settings; mistakes name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapshotsync.errors import ConfigError, ExitCode
from snapshotsync.settings import load_config
from tests.helpers import run_cli

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


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("octopus.example.com", "must start with https://"),
        ("htp//bad url", "holds a space"),
        ("https://", "names no host"),
        ("https://octopus.example.com:99999", "has a port that is not a number"),
        ("https://user:s3cret@octopus.example.com", "must not hold a user or a password"),
        ("https://octopus.example.com/?space=x", "must not hold a query"),
        ("ftp://octopus.example.com", "must start with https://"),
    ],
)
def test_a_malformed_url_is_named_with_file_and_line(
    tmp_path: Path, url: str, problem: str
) -> None:
    text = GOOD.replace("https://octopus-prod.example.com", url)
    with pytest.raises(ConfigError, match=rf"snapshotsync\.yaml:8: target 'prod' url .*{problem}"):
        load_config(_write(tmp_path, text))
    with pytest.raises(ConfigError) as refused:
        load_config(_write(tmp_path, text))
    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("timeout: 0", r"http\.timeout must be more than 0"),
        ("timeout: 100000", r"http\.timeout must be more than 0 and at most 3600"),
        ("retries: 1.5", r"http\.retries must be a whole number"),
        ("backoff: .nan", r"http\.backoff must be a number >= 0"),
        ("max_rps: -1", r"http\.max_rps must be a number >= 0"),
    ],
)
def test_an_http_setting_that_cannot_work_is_refused(
    tmp_path: Path, setting: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=rf"snapshotsync\.yaml:13: {message}"):
        load_config(_write(tmp_path, GOOD + f"http:\n  {setting}\n"))


@pytest.mark.parametrize("name", ["../../outside", "a/b", ".hidden", "with space"])
def test_a_target_name_must_be_a_plain_word_as_it_names_a_folder(tmp_path: Path, name: str) -> None:
    text = GOOD.replace("  prod:", f"  {name!r}:")
    with pytest.raises(ConfigError, match=r"snapshotsync\.yaml:7: target name .* plain word"):
        load_config(_write(tmp_path, text))


def test_validate_catches_the_config_mistakes(tmp_path: Path) -> None:
    repo = tmp_path / "sync"
    run_cli("init", str(repo))
    config = repo / "snapshotsync.yaml"
    good = config.read_text()
    config.write_text(good + "http:\n  timeout: 0\n")
    result = run_cli("validate", "--repo", str(repo), expect=ExitCode.ERROR)
    assert "http.timeout must be more than 0" in result.stderr
    config.write_text(good.replace("https://octopus.example.com", "octopus.example.com"))
    result = run_cli("validate", "--repo", str(repo), expect=ExitCode.ERROR)
    assert "source url 'octopus.example.com' must start with https://" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
