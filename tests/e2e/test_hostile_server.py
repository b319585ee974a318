"""Hostile or broken servers, and torn records, are answered in one line (exit 1), never
with an internal error (exit 3), and nothing is written to the destination.

Replies are altered in flight, between the emulator's socket and the client's checks (the
client's `_send`), so every layer that reads them is tested as it runs.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from snapshotsync.errors import ExitCode
from snapshotsync.octopus import client as client_module
from tests.e2e.test_fault_campaign import _fresh_repo
from tests.e2e.test_reliability import _repo
from tests.helpers import SAMPLES, CliResult, Emulator, git, run_cli, running_emulator

Alter = Callable[[str, str, Any], Any]  # (method, path without query, reply) -> reply


@contextmanager
def altered_replies(monkeypatch: pytest.MonkeyPatch, alter: Alter) -> Iterator[list[str]]:
    """Every JSON reply goes through `alter` before the client reads it; yields the calls
    made (method and path), in order."""
    real = client_module.OctopusClient._send
    calls: list[str] = []

    def send(
        self: client_module.OctopusClient,
        method: str,
        url: str,
        params: dict[str, Any] | None,
        body: Any,
    ) -> requests.Response:
        response = real(self, method, url, params, body)
        path = client_module._path(url).split("?", 1)[0]
        calls.append(f"{method} {path}")
        if response.content and response.status_code < 300:
            changed = alter(method, path, response.json())
            response._content = (
                changed if isinstance(changed, bytes) else json.dumps(changed).encode()
            )
        return response

    with monkeypatch.context() as patch:
        patch.setattr(client_module.OctopusClient, "_send", send)
        yield calls


def _one_line_error(result: CliResult, *parts: str) -> None:
    assert result.exit_code == ExitCode.ERROR, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "internal error" not in lines[0], result.stderr
    for part in parts:
        assert part in lines[0], lines[0]


def _plan(repo: Path) -> CliResult:
    return run_cli("plan", "--target", "prod", "--repo", str(repo), expect=None)


def _push(repo: Path) -> CliResult:
    return run_cli("push", "--target", "prod", "--repo", str(repo), "--yes", expect=None)


@pytest.fixture
def repo(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> Path:
    return _repo(tmp_path, source_emulator, destination_emulator)


def _writes(calls: list[str]) -> list[str]:
    return [call for call in calls if not call.startswith("GET ")]


# ------------------------------------------------------------------ one field, one type


def test_a_name_of_the_wrong_type_is_named_with_route_and_field(
    repo: Path, destination_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = destination_emulator.space_id

    def alter(method: str, path: str, reply: Any) -> Any:
        if path == f"/api/{space}/environments":
            reply["Items"][0]["Name"] = ["Staging"]
        return reply

    with altered_replies(monkeypatch, alter) as calls:
        result = _push(repo)
    _one_line_error(
        result, f"the server's reply to GET /api/{space}/environments had a Name of type list"
    )
    assert _writes(calls) == []


def test_an_id_that_would_leave_its_route_is_refused_before_any_write(
    repo: Path, destination_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = destination_emulator.space_id

    def alter(method: str, path: str, reply: Any) -> Any:
        if path == f"/api/{space}/environments":
            for item in reply["Items"]:
                if item["Name"] == "Staging":
                    item["Id"] = "../x"
        return reply

    with altered_replies(monkeypatch, alter) as calls:
        result = _push(repo)
    _one_line_error(result, f"GET /api/{space}/environments had Id '../x'", "not an Octopus id")
    assert _writes(calls) == []
    assert not any("/x" in call.split(space, 1)[-1][:3] for call in calls)


# ------------------------------------------------------------------ paging


def test_a_page_that_links_to_itself_stops_paging_at_once(
    repo: Path, destination_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = destination_emulator.space_id
    route = f"/api/{space}/environments"
    served = {"pages": 0}

    def alter(method: str, path: str, reply: Any) -> Any:
        if path == route and served["pages"] < 50:  # then a last page, so nothing hangs
            served["pages"] += 1
            reply["Links"]["Page.Next"] = f"{route}?skip=1&take=1"
            reply["TotalResults"] = 10_000
        return reply

    with altered_replies(monkeypatch, alter) as calls:
        result = _plan(repo)
    _one_line_error(result, f"GET {route} links again to the page", "paging stopped")
    assert calls.count(f"GET {route}") <= 3


def test_paging_stops_at_its_cap(
    repo: Path, destination_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server whose every page links to a new one (no page repeated, no total exceeded)
    is followed to `MAX_PAGES` pages, not for ever."""
    route = f"/api/{destination_emulator.space_id}/environments"
    monkeypatch.setattr(client_module, "MAX_PAGES", 3)
    served: dict[str, Any] = {"pages": 0}

    def alter(method: str, path: str, reply: Any) -> Any:
        if path == route and served["pages"] < 50:  # then a last page, so nothing hangs
            served["pages"] += 1
            served.setdefault("first", reply["Items"][:1])  # every page holds an item
            reply["Items"] = reply["Items"] or served["first"]
            reply["Links"]["Page.Next"] = f"{route}?skip={served['pages']}&take=1"
            reply["TotalResults"] = 10_000
        return reply

    with altered_replies(monkeypatch, alter) as calls:
        result = _plan(repo)
    _one_line_error(result, f"GET {route} has more than 3 pages")
    assert calls.count(f"GET {route}") <= 5


