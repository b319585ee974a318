"""Measure snapshotsync against its performance targets (benchmarks/README.md). in one command.

    python benchmarks/run.py [--latency-ms 20] [--projects 200] [--tenants 100]
                             [--library-sets 20] [--quick] [--output results.json] [--keep]
    python benchmarks/run.py --scale [--scale-projects 50,100,200,400] [--latency-ms 20]

What it does:

1. writes the synthetic "large" instance (`generate.py`) and a Staging/Production
   destination as emulator seeds in a temporary directory;
2. starts two emulators as separate processes (`python -m snapshotsync.emulator`, every
   request delayed by `--latency-ms`), on loopback;
3. runs the `snapshotsync` command line as a subprocess for each step: export with
   `--concurrency 8` and, in a second fresh repo, with `--concurrency 1`; a re-export of
   the unchanged source; the initial push; a no-op push; a plan; and the same initial
   push at `--concurrency 1`, from the second repo onto a third emulator seeded like the
   destination. Each step's wall time
   (`time.perf_counter`), CPU (user + sys, `getrusage(RUSAGE_CHILDREN)` delta, git
   included), peak RSS (`VmHWM`, polled while it runs; `ru_maxrss` from `os.wait4` is in
   the JSON too), the emulators' own CPU, the reading phase (first to last GET, from the
   run's log) and the API calls the emulators counted (stats reset before every step);
4. times `transform.apply` + `plan.make_plan` in this process (`time.process_time`, then
   again under `tracemalloc` for the peak), from the committed snapshot against the recorded
   destination state (the initial sync) and against the destination as it is now (the
   recurring sync, every variable merged);
5. prints the figures and each design target with PASS/FAIL. It measures; it never fails
   because a target is missed (exit 1 only when a step itself fails).

With `--scale` it runs the instance at several sizes instead (50, 100, 200 and 400 projects,
tenants and library sets scaled alike: projects / 2 and projects / 10), each on fresh
emulators and a fresh repo: export (concurrency 8), the initial push, a no-op push and a
plan, and reports each step's wall time and CPU per resource of the snapshot and its peak
RSS, with how much the per-resource cost grew from the smallest size to the largest.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import platform
import re
import resource
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
API_KEY = "API-BENCHMARK00000000000000000000"
SOURCE_KEY_ENV = "SOURCE_OCTOPUS_API_KEY"
TARGET_KEY_ENV = "PROD_OCTOPUS_API_KEY"
EMULATOR_START_TIMEOUT = 600.0  # seconds: seeding the large instance takes a few
STEP_TIMEOUT = 3600.0  # seconds for one CLI run; a stuck run is killed
HTTP_TIMEOUT = 30.0
POLL_S = 0.02  # how often a running step's peak memory is read
MB = 1024 * 1024

# The performance targets (benchmarks/README.md).
TARGET_EXPORT_BOUND_RATIO = 1.5  # export wall <= 1.5 x (GETs x latency / concurrency)
TARGET_CONCURRENCY_SPEEDUP = 6.0  # concurrency 1 wall >= 6 x concurrency 8 wall
TARGET_TRANSFORM_PLAN_CPU_S = 5.0
TARGET_PEAK_MB = 500.0
# Issue 13's round (README, "The targets").
TARGET_PUSH_BOUND_RATIO = 2.0  # initial push wall <= 2 x (requests x latency / concurrency)
TARGET_PUSH_SPEEDUP = 5.0  # the initial push at concurrency 1 >= 5 x slower than at 8
TARGET_EXPORT_CPU_S = 2.5
TARGET_SNAPSHOT_PARSE_CPU_S = 1.0
TARGET_READ_OVER_EXPORT = 1.3  # plan and the no-op push wall <= 1.3 x the export's
# Round 3 (issue 22): the space read in bulk.
TARGET_EXPORT_GETS = 40  # with scoped tenant variables off (250 with them on)
TARGET_EXPORT_GETS_SCOPED = 250
TARGET_EXPORT_WALL_OVER_CPU = 1.3  # export wall <= 1.3 x its own CPU (waiting is hidden)
# Steps whose GETs are shown by route (`GET /api/emulator/stats`, both emulators).
ROUTE_STEPS = ("export c8", "re-export c8 (unchanged)", "push (no-op)", "plan")
# The emulators' server version (`--server-version`): 2025.2 or later has scoped tenant
# variables, which have no bulk route.
EMULATOR_ARGS: list[str] = []
# The scaling targets: per-resource cost within 20 % from the smallest size to the largest,
# peak RSS under 300 MB at the largest (400 projects).
TARGET_SCALE_GROWTH = 1.2
TARGET_SCALE_PEAK_MB = 300.0
SCALE_PROJECTS = (50, 100, 200, 400)
QUICK_SCALE_PROJECTS = (5, 10, 20, 40)
SCALE_STEPS = ("export c8", "push (initial)", "push (no-op)", "plan")

T = TypeVar("T")


def _ensure_project_python() -> None:
    """Re-run under the project's virtualenv when snapshotsync is not importable here."""
    try:
        import snapshotsync  # noqa: F401
    except ImportError:
        venv = ROOT / ".venv"
        venv_python = venv / "bin" / "python"
        if venv_python.is_file() and Path(sys.prefix).resolve() != venv.resolve():
            os.execv(str(venv_python), [str(venv_python), __file__, *sys.argv[1:]])
        sys.exit("snapshotsync is not importable: run with the project's virtualenv")


_ensure_project_python()

