"""Overlay semantics end to end (issue 11): the shapes of real instances, over real HTTP.

Source: Dev, QA, UAT and Prod (`seeds/four-environments.yaml`). Destination: Production and
DR, with PayFX synced once and its production secret set by hand
(`seeds/production-and-dr.yaml`). Each numbered test pushes for real and reads the
destination back by name.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from snapshotsync.errors import ExitCode
from snapshotsync.store import Store
from tests.helpers import (
    Emulator,
    git,
    init_repo,
    run_cli,
    running_emulator,
)

SEEDS = Path(__file__).resolve().parent / "seeds"
# What every test shares unless it is about it: the lifecycle that loses every phase is
# excluded (point 7) and the non-production account renamed (point 4).
QUIET = """\
exclude:
  lifecycles: [Quick Test]
rename:
  accounts: {Azure NonProd: Azure Prod}
"""


@pytest.fixture
def source() -> Iterator[Emulator]:
    with running_emulator(seed=SEEDS / "four-environments.yaml", id_offset=1000) as running:
        yield running


@pytest.fixture
def destination() -> Iterator[Emulator]:
    with running_emulator(seed=SEEDS / "production-and-dr.yaml", id_offset=5000) as running:
        yield running


def _repo(tmp_path: Path, source: Emulator, destination: Emulator, overlay: str) -> Path:
    repo = init_repo(tmp_path, source, destination)
    _overlay(repo, overlay)
    run_cli("export", "--repo", str(repo))
    return repo


def _overlay(repo: Path, overlay: str) -> None:
    (repo / "overlays" / "prod.yaml").write_text(overlay)
    git(repo, "commit", "-qam", "overlay for prod")


def _push(repo: Path, expect: int = 0) -> str:
    result = run_cli("push", "--target", "prod", "--repo", str(repo), "--yes", expect=expect)
    return result.stdout + result.stderr


def _plan(repo: Path, expect: int = 0) -> dict[str, Any]:
    out = run_cli(
        "plan", "--target", "prod", "--repo", str(repo), "--output", "json", expect=expect
    ).stdout
    return dict(json.loads(out))


def _quiet(emulators: tuple[Emulator, ...]) -> None:
    for emulator in emulators:
        emulator.session.delete(f"{emulator.url}/api/emulator/stats")


def _requests(emulators: tuple[Emulator, ...]) -> list[int]:
    return [emulator.stats()["requests"] for emulator in emulators]


def _ids(emulator: Emulator, collection: str) -> dict[str, str]:
    return {item["Name"]: item["Id"] for item in emulator.get(f"{collection}/all")}


def _variables(emulator: Emulator, name: str) -> list[tuple[Any, list[str]]]:
    """(value, sorted environment names) of every value of `name` in PayFX."""
    project = emulator.by_name("projects", "PayFX")
    names = {v: k for k, v in _ids(emulator, "environments").items()}
    stored = emulator.instance.docs["variables"][project["VariableSetId"]]["Variables"]
    return sorted(
        (v["Value"], sorted(names[e] for e in (v["Scope"] or {}).get("Environment", [])))
        for v in stored
        if v["Name"] == name
    )


def _decisions(plan: dict[str, Any]) -> list[str]:
    return [f"{d['where']}: {d['message']}" for d in plan["decisions"]]


# ---------------------------------------------------------------------------------- 1


def test_1_names_differing_only_in_case_match_as_the_server_matches_them(
    tmp_path: Path, source: Emulator, destination: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source, destination, "environments:\n  Prod: production\n" + QUIET)
    pushed = _push(repo)
    # One production secret, still the real one: no placeholder beside it.
    assert _variables(destination, "Db.Password") == [
        ("the-real-production-password", ["Production"])
    ]
    assert sorted(_ids(destination, "environments")) == ["DR", "Production"]
    assert _variables(destination, "Payment.Mode") == [("live", ["Production"])]
    assert _plan(repo)["has_changes"] is False
    # The plan (before the first push, it alone knows the destination) said so.
    assert "environment `production` is `Production` on the destination" in pushed
    # Now that a push recorded the destination, validate says which name was meant, offline.
    _quiet((source, destination))
    out = run_cli("validate", "--repo", str(repo)).stdout
    assert "overlays/prod.yaml:2: warning: environment `production` is `Production`" in out
    assert "did you mean `Production`?" in out
    assert _requests((source, destination)) == [0, 0]


# ---------------------------------------------------------------------------------- 2

MANY_TO_ONE = "environments:\n  UAT: Production\n  Prod: Production\n" + QUIET


def test_2_several_source_environments_on_one_need_a_rule_then_the_preferred_values_win(
    tmp_path: Path, source: Emulator, destination: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source, destination, MANY_TO_ONE)
    _quiet((source, destination))
    refused = run_cli("validate", "--repo", str(repo), expect=ExitCode.ERROR).stderr
    assert (
        "overlays/prod.yaml:2: error: project-variables PayFX Payment.Mode: UAT and Prod both "
        "map to Production with different values ('sandbox' in UAT, 'live' in Prod); say "
        "whose win there with `prefer: {Production: Prod}` in the overlay" in refused
    )
    assert "Traceback" not in refused
    assert _requests((source, destination)) == [0, 0]
    planned = run_cli("plan", "--target", "prod", "--repo", str(repo), expect=ExitCode.ERROR)
    assert "Payment.Mode: UAT and Prod both map to Production" in planned.stdout

    _overlay(repo, MANY_TO_ONE + "prefer:\n  Production: Prod\n")
    run_cli("validate", "--repo", str(repo))
    plan = _plan(repo)
    assert (
        "environments Production: receives UAT and Prod: it gets what either had; where their "
        "values disagree, Prod's (prefer)" in _decisions(plan)
    )
    assert (
        "project-variables PayFX Payment.Mode: 'sandbox' gives way on Production to Prod's "
        "value (prefer: Production: Prod)" in _decisions(plan)
    )
    _push(repo)
    assert _variables(destination, "Payment.Mode") == [("live", ["Production"])]
    assert _variables(destination, "Db.Name") == [("payfx-live", ["Production"])]
    # UAT and Prod agree on the URL: one value, on Production.
    assert _variables(destination, "Api.Url") == [("https://api.payfx.example", [])]
    tenant = destination.by_name("tenants", "Acme")
    values = destination.get(f"tenants/{tenant['Id']}/variables")
    production = _ids(destination, "environments")["Production"]
    (project,) = values["ProjectVariables"].values()
    assert list(project["Variables"][production].values()) == ["https://acme.payfx.example"]
    assert _plan(repo)["has_changes"] is False


# ---------------------------------------------------------------------------------- 3


def test_3_one_source_environment_to_several_reaches_every_cascade(
    tmp_path: Path, source: Emulator, destination: Emulator, keys: None
) -> None:
    overlay = "environments:\n  Prod: [Production, DR]\n" + QUIET
    repo = _repo(tmp_path, source, destination, overlay)
    run_cli("validate", "--repo", str(repo))
    _push(repo)
    env = _ids(destination, "environments")
    both = sorted([env["Production"], env["DR"]])
    assert _variables(destination, "Payment.Mode") == [("live", ["DR", "Production"])]
    project = destination.by_name("projects", "PayFX")
    process = destination.get(f"projects/{project['Id']}/deploymentprocesses")
    warm_up = next(s for s in process["Steps"] if s["Name"] == "Warm Up")
    assert sorted(warm_up["Actions"][0]["Environments"]) == both
    phases = destination.by_name("lifecycles", "Hotfix")["Phases"]
    assert [sorted(p["OptionalDeploymentTargets"]) for p in phases] == [both]
    tenant = destination.by_name("tenants", "Acme")
    assert sorted(tenant["ProjectEnvironments"][project["Id"]]) == both
    values = destination.get(f"tenants/{tenant['Id']}/variables")["ProjectVariables"]
    assert {e: list(v.values()) for e, v in values[project["Id"]]["Variables"].items()} == {
        env["Production"]: ["https://acme.payfx.example"],
        env["DR"]: ["https://acme.payfx.example"],
    }
    account = destination.by_name("accounts", "Prod Deploy Account")
    assert sorted(account["EnvironmentIds"]) == both
    team = destination.by_name("teams", "Prod Deployers")
    roles = [r for r in destination.get("scopeduserroles/all") if r["TeamId"] == team["Id"]]
    assert [sorted(r["EnvironmentIds"]) for r in roles] == [both]
    runbook = destination.by_name("runbooks", "Fail Over")
    assert sorted(runbook["Environments"]) == both
    trigger = destination.get(f"projects/{project['Id']}/triggers")["Items"][0]
    assert sorted(trigger["Filter"]["EnvironmentIds"]) == both
    assert _plan(repo)["has_changes"] is False


# ---------------------------------------------------------------------------------- 4


def test_4_a_reference_only_a_left_out_value_holds_demands_nothing(
    tmp_path: Path, source: Emulator, destination: Emulator, keys: None
) -> None:
    overlay = "environments:\n  Prod: Production\nexclude:\n  lifecycles: [Quick Test]\n"
    repo = _repo(tmp_path, source, destination, overlay)
    plan = _plan(repo)
    assert plan["errors"] == []
    _push(repo)
    azure_prod = destination.by_name("accounts", "Azure Prod")["Id"]
    assert _variables(destination, "Azure.Account") == [(azure_prod, ["Production"])]
    assert "Azure NonProd" not in _ids(destination, "accounts")


# ---------------------------------------------------------------------------------- 5


def test_5_tenant_variable_placeholders_reach_the_plan_the_ledger_and_cleanup(
    tmp_path: Path, source: Emulator, destination: Emulator, keys: None
) -> None:
    overlay = "environments:\n  Prod: Production\ntenants:\n  variables: placeholder\n" + QUIET
    repo = _repo(tmp_path, source, destination, overlay)
    field = "PayFX Tenant.Url [Production]"
    placeholders = [(p["kind"], p["name"], p["field"]) for p in _plan(repo)["placeholders"]]
    assert ("tenant-variables", ["Acme"], field) in placeholders
    text = run_cli("plan", "--target", "prod", "--repo", str(repo)).stdout
    assert f"! tenant-variables Acme {field}: placeholder value" in text
    _push(repo)
    ledger = (repo / "targets" / "prod" / "cleanup.yaml").read_text()
    assert f"field: {field}" in ledger and "placeholder: Replace Me" in ledger
    status = run_cli("cleanup", "--target", "prod", "--repo", str(repo)).stdout
    assert f"pending  tenant-variables Acme  {field}" in status

    # A human puts the real URL in.
    tenant = destination.by_name("tenants", "Acme")
    document = destination.get(f"tenants/{tenant['Id']}/variables")
    (entry,) = document["ProjectVariables"].values()
    (values,) = entry["Variables"].values()
    assert list(values.values()) == ["Replace Me"]
    for template in values:
        values[template] = "https://acme.payfx.example"
    assert destination.put(f"tenants/{tenant['Id']}/variables", document).ok
    status = run_cli("cleanup", "--target", "prod", "--repo", str(repo)).stdout
    assert f"done     tenant-variables Acme  {field}" in status


# ---------------------------------------------------------------------------------- 6

EXPLICIT = """\
environments:
  UAT: DR
  Prod: Production