def test_more_items_than_the_total_stops_paging(
    repo: Path, destination_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = f"/api/{destination_emulator.space_id}/environments"

    def alter(method: str, path: str, reply: Any) -> Any:
        if path == route:
            reply["TotalResults"] = 1
        return reply

    with altered_replies(monkeypatch, alter):
        result = _plan(repo)
    _one_line_error(result, f"GET {route} gave 2 items where its TotalResults says 1")


def test_a_next_link_that_is_a_number_is_named(
    repo: Path, destination_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = f"/api/{destination_emulator.space_id}/feeds"

    def alter(method: str, path: str, reply: Any) -> Any:
        if path == route:
            reply["Links"]["Page.Next"] = 2
        return reply

    with altered_replies(monkeypatch, alter):
        result = _plan(repo)
    _one_line_error(result, f"GET {route} had a Page.Next of type number")


def test_an_array_nested_100000_deep_is_named(
    repo: Path, destination_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = f"/api/{destination_emulator.space_id}/lifecycles"

    def alter(method: str, path: str, reply: Any) -> Any:
        if path == route:
            return b'{"Items": [], "Junk": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        return reply

    with altered_replies(monkeypatch, alter):
        result = _plan(repo)
    _one_line_error(result, f"GET {route} nests lists or objects too deeply")


# ------------------------------------------------------------------ config and records


def test_a_target_url_with_an_unclosed_bracket_is_a_clear_error(repo: Path) -> None:
    config = repo / "snapshotsync.yaml"
    text = config.read_text()
    source_url = text.split("url: ", 1)[1].split()[0]
    target_url = text.split("url: ", 2)[2].split()[0]
    assert target_url != source_url
    config.write_text(text.replace(f"url: {target_url}", "url: http://[::1"))
    git(repo, "commit", "-qam", "a broken target url")
    for command in (["validate"], ["plan", "--target", "prod"], ["push", "--target", "prod"]):
        result = run_cli(*command, "--repo", str(repo), expect=None)
        _one_line_error(result, "snapshotsync.yaml", "'http://[::1'", "not a valid URL")


@pytest.fixture
def pushed(repo: Path) -> Path:
    run_cli("push", "--target", "prod", "--repo", str(repo), "--yes")
    return repo


@pytest.mark.parametrize(
    ("record", "torn"),
    [
        ("targets/prod/base/_meta.yaml", "created: {oops: [\n"),
        ("targets/prod/base/_meta.yaml", "created: 7\n"),
        ("targets/prod/base/_meta.yaml", "created: [7, [environments]]\n"),
        ("targets/prod/base/_journal.yaml", "- {what: created}\n"),
        ("targets/prod/base/_journal.yaml", "- [created, 7, [x]]\n"),
        ("targets/prod/base/_journal.yaml", "- [\n"),
        ("targets/prod/last-push.yaml", "target: prod\nresult: complete\n"),
        ("targets/prod/last-push.yaml", "- just a list\n"),
        ("targets/prod/last-push.yaml", "snapshot_commit: [1, 2]\n"),
    ],
)
def test_a_record_that_does_not_parse_is_named_with_its_fix(
    pushed: Path, destination_emulator: Emulator, record: str, torn: str
) -> None:
    (pushed / record).write_text(torn)
    git(pushed, "add", record)
    git(pushed, "commit", "-qm", f"a torn {record}")
    destination_emulator.session.delete(f"{destination_emulator.url}/api/emulator/stats")
    # `plan` reads the journal and last-push.yaml in commands/plan.py `load_inputs`, which
    # does not check them yet: only a torn `_meta.yaml` (read by `layout.parse`) is named
    commands = (
        ("plan", "drift", "cleanup", "push") if "_meta" in record else ("drift", "cleanup", "push")
    )
    for command in commands:
        args = [command, "--target", "prod", "--repo", str(pushed)]
        result = run_cli(*args, *(["--yes"] if command == "push" else []), expect=None)
        _one_line_error(result, record)
        if command != "plan":  # plan names the file (with its line, when YAML is broken)
            assert "git -C" in result.stderr and "checkout" in result.stderr  # the fix
    assert destination_emulator.stats()["writes"] == 0


# ------------------------------------------------------------------ the type fuzz

WRONG = (["x"], {"a": 1}, 7, True, None, "x", 1.5)


def _positions(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every field of a reply (the first two items of each list)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key), item
            yield from _positions(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:2]):
            yield from _positions(item, (*path, index))


def _replace(reply: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        reply = reply[step]
    reply[path[-1]] = value


def _fuzz(
    monkeypatch: pytest.MonkeyPatch,
    recorded: list[tuple[str, str, Any]],
    count: int,
    seed: int,
    run: Callable[[], CliResult],
    fresh: Callable[[], Any] = lambda: None,
) -> dict[int, int]:
    """Run `run` `count` times, each with one field of one recorded reply set to a value of
    another JSON type; the exit codes seen. Any exit 3 fails at once, naming the case."""
    rng = random.Random(seed)
    space = [(m, p, f, v) for m, p, reply in recorded for f, v in _positions(reply)]
    codes: dict[int, int] = {}
    for method, path, field, value in rng.sample(space, min(count, len(space))):
        wrong = rng.choice([w for w in WRONG if type(w) is not type(value)])
        case = (method, path, field, wrong, [])  # the last: whether it was applied

        def alter(m: str, p: str, reply: Any, *, _c: Any = case) -> Any:
            if (m, p) == _c[:2] and not _c[4]:
                _c[4].append(True)
                _replace(reply, _c[2], _c[3])
            return reply

        fresh()
        with altered_replies(monkeypatch, alter):
            result = run()
        assert result.exit_code != ExitCode.BUG, (method, path, field, wrong, result.stderr)
        if result.exit_code == ExitCode.ERROR:
            assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        codes[result.exit_code] = codes.get(result.exit_code, 0) + 1
    return codes


def _record(monkeypatch: pytest.MonkeyPatch, run: Callable[[], CliResult]) -> list[Any]:
    recorded: list[tuple[str, str, Any]] = []

    def keep(method: str, path: str, reply: Any) -> Any:
        recorded.append((method, path, json.loads(json.dumps(reply))))
        return reply

    with altered_replies(monkeypatch, keep):
        assert run().exit_code == ExitCode.OK
    return recorded


def test_type_fuzz_of_source_reads_never_ends_in_an_internal_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def export() -> CliResult:
        return run_cli("export", "--repo", str(repo), expect=None)

    recorded = _record(monkeypatch, export)
    codes = _fuzz(monkeypatch, recorded, 24, seed=1, run=export)
    assert codes.get(ExitCode.ERROR, 0) > 0, codes  # some were refused: the fuzz bites


def test_type_fuzz_of_destination_reads_never_ends_in_an_internal_error(
    repo: Path, destination_emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = destination_emulator.space_id
    recorded = [
        (m, p, r)
        for m, p, r in _record(monkeypatch, lambda: _plan(repo))
        if f"/api/{space}/" in p or p in ("/api", "/api/spaces", "/api/userroles")
    ]
    codes = _fuzz(monkeypatch, recorded, 20, seed=2, run=lambda: _plan(repo))
    assert codes.get(ExitCode.ERROR, 0) > 0, codes


def test_type_fuzz_of_write_replies_never_ends_in_an_internal_error(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = tmp_path / "template"
    shutil.copytree(repo, template, symlinks=True)
    recorded = [
        call
        for call in _record(
            monkeypatch,
            lambda: run_cli(
                "push", "--target", "prod", "--repo", str(repo), "--yes", "--concurrency", "1"
            ),
        )
        if call[0] != "GET"
    ]
    state: dict[str, Any] = {"runs": 0}

    def fresh() -> None:
        if "destination" in state:
            state.pop("destination").__exit__(None, None, None)
        destination = running_emulator(seed=SAMPLES / "destination.yaml", id_offset=5000)
        running = destination.__enter__()
        state["destination"] = destination
        state["runs"] += 1
        state["repo"] = _fresh_repo(template, tmp_path / f"run-{state['runs']}", running.url)

    try:
        codes = _fuzz(
            monkeypatch,
            recorded,
            12,
            seed=3,
            run=lambda: run_cli(
                "push",
                "--target",
                "prod",
                "--repo",
                str(state["repo"]),
                "--yes",
                "--concurrency",
                "1",
                expect=None,
            ),
            fresh=fresh,
        )
    finally:
        if "destination" in state:
            state.pop("destination").__exit__(None, None, None)
    assert codes.get(ExitCode.ERROR, 0) > 0, codes
