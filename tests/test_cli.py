"""The command line: contract command names, exit codes, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapshotsync import cli
from snapshotsync.errors import ExitCode, UserError
from snapshotsync.settings import Settings
from tests.helpers import run_cli

# The command line's contract (docs/commands.md), with drift.
CONTRACT_COMMANDS = [
    "init",
    "export",
    "plan",
    "push",
    "history",
    "cleanup",
    "validate",
    "demo",
    "drift",
]


def test_help_lists_every_contract_command() -> None:
    out = run_cli("--help").stdout
    for command in CONTRACT_COMMANDS:
        assert command in out


def test_every_contract_command_is_registered() -> None:
    registered = {
        command.name or command.callback.__name__ for command in cli.app.registered_commands
    }  # type: ignore[union-attr]
    assert registered == set(CONTRACT_COMMANDS)


def test_version() -> None:
    assert run_cli("--version").stdout.startswith("snapshotsync ")


def _settings(tmp_path: Path) -> Settings:
    return Settings(repo=tmp_path)


def test_user_errors_are_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def body() -> ExitCode:
        raise UserError("snapshotsync.yaml:3: unknown key 'sorce'")

    with pytest.raises(SystemExit) as exit_info:
        _run_body(tmp_path, body)
    assert exit_info.value.code == ExitCode.ERROR
    assert capsys.readouterr().err == "error: snapshotsync.yaml:3: unknown key 'sorce'\n"


def test_bugs_exit_3_with_the_traceback_in_the_log_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def body() -> ExitCode:
        raise ZeroDivisionError("oops")

    with pytest.raises(SystemExit) as exit_info:
        _run_body(tmp_path, body)
    assert exit_info.value.code == ExitCode.BUG
    err = capsys.readouterr().err
    assert "internal error" in err and "Traceback" not in err
    logs = list((tmp_path / ".snapshotsync" / "logs").glob("*.log"))
    assert len(logs) == 1
    assert "ZeroDivisionError: oops" in logs[0].read_text()


def test_interrupt_exits_130(tmp_path: Path) -> None:
    def body() -> ExitCode:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as exit_info:
        _run_body(tmp_path, body)
    assert exit_info.value.code == ExitCode.INTERRUPTED


def _run_body(tmp_path: Path, body: object) -> None:
    import typer

    try:
        cli._run("test", _settings(tmp_path), body)  # type: ignore[arg-type]
    except typer.Exit as done:
        raise SystemExit(done.exit_code) from None


def test_a_missing_config_is_one_line_naming_init(tmp_path: Path) -> None:
    result = run_cli("export", "--repo", str(tmp_path), expect=ExitCode.ERROR)
    assert "snapshotsync.yaml not found: run `snapshotsync init" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_pre_commit_hook_runs_a_real_command() -> None:
    from ruamel.yaml import YAML

    hooks = YAML(typ="safe").load(
        (Path(__file__).parent.parent / ".pre-commit-hooks.yaml").read_text()
    )
    assert [h["id"] for h in hooks] == ["snapshotsync-validate"]
    command = hooks[0]["entry"].split()
    assert command[0] == "snapshotsync" and command[1] in CONTRACT_COMMANDS


def test_output_is_one_option_with_three_values_and_a_bad_one_is_a_usage_error(
    tmp_path: Path,
) -> None:
    result = run_cli(
        "plan", "--target", "prod", "--repo", str(tmp_path), "--output", "yaml", expect=None
    )
    # Refused by the parser, before the command runs (which would say the repo is no sync
    # repo), and never with 2, which means "changes pending" to CI.
    assert result.exit_code == ExitCode.USAGE != ExitCode.CHANGES
    assert "Usage: snapshotsync plan" in result.stderr and "not a sync repo" not in result.stderr
    assert "Invalid value for '--output'" in result.stderr
    for value in ("text", "json", "markdown"):
        assert value in result.stderr
    # A good value gets past the parser to the command (which wants a sync repo).
    error = run_cli(
        "plan", "--target", "prod", "--repo", str(tmp_path), "--output", "markdown", expect=1
    )
    assert "snapshotsync.yaml not found" in error.stderr


def test_shell_completion_is_offered() -> None:
    out = run_cli("--help").stdout
    assert "--install-completion" in out and "--show-completion" in out
    script = run_cli("--show-completion", "bash").stdout
    assert "_SNAPSHOTSYNC_COMPLETE=complete_bash" in script


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "--target", "prod", "--detailed-exitcode", "--no-such-option"],  # unknown option
        ["plan", "--target", "prod", "--detailed-exitcode", "--concurrency", "0"],  # bad value
        ["plan", "--detailed-exitcode", "--concurrency", "many", "--target", "prod"],  # bad type
        ["plan", "--detailed-exitcode"],  # a missing option
        ["plna", "--target", "prod"],  # an unknown command
        ["--no-such-option"],
        ["init", "x", "--target", "no-url-here"],  # refused by a callback
    ],
)
def test_a_usage_error_never_exits_2_which_means_changes_pending(args: list[str]) -> None:
    result = run_cli(*args, expect=None)
    assert result.exit_code == ExitCode.USAGE == ExitCode.ERROR
    assert result.exit_code != ExitCode.CHANGES