variables:
  values:
    "PayFX/Log.Level": error
"""
SCOPED = '    "PayFX/Db.Name": {value: payfx-dr-replica, environments: [DR]}\n'


def test_6_explicit_values_keep_or_state_their_scope_and_never_widen(
    tmp_path: Path, source: Emulator, destination: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source, destination, EXPLICIT + QUIET)
    _push(repo)
    # Log.Level had Dev/QA and Prod values: the overlay's value replaces the one in scope,
    # on Production; DR (from UAT, which had none) gets no value, and nothing is unscoped.
    assert _variables(destination, "Log.Level") == [("error", ["Production"])]
    _overlay(repo, EXPLICIT + SCOPED + QUIET)
    _push(repo)
    # A value with environments applies exactly there; the source's value elsewhere stays.
    assert _variables(destination, "Db.Name") == [
        ("payfx-dr-replica", ["DR"]),
        ("payfx-live", ["Production"]),
    ]
    assert _plan(repo)["has_changes"] is False


# ---------------------------------------------------------------------------------- 7


def test_7_a_lifecycle_left_without_phases_takes_its_channel_and_an_emptied_tenant_goes(
    tmp_path: Path, source: Emulator, destination: Emulator, keys: None
) -> None:
    overlay = (
        "environments:\n  Prod: Production\nrename:\n  accounts: {Azure NonProd: Azure Prod}\n"
    )
    repo = _repo(tmp_path, source, destination, overlay)
    plan = _plan(repo)
    decisions = _decisions(plan)
    assert (
        "lifecycles Quick Test: every phase's environments are excluded: left out, with its "
        "channels (an empty lifecycle would allow every environment)" in decisions
    )
    assert "channels PayFX/Quick: its lifecycle 'Quick Test' is left out: channel left out" in (
        decisions
    )
    assert (
        "tenants QA Crew: no project link is left on the destination: left out with its "
        "variables" in decisions
    )
    _push(repo)
    assert "Quick Test" not in _ids(destination, "lifecycles")
    project = destination.by_name("projects", "PayFX")
    channels = destination.get(f"projects/{project['Id']}/channels")["Items"]
    assert [c["Name"] for c in channels] == ["Default"]
    process = destination.get(f"projects/{project['Id']}/deploymentprocesses")
    assert [s["Name"] for s in process["Steps"]] == ["Deploy Package", "Warm Up"]
    assert sorted(_ids(destination, "tenants")) == ["Acme"]


# ---------------------------------------------------------------------------------- 8

REMEMBERED = """\
environments:
  Prod: Production
