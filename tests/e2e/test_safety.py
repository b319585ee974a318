"""Hostile inputs and faults end to end, over real HTTP between emulators (issue 15).

Two processes racing on one repo, a kill during the git commit, secrets that must never
leave the environment, files that are not what they seem, hand edits: each either works
or stops with one clear line, and nothing is written to the destination or the repo when
it stops.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from snapshotsync.errors import ExitCode
from tests.e2e.test_plan import OVERLAY
from tests.helpers import (
    API_KEY,
    SOURCE_KEY_ENV,
    Emulator,
    export_with_overlay,
    git,
    init_repo,
    run_cli,
)

PROD_KEY_ENV = "PROD_OCTOPUS_API_KEY"


def _repo(tmp_path: Path, source: Emulator, destination: Emulator, overlay: str = "") -> Path:
    repo = init_repo(tmp_path, source, destination)
    export_with_overlay(repo, OVERLAY.replace("NEW_OUT_OF_SCOPE", "clone") + overlay)
    return repo


def _snapshotsync(repo: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snapshotsync", *args, "--repo", str(repo)]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, SOURCE_KEY_ENV: API_KEY, PROD_KEY_ENV: API_KEY, **extra}


def _reset(emulator: Emulator) -> None:
    emulator.session.delete(f"{emulator.url}/api/emulator/stats")


def _wait_for(condition: Any, process: subprocess.Popen[Any], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, f"the process ended before {what}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.02)


def _push(repo: Path, expect: int | None = 0) -> str:
    result = run_cli("push", "--target", "prod", "--repo", str(repo), "--yes", expect=expect)
    return result.stdout + result.stderr


# ---------------------------------------------------------------- 5: one run per repo


def test_two_processes_racing_on_one_repo_the_second_refuses_and_writes_nothing(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    head = git(repo, "rev-parse", "HEAD")
    snapshot = {p: p.read_bytes() for p in (repo / "snapshot").rglob("*") if p.is_file()}
    destination_emulator.configure(latency_ms=300)  # a push that takes seconds
    lock_file = repo / ".snapshotsync" / "lock"
    first = subprocess.Popen(
        _snapshotsync(repo, "push", "--target", "prod", "--yes"),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(
            lambda: lock_file.exists() and f'"pid": {first.pid}' in lock_file.read_text(),
            first,
            "the first push take the lock",
        )
        _reset(source_emulator)
        for racing in (["export"], ["push", "--target", "prod", "--yes"]):
            second = subprocess.run(
                _snapshotsync(repo, *racing), env=_env(), capture_output=True, text=True
            )
            assert first.poll() is None, "the first push ended: the race was not run"
            assert second.returncode == ExitCode.ERROR, second.stderr
            assert second.stderr.startswith(
                f"error: another snapshotsync is running (pid {first.pid} since "
            ), second.stderr
            assert f"`push --target prod`) in {repo}: wait for it to finish" in second.stderr
            assert len(second.stderr.strip().splitlines()) == 1
        assert source_emulator.stats()["requests"] == 0  # the export read nothing ...
        assert git(repo, "rev-parse", "HEAD") == head  # ... and committed nothing
        assert snapshot == {
            p: p.read_bytes() for p in (repo / "snapshot").rglob("*") if p.is_file()
        }
        first.send_signal(signal.SIGKILL)  # the lock dies with its process
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert f'"pid": {first.pid}' in lock_file.read_text()  # what it leaves: a stale file
    destination_emulator.configure(latency_ms=0)
    out = _push(repo, expect=None)
    assert f"took over the lock left by pid {first.pid}" in out
    for _ in range(5):  # the killed push is finished by the next runs
        if "up to date" in _push(repo, expect=None):
            break
    plan = run_cli("plan", "--target", "prod", "--repo", str(repo), "--output", "json")
    assert json.loads(plan.stdout)["has_changes"] is False


# ---------------------------------------------------------------- 6: killed in git commit


def _git_hanging_on_commit(tmp_path: Path, touched: str) -> tuple[dict[str, str], Path]:
    """A `git` first on PATH that hangs (after saying so) on a commit of `touched`."""
    real = shutil.which("git")
    assert real is not None
    folder = tmp_path / "fake-git"
    folder.mkdir()
    hanging = folder / "hanging"
    script = folder / "git"
    script.write_text(
        "#!/bin/sh\n"
        'case " $* " in\n'
        f'  *" commit "*" {touched}"*) : > "{hanging}"; exec sleep 60;;\n'
        "esac\n"
        f'exec "{real}" "$@"\n'
    )
    script.chmod(0o755)
    return _env(PATH=f"{folder}{os.pathsep}{os.environ['PATH']}"), hanging


def _kill_during_commit(repo: Path, args: list[str], env: dict[str, str], hanging: Path) -> None:
    process = subprocess.Popen(
        _snapshotsync(repo, *args),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own group: the hanging git dies with it
    )
    try:
        _wait_for(hanging.exists, process, "the git commit start")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_a_push_killed_during_its_commit_has_its_record_recovered_by_the_next_run(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    env, hanging = _git_hanging_on_commit(tmp_path, "targets/prod")
    _kill_during_commit(repo, ["push", "--target", "prod", "--yes"], env, hanging)
    assert git(repo, "status", "--porcelain", "targets/prod")  # the record is uncommitted
    written = (repo / "targets" / "prod" / "last-push.yaml").read_text()
    assert "result: complete" in written

    out = _push(repo)  # today's refusal ("uncommitted changes") becomes a recovery
    assert "recovered: the targets/prod record of an interrupted push-prod is committed" in out
    assert "up to date" in out
    [recovered] = [
        message
        for message in git(repo, "log", "--format=%B%x00").split("\x00")
        if "Recovered: yes" in message
    ]
    assert recovered.strip().startswith("push prod: ")
    assert "(recovered: the run that wrote it was interrupted before its commit)" in recovered
    assert "Snapshotsync-Event: push" in recovered and "Result: complete" in recovered
    assert git(repo, "show", "HEAD~0:targets/prod/last-push.yaml") == written
    assert git(repo, "status", "--porcelain") == ""
    history = run_cli("history", "--repo", str(repo), "--target", "prod").stdout
    assert "(complete)" in history


def test_a_hand_edit_on_top_of_an_interrupted_record_is_still_refused(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    env, hanging = _git_hanging_on_commit(tmp_path, "targets/prod")
    _kill_during_commit(repo, ["push", "--target", "prod", "--yes"], env, hanging)
    ledger = repo / "targets" / "prod" / "cleanup.yaml"
    ledger.write_text(ledger.read_text() + "# a note by hand\n")
    _reset(destination_emulator)
    out = _push(repo, expect=ExitCode.ERROR)
    assert "uncommitted changes that an interrupted push-prod did not write" in out
    assert "cleanup.yaml" in out
    assert destination_emulator.stats()["requests"] == 0


def test_an_export_killed_during_its_commit_is_recovered_by_the_next_export(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    env, hanging = _git_hanging_on_commit(tmp_path, "snapshot")
    _kill_during_commit(repo, ["export"], env, hanging)
    assert git(repo, "status", "--porcelain", "snapshot")
    out = run_cli("export", "--repo", str(repo)).stdout
    assert "recovered: the snapshot record of an interrupted export is committed" in out
    assert "no changes since the last export" in out
    message = git(repo, "log", "-1", "--format=%B", "--", "snapshot")
    assert message.startswith("export: ") and "(recovered: " in message
    assert "Snapshotsync-Event: export" in message and "Recovered: yes" in message
    assert git(repo, "status", "--porcelain") == ""


def test_a_stale_git_index_lock_is_explained_before_anything_is_written(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    (repo / ".git" / "index.lock").write_text("")
    _reset(destination_emulator)
    out = _push(repo, expect=ExitCode.ERROR)
    assert ".git/index.lock exists" in out and "delete that file" in out
    assert destination_emulator.stats()["requests"] == 0


# ---------------------------------------------------------------- 7: secrets


def test_env_values_and_the_api_key_never_reach_output_logs_or_git(
    tmp_path: Path,
    source_emulator: Emulator,
    destination_emulator: Emulator,
    keys: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    marker = "Marker-Env-Secret-7c1d"
    monkeypatch.setenv("DB_PASSWORD", marker)
    monkeypatch.setenv("PRICING_API_KEY", f"{marker}-sensitive")
    overlay = (
        '  values:\n    "OctoFX/ConnectionString": "Server=x;Password=${env:DB_PASSWORD}"\n'
        '    "OctoFX/Api.Key": "${env:PRICING_API_KEY}"\n'
    )
    repo = _repo(tmp_path, source_emulator, destination_emulator, overlay)
    repo_arg = ("--repo", str(repo))
    outputs, json_plans = [], []
    for args in (
        ("export", "-vv"),
        ("validate",),
        ("plan", "--target", "prod", "-vv"),
        ("plan", "--target", "prod", "--output", "json", "-vv"),
        ("push", "--target", "prod", "--yes", "-vv"),
        ("plan", "--target", "prod", "-vv"),  # the value is on the destination now
        ("plan", "--target", "prod", "--output", "json"),
        ("push", "--target", "prod", "--yes", "--dry-run"),
        ("cleanup", "--target", "prod", "-vv"),
        ("history",),
    ):
        result = run_cli(*args, *repo_arg)
        outputs.append(result.stdout + result.stderr)
        if "json" in args:
            json_plans.append(json.loads(result.stdout))  # still valid JSON once masked
    # The string variable did get the value from the environment.
    project = destination_emulator.by_name("projects", "OctoFX")
    stored = destination_emulator.get(f"variables/{project['VariableSetId']}")["Variables"]
    assert any(v["Value"] == f"Server=x;Password={marker}" for v in stored)
    assert json_plans[0]["has_changes"] and not json_plans[1]["has_changes"]
    places = {f"output of {i}": text for i, text in enumerate(outputs)}
    for log in (repo / ".snapshotsync" / "logs").glob("*.log"):
        places[str(log)] = log.read_text(encoding="utf-8")
    places["git log -p --all"] = git(repo, "log", "-p", "--all")
    for path in repo.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            places[str(path)] = path.read_text(encoding="utf-8", errors="replace")
    for where, text in places.items():
        assert marker not in text, where
        assert API_KEY not in text, where
        assert json.dumps(marker)[1:-1] not in text, where


# ---------------------------------------------------------------- 9-11: hostile trees


def test_a_symbolic_link_in_the_snapshot_is_refused_before_any_request(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    outside = tmp_path / "outside.yaml"
    outside.write_text("Name: Staging\nDescription: read from outside the repo\n")
    staging = repo / "snapshot" / "environments" / "Staging.yaml"
    staging.unlink()
    staging.symlink_to(outside)
    git(repo, "commit", "-qam", "a link")
    _reset(destination_emulator)
    for command in (["plan", "--target", "prod"], ["push", "--target", "prod", "--yes"]):
        result = run_cli(*command, "--repo", str(repo), expect=ExitCode.ERROR)
        assert "snapshot/environments/Staging.yaml: a symbolic link" in result.stderr
    assert destination_emulator.stats()["requests"] == 0


def test_an_alias_bomb_in_a_snapshot_file_fails_at_once_with_file_and_line(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    lines = ["Name: Staging", "Bomb0: &b0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        lines.append(f"Bomb{level}: &b{level} [" + ", ".join([f"*b{level - 1}"] * 9) + "]")
    (repo / "snapshot" / "environments" / "Staging.yaml").write_text("\n".join(lines) + "\n")
    git(repo, "commit", "-qam", "a bomb")
    _reset(destination_emulator)
    result = run_cli("plan", "--target", "prod", "--repo", str(repo), expect=ExitCode.ERROR)
    assert "snapshot/environments/Staging.yaml:2: YAML anchors and aliases" in result.stderr
    assert destination_emulator.stats()["requests"] == 0


def test_a_dirty_snapshot_is_refused_by_push_and_only_warned_about_by_plan(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    staging = repo / "snapshot" / "environments" / "Staging.yaml"
    staging.write_text(staging.read_text().replace("Pre-production", "edited by hand"))
    _reset(destination_emulator)
    out = _push(repo, expect=ExitCode.ERROR)
    assert "snapshot has uncommitted changes (e.g. snapshot/environments/Staging.yaml)" in out
    assert destination_emulator.stats()["requests"] == 0
    plan = run_cli("plan", "--target", "prod", "--repo", str(repo))
    assert "uncommitted changes (e.g. environments/Staging.yaml)" in plan.stderr
    assert plan.stdout.startswith("Plan for target prod")  # planned, edits included
    assert not (repo / "targets").exists()


# ---------------------------------------------------------------- 4: records read back


def test_a_cloned_value_with_a_line_separator_keeps_the_ledger_readable(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    instance = source_emulator.instance
    space = instance.default_space_id()
    project = instance.find_by_name(space, "projects", "OctoFX")
    assert project is not None
    variables = instance.find(space, "variables", project["VariableSetId"])
    values = [
        {**v, "Value": "OctoFx-Dev\n\u2028"} if v["Value"] == "OctoFx-Dev" else v
        for v in variables["Variables"]
    ]
    assert values != variables["Variables"]
    instance.update(
        space,
        "variables",
        variables["Id"],
        {"Variables": values, "Version": variables["Version"]},
    )
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    assert "push: prod done" in _push(repo)
    cleanup = run_cli("cleanup", "--target", "prod", "--repo", str(repo)).stdout
    assert "variable Application.Database.Name" in cleanup
    assert "up to date" in _push(repo)


def test_a_broken_ledger_stops_the_push_before_any_write(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    ledger = repo / "targets" / "prod" / "cleanup.yaml"
    ledger.parent.mkdir(parents=True)
    ledger.write_text("entries:\n- resource: a\n  field: &f x\n- resource: b\n  field: *f\n")
    git(repo, "add", "targets")
    git(repo, "commit", "-qm", "a ledger with an alias")
    _reset(destination_emulator)
    out = _push(repo, expect=ExitCode.ERROR)
    assert "targets/prod/cleanup.yaml:3: YAML anchors and aliases" in out
    assert destination_emulator.stats()["writes"] == 0
    for wrong in ("entries: {not: a list}\n", "- resource: a\n", "entries:\n- [a, b]\n"):
        ledger.write_text(wrong)
        git(repo, "commit", "-qam", "a ledger of the wrong shape")
        out = _push(repo, expect=ExitCode.ERROR)
        assert "targets/prod/cleanup.yaml: expected `entries:`, a list of mappings" in out
        assert destination_emulator.stats()["writes"] == 0


# ---------------------------------------------------------------- 12: clear errors


def test_hand_edits_the_transform_cannot_use_are_one_clear_line(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source_emulator, destination_emulator)
    (repo / "snapshot" / "notes.txt").write_text("remember the milk\n")
    git(repo, "add", "snapshot")
    git(repo, "commit", "-qm", "a stray file")
    result = run_cli("plan", "--target", "prod", "--repo", str(repo), expect=ExitCode.ERROR)
    assert result.stderr.startswith("error: ") and "snapshot/notes.txt: not a snapshot file" in (
        result.stderr
    )
    git(repo, "rm", "-q", "snapshot/notes.txt")
    process = repo / "snapshot" / "projects" / "OctoFX" / "deployment-process.yaml"
    text = process.read_text()
    process.write_text(text.replace("Steps:\n", "Steps: {}\nWas:\n", 1))
    git(repo, "commit", "-qam", "a mapping where a list is expected")
    result = run_cli("plan", "--target", "prod", "--repo", str(repo), expect=ExitCode.ERROR)
    line = text.splitlines().index("Steps:") + 1
    assert (
        f"snapshot/projects/OctoFX/deployment-process.yaml:{line}: Steps must be a list of "
        "mappings, not a mapping"
    ) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_name_too_long_for_a_file_name_is_exported_planned_and_pushed(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    long_name = "Staging for the team in " + "東京 " * 80  # 500+ bytes
    source_emulator.create("environments", {"Name": long_name})
    overlay = f'  "{long_name}": "{long_name}"\n'
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    export_with_overlay(
        repo,
        OVERLAY.replace("NEW_OUT_OF_SCOPE", "clone").replace(
            "environments:\n", f"environments:\n{overlay}", 1
        ),
        "overlay",
    )
    names = (repo / "snapshot" / "_names.yaml").read_text(encoding="utf-8")
    assert long_name.strip() in names
    for path in (repo / "snapshot").rglob("*"):
        assert len(path.name.encode()) <= 255
    assert "push: prod done" in _push(repo)
    assert any(e["Name"] == long_name for e in destination_emulator.get("environments/all"))
    assert "up to date" in _push(repo)


def test_a_commit_on_a_detached_head_works_and_says_how_to_keep_it(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    git(repo, "checkout", "-q", git(repo, "rev-parse", "HEAD").strip())
    out = run_cli("export", "--repo", str(repo)).stdout
    assert "note: HEAD is detached, so commit " in out and "git push origin HEAD:<branch>" in out
    assert git(repo, "log", "-1", "--format=%s").startswith("export: ")


def test_a_full_disk_during_export_is_one_line_and_leaves_the_repo_as_it_was(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    head = git(repo, "rev-parse", "HEAD")
    real_write = Path.write_text

    def full(self: Path, *args: Any, **kwargs: Any) -> int:
        if "snapshot" in self.parts or "new" in self.parts:  # the tree, not the log
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "write_text", full)
        result = run_cli("export", "--repo", str(repo), expect=ExitCode.ERROR)
    assert "no space left on the device" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert git(repo, "rev-parse", "HEAD") == head and not (repo / "snapshot").exists()
    assert "committed" in run_cli("export", "--repo", str(repo)).stdout  # space is back