import requests  # noqa: E402
from generate import OVERLAY, Size  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from snapshotsync import export, layout, normalize, overlay, plan, transform  # noqa: E402
from snapshotsync.octopus.client import OctopusClient  # noqa: E402
from snapshotsync.store import SNAPSHOT_DIR, Store  # noqa: E402

console = Console()
if not console.is_terminal:
    console.width = 150  # a file or a pipe: keep the tables on one line each
progress = Console(stderr=True)


class BenchmarkError(Exception):
    """A step could not run (not a missed target): the message says which and why."""


# ====================================================================== emulators


@dataclass
class Emulator:
    """One emulator process and a session that talks to its own routes."""

    name: str
    url: str
    process: subprocess.Popen[str]
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.headers["X-Octopus-ApiKey"] = API_KEY

    def stats(self) -> dict[str, Any]:
        response = self.session.get(f"{self.url}/api/emulator/stats", timeout=HTTP_TIMEOUT)
        response.raise_for_status()
        return dict(response.json())

    def reset_stats(self) -> None:
        self.session.delete(
            f"{self.url}/api/emulator/stats", timeout=HTTP_TIMEOUT
        ).raise_for_status()

    def cpu_s(self) -> float:
        """The emulator process's CPU so far (user + sys), from /proc; 0 where there is none."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.session.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def stop_all(emulators: list[Emulator]) -> None:
    for emulator in emulators:
        emulator.stop()


def start_emulator(
    name: str, seed: Path, latency_ms: float, id_offset: int, log_dir: Path
) -> Emulator:
    """Start `python -m snapshotsync.emulator` and wait for its `listening on URL` line."""
    stderr = (log_dir / f"{name}-emulator.stderr").open("w", encoding="utf-8")
    command = [
        sys.executable,
        "-m",
        "snapshotsync.emulator",
        "--port",
        "0",
        "--api-key",
        API_KEY,
        "--seed",
        str(seed),
        "--latency-ms",
        str(latency_ms),
        "--id-offset",
        str(id_offset),
        *EMULATOR_ARGS,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, cwd=ROOT)
    stderr.close()
    assert process.stdout is not None
    line = ""
    deadline = time.monotonic() + EMULATOR_START_TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while not line and time.monotonic() < deadline and process.poll() is None:
            if selector.select(timeout=min(1.0, max(0.0, deadline - time.monotonic()))):
                line = process.stdout.readline().strip()
                break
    prefix = "listening on "
    if not line.startswith(prefix):
        process.kill()
        process.wait(timeout=10)
        errors = (log_dir / f"{name}-emulator.stderr").read_text(encoding="utf-8")[-2000:]
        raise BenchmarkError(f"the {name} emulator did not start: {line!r}\n{errors}")
    return Emulator(name, line[len(prefix) :], process)


# ====================================================================== CLI runs


@dataclass
class Step:
    """One measured step."""

    name: str
    wall_s: float
    cpu_s: float
    peak_mb: float
    ru_maxrss_mb: float = 0.0
    calls: dict[str, int] = field(default_factory=dict)  # by method, both emulators
    writes: int = 0
    writes_before: int = 0  # the counters just before the run (after the reset)
    requests: int = 0
    exit_code: int = 0
    notes: str = ""
    emulator_cpu_s: float = 0.0  # both emulator processes, during the step
    read_s: float | None = None  # export: first to last GET, from the run's log
    by_emulator: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_route: dict[str, int] = field(default_factory=dict)  # both emulators

    def gets(self) -> int:
        return self.calls.get("GET", 0)


@dataclass
class CliRun:
    exit_code: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float
    peak_mb: float  # VmHWM of the process, polled while it runs
    ru_maxrss_mb: float  # what wait4 says: never below this process's RSS at fork (see README)


def _vm_hwm_kb(pid: int) -> int:
    """The peak resident set of a running process (`VmHWM`), 0 once it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _reap(process: subprocess.Popen[Any]) -> tuple[int, resource.struct_rusage, int]:
    """Wait for `process` (killed after STEP_TIMEOUT), polling its peak memory.

    The peak comes from `VmHWM`, not from `ru_maxrss`: Linux starts a child's `ru_maxrss`
    at the RSS of the process that forked it, so with a large parent every child would
    report the parent's size. `VmHWM` belongs to the new address space made by exec.
    """
    deadline = time.monotonic() + STEP_TIMEOUT
    peak = 0
    killed = False
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            return status, usage, peak
        peak = max(peak, _vm_hwm_kb(process.pid))
        if not killed and time.monotonic() > deadline:
            process.kill()
            killed = True
        time.sleep(POLL_S)


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


