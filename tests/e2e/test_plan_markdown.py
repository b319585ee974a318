"""`plan --output markdown` on the guide's scenario: GitHub-flavoured Markdown that renders,
for a pull-request comment or a CI job summary, and never shows a secret."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from snapshotsync.commands.demo import OVERLAY as GUIDE_OVERLAY
from snapshotsync.errors import ExitCode
from tests.helpers import (
    API_KEY,
    SOURCE_KEY_ENV,
    Emulator,
    export_with_overlay,
    git,
    init_repo,
    run_cli,
)

# Values the overlay reads from the environment: secrets, whatever the variable's type.
PRICING_KEY = "pricing-key-from-ci-7f3a9c"
CONNECTION = "Server=sql-prod;Password=conn-secret-51d2"
OVERLAY = (
    GUIDE_OVERLAY
    + "  values:\n"
    + '    "OctoFX/Api.Key": "${env:PRICING_KEY}"\n'
    + '    "OctoFX/ConnectionString": "${env:DB_CONNECTION}"\n'
)
# Secret values the source holds (emulator/samples/source.yaml): the API never returns them.
SOURCE_SECRETS = ("source-api-key", "source-docker-password", "source-db-password")


@pytest.fixture
def repo(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    monkeypatch.setenv(SOURCE_KEY_ENV, API_KEY)
    monkeypatch.setenv("PROD_OCTOPUS_API_KEY", API_KEY)
    monkeypatch.setenv("PRICING_KEY", PRICING_KEY)
    monkeypatch.setenv("DB_CONNECTION", CONNECTION)
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    export_with_overlay(repo, OVERLAY)
    return repo


def _markdown(repo: Path, expect: int = 0) -> str:
    return run_cli(
        "plan", "--target", "prod", "--repo", str(repo), "--output", "markdown", expect=expect
    ).stdout


class _Balance(HTMLParser):
    """Counts open and closed tags of the rendered HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.open: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.open[tag] = self.open.get(tag, 0) + 1

    def handle_endtag(self, tag: str) -> None:
        self.open[tag] = self.open.get(tag, 0) - 1


def _render(text: str) -> tuple[list[object], str]:
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    return md.parse(text), md.render(text)


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in (PRICING_KEY, CONNECTION, "conn-secret", API_KEY, *SOURCE_SECRETS):
            assert secret not in text, secret


def test_the_initial_plan_renders_as_a_summary_a_table_and_details(repo: Path) -> None:
    text = _markdown(repo)
    tokens, rendered = _render(text)
    _assert_no_secret(text, rendered)
    kinds = [t.type for t in tokens]  # type: ignore[attr-defined]

    assert text.startswith("### snapshotsync plan for `prod`\n")
    summary = text.splitlines()[2]
    assert summary.startswith("**Changes to push.** 24 to create, 0 to update, 3 unchanged")
    # The table of changes by kind: a real table (header and one row a kind).
    assert kinds.count("table_open") == 2  # by kind, and the placeholders
    assert "<th>kind</th>" in rendered and "<td>project-variables</td>" in rendered
    # One collapsible block a resource, its fields in a diff block inside.
    balance = _Balance()
    balance.feed(rendered)
    assert all(count == 0 for count in balance.open.values()), balance.open
    assert rendered.count("<details>") >= 24
    assert "<summary><code>+ create</code> projects OctoFX</summary>" in rendered
    fences = [t for t in tokens if t.type == "fence"]  # type: ignore[attr-defined]
    assert fences and all(f.info == "diff" for f in fences)  # type: ignore[attr-defined]
    variables = next(f.content for f in fences if "+ add" in f.content and "Api.Key" in f.content)  # type: ignore[attr-defined]
    # The overlay's values from the environment are masked, the secret type is kept.
    assert "Api.Key = <sensitive>" in variables
    assert "ConnectionString = <sensitive>" in variables
    assert "Cache.Size = '512' [Role: OctoFX-Web]" in variables
    # Placeholders and the overlay's decisions are there.
    assert "Placeholders a push would write" in text
    assert "<td>feeds Docker Hub</td>" in rendered
    assert '+ Password: "<sensitive>"' in text  # a secret the source would not reveal
    decisions = text.split("Left out or changed by the overlay (")[1]
    count = int(decisions.split(")")[0])
    assert count == decisions.count("\n- ") >= 16
    assert "tenants Development Team A: excluded by the overlay" in text


def test_a_recurring_plan_shows_per_field_diffs_and_value_changes(
    repo: Path, source_emulator: Emulator
) -> None:
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    project = source_emulator.by_name("projects", "OctoFX")
    project["Description"] = "OctoFX | trading <platform>"
    assert source_emulator.put(f"projects/{project['Id']}", project).ok
    run_cli("export", "--repo", str(repo))

    text = _markdown(repo)
    tokens, rendered = _render(text)
    _assert_no_secret(text, rendered)
    assert "**Changes to push.** 0 to create, 1 to update" in text
    fence = next(t for t in tokens if t.type == "fence")  # type: ignore[attr-defined]
    assert fence.content.startswith("~ Description: ")  # type: ignore[attr-defined]
    assert "trading <platform>" in fence.content  # type: ignore[attr-defined]
    assert "<summary><code>~ update</code> projects OctoFX</summary>" in rendered
    # A cell or summary never breaks the table or the HTML around it.
    balance = _Balance()
    balance.feed(rendered)
    assert all(count == 0 for count in balance.open.values()), balance.open

    # Nothing left to do: the summary says so, and --detailed-exitcode still works.
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    quiet = run_cli(
        "plan",
        "--target",
        "prod",
        "--repo",
        str(repo),
        "--output",
        "markdown",
        "--detailed-exitcode",
    ).stdout
    assert "**No changes: the target is up to date.**" in quiet
    assert "<details>\n<summary>Left out or changed by the overlay" in quiet


def test_a_plan_with_errors_says_so_first_and_exits_1(
    repo: Path, source_emulator: Emulator
) -> None:
    overlay = repo / "overlays" / "prod.yaml"
    overlay.write_text(
        overlay.read_text().replace('lifecycles: ["QA"]', 'lifecycles: ["Default*"]')
    )
    git(repo, "commit", "-qam", "exclude the default lifecycle")
    text = _markdown(repo, expect=ExitCode.ERROR)
    assert "errors: nothing can be pushed until they are fixed.**" in text.splitlines()[2]
    assert "#### Errors" in text
    _assert_no_secret(text)
