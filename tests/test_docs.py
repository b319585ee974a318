"""The documentation cannot drift from the code.

- Nothing in the project points outside it: Markdown links resolve to files (and headings)
  inside the repository; no file names the machine's paths or the project's private notes.
- Every YAML example in docs/ is checked by the tool itself. The first line of a ```yaml
  block is a comment naming the file it shows: `# overlays/<target>.yaml` is loaded and
  validated as an overlay (against the sample snapshots, so names count), `#
  snapshotsync.yaml` as a configuration, anything else (`# .github/workflows/...`) must parse.
- docs/cli.md is what the command line generates now.
- Every `snapshotsync ...` command line in a code block of docs/ and the README parses
  against the real command line (every option exists, every value is accepted), without
  running it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest
from markdown_it import MarkdownIt

from snapshotsync import layout, overlay, yamlio
from snapshotsync.model import Snapshot
from snapshotsync.settings import load_config

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CLI_REFERENCE = DOCS / "cli.md"
CLI_TITLE = "snapshotsync command reference"
GENERATE = ["-m", "typer", "snapshotsync.cli", "utils", "docs", "--name", "snapshotsync"]
GENERATE += ["--title", CLI_TITLE, "--output"]
REGENERATE = "python " + shlex.join([*GENERATE, "docs/cli.md"])
_MD = MarkdownIt("commonmark", {"html": True}).enable("table")


def project_files() -> list[Path]:
    """Every file of the project: tracked, or new and not ignored."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted({ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()})


def markdown_files() -> list[Path]:
    return [p for p in project_files() if p.suffix == ".md"]


def doc_pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# ---------------------------------------------------------------- (a) nothing points outside

# The machine's own paths, and the notes kept beside the repository for its developers.
# (Spelled in pieces, so that this file does not match itself.)
_NOTES = "sha" + "red"
_MACHINE = "/" + "work" + "/"
_DEVELOPER_NOTES = "(" + "design|style|octopus-" + "api)" + r"\.md"
OUTSIDE = re.compile(
    rf"\.\./{_NOTES}\b|{_MACHINE}|(?<![\w.-]){_NOTES}/{_DEVELOPER_NOTES}"
    rf"|{_NOTES}/(seed|reference)/"
    # The developers' notes by their bare names too: a user has none of them.
    rf"|(?<![\w/.-]){_DEVELOPER_NOTES}"
)