exclude:
  lifecycles: [Quick Test]
  tenants: [QA Crew]
rename:
  accounts: {Azure NonProd: Azure Prod}
steps:
  rescope:
    PayFX/Warm Up: {environments: [Production]}
"""


def test_8_an_entry_for_something_deleted_since_warns_and_a_typo_stops_before_any_request(
    tmp_path: Path, source: Emulator, destination: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source, destination, REMEMBERED)
    _push(repo)
    # On the source, the tenant is deleted and the step removed.
    tenant = source.by_name("tenants", "QA Crew")
    assert source.session.delete(source.space_url(f"tenants/{tenant['Id']}")).ok
    project = source.by_name("projects", "PayFX")
    path = f"projects/{project['Id']}/deploymentprocesses"
    process = source.get(path)
    process["Steps"] = [s for s in process["Steps"] if s["Name"] != "Warm Up"]
    assert source.put(path, process).ok
    run_cli("export", "--repo", str(repo))

    _quiet((source, destination))
    out = run_cli("validate", "--repo", str(repo)).stdout
    assert (
        "overlays/prod.yaml:5: warning: exclude.tenants: `QA Crew` is no longer on the "
        "source; remove this entry" in out
    )
    assert (
        "overlays/prod.yaml:10: warning: steps.rescope: step `PayFX/Warm Up` is no longer on "
        "the source; remove this entry" in out
    )
    assert _requests((source, destination)) == [0, 0]
    assert "no longer on the source" in _push(repo)  # the scheduled sync goes on

    _overlay(repo, REMEMBERED.replace("[QA Crew]", "[Acmee]"))
    _quiet((source, destination))
    refused = run_cli("validate", "--repo", str(repo), expect=ExitCode.ERROR).stderr
    assert (
        "overlays/prod.yaml:5: error: exclude.tenants: `Acmee` does not exist on the source "
        "(did you mean `Acme`?)" in refused
    )
    assert _requests((source, destination)) == [0, 0]


# ---------------------------------------------------------------------------------- 9


@pytest.fixture
def web_page() -> Iterator[str]:
    """A web server that is not Octopus: an HTML "Not Found" page for every path."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><head><title>404 Not Found</title></head><body>nginx</body></html>"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_9_a_url_that_is_not_an_octopus_server_says_what_answered(
    tmp_path: Path, web_page: str, keys: None
) -> None:
    repo = tmp_path / "sync"
    run_cli("init", str(repo), "--source-url", web_page)
    failed = run_cli("export", "--repo", str(repo), expect=ExitCode.ERROR).stderr
    assert "<html" not in failed and "nginx" not in failed
    assert f"{web_page} answered with an HTML page titled '404 Not Found', not JSON" in failed


