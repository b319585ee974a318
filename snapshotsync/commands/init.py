"""`snapshotsync init DIR`: a new sync repo with documented templates and a first commit.

The templates are a starting point a person can read without the manual: every section of
an overlay is there, commented out with its default, and `snapshotsync.yaml` explains its
`http:` settings. With `--discover`, init reads the environments of the source and of each
target (keys from the environment variables the config names, through the Octopus client)
and pre-fills each overlay's `environments` with the names both share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from snapshotsync import report
from snapshotsync.commands.export import client_for
from snapshotsync.errors import ExitCode, OctopusApiError, UserError
from snapshotsync.settings import Http, Instance
from snapshotsync.store import STATE_DIR, Store

DOCS = "https://github.com/snapshotsync/snapshotsync/blob/main/docs"


@dataclass(frozen=True)
class InitOptions:
    directory: Path
    source_url: str = "https://octopus.example.com"
    space: str = "Default"
    source_key_env: str = "SOURCE_OCTOPUS_API_KEY"
    targets: tuple[tuple[str, str], ...] = (("prod", "https://octopus-prod.example.com"),)
    discover: bool = False


def key_env(target: str) -> str:
    """The environment variable that holds a target's API key: `PROD_OCTOPUS_API_KEY`."""
    return "".join(c if c.isalnum() else "_" for c in target.upper()) + "_OCTOPUS_API_KEY"


_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9 ._/()-]*$")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def _scalar(text: str) -> str:
    """`text` as a YAML scalar: plain when that reads back as the same string, else quoted."""
    if _PLAIN.match(text) and text == text.strip() and text.lower() not in _YAML_WORDS:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_text(options: InitOptions) -> str:
    lines = [
        "# snapshotsync configuration (reference: " + DOCS + "/repo.md).",
        "# API keys are never written to files: each instance names the environment variable",
        "# that holds its key, and the key is read from the environment when it is needed.",
        "format_version: 1",
        "source:",
        f"  url: {options.source_url}",
        f"  space: {_scalar(options.space)}",
        f"  api_key_env: {options.source_key_env}",
        "targets:",
    ]
    for name, url in options.targets:
        lines += [
            f"  {name}:",
            f"    url: {url}",
            f"    space: {_scalar(options.space)}",
            f"    api_key_env: {key_env(name)}",
            f"    overlay: overlays/{name}.yaml",
        ]
    lines += [
        "",
        "# How patient to be with a server. Every key is optional; the defaults are shown.",
        "# http:",
        "#   timeout: 60      # seconds one call may take",
        "#   retries: 5       # retries after the first attempt (429, 502, 503, 504, dropped",
        "#                    # connections; POSTs only on 429, as they may have been applied)",
        "#   backoff: 0.25    # first retry delay in seconds, doubled on every retry",
        "#                    # (a 429's Retry-After is honoured, up to 60 s)",
        "#   max_rps: 0       # at most this many calls a second to one instance (0: no limit;",
        "#                    # `--max-rps` on the command line overrides it)",
    ]
    return "\n".join(lines) + "\n"


OVERLAY_HEAD = """\
# Overlay for target {name}: how {name} differs from the source.
# Reference: {docs}/overlay.md
# Every section is optional; a commented line shows the default or an example.
# `snapshotsync validate` checks this file (keys, values and, after an export, names).

# Source environment -> destination environment. Names match case-insensitively.
# A source environment NOT listed here is excluded, with everything scoped only to it:
# lifecycle phases, steps, runbooks, triggers, variable values, tenant links, account and
# certificate scoping, team permissions. An empty mapping excludes every environment.
# A list maps one source environment to several: `Production: [Production, DR]`.
"""