class Cli:
    """Runs the `snapshotsync` console script as a child process and measures it."""

    def __init__(self, env: dict[str, str], scratch: Path) -> None:
        executable = Path(sys.executable).parent / "snapshotsync"
        if not executable.is_file():
            raise BenchmarkError(f"no console script at {executable}: `pip install -e .` first")
        self.executable = executable
        self.env = env
        self.scratch = scratch
        self.runs = 0

    def run(self, *args: str, allowed: tuple[int, ...] = (0,)) -> CliRun:
        self.runs += 1
        out_path = self.scratch / f"cli-{self.runs:02d}.stdout"
        err_path = self.scratch / f"cli-{self.runs:02d}.stderr"
        with out_path.open("w") as out, err_path.open("w") as err:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            process = subprocess.Popen(
                [str(self.executable), *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=self.env,
            )
            status, usage, hwm_kb = _reap(process)
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        process.returncode = os.waitstatus_to_exitcode(status)
        result = CliRun(
            exit_code=process.returncode,
            stdout=out_path.read_text(encoding="utf-8", errors="replace"),
            stderr=err_path.read_text(encoding="utf-8", errors="replace"),
            wall_s=wall,
            cpu_s=_cpu(after) - _cpu(before),
            peak_mb=hwm_kb * 1024 / MB,
            ru_maxrss_mb=usage.ru_maxrss * 1024 / MB,  # Linux reports kilobytes
        )
        if result.exit_code not in allowed:
            raise BenchmarkError(
                f"`snapshotsync {' '.join(args)}` exited {result.exit_code} "
                f"(expected {allowed}):\n{result.stderr[-3000:] or result.stdout[-3000:]}"
            )
        return result


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()


def measured(
    name: str, cli: Cli, emulators: list[Emulator], *args: str, allowed: tuple[int, ...] = (0,)
) -> tuple[Step, CliRun]:
    """Run one CLI step with fresh emulator counters and collect everything about it."""
    for emulator in emulators:
        emulator.reset_stats()
    writes_before = sum(int(emulator.stats()["writes"]) for emulator in emulators)
    emulator_cpu = sum(emulator.cpu_s() for emulator in emulators)
    progress.print(f"[dim]running[/] {name}: snapshotsync {' '.join(args)}")
    result = cli.run(*args, allowed=allowed)
    step = Step(
        name,
        result.wall_s,
        result.cpu_s,
        result.peak_mb,
        result.ru_maxrss_mb,
        exit_code=result.exit_code,
    )
    step.emulator_cpu_s = sum(emulator.cpu_s() for emulator in emulators) - emulator_cpu
    step.writes_before = writes_before
    for emulator in emulators:
        stats = emulator.stats()
        step.by_emulator[emulator.name] = stats
        step.requests += int(stats["requests"])
        step.writes += int(stats["writes"])
        for method, count in stats["by_method"].items():
            step.calls[method] = step.calls.get(method, 0) + int(count)
        for route, count in stats["by_route"].items():
            step.by_route[route] = step.by_route.get(route, 0) + int(count)
    progress.print(
        f"  {result.wall_s:.2f} s wall, {result.cpu_s:.2f} s CPU, "
        f"{step.requests} requests, {step.writes} writes"
    )
    return step, result


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) DEBUG \S+ GET \S+ \d+ (\d+) ms")


def read_phase_s(repo: Path, command: str) -> float | None:
    """Wall time of the reading phase of the newest `command` run in `repo`: from the start
    of its first GET to the end of its last, from the per-run log (None if it has no GETs)."""
    logs = sorted((repo / ".snapshotsync" / "logs").glob(f"*-{command}.log"))
    if not logs:
        return None
    first: float | None = None
    last = 0.0
    for line in logs[-1].read_text(encoding="utf-8", errors="replace").splitlines():
        match = LOG_TIME.match(line)
        if match is None:
            continue
        ended = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if first is None:
            first = ended - int(match[2]) / 1000
        last = ended
    return None if first is None else last - first


