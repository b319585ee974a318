"""The command line (typer). The only module that knows about typer.

Each command turns its options into `Settings` and calls `commands.<verb>.run`, which
returns an `ExitCode`. `_run` is the one place that turns errors into exit codes: a
`UserError` is one line on stderr (exit 1), anything else a traceback in the log file (exit 3).
A usage error (unknown option, bad value) exits 1 too, never click's 2 (`_Commands`).
Each command imports its module when it runs: a command pays only for the code it uses.
"""

from __future__ import annotations

import gc
import io
import logging
import os
import select
import sys
import tempfile
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from snapshotsync import __version__
from snapshotsync import log as logs
from snapshotsync.errors import ExitCode, UserError
from snapshotsync.settings import Settings

# click's UsageError, whether typer vendors click (0.2x) or depends on it: the base of
# the public BadParameter either way.
_USAGE_ERROR: type[Exception] = next(
    base for base in typer.BadParameter.__mro__ if base.__name__ == "UsageError"
)


class _Commands(TyperGroup):
    """The command group, giving usage errors `ExitCode.USAGE`: click exits 2 on them, the
    code `plan --detailed-exitcode` gives to "changes pending", which CI would believe."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except _USAGE_ERROR as error:
            error.exit_code = int(ExitCode.USAGE)  # type: ignore[attr-defined]
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _USAGE_ERROR as error:
            error.exit_code = int(ExitCode.USAGE)  # type: ignore[attr-defined]
            raise


app = typer.Typer(
    cls=_Commands,
    name="snapshotsync",
    help="Keep Octopus Deploy instances in sync one way, through a git-versioned snapshot.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, pwsh
    pretty_exceptions_enable=False,
)

RepoOption = Annotated[
    Path, typer.Option("--repo", help="The sync repo (default: the current directory).")
]
VerboseOption = Annotated[
    int, typer.Option("--verbose", "-v", count=True, help="More output on stderr (-vv: debug).")
]
MaxRpsOption = Annotated[
    float | None,
    typer.Option("--max-rps", min=0, help="At most this many calls a second to an instance."),
]
TargetOption = Annotated[str, typer.Option("--target", "-t", help="A target of snapshotsync.yaml.")]
PruneOption = Annotated[
    bool,
    typer.Option(
        "--prune",
        help="Also delete what snapshotsync created that the source (or the overlay) no longer "
        "has; never what was changed by hand since, never what it did not create.",
    ),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force-overwrite",
        help="Take the source's version even where the destination was changed by hand since "
        "the last push.",
    ),
]


class OutputFormat(StrEnum):
    """How `plan` prints: for people, for programs, or for a pull request / job summary."""

    text = "text"
    json = "json"
    markdown = "markdown"


class DriftFormat(StrEnum):
    """How `drift` prints: for people or for programs."""

    text = "text"
    json = "json"


def _run(
    command: str, settings: Settings, body: Callable[[], ExitCode], *, log: bool = True
) -> None:
    """Run a command body and exit with its code; `log=False` keeps no log file (init)."""
    log_file = logs.setup(settings.repo if log else None, settings.verbose, command)
    logger = logs.get_logger("cli")
    try:
        code = body()
    except UserError as exc:
        logger.debug("user error", exc_info=True)
        message = logs.redact(str(exc))
        # Overlay problems already say `file:line: error: ...`, one a line.
        labelled = ": error: " in message.split("\n")[0]
        typer.echo(message if labelled else f"error: {message}", err=True)
        code = ExitCode.ERROR
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        code = ExitCode.INTERRUPTED
    except BrokenPipeError:
        if _stdout_closed():
            # The reader of stdout went away (`history | head -1`): stop quietly, as git
            # does (killed by SIGPIPE, which a shell shows as 141). Python ignores SIGPIPE,
            # so the write raised instead; stdout now points nowhere, or the flush at exit
            # would fail too.
            logger.debug("stdout was closed by its reader")
            _stdout_to_devnull()
            code = ExitCode.CLOSED_OUTPUT
        else:  # another pipe: a bug
            code = _internal_error(logger, log_file)
    except Exception:
        code = _internal_error(logger, log_file)
    raise typer.Exit(int(code))


def _internal_error(logger: logging.Logger, log_file: Path | None) -> ExitCode:
    """Say so on stderr; the traceback goes to the log file (or stderr without one)."""
    logger.debug("internal error", exc_info=True)
    where = f" (traceback in {log_file})" if log_file else ""
    typer.echo(f"internal error: this is a bug in snapshotsync{where}", err=True)
    if log_file is None:
        import traceback

        traceback.print_exc()
    return ExitCode.BUG


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (POLLERR on its write end); True
    when that cannot be told."""
    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poll.poll(0))
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return True


def _stdout_to_devnull() -> None:
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file (a test's capture): nothing will flush into a closed pipe


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the sync repo.")],
    source_url: Annotated[str, typer.Option(help="The source Octopus URL.")] = (
        "https://octopus.example.com"
    ),
    space: Annotated[str, typer.Option(help="The space name on every instance.")] = "Default",
    source_api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the source's API key.")
    ] = "SOURCE_OCTOPUS_API_KEY",
    target: Annotated[
        list[str] | None,
        typer.Option(
            help="NAME=URL of a destination (repeatable); its key is read from "
            "NAME_OCTOPUS_API_KEY."
        ),
    ] = None,
    discover: Annotated[
        bool,
        typer.Option(
            "--discover",
            help="Read the environments of the source and of each target (keys from the "
            "environment) and pre-fill each overlay's mapping with the names both share.",
        ),
    ] = False,
    verbose: VerboseOption = 0,
) -> None:
    """Create a sync repo: snapshotsync.yaml template, overlays/, .gitignore, first commit."""
    from snapshotsync.commands import init as init_command

    targets = tuple(_name_url(t) for t in target or ["prod=https://octopus-prod.example.com"])
    options = init_command.InitOptions(
        directory, source_url, space, source_api_key_env, targets, discover=discover
    )
    _run(
        "init",
        Settings(repo=directory, verbose=verbose),
        lambda: init_command.run(options),
        log=False,
    )