def test_9_history_of_an_unknown_target_names_it(
    tmp_path: Path, source: Emulator, destination: Emulator, keys: None
) -> None:
    repo = init_repo(tmp_path, source, destination)
    result = run_cli("history", "--repo", str(repo), "--target", "nosuch", expect=ExitCode.ERROR)
    assert "no target named 'nosuch' (targets: prod)" in result.stderr


def test_9_plan_messages_diff_scripts_name_the_lost_environment_and_count_like_the_push(
    tmp_path: Path, source: Emulator, destination: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source, destination, "environments:\n  Prod: Production\n" + QUIET)
    plan = _plan(repo)
    assert (
        "project-variables PayFX Cache.Ttl: environment scope narrowed to Production "
        "(UAT not mapped by the overlay)" in _decisions(plan)
    )
    _push(repo)
    last = Store(repo).read_tree("targets/prod")["last-push.yaml"]
    assert f"created: {plan['summary']['create']}\n" in last
    assert f"updated: {plan['summary']['update']}\n" in last
    history = run_cli("history", "--repo", str(repo), "--target", "prod").stdout
    assert f"{plan['summary']['create']} created, {plan['summary']['update']} updated" in history

    # A changed script on the source: its last line, far past any truncation.
    project = source.by_name("projects", "PayFX")
    path = f"projects/{project['Id']}/deploymentprocesses"
    process = source.get(path)
    action = next(s for s in process["Steps"] if s["Name"] == "Warm Up")["Actions"][0]
    script = action["Properties"]["Octopus.Action.Script.ScriptBody"]
    action["Properties"]["Octopus.Action.Script.ScriptBody"] = script.replace(
        'echo "warmed up"', 'echo "warmed up, ready for traffic"'
    )
    assert source.put(path, process).ok
    run_cli("export", "--repo", str(repo))
    text = run_cli("plan", "--target", "prod", "--repo", str(repo)).stdout
    assert '    -echo "warmed up"\n' in text
    assert '    +echo "warmed up, ready for traffic"\n' in text
    assert "     for page in / /login /pay; do\n" in text  # context lines


def test_9_an_uncommitted_file_is_quoted_as_its_path(
    tmp_path: Path, source: Emulator, destination: Emulator, keys: None
) -> None:
    repo = _repo(tmp_path, source, destination, "environments:\n  Prod: Production\n" + QUIET)
    edited = repo / "snapshot" / "tenants" / "QA Crew" / "tenant.yaml"
    edited.write_text(edited.read_text() + "# edited by hand\n")
    refused = run_cli("export", "--repo", str(repo), expect=ExitCode.ERROR).stderr
    assert "(e.g. snapshot/tenants/QA Crew/tenant.yaml): commit or discard" in refused