OVERLAY_TAIL = """\

# Where several source environments map to one destination environment and their values
# disagree there, whose values win (otherwise such a disagreement is an error).
# prefer: {{}}
#   # Production: Prod         # destination environment: the source environment that wins

# Leave things out, by name or glob (`*`, `?`, case-insensitive). Excluding cascades: a
# channel on an excluded lifecycle goes, a step scoped only to excluded channels goes, a
# variable value scoped only to an excluded channel, step or runbook goes.
# exclude:
#   tenants: []        # ["Development Team A"]
#   lifecycles: []     # ["QA"]
#   channels: []       # ["OctoFX/QA"]              <project>/<channel>
#   projects: []       # ["Sandbox*"]
#   runbooks: []       # ["OctoFX/Refresh Test Data"] <project>/<runbook>
#   steps: []          # ["OctoFX/Smoke Test"]      <project>/<step>
#   certificates: []   # ["OctoFX Wildcard"]        one the destination lacks, and what names it

# Allow-lists, for the same kinds as `exclude`. Default: everything not excluded.
# include:
#   projects: ["OctoFX"]

# Same role, different name on the destination (source name: destination name).
# References in steps and variables follow the rename. Default: none.
# rename:
#   accounts: {{"Dev/Test Account": "Staging/Prod Account"}}
#   certificates: {{}}
#   worker-pools: {{}}
#   feeds: {{}}

# Variables.
# variables:
#   # What to do with a value whose scope loses names the destination does not have.
#   # One policy for every dimension, or per dimension (environment, channel, machine,
#   # tenant-tag, action, process-owner):
#   #   skip-unless-partial (default): keep the value with the names that remain; skip it
#   #     when none remain. skip-unless-exact: skip it unless every name remains.
#   #   error-unless-partial / error-unless-exact: the same, but an error stops the plan.
#   #   ignore: the dimension is left out when values are compared.
#   #   ignore-on-new: ignore it only for variables the destination does not have yet.
#   scoping: skip-unless-partial
#   # scoping: {{environment: skip-unless-partial, machine: skip-unless-exact}}
#   # overwrite: left out (default) overwrites a different value whose scope matches only
#   #   when nobody changed it on the destination since the last push (else: a conflict,
#   #   kept); true: always; false: never. Never a sensitive value on the destination.
#   new-out-of-scope: clone       # a NEW variable whose values were all scoped to excluded
#                                 # environments: clone (without environment scope),
#                                 # placeholder (one value) or skip
#   placeholder: "Replace Me"     # the value written by new-out-of-scope: placeholder
#                                 # and tenants.variables: placeholder
#   sensitive-placeholder: "CHANGE_ME"  # written where a secret is created (secrets
#                                 # cannot be read from the source); cleanup lists them
#   values:                       # explicit destination values, "<project or set>/<name>";
#                                 # a plain value replaces each source value, keeping its
#                                 # scope; {{value: ..., environments: [...]}} says where
#     "OctoFX/Application.Database.Name": "OctoFX-#{{Octopus.Environment.Name}}"
#     "OctoFX/Db.Server": {{value: "sql-prod", environments: [Production]}}
#     "OctoFX/Api.Key": "${{env:PROD_PRICING_API_KEY}}"  # read from the environment

# Steps.
# steps:
#   out-of-scope: skip            # a step whose environments are all excluded:
#                                 # skip (default) or unscope (run it everywhere)
#   rescope:                      # set a step's environments and/or channels here
#     "OctoFX/QA Sign-off": {{environments: [Staging]}}

# Tenants.
# tenants:
#   variables: copy               # copy (default), placeholder (non-secret values become
#                                 # the placeholder) or skip

# Runbooks. A process written through the API is a draft; triggers run the published one.
# runbooks:
#   publish: false                # true: publish a new snapshot of every runbook whose
#                                 # process the push changed
"""


def overlay_text(
    name: str,
    shared: list[tuple[str, str]] | None = None,
    source_only: list[str] | None = None,
) -> str:
    """The overlay template for target `name`; `shared` pre-fills the environment mapping."""
    text = OVERLAY_HEAD.format(name=name, docs=DOCS)
    if shared:
        text += "# Pre-filled by `snapshotsync init --discover`: the names both instances have.\n"
        text += "environments:\n"
        text += "".join(f"  {_scalar(src)}: {_scalar(dst)}\n" for src, dst in shared)
        for env in source_only or []:
            text += f"  # {_scalar(env)}: not on {name}, so excluded\n"
    else:
        text += "environments: {}\n"
        text += '#   Staging: Staging\n#   Production: "Production (EU)"\n'
    return text + OVERLAY_TAIL.format()


def _environments(instance: Instance) -> list[str]:
    """The environment names of `instance`, in the server's order (its sort order)."""
    key = instance.api_key()
    try:
        with client_for(instance, key, Http(retries=2), concurrency=1) as client:
            space_id = client.space_id(instance.space)
            return [str(e["Name"]) for e in client.list_all(f"api/{space_id}/environments")]
    except OctopusApiError as error:
        raise UserError(f"cannot read the environments of {instance.url}: {error}") from None


def _discover(options: InitOptions) -> dict[str, tuple[list[tuple[str, str]], list[str]]]:
    """Per target: (source name, destination name) pairs both share, and source-only names.

    A target that cannot be read (no key in the environment, unreachable, refused) keeps an
    empty mapping and the reason is printed; the repo is created either way.
    """
    source = Instance("source", options.source_url, options.space, options.source_key_env)
    try:
        source_names = _environments(source)
    except UserError as error:
        report.line(f"note: --discover: {error}; the environment mappings are left empty")
        return {}
    found = {}
    for name, url in options.targets:
        target = Instance(name, url, options.space, key_env(name))
        try:
            destination = {n.lower(): n for n in _environments(target)}
        except UserError as error:
            report.line(f"note: --discover: {error}; overlays/{name}.yaml is left empty")
            continue
        shared = [(n, destination[n.lower()]) for n in source_names if n.lower() in destination]
        only = [n for n in source_names if n.lower() not in destination]
        found[name] = (shared, only)
        report.line(
            f"discovered {len(shared)} environments both the source and {name} have"
            + (f" ({', '.join(dst for _, dst in shared)})" if shared else "")
        )
    return found


def run(options: InitOptions) -> ExitCode:
    for name, _ in options.targets:
        if not name or "/" in name:
            raise UserError(f"--target {name!r}: a target name must be a plain word")
    discovered = _discover(options) if options.discover else {}
    files = {
        "snapshotsync.yaml": config_text(options),
        ".gitignore": f"{STATE_DIR}/\n",
    }
    for name, _ in options.targets:
        shared, only = discovered.get(name, ([], []))
        files[f"overlays/{name}.yaml"] = overlay_text(name, shared, only)
    Store.init(options.directory, files, "init: new sync repo\n\nSnapshotsync-Event: init")
    report.line(f"created sync repo {options.directory}")
    report.line(
        f"next: set {options.source_key_env}, check snapshotsync.yaml and the overlays, then "
        f"`snapshotsync export --repo {options.directory}`"
    )
    return ExitCode.OK
