"""`snapshotsync init DIR`: a new sync repo with a config template and a first commit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from snapshotsync import report
from snapshotsync.errors import ExitCode, UserError
from snapshotsync.store import STATE_DIR, Store


@dataclass(frozen=True)
class InitOptions:
    directory: Path
    source_url: str = "https://octopus.example.com"
    space: str = "Default"
    source_key_env: str = "SOURCE_OCTOPUS_API_KEY"
    targets: tuple[tuple[str, str], ...] = (("prod", "https://octopus-prod.example.com"),)


def key_env(target: str) -> str:
    """The environment variable that holds a target's API key: `PROD_OCTOPUS_API_KEY`."""
    return "".join(c if c.isalnum() else "_" for c in target.upper()) + "_OCTOPUS_API_KEY"


def config_text(options: InitOptions) -> str:
    lines = [
        "# snapshotsync configuration. API keys are never written to files: each instance",
        "# names the environment variable that holds its key.",
        "format_version: 1",
        "source:",
        f"  url: {options.source_url}",
        f"  space: {options.space}",
        f"  api_key_env: {options.source_key_env}",
        "targets:",
    ]
    for name, url in options.targets:
        lines += [
            f"  {name}:",
            f"    url: {url}",
            f"    space: {options.space}",
            f"    api_key_env: {key_env(name)}",
            f"    overlay: overlays/{name}.yaml",
        ]
    return "\n".join(lines) + "\n"


OVERLAY_TEMPLATE = """\
# How target {name} differs from the source (see snapshotsync's design, "overlay file").
# Source environments not listed under `environments` are excluded from the sync.
environments: {{}}
"""


def run(options: InitOptions) -> ExitCode:
    for name, _ in options.targets:
        if not name or "/" in name:
            raise UserError(f"--target {name!r}: a target name must be a plain word")
    files = {
        "snapshotsync.yaml": config_text(options),
        ".gitignore": f"{STATE_DIR}/\n",
    }
    for name, _ in options.targets:
        files[f"overlays/{name}.yaml"] = OVERLAY_TEMPLATE.format(name=name)
    Store.init(options.directory, files, "init: new sync repo\n\nSnapshotsync-Event: init")
    report.line(f"created sync repo {options.directory}")
    report.line(
        f"next: set {options.source_key_env}, check snapshotsync.yaml, then "
        f"`snapshotsync export --repo {options.directory}`"
    )
    return ExitCode.OK