def _name_url(value: str) -> tuple[str, str]:
    name, _, url = value.partition("=")
    if not name or not url:
        raise typer.BadParameter(f"{value!r}: expected NAME=URL")
    return name, url


@app.command()
def export(
    repo: RepoOption = Path(),
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Calls at a time.")] = 8,
    max_rps: MaxRpsOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Read the source instance, rewrite snapshot/ and commit when anything changed."""
    settings = Settings(repo=repo, verbose=verbose, concurrency=concurrency, max_rps=max_rps)
    from snapshotsync.commands import export as export_command

    _run("export", settings, lambda: export_command.run(settings))


@app.command()
def plan(
    target: TargetOption,
    repo: RepoOption = Path(),
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes.")
    ] = False,
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--output",
            help="text for people, json for programs, markdown for a pull-request comment "
            "or a CI job summary.",
        ),
    ] = OutputFormat.text,
    prune: PruneOption = False,
    force_overwrite: ForceOption = False,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Calls at a time.")] = 8,
    max_rps: MaxRpsOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Show what a push to TARGET would change."""
    from snapshotsync.commands import plan as plan_command

    settings = Settings(repo=repo, verbose=verbose, concurrency=concurrency, max_rps=max_rps)
    _run(
        "plan",
        settings,
        lambda: plan_command.run(
            settings,
            target,
            output.value,
            detailed_exitcode,
            prune=prune,
            force=force_overwrite,
        ),
    )


@app.command()
def push(
    target: TargetOption,
    repo: RepoOption = Path(),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print the plan.")] = False,
    allow_version_skew: Annotated[
        bool, typer.Option("--allow-version-skew", help="Sync across distant versions.")
    ] = False,
    prune: PruneOption = False,
    force_overwrite: ForceOption = False,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Calls at a time (reads and writes).")
    ] = 8,
    max_rps: MaxRpsOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Apply the plan to TARGET, record the result and commit it."""
    from snapshotsync.commands import push as push_command

    settings = Settings(repo=repo, verbose=verbose, concurrency=concurrency, max_rps=max_rps)
    _run(
        "push",
        settings,
        lambda: push_command.run(
            settings,
            target,
            assume_yes=yes,
            dry_run=dry_run,
            allow_version_skew=allow_version_skew,
            prune=prune,
            force=force_overwrite,
        ),
    )


@app.command()
def drift(
    target: TargetOption,
    repo: RepoOption = Path(),
    output: Annotated[
        DriftFormat, typer.Option("--output", help="text for people, json for programs.")
    ] = DriftFormat.text,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Calls at a time.")] = 8,
    max_rps: MaxRpsOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """What changed by hand on TARGET since the last push. Read-only; exit 2 when anything
    did (like plan --detailed-exitcode), 0 when nothing did."""
    settings = Settings(repo=repo, verbose=verbose, concurrency=concurrency, max_rps=max_rps)
    from snapshotsync.commands import drift as drift_command

    _run("drift", settings, lambda: drift_command.run(settings, target, output.value))


@app.command()
def history(
    target: Annotated[str | None, typer.Option("--target", "-t")] = None,
    repo: RepoOption = Path(),
    verbose: VerboseOption = 0,
) -> None:
    """The audit trail: exports and pushes from git log, one line each."""
    settings = Settings(repo=repo, verbose=verbose)
    from snapshotsync.commands import history as history_command

    _run("history", settings, lambda: history_command.run(settings, target))


@app.command()
def cleanup(target: TargetOption, repo: RepoOption = Path(), verbose: VerboseOption = 0) -> None:
    """The placeholder ledger of TARGET, and which placeholders are still there."""
    settings = Settings(repo=repo, verbose=verbose)
    from snapshotsync.commands import cleanup as cleanup_command

    _run("cleanup", settings, lambda: cleanup_command.run(settings, target))


@app.command()
def validate(repo: RepoOption = Path(), verbose: VerboseOption = 0) -> None:
    """Check snapshotsync.yaml and the overlays without contacting any instance."""
    settings = Settings(repo=repo, verbose=verbose)
    from snapshotsync.commands import validate as validate_command

    _run("validate", settings, lambda: validate_command.run(settings))


@app.command()
def demo(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to create the demo repo (default: temp).")
    ] = None,
    verbose: VerboseOption = 0,
) -> None:
    """Run init, export, plan and push between two local emulator instances."""
    from snapshotsync.commands import demo as demo_command

    repo = directory or Path(tempfile.gettempdir())
    _run(
        "demo",
        Settings(repo=repo, verbose=verbose),
        lambda: demo_command.run(directory),
        log=directory is not None,
    )


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"snapshotsync {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Show version."),
    ] = False,
) -> None:
    del version


def main() -> None:
    """Console-script entry point."""
    # The cycle collector runs far less often than by default. A run builds millions of
    # small dicts and lists that live to its end (the snapshot, the base, the destination
    # as read), and every full collection walks all of them again: about a sixth of plan's
    # CPU on the benchmark's instance. JSON documents hold no cycles, so next to nothing
    # waits for the collector. mypy tunes it the same way (mypy/build.py, `gc.set_threshold`).
    gc.set_threshold(200_000, 30, 30)
    app(prog_name="snapshotsync", args=sys.argv[1:])