def generate_seeds(directory: Path, size: Size) -> tuple[Path, Path]:
    """Write the seeds in a child process, so this one stays small (its size at fork time
    would otherwise be every child's floor of `ru_maxrss`, and its own peak is reported)."""
    command = [sys.executable, str(HERE / "generate.py"), str(directory)]
    command += ["--projects", str(size.projects), "--tenants", str(size.tenants)]
    command += ["--library-sets", str(size.library_sets)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise BenchmarkError(f"generate.py failed:\n{done.stderr[-3000:]}")
    return directory / "source.yaml", directory / "destination.yaml"


def new_repo(cli: Cli, path: Path, source: Emulator, destination: Emulator) -> Path:
    """`snapshotsync init` a repo wired to both emulators, with the benchmark's overlay."""
    cli.run("init", str(path), "--source-url", source.url, "--target", f"prod={destination.url}")
    (path / "overlays" / "prod.yaml").write_text(OVERLAY, encoding="utf-8")
    git(path, "commit", "-qam", "benchmark: overlay for prod")
    return path


# ====================================================================== in process


@dataclass
class InProcess:
    """transform + plan of the committed snapshot, timed in this process."""

    case: str
    resources_in: int
    live_resources: int
    changes: int
    has_changes: bool
    errors: int
    cpu_s: float  # time.process_time of transform.apply + plan.make_plan
    transform_cpu_s: float
    plan_cpu_s: float
    traced_peak_mb: float  # tracemalloc peak during a second, traced, run


def _timed(call: Callable[[], T]) -> tuple[T, float]:
    started = time.process_time()
    value = call()
    return value, time.process_time() - started


def transform_and_plan(
    repo: Path, destination: Emulator
) -> tuple[list[InProcess], dict[str, float]]:
    """Time transform + plan from the repo's files; returns the cases and the load times."""
    store = Store(repo)
    files = store.read_tree(SNAPSHOT_DIR)
    snapshot, snapshot_s = _timed(lambda: layout.parse(files, SNAPSHOT_DIR))
    state_dir = "targets/prod/state"
    state_files = store.read_tree(state_dir)
    recorded, state_s = _timed(lambda: layout.parse(state_files, state_dir))
    (loaded, _), overlay_s = _timed(
        lambda: overlay.load(repo / "overlays" / "prod.yaml", snapshot, recorded)
    )
    loading = {
        "snapshot_files": float(len(files)),
        "snapshot_parse_cpu_s": snapshot_s,
        "state_files": float(len(state_files)),
        "state_parse_cpu_s": state_s,
        "overlay_load_cpu_s": overlay_s,
    }
    # The destination as it is now (what `plan` reads) gives the facts and the recurring case.
    with OctopusClient(destination.url, API_KEY) as client:
        space_id = client.space_id("Default")
        raw = export.read(client, space_id)
    live_now, _ = normalize.to_snapshot(raw, space_id, {"format_version": 1})
    facts = normalize.facts(raw)

    cases: list[InProcess] = []
    for case, live in (
        ("initial: vs recorded state", recorded),
        ("recurring: vs destination now", live_now),
    ):
        desired, transform_s = _timed(lambda: transform.apply(snapshot, loaded, facts))
        made, plan_s = _timed(
            functools.partial(plan.make_plan, desired, live, loaded, target="prod", facts=facts)
        )
        tracemalloc.start()
        traced = plan.make_plan(
            transform.apply(snapshot, loaded, facts), live, loaded, target="prod", facts=facts
        )
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        del traced
        cases.append(
            InProcess(
                case=case,
                resources_in=len(snapshot.resources),
                live_resources=len(live.resources),
                changes=sum(1 for c in made.changes if c.action in ("create", "update")),
                has_changes=made.has_changes,
                errors=len(made.errors),
                cpu_s=transform_s + plan_s,
                transform_cpu_s=transform_s,
                plan_cpu_s=plan_s,
                traced_peak_mb=peak / MB,
            )
        )
    return cases, loading


# ====================================================================== verdicts


@dataclass
class Verdict:
    target: str
    measured: str
    passed: bool


@dataclass
class Results:
    machine: dict[str, Any]
    options: dict[str, Any]
    size: str
    steps: list[Step]
    in_process: list[InProcess]
    loading: dict[str, float]
    self_peak_mb: float
    verdicts: list[Verdict]
    ratios: dict[str, float]


def verdicts(
    steps: dict[str, Step],
    cases: list[InProcess],
    loading: dict[str, float],
    latency_ms: float,
    re_export_committed: bool,
    no_op_head_moved: bool,
) -> tuple[list[Verdict], dict[str, float]]:
    export8, export1 = steps["export c8"], steps["export c1"]
    bound = export8.gets() * latency_ms / 1000 / 8
    bound_ratio = export8.wall_s / bound if bound else float("inf")
    speedup = export1.wall_s / export8.wall_s
    no_op = steps["push (no-op)"]
    cpu = max(case.cpu_s for case in cases)
    peak = max(case.traced_peak_mb for case in cases)
    read_ratio = (export8.read_s or 0.0) / bound if bound else float("inf")
    ratios = {
        "export_round_trip_bound_s": bound,
        "export_wall_over_bound": bound_ratio,
        "export_read_phase_over_bound": read_ratio,
        "export_c1_over_c8": speedup,
        "no_op_push_writes": float(no_op.writes),
        "transform_plan_cpu_s": cpu,
        "transform_plan_peak_mb": peak,
    }
    round_two = issue_13_verdicts(steps, loading, latency_ms, ratios)
    round_two += issue_22_verdicts(steps, ratios)
    found = [
        Verdict(
            f"export wall <= {TARGET_EXPORT_BOUND_RATIO}x round-trip bound",
            f"{export8.wall_s:.2f} s / {bound:.2f} s = {bound_ratio:.2f}x "
            f"({export8.gets()} GETs x {latency_ms:g} ms / 8); the read phase alone "
            f"{export8.read_s or 0.0:.2f} s = {read_ratio:.2f}x",
            bound_ratio <= TARGET_EXPORT_BOUND_RATIO,
        ),
        Verdict(
            f"export concurrency 1 >= {TARGET_CONCURRENCY_SPEEDUP:g}x slower than 8",
            f"{export1.wall_s:.2f} s / {export8.wall_s:.2f} s = {speedup:.2f}x",
            speedup >= TARGET_CONCURRENCY_SPEEDUP,
        ),
        Verdict(
            "no-op push makes zero write calls",
            f"{no_op.writes} writes ({no_op.requests} requests)"
            + ("; HEAD moved" if no_op_head_moved else "; no commit"),
            no_op.writes == 0,
        ),
        Verdict(
            "re-export of an unchanged instance makes no commit",
            "a commit was made" if re_export_committed else "no commit",
            not re_export_committed,
        ),
        Verdict(
            f"transform + plan CPU < {TARGET_TRANSFORM_PLAN_CPU_S:g} s",
            ", ".join(f"{c.case.split(':')[0]} {c.cpu_s:.2f} s" for c in cases),
            cpu < TARGET_TRANSFORM_PLAN_CPU_S,
        ),
        Verdict(
            f"transform + plan peak memory < {TARGET_PEAK_MB:g} MB",
            ", ".join(f"{c.case.split(':')[0]} {c.traced_peak_mb:.0f} MB traced" for c in cases),
            peak < TARGET_PEAK_MB,
        ),
        *round_two,
    ]
    return found, ratios


def issue_13_verdicts(
    steps: dict[str, Step], loading: dict[str, float], latency_ms: float, ratios: dict[str, float]
) -> list[Verdict]:
    """The second round's targets (the concurrent push, export CPU, reading the snapshot
    back, plan and no-op push against the export); adds their ratios to `ratios`."""
    export8, push8, push1 = steps["export c8"], steps["push (initial)"], steps["push (initial) c1"]
    bound = push8.requests * latency_ms / 1000 / 8
    ratios["push_round_trip_bound_s"] = bound
    ratios["push_wall_over_bound"] = push8.wall_s / bound if bound else float("inf")
    ratios["push_c1_over_c8"] = push1.wall_s / push8.wall_s
    ratios["export_cpu_s"] = export8.cpu_s
    ratios["snapshot_parse_cpu_s"] = loading["snapshot_parse_cpu_s"]
    found = [
        Verdict(
            f"initial push wall <= {TARGET_PUSH_BOUND_RATIO:g}x round-trip bound",
            f"{push8.wall_s:.2f} s / {bound:.2f} s = {ratios['push_wall_over_bound']:.2f}x "
            f"({push8.requests} requests x {latency_ms:g} ms / 8)",
            ratios["push_wall_over_bound"] <= TARGET_PUSH_BOUND_RATIO,
        ),
        Verdict(
            f"initial push concurrency 1 >= {TARGET_PUSH_SPEEDUP:g}x slower than 8",
            f"{push1.wall_s:.2f} s / {push8.wall_s:.2f} s = {ratios['push_c1_over_c8']:.2f}x",
            ratios["push_c1_over_c8"] >= TARGET_PUSH_SPEEDUP,
        ),
        Verdict(
            f"export CPU <= {TARGET_EXPORT_CPU_S:g} s",
            f"{export8.cpu_s:.2f} s (the CLI and its git children)",
            export8.cpu_s <= TARGET_EXPORT_CPU_S,
        ),
        Verdict(
            f"reading the committed snapshot back <= {TARGET_SNAPSHOT_PARSE_CPU_S:g} s",
            f"{loading['snapshot_parse_cpu_s']:.2f} s CPU "
            f"({loading['snapshot_files']:.0f} files, in process)",
            loading["snapshot_parse_cpu_s"] <= TARGET_SNAPSHOT_PARSE_CPU_S,
        ),
    ]
    for name, key in (("plan", "plan_over_export"), ("push (no-op)", "no_op_push_over_export")):
        ratio = steps[name].wall_s / export8.wall_s
        ratios[key] = ratio
        found.append(
            Verdict(
                f"{name} wall <= {TARGET_READ_OVER_EXPORT:g}x the export's",
                f"{steps[name].wall_s:.2f} s / {export8.wall_s:.2f} s = {ratio:.2f}x",
                ratio <= TARGET_READ_OVER_EXPORT,
            )
        )
    return found


def issue_22_verdicts(steps: dict[str, Step], ratios: dict[str, float]) -> list[Verdict]:
    """The third round's targets: the export's GETs, and its wall against its own CPU."""
    export8 = steps["export c8"]
    scoped = any(r.endswith(("projectvariables", "commonvariables")) for r in export8.by_route)
    limit = TARGET_EXPORT_GETS_SCOPED if scoped else TARGET_EXPORT_GETS
    ratios["export_gets"] = float(export8.gets())
    ratios["export_wall_over_cpu"] = export8.wall_s / export8.cpu_s if export8.cpu_s else 0.0
    return [
        Verdict(
            f"export GETs <= {limit} (scoped tenant variables {'on' if scoped else 'off'})",
            f"{export8.gets()} GETs",
            export8.gets() <= limit,
        ),
        Verdict(
            f"export wall <= {TARGET_EXPORT_WALL_OVER_CPU:g}x its CPU",
            f"{export8.wall_s:.2f} s / {export8.cpu_s:.2f} s = "
            f"{ratios['export_wall_over_cpu']:.2f}x",
            ratios["export_wall_over_cpu"] <= TARGET_EXPORT_WALL_OVER_CPU,
        ),
    ]


# ====================================================================== report


def print_routes(steps: list[Step]) -> None:
    """GETs by route for the reading steps: where the requests go."""
    shown = [step for step in steps if step.name in ROUTE_STEPS]
    routes = sorted({r for step in shown for r in step.by_route if r.startswith("GET ")})
    table = Table(title="GETs by route (both emulators; `?ids`: a bulk read)")
    table.add_column("route")
    for step in shown:
        table.add_column(step.name, justify="right")
    for route in routes:
        table.add_row(route, *(str(step.by_route.get(route, 0)) for step in shown))
    table.add_row("total", *(str(step.gets()) for step in shown))
    console.print(table)


def print_results(results: Results) -> None:
    console.print(f"\n[bold]snapshotsync benchmark[/]: {results.size}")
    console.print(
        f"latency {results.options['latency_ms']:g} ms per request; "
        f"{results.machine['cpus']} CPUs, Python {results.machine['python']}, "
        f"{results.machine['platform']}"
    )
    table = Table(title="CLI steps (each a `snapshotsync` subprocess)")
    columns = ("step", "wall s", "read s", "CPU s", "emu CPU s", "peak MB")
    for column in (*columns, "GET", "POST", "PUT", "DELETE", "notes"):
        table.add_column(column, justify="left" if column in ("step", "notes") else "right")
    for step in results.steps:
        table.add_row(
            step.name,
            f"{step.wall_s:.2f}",
            "" if step.read_s is None else f"{step.read_s:.2f}",
            f"{step.cpu_s:.2f}",
            f"{step.emulator_cpu_s:.2f}",
            f"{step.peak_mb:.0f}",
            *(str(step.calls.get(m, 0)) for m in ("GET", "POST", "PUT", "DELETE")),
            step.notes,
        )
    console.print(table)
    console.print(
        "read s: first to last GET of the run (its log); CPU s: the CLI process and its git "
        "children; emu CPU s: both emulator processes during the step"
    )
    print_routes(results.steps)

    inproc = Table(title="transform + plan in process (CPU: time.process_time)")
    for column in (
        "case",
        "resources",
        "live",
        "transform s",
        "plan s",
        "total CPU s",
        "peak MB (tracemalloc)",
        "changes",
        "errors",
    ):
        inproc.add_column(column, justify="left" if column == "case" else "right")
    for case in results.in_process:
        inproc.add_row(
            case.case,
            str(case.resources_in),
            str(case.live_resources),
            f"{case.transform_cpu_s:.2f}",
            f"{case.plan_cpu_s:.2f}",
            f"{case.cpu_s:.2f}",
            f"{case.traced_peak_mb:.0f}",
            str(case.changes),
            str(case.errors),
        )
    console.print(inproc)
    loading = results.loading
    console.print(
        f"before that, from the repo: snapshot/ ({loading['snapshot_files']:.0f} files) parsed "
        f"in {loading['snapshot_parse_cpu_s']:.2f} s CPU, the recorded state "
        f"({loading['state_files']:.0f} files) in {loading['state_parse_cpu_s']:.2f} s, the "
        f"overlay loaded and checked in {loading['overlay_load_cpu_s']:.2f} s; "
        f"this process's peak RSS (ru_maxrss): {results.self_peak_mb:.0f} MB"
    )

    print_verdicts(results.verdicts, "performance targets")


def print_verdicts(found: list[Verdict], title: str) -> None:
    verdict_table = Table(title=title)
    for column in ("target", "measured", "result"):
        verdict_table.add_column(column)
    for verdict in found:
        verdict_table.add_row(
            verdict.target,
            verdict.measured,
            "[green]PASS[/]" if verdict.passed else "[red]FAIL[/]",
        )
    console.print(verdict_table)


# ====================================================================== main


@contextlib.contextmanager
def terminate_cleanly() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the emulators are always stopped."""

    def handler(signum: int, frame: FrameType | None) -> None:
        del frame
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def scratch_dir(stack: contextlib.ExitStack, prefix: str, *, keep: bool) -> Path:
    """A temporary directory, removed when `stack` closes unless `keep` (`--keep`)."""
    if keep:
        return Path(tempfile.mkdtemp(prefix=prefix))
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))


def run(args: argparse.Namespace) -> Results:
    size = Size(args.projects, args.tenants, args.library_sets)
    latency: float = args.latency_ms
    with contextlib.ExitStack() as stack:
        scratch = scratch_dir(stack, "snapshotsync-bench-", keep=args.keep)
        progress.print(f"[bold]benchmark[/] {size.describe()}, latency {latency:g} ms")
        progress.print(f"working in {scratch}")
        cli, source, destination = start_instance(stack, scratch, size, latency)
        destination_c1 = second_destination(stack, scratch, latency)
        both = [source, destination]
        steps: dict[str, Step] = {}

        startup = cli.run("--version")
        steps["startup"] = Step(
            "CLI startup (--version)",
            startup.wall_s,
            startup.cpu_s,
            startup.peak_mb,
            startup.ru_maxrss_mb,
        )

        repo = new_repo(cli, scratch / "sync", source, destination)
        step, result = measured(
            "export c8", cli, both, "export", "--repo", str(repo), "--concurrency", "8"
        )
        step.notes = "first export: full read and commit"
        step.read_s = read_phase_s(repo, "export")
        steps[step.name] = step

        repo_c1 = new_repo(cli, scratch / "sync-c1", source, destination_c1)
        step, result = measured(
            "export c1", cli, both, "export", "--repo", str(repo_c1), "--concurrency", "1"
        )
        step.notes = "fresh repo: full read and commit"
        step.read_s = read_phase_s(repo_c1, "export")
        steps[step.name] = step

        head = git(repo, "rev-parse", "HEAD")
        step, result = measured(
            "re-export c8 (unchanged)", cli, both, "export", "--repo", str(repo)
        )
        re_export_committed = git(repo, "rev-parse", "HEAD") != head
        step.notes = "committed" if re_export_committed else "no commit"
        step.read_s = read_phase_s(repo, "export")
        steps[step.name] = step

        step, result = measured(
            "push (initial)", cli, both, "push", "--target", "prod", "--repo", str(repo), "--yes"
        )
        summary = next((ln for ln in result.stdout.splitlines() if ln.startswith("push:")), "")
        step.notes = summary.split(", committed")[0]
        steps[step.name] = step

        head = git(repo, "rev-parse", "HEAD")
        step, result = measured(
            "push (no-op)", cli, both, "push", "--target", "prod", "--repo", str(repo), "--yes"
        )
        no_op_head_moved = git(repo, "rev-parse", "HEAD") != head
        step.notes = (
            f"write counter {step.writes_before} -> {step.writes}"
            + ("; up to date" if "nothing written" in result.stdout else "")
            + ("; committed" if no_op_head_moved else "; no commit")
        )
        steps[step.name] = step

        step, result = measured(
            "plan",
            cli,
            both,
            "plan",
            "--target",
            "prod",
            "--repo",
            str(repo),
            "--detailed-exitcode",
            allowed=(0, 2),
        )
        step.notes = "no changes" if result.exit_code == 0 else "CHANGES PENDING"
        step.read_s = read_phase_s(repo, "plan")
        steps[step.name] = step

        # The same first sync one call at a time: the second repo holds the same snapshot
        # (exported at concurrency 1) and targets a destination nothing was pushed to yet.
        step, result = measured(
            "push (initial) c1",
            cli,
            [source, destination_c1],
            "push",
            "--target",
            "prod",
            "--repo",
            str(repo_c1),
            "--yes",
            "--concurrency",
            "1",
        )
        summary = next((ln for ln in result.stdout.splitlines() if ln.startswith("push:")), "")
        step.notes = summary.split(", committed")[0]
        steps[step.name] = step

        progress.print("[dim]running[/] transform + plan in process")
        cases, loading = transform_and_plan(repo, destination)
        found, ratios = verdicts(
            steps, cases, loading, latency, re_export_committed, no_op_head_moved
        )
        self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB
        return Results(
            machine={
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            options={
                "latency_ms": latency,
                "projects": size.projects,
                "tenants": size.tenants,
                "library_sets": size.library_sets,
                "server_version": EMULATOR_ARGS[-1] if EMULATOR_ARGS else "",
            },
            size=size.describe(),
            steps=list(steps.values()),
            in_process=cases,
            loading=loading,
            self_peak_mb=self_peak,
            verdicts=found,
            ratios=ratios,
        )


def start_instance(
    stack: contextlib.ExitStack, scratch: Path, size: Size, latency: float
) -> tuple[Cli, Emulator, Emulator]:
    """Seeds for `size`, the two emulators (stopped when `stack` closes), and a CLI runner.
    The seeds stay in `scratch / "seeds"` (`second_destination` starts another from them)."""
    source_seed, destination_seed = generate_seeds(scratch / "seeds", size)
    emulators: list[Emulator] = []
    stack.callback(stop_all, emulators)
    progress.print("starting the emulators (seeding the source takes a moment)")
    source = start_emulator("source", source_seed, latency, 1_000_000, scratch)
    emulators.append(source)
    destination = start_emulator("destination", destination_seed, latency, 5_000_000, scratch)
    emulators.append(destination)
    progress.print(f"source {source.url}, destination {destination.url}")

    env = dict(os.environ)
    env.update({SOURCE_KEY_ENV: API_KEY, TARGET_KEY_ENV: API_KEY, "NO_COLOR": "1"})
    for variable in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):
        env.setdefault(variable, "snapshotsync benchmark")
    for variable in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        env.setdefault(variable, "benchmark@localhost")
    return Cli(env, scratch), source, destination


# ====================================================================== scaling


def second_destination(stack: contextlib.ExitStack, scratch: Path, latency: float) -> Emulator:
    """A third emulator seeded like the destination (ids of its own), for the initial push
    at concurrency 1: it needs a destination nothing was pushed to yet."""
    emulator = start_emulator(
        "destination-c1", scratch / "seeds" / "destination.yaml", latency, 7_000_000, scratch
    )
    stack.callback(emulator.stop)
    return emulator


def scaled(projects: int) -> Size:
    """The instance at `projects` projects, tenants and library sets scaled alike."""
    return Size(projects, max(1, projects // 2), max(1, projects // 10))


@dataclass
class ScalePoint:
    """The scaling steps at one size."""

    projects: int
    tenants: int
    library_sets: int
    resources: int  # in the snapshot
    steps: list[Step]

    def step(self, name: str) -> Step:
        return next(step for step in self.steps if step.name == name)


@dataclass
class ScaleResults:
    machine: dict[str, Any]
    options: dict[str, Any]
    points: list[ScalePoint]
    growth: dict[str, dict[str, float]]  # step -> {"wall": x, "cpu": x}, largest / smallest
    verdicts: list[Verdict]


EXPORTED = re.compile(r"^export: (\d+) resources", re.MULTILINE)


def scale_point(projects: int, latency: float, scratch: Path) -> ScalePoint:
    """Fresh emulators and a fresh repo at one size: export, initial push, no-op push, plan."""
    size = scaled(projects)
    progress.print(f"[bold]scale[/] {size.describe()}, latency {latency:g} ms")
    with contextlib.ExitStack() as stack:
        cli, source, destination = start_instance(stack, scratch, size, latency)
        both = [source, destination]
        repo = new_repo(cli, scratch / "sync", source, destination)
        steps = []
        step, result = measured(
            "export c8", cli, both, "export", "--repo", str(repo), "--concurrency", "8"
        )
        step.read_s = read_phase_s(repo, "export")
        exported = EXPORTED.search(result.stdout)
        if exported is None:
            raise BenchmarkError(f"export said nothing about resources:\n{result.stdout}")
        steps.append(step)
        push = ("push", "--target", "prod", "--repo", str(repo), "--yes")
        steps.append(measured("push (initial)", cli, both, *push)[0])
        step, result = measured("push (no-op)", cli, both, *push)
        step.notes = f"{step.writes} writes"
        steps.append(step)
        plan_args = ("plan", "--target", "prod", "--repo", str(repo), "--detailed-exitcode")
        step, result = measured("plan", cli, both, *plan_args, allowed=(0, 2))
        step.notes = "no changes" if result.exit_code == 0 else "CHANGES PENDING"
        step.read_s = read_phase_s(repo, "plan")
        steps.append(step)
    return ScalePoint(size.projects, size.tenants, size.library_sets, int(exported.group(1)), steps)


def run_scale(args: argparse.Namespace) -> ScaleResults:
    latency: float = args.latency_ms
    points = []
    with contextlib.ExitStack() as stack:
        root = scratch_dir(stack, "snapshotsync-scale-", keep=args.keep)
        progress.print(f"working in {root}")
        for projects in args.scale_projects:
            scratch = root / f"p{projects}"
            scratch.mkdir()
            points.append(scale_point(projects, latency, scratch))
    growth, found = scale_verdicts(points)
    return ScaleResults(
        machine={
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        options={"latency_ms": latency, "projects": list(args.scale_projects)},
        points=points,
        growth=growth,
        verdicts=found,
    )


def per_resource_ms(point: ScalePoint, step: str, what: str) -> float:
    measured_step = point.step(step)
    seconds = measured_step.wall_s if what == "wall" else measured_step.cpu_s
    return seconds * 1000 / point.resources


def scale_verdicts(
    points: list[ScalePoint],
) -> tuple[dict[str, dict[str, float]], list[Verdict]]:
    smallest, largest = points[0], points[-1]
    growth: dict[str, dict[str, float]] = {}
    found = []
    for step in SCALE_STEPS:
        growth[step] = {
            what: per_resource_ms(largest, step, what) / per_resource_ms(smallest, step, what)
            for what in ("wall", "cpu")
        }
        for what in ("wall", "cpu"):
            found.append(
                Verdict(
                    f"{step}: {what} per resource grows <= "
                    f"{(TARGET_SCALE_GROWTH - 1) * 100:.0f} % from {smallest.projects} to "
                    f"{largest.projects} projects",
                    f"{per_resource_ms(smallest, step, what):.2f} -> "
                    f"{per_resource_ms(largest, step, what):.2f} ms = "
                    f"{growth[step][what]:.2f}x",
                    growth[step][what] <= TARGET_SCALE_GROWTH,
                )
            )
    peak = max(step.peak_mb for step in largest.steps)
    found.append(
        Verdict(
            f"peak RSS < {TARGET_SCALE_PEAK_MB:g} MB at {largest.projects} projects",
            ", ".join(f"{step.name} {step.peak_mb:.0f} MB" for step in largest.steps),
            peak < TARGET_SCALE_PEAK_MB,
        )
    )
    return growth, found


def print_scale(results: ScaleResults) -> None:
    console.print("\n[bold]snapshotsync benchmark[/]: cost per resource as the instance grows")
    console.print(
        f"latency {results.options['latency_ms']:g} ms per request; "
        f"{results.machine['cpus']} CPUs, Python {results.machine['python']}, "
        f"{results.machine['platform']}; projects x (10 steps, 2 runbooks, 3 channels, 60 "
        "variable values), tenants = projects / 2, library sets = projects / 10"
    )
    table = Table(title="per step and size (per resource: per resource in the snapshot)")
    columns = ("projects", "resources", "step", "wall s", "wall ms/res", "CPU s")
    for column in (*columns, "CPU ms/res", "peak MB", "requests", "notes"):
        table.add_column(column, justify="left" if column in ("step", "notes") else "right")
    for point in results.points:
        for step in point.steps:
            table.add_row(
                str(point.projects),
                str(point.resources),
                step.name,
                f"{step.wall_s:.2f}",
                f"{per_resource_ms(point, step.name, 'wall'):.2f}",
                f"{step.cpu_s:.2f}",
                f"{per_resource_ms(point, step.name, 'cpu'):.2f}",
                f"{step.peak_mb:.0f}",
                str(step.requests),
                step.notes,
            )
        table.add_section()
    console.print(table)
    smallest, largest = results.points[0], results.points[-1]
    growth = Table(
        title=f"growth of the cost per resource, {smallest.projects} -> {largest.projects} "
        "projects (1.00 = flat)"
    )
    for column in ("step", "wall", "CPU", f"peak MB at {largest.projects}"):
        growth.add_column(column, justify="left" if column == "step" else "right")
    for name in SCALE_STEPS:
        growth.add_row(
            name,
            f"{results.growth[name]['wall']:.2f}x",
            f"{results.growth[name]['cpu']:.2f}x",
            f"{largest.step(name).peak_mb:.0f}",
        )
    console.print(growth)
    print_verdicts(results.verdicts, "scaling targets")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description="Measure snapshotsync against its performance targets (benchmarks/README.md).",
    )
    parser.add_argument("--latency-ms", type=float, default=20.0, help="per request (20)")
    parser.add_argument("--projects", type=int, default=Size.projects)
    parser.add_argument("--tenants", type=int, default=Size.tenants)
    parser.add_argument("--library-sets", type=int, default=Size.library_sets)
    parser.add_argument(
        "--quick", action="store_true", help="a small smoke size (10 projects, 5 tenants, 3 sets)"
    )
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--server-version",
        default="2024.2.9000",
        help="the emulators' version; 2025.2 or later: scoped tenant variables (2024.2.9000)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--scale",
        action="store_true",
        help="the scaling curve: export, initial push, no-op push and plan at several sizes",
    )
    parser.add_argument(
        "--scale-projects",
        type=_sizes,
        help="with --scale: the sizes, in projects (50,100,200,400; with --quick 5,10,20,40)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.projects, args.tenants, args.library_sets = 10, 5, 3
    if args.scale_projects is None:
        args.scale_projects = QUICK_SCALE_PROJECTS if args.quick else SCALE_PROJECTS
    elif not args.scale:
        parser.error("--scale-projects goes with --scale")
    if min(args.projects, args.tenants, args.library_sets) < 1 or args.latency_ms < 0:
        parser.error("sizes must be at least 1 and the latency not negative")
    if len(args.scale_projects) < 2 or min(args.scale_projects) < 1:
        parser.error("--scale-projects: at least two sizes, each at least 1")
    return args


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(sorted(int(part) for part in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: sizes separated by commas") from None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    EMULATOR_ARGS[:] = ["--server-version", args.server_version]
    results: Results | ScaleResults
    try:
        with terminate_cleanly():
            results = run_scale(args) if args.scale else run(args)
    except BenchmarkError as error:
        progress.print(f"[red]benchmark failed:[/] {error}")
        return 1
    except KeyboardInterrupt:
        progress.print("interrupted; emulators stopped")
        return 130
    if isinstance(results, ScaleResults):
        print_scale(results)
    else:
        print_results(results)
    if args.output:
        args.output.write_text(json.dumps(dataclasses.asdict(results), indent=2) + "\n")
        progress.print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
