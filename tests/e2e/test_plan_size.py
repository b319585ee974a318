"""Plans stay readable and fit where they are posted, on the benchmark's large instance
(benchmarks/generate.py: 200 projects, 100 tenants, 20 library variable sets).

Before plans were bounded, the first markdown plan of this instance was 2,041,047
characters (a pull-request comment holds 65,536, a job summary 1 MiB), the markdown plan
with nothing to do 71,948, and the text plan with nothing to do 732 lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from benchmarks.generate import OVERLAY, Size, write_seeds
from snapshotsync.report import MARKDOWN_BUDGET
from tests.helpers import API_KEY, SOURCE_KEY_ENV, git, init_repo, run_cli, running_emulator

pytestmark = pytest.mark.slow


@dataclass
class Plans:
    repo: Path
    first_markdown: str
    full_plan: str
    noop_markdown: str
    noop_text: str
    noop_verbose: str


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plans]:
    """Export the large instance, plan it, push it, and plan again: one run for the module."""
    scratch = tmp_path_factory.mktemp("large")
    source_seed, destination_seed = write_seeds(scratch / "seeds", Size())
    with (
        pytest.MonkeyPatch.context() as env,
        running_emulator(seed=source_seed, id_offset=1000) as source,
        running_emulator(seed=destination_seed, id_offset=5000) as destination,
    ):
        env.setenv(SOURCE_KEY_ENV, API_KEY)
        env.setenv("PROD_OCTOPUS_API_KEY", API_KEY)
        env.setenv("HOME", str(scratch))
        env.setenv("GIT_CONFIG_GLOBAL", str(scratch / ".gitconfig"))
        env.setenv("GIT_CONFIG_NOSYSTEM", "1")
        for role in ("AUTHOR", "COMMITTER"):
            env.setenv(f"GIT_{role}_NAME", "snapshotsync tests")
            env.setenv(f"GIT_{role}_EMAIL", "tests@snapshotsync.invalid")
        repo = init_repo(scratch, source, destination)
        (repo / "overlays" / "prod.yaml").write_text(OVERLAY)
        git(repo, "commit", "-qam", "overlay for prod")
        run_cli("export", "--repo", str(repo))

        def plan(*args: str) -> str:
            return run_cli("plan", "--target", "prod", "--repo", str(repo), *args).stdout

        full = scratch / "plan-prod.txt"
        first_markdown = plan("--output", "markdown", "--full-plan", str(full))
        first_full = full.read_text()
        run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
        noop_markdown = plan("--output", "markdown", "--full-plan", str(full))
        # The whole plan, as --full-plan writes it, is what `plan --verbose` prints.
        yield Plans(repo, first_markdown, first_full, noop_markdown, plan(), full.read_text())


def _render(text: str) -> str:
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(text)


def test_the_first_markdown_plan_fits_a_comment_and_points_to_the_full_plan(
    plans: Plans,
) -> None:
    text = plans.first_markdown
    assert len(text) <= MARKDOWN_BUDGET == 65_536
    assert text.startswith(
        "### snapshotsync plan for `prod`\n\n**Changes to push.** 2259 to create"
    )
    assert "| projects | 200 | 0 |" in text  # the table by kind is whole
    # Shortened as far as it had to be: one line a resource, then cut, with a pointer.
    assert "<details>\n<summary><code>" not in text
    last = text.rstrip().splitlines()[-1]
    assert last.endswith(f"the full plan is in `{plans.repo.parent / 'plan-prod.txt'}`.**")
    assert "more changes are not listed here" in last
    rendered = _render(text)
    assert rendered.count("<table>") == 1 and "<li><code>+ create</code> " in rendered
    # The file it points to holds every change, and the overlay's decisions.
    assert plans.full_plan.count("  + create ") == 2259
    assert "Left out or changed by the overlay:" in plans.full_plan


def test_the_no_op_plans_are_short(plans: Plans) -> None:
    assert plans.noop_text == (
        "No changes. Target prod is up to date (2262 unchanged, 5 left alone, 721 decisions "
        "by the overlay: --verbose lists them).\n"
    )
    markdown = plans.noop_markdown
    assert len(markdown) <= MARKDOWN_BUDGET
    assert "**No changes: the target is up to date.**" in markdown
    # The decisions are collapsed, counted by kind (the list would not fit).
    assert "<summary>Left out or changed by the overlay (721)</summary>" in markdown
    assert "- tenants: 294" in markdown
    # --verbose (and the --full-plan file) lists what the quiet plan leaves out.
    verbose = plans.noop_verbose
    assert "  = leave  environments Production  (exists on the destination" in verbose
    assert verbose.count("\n  - ") == 721