@pytest.mark.parametrize("path", project_files(), ids=_rel)
def test_no_file_points_outside_the_repository(path: Path) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return  # binary
    for number, line in enumerate(text.splitlines(), start=1):
        match = OUTSIDE.search(line)
        assert match is None, f"{_rel(path)}:{number} points outside the repository: {line!r}"


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    tokens = _MD.parse(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    found = set()
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            slug = github_slug(tokens[index + 1].content.replace("`", ""))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(path: Path) -> list[str]:
    out = []
    for token in _MD.parse(path.read_text(encoding="utf-8")):
        for child in token.children or []:
            if child.type == "link_open":
                out.append(str(child.attrs.get("href", "")))
    return out


@pytest.mark.parametrize("path", markdown_files(), ids=_rel)
def test_markdown_links_stay_inside_the_repository_and_resolve(path: Path) -> None:
    for href in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", href):  # https:, mailto:
            continue
        target, _, anchor = href.partition("#")
        assert not target.startswith("/"), f"{_rel(path)}: absolute link {href!r}"
        resolved = (path.parent / unquote(target)).resolve() if target else path
        assert resolved.is_relative_to(ROOT), f"{_rel(path)}: {href!r} leaves the repository"
        assert resolved.exists(), f"{_rel(path)}: {href!r} does not exist"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{_rel(path)}: no heading for {href!r}"


def test_every_page_is_reachable_from_the_index_and_the_readme_links_into_docs() -> None:
    linked = {href.partition("#")[0] for href in links(DOCS / "index.md")}
    for page in doc_pages():
        if page.name != "index.md":
            assert page.name in linked, f"docs/index.md does not link {page.name}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/index.md" in links(ROOT / "README.md")
    # The README's two set-up commands: the demo, and the tests.
    assert "pip install -e . && .venv/bin/snapshotsync demo" in readme
    assert "pip install -e '.[test]' && .venv/bin/python -m pytest" in readme


# ---------------------------------------------------------------- (b) YAML examples


@dataclass(frozen=True)
class Fence:
    path: Path
    line: int  # 1-based, the fence's first line
    info: str
    content: str

    def __str__(self) -> str:
        return f"{_rel(self.path)}:{self.line}"


def fences(paths: list[Path]) -> list[Fence]:
    found = []
    for path in paths:
        for token in _MD.parse(path.read_text(encoding="utf-8")):
            if token.type == "fence" and token.map is not None:
                found.append(Fence(path, token.map[0] + 1, token.info.strip(), token.content))
    return found


YAML_FENCES = [f for f in fences(doc_pages()) if f.info.split(" ")[0] in ("yaml", "yml")]


def _snapshot(name: str) -> Snapshot:
    root = ROOT / "sample-snapshots" / name
    files = {p.relative_to(root).as_posix(): p.read_text("utf-8") for p in root.rglob("*.yaml")}
    return layout.parse(files, str(root))


def _label(fence: Fence) -> str:
    first = fence.content.splitlines()[0] if fence.content else ""
    match = re.match(r"^# (\S+)\s*$", first)
    assert match, (
        f"{fence}: a YAML example starts with a comment naming its file, e.g. "
        f"`# overlays/prod.yaml` or `# snapshotsync.yaml` (found {first!r})"
    )
    return match.group(1)


def test_the_docs_hold_overlay_and_config_examples() -> None:
    labels = [_label(f) for f in YAML_FENCES]
    assert sum(label.startswith("overlays/") for label in labels) >= 12
    assert labels.count("snapshotsync.yaml") >= 1


@pytest.mark.parametrize("fence", YAML_FENCES, ids=str)
def test_every_yaml_example_is_valid_for_the_tool(fence: Fence, tmp_path: Path) -> None:
    label = _label(fence)
    if re.fullmatch(r"overlays/[\w.-]+\.ya?ml", label):
        path = tmp_path / Path(label).name
        path.write_text(fence.content, encoding="utf-8")
        try:
            overlay.load(path, _snapshot("source"), _snapshot("destination"))
        except overlay.OverlayError as error:
            pytest.fail(f"{fence}: the overlay example does not validate:\n{error}")
    elif label == "snapshotsync.yaml":
        (tmp_path / label).write_text(fence.content, encoding="utf-8")
        load_config(tmp_path)
    else:
        assert yamlio.loads(fence.content, str(fence)) is not None, f"{fence}: empty"


# ---------------------------------------------------------------- (c) the CLI reference


def test_the_committed_cli_reference_is_what_the_cli_generates(tmp_path: Path) -> None:
    generated = tmp_path / "cli.md"
    subprocess.run(
        [sys.executable, *GENERATE, str(generated)], cwd=ROOT, check=True, capture_output=True
    )
    assert CLI_REFERENCE.read_text(encoding="utf-8") == generated.read_text(encoding="utf-8"), (
        f"docs/cli.md is out of date: regenerate it with `{REGENERATE}` and commit it"
    )


# ---------------------------------------------------------------- (d) command lines parse

_SEPARATORS = {"&&", "||", ";", "|", "(", ")", "&", "|&"}


def command_lines(fence: Fence) -> list[list[str]]:
    """Each `snapshotsync ...` command in a code block, as its arguments (shell syntax:
    prompts, YAML `run:`/list prefixes, continuations, comments, pipes and redirections)."""
    text = fence.content.replace("\\\n", " ")
    text = re.sub(r"\$\{\{.*?\}\}", "EXPR", text)  # GitHub Actions expressions
    commands = []
    for raw in text.splitlines():
        if fence.info == "console" and not raw.startswith("$ "):
            continue  # a session: the rest is output
        line = re.sub(r"^\s*(\$ |- |run: |script: )*", "", raw)
        if "snapshotsync" not in line:
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:
            continue  # not shell (an unbalanced quote in prose or output)
        current: list[str] = []
        for token in [*tokens, ";"]:
            if token in _SEPARATORS or (token and set(token) <= set("<>&")):
                if current and Path(current[0]).name == "snapshotsync":
                    args = current[1:]
                    if args and args[-1] in ("1", "2") and token.startswith(">"):
                        args = args[:-1]  # 2>&1
                    commands.append(args)
                current = [] if token in _SEPARATORS else ["<redirected>"]
            elif current != ["<redirected>"]:
                current.append(token)
    return commands


COMMAND_FENCES = fences(
    [p for p in doc_pages() if p != CLI_REFERENCE] + [ROOT / "README.md"],
)


def parse_command_line(args: list[str]) -> None:
    """Parse `snapshotsync ARGS` with the real command line, without running a command."""
    import typer
    from typer.main import get_command

    from snapshotsync.cli import app

    group = get_command(app)
    if not args:
        return  # `snapshotsync` alone shows the help
    index = next((i for i, a in enumerate(args) if not a.startswith("-")), len(args))
    # Options before the command (--version, --install-completion...) are flags that end the
    # run when given: check that they exist, without running them.
    known = {opt for param in group.params for opt in param.opts}
    for option in args[:index]:
        assert option in known, f"no option {option!r} (options: {', '.join(sorted(known))})"
    if index == len(args):
        return
    root = group.make_context("snapshotsync", [args[index]])
    name = args[index]
    command = group.get_command(root, name)  # type: ignore[attr-defined]
    assert command is not None, f"no command {name!r}"
    try:
        command.make_context(name, list(args[index + 1 :]), parent=root)
    except typer.Exit:
        return  # --help


@pytest.mark.parametrize("fence", COMMAND_FENCES, ids=str)
def test_every_command_line_in_the_docs_parses(fence: Fence) -> None:
    for args in command_lines(fence):
        try:
            parse_command_line(args)
        except Exception as error:
            pytest.fail(f"{fence}: `snapshotsync {shlex.join(args)}` does not parse: {error}")


def test_the_ci_recipes_hold_commands_and_the_checker_finds_a_rotten_one() -> None:
    ci = [f for f in COMMAND_FENCES if f.path.name == "ci.md"]
    commands = [args for fence in ci for args in command_lines(fence)]
    verbs = {args[0] for args in commands if args}
    assert {"export", "validate", "plan", "push", "history"} <= verbs
    assert ["plan", "--target", "$TARGET", "--output", "markdown"] in commands
    # The checker itself: a removed option, a bad value and an unknown command are caught.
    rotten = Fence(ROOT / "docs" / "ci.md", 1, "yaml", "")
    for line in (
        'run: snapshotsync push --target "$TARGET" --auto-approve',
        "  - snapshotsync plan --target prod --output yaml >> summary.md",
        "$ snapshotsync sync --target prod && echo done",
    ):
        (args,) = command_lines(Fence(rotten.path, 1, "yaml", line + "\n"))
        with pytest.raises(Exception):  # noqa: B017 - whatever the parser raises
            parse_command_line(args)
