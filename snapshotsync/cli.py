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
from snapshotsync.settings import Settings, find_repo

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


def _flags_without_types() -> None:
    """A flag takes no value, so --help shows none for it. typer 0.2x's rich help prints a
    type after every option (`--yes <bool>`, `--help <bool>`, `-v <int>`) through
    `TyperOption.display_type_rich`; earlier typers have no such method and print none."""
    option: Any = getattr(typer.core, "TyperOption", None)
    shown = getattr(option, "display_type_rich", None)
    if option is None or shown is None or getattr(shown, "_snapshotsync", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> Any:
        if getattr(self, "is_flag", False) or getattr(self, "count", False):
            return None
        return shown(self, ctx)

    display_type_rich._snapshotsync = True  # type: ignore[attr-defined]
    option.display_type_rich = display_type_rich


_flags_without_types()

app = typer.Typer(
    cls=_Commands,
    name="snapshotsync",
    help="Keep Octopus Deploy instances in sync one way, through a git-versioned snapshot.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, pwsh
    pretty_exceptions_enable=False,
)

RepoOption = Annotated[
    Path,
    typer.Option(
        "--repo",
        metavar="DIR",
        help="The sync repo (default: the current directory, or the nearest one above it "
        "that holds a snapshotsync.yaml, as git finds its repository).",
    ),
]
VerboseOption = Annotated[
    int, typer.Option("--verbose", "-v", count=True, help="More output on stderr (-vv: debug).")
]
MaxRpsOption = Annotated[
    float | None,
    typer.Option("--max-rps", min=0, help="At most this many calls a second to an instance."),
]
TargetOption = Annotated[
    str, typer.Option("--target", "-t", metavar="TARGET", help="A target of snapshotsync.yaml.")
]
TargetsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--target",
        "-t",
        metavar="TARGET",
        help="A target of snapshotsync.yaml; repeat it for several (each in turn, then a "
        "summary; the exit code is the worst).",
    ),
]
AllowSkewOption = Annotated[
    bool, typer.Option("--allow-version-skew", help="Sync across distant versions.")
]
AllTargetsOption = Annotated[
    bool, typer.Option("--all-targets", help="Every target of snapshotsync.yaml, in turn.")
]
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


JsonOption = Annotated[
    DriftFormat, typer.Option("--output", help="text for people, json for programs.")
]


def _run(
    command: str,
    settings: Settings,
    body: Callable[[], ExitCode],
    *,
    log: bool = True,
    json_errors: bool = False,
) -> None:
    """Run a command body and exit with its code; `log=False` keeps no log file (init).
    `json_errors`: the command prints JSON, so an error is a JSON document on stdout too
    (as well as its line on stderr)."""
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
        if json_errors:
            typer.echo(_error_json(command, message))
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
        code = _internal_error(logger, log_file, command if json_errors else None)
    raise typer.Exit(int(code))


def _error_json(command: str, message: str, *, bug: bool = False) -> str:
    """An error as the one JSON document a `--output json` command prints."""
    import json

    # report.FORMAT_VERSION: not imported here, so that --help stays quick.
    document = {"format_version": 1, "command": command, "error": message, "bug": bug}
    return json.dumps(document, indent=2, ensure_ascii=False)


def _internal_error(
    logger: logging.Logger, log_file: Path | None, json_command: str | None = None
) -> ExitCode:
    """Say so on stderr (and as the JSON document of a `--output json` command); the
    traceback goes to the log file (or stderr without one)."""
    logger.debug("internal error", exc_info=True)
    where = f" (traceback in {log_file})" if log_file else ""
    typer.echo(f"internal error: this is a bug in snapshotsync{where}", err=True)
    if json_command is not None:
        typer.echo(_error_json(json_command, f"internal error{where}", bug=True))
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
    settings = Settings(
        repo=find_repo(repo), verbose=verbose, concurrency=concurrency, max_rps=max_rps
    )
    from snapshotsync.commands import export as export_command

    _run("export", settings, lambda: export_command.run(settings))


@app.command()
def plan(
    target: TargetsOption = None,
    all_targets: AllTargetsOption = False,
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
    max_chars: Annotated[
        int,
        typer.Option(
            "--max-chars",
            min=1000,
            metavar="N",
            help="markdown: at most N characters (default: what a pull-request comment "
            "holds); a longer plan is collapsed, then summarised, then cut.",
        ),
    ] = 65_536,
    full_plan: Annotated[
        Path | None,
        typer.Option(
            "--full-plan",
            metavar="FILE",
            help="Also write the whole plan as text to FILE (a shortened markdown plan "
            "points to it).",
        ),
    ] = None,
    allow_version_skew: AllowSkewOption = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Also save the plan to FILE, for `push --plan FILE` to apply exactly (it "
            "holds no secret).",
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Calls at a time.")] = 8,
    max_rps: MaxRpsOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Show what a push to TARGET would change. Quiet: -v also lists what is left alone
    and the overlay's decisions."""
    from snapshotsync.commands import plan as plan_command

    settings = Settings(
        repo=find_repo(repo), verbose=verbose, concurrency=concurrency, max_rps=max_rps
    )

    def one(name: str, detailed: bool = detailed_exitcode) -> ExitCode:
        return plan_command.run(
            settings,
            name,
            output.value,
            detailed,
            prune=prune,
            force=force_overwrite,
            shown=plan_command.Shown(max_chars, full_plan, allow_version_skew, out),
        )

    if out is not None and (all_targets or len(target or []) > 1):
        raise typer.BadParameter("--out saves the plan of one target: name one --target")
    _run(
        "plan",
        settings,
        lambda: _each("plan", settings, target, all_targets, output.value, one, detailed_exitcode),
        json_errors=output is OutputFormat.json,
    )


def _each(
    command: str,
    settings: Settings,
    names: list[str] | None,
    all_targets: bool,
    output: str,
    one: Callable[..., ExitCode],
    detailed: bool = True,
) -> ExitCode:
    """One target as it always ran; several (or `--all-targets`) each in turn, a summary,
    and the worst exit code (`commands.targets`)."""
    from snapshotsync.commands import targets as targets_command

    chosen = targets_command.chosen(settings, names or [], all_targets)
    if len(chosen) == 1 and not all_targets:
        return one(chosen[0])
    if command == "plan":
        outcomes = targets_command.run_each(command, chosen, output, lambda n: one(n, True))
    else:
        outcomes = targets_command.run_each(
            command, chosen, output, one, stop_on_failure=command == "push"
        )
    code = targets_command.worst([o.code for o in outcomes])
    return ExitCode.OK if code is ExitCode.CHANGES and not detailed else code


@app.command()
def push(
    target: TargetsOption = None,
    all_targets: AllTargetsOption = False,
    repo: RepoOption = Path(),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print the plan.")] = False,
    allow_version_skew: AllowSkewOption = False,
    prune: PruneOption = False,
    force_overwrite: ForceOption = False,
    output: JsonOption = DriftFormat.text,
    saved_plan: Annotated[
        Path | None,
        typer.Option(
            "--plan",
            metavar="FILE",
            help="Apply exactly the plan `plan --out FILE` saved; refuse, writing nothing, "
            "when the snapshot, the overlay or the destination changed since.",
        ),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Calls at a time (reads and writes).")
    ] = 8,
    max_rps: MaxRpsOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Apply the plan to TARGET, record the result and commit it."""
    from snapshotsync.commands import push as push_command

    settings = Settings(
        repo=find_repo(repo), verbose=verbose, concurrency=concurrency, max_rps=max_rps
    )

    def one(name: str) -> ExitCode:
        run = push_command.run_json if output is DriftFormat.json else push_command.run
        return run(
            settings,
            name,
            assume_yes=yes,
            dry_run=dry_run,
            allow_version_skew=allow_version_skew,
            prune=prune,
            force=force_overwrite,
            saved_plan=saved_plan,
        )

    if saved_plan is not None and (all_targets or len(target or []) > 1):
        raise typer.BadParameter("--plan applies the saved plan of one target: name one --target")
    _run(
        "push",
        settings,
        lambda: _each("push", settings, target, all_targets, output.value, one),
        json_errors=output is DriftFormat.json,
    )


@app.command()
def drift(
    target: TargetsOption = None,
    all_targets: AllTargetsOption = False,
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
    settings = Settings(
        repo=find_repo(repo), verbose=verbose, concurrency=concurrency, max_rps=max_rps
    )
    from snapshotsync.commands import drift as drift_command

    _run(
        "drift",
        settings,
        lambda: _each(
            "drift",
            settings,
            target,
            all_targets,
            output.value,
            lambda name: drift_command.run(settings, name, output.value),
        ),
        json_errors=output is DriftFormat.json,
    )


@app.command()
def history(
    target: Annotated[str | None, typer.Option("--target", "-t")] = None,
    repo: RepoOption = Path(),
    output: JsonOption = DriftFormat.text,
    verbose: VerboseOption = 0,
) -> None:
    """The audit trail: exports and pushes from git log, one line each."""
    settings = Settings(repo=find_repo(repo), verbose=verbose)
    from snapshotsync.commands import history as history_command

    _run(
        "history",
        settings,
        lambda: history_command.run(settings, target, output.value),
        json_errors=output is DriftFormat.json,
    )


@app.command()
def cleanup(
    target: TargetOption,
    repo: RepoOption = Path(),
    output: JsonOption = DriftFormat.text,
    verbose: VerboseOption = 0,
) -> None:
    """The placeholder ledger of TARGET, and which placeholders are still there."""
    settings = Settings(repo=find_repo(repo), verbose=verbose)
    from snapshotsync.commands import cleanup as cleanup_command

    _run(
        "cleanup",
        settings,
        lambda: cleanup_command.run(settings, target, output.value),
        json_errors=output is DriftFormat.json,
    )


@app.command()
def validate(
    repo: RepoOption = Path(), output: JsonOption = DriftFormat.text, verbose: VerboseOption = 0
) -> None:
    """Check snapshotsync.yaml and the overlays without contacting any instance."""
    settings = Settings(repo=find_repo(repo), verbose=verbose)
    from snapshotsync.commands import validate as validate_command

    _run(
        "validate",
        settings,
        lambda: validate_command.run(settings, output.value),
        json_errors=output is DriftFormat.json,
    )


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
