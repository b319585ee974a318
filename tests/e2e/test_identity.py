"""Identity through renames, end to end: overlay entries, references, exclusions and
placement follow the source's ids when the source renames something.

Each test is one of the ways a routine rename on the source used to damage a destination
or stop every target; every check reads the destination back over REST.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_plan import OVERLAY
from tests.helpers import (
    API_KEY,
    SAMPLES,
    Emulator,
    export_with_overlay,
    git,
    init_repo,
    pushed_repo,
    run_cli,
    running_emulator,
)

GUIDE = OVERLAY.replace("NEW_OUT_OF_SCOPE", "clone")


def _push(repo: Path, *extra: str, expect: int = 0) -> str:
    result = run_cli(
        "push", "--target", "prod", "--repo", str(repo), "--yes", *extra, expect=expect
    )
    return result.stdout + result.stderr


def _plan(repo: Path, *extra: str, expect: int = 0) -> dict[str, Any]:
    out = run_cli(
        "plan", "--target", "prod", "--repo", str(repo), "--output", "json", *extra, expect=expect
    ).stdout
    return dict(json.loads(out))


def _writes(plan: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (c["action"], c["kind"], "/".join(c["name"]))
        for c in plan["changes"]
        if c["action"] in ("create", "update", "rename", "delete")
    ]


def _rename(emulator: Emulator, collection: str, old: str, new: str) -> None:
    found = emulator.by_name(collection, old)
    found["Name"] = new
    response = emulator.put(f"{collection}/{found['Id']}", found)
    assert response.ok, response.text


def _process(emulator: Emulator, project: str = "OctoFX") -> dict[str, Any]:
    found = emulator.by_name("projects", project)
    return dict(emulator.get(f"projects/{found['Id']}/deploymentprocesses"))


def _edit_process(emulator: Emulator, edit: Any, project: str = "OctoFX") -> None:
    found = emulator.by_name("projects", project)
    process = emulator.get(f"projects/{found['Id']}/deploymentprocesses")
    edit(process)
    response = emulator.put(f"projects/{found['Id']}/deploymentprocesses", process)
    assert response.ok, response.text


def _rename_step(emulator: Emulator, old: str, new: str, project: str = "OctoFX") -> None:
    def rename(process: dict[str, Any]) -> None:
        step = next(s for s in process["Steps"] if s["Name"] == old)
        step["Name"] = new
        for action in step["Actions"]:
            if action["Name"] == old:
                action["Name"] = new

    _edit_process(emulator, rename, project)


def _destination_view(emulator: Emulator) -> dict[str, Any]:
    """What a rename on the source must not change on the destination, by name."""
    environments = {e["Id"]: e["Name"] for e in emulator.get("environments/all")}
    tenants = {
        t["Name"]: {
            emulator.get(f"projects/{p}")["Name"]: sorted(environments[e] for e in envs)
            for p, envs in t["ProjectEnvironments"].items()
        }
        for t in emulator.get("tenants/all")
    }
    process = _process(emulator)
    steps = {
        action["Name"]: sorted(environments[e] for e in action.get("Environments") or [])
        for step in process["Steps"]
        for action in step["Actions"]
    }
    project = emulator.by_name("projects", "OctoFX")
    values = emulator.get(f"variables/{project['VariableSetId']}")["Variables"]
    scoped = sorted(
        (
            v["Name"],
            str(v["Value"]),
            tuple(sorted(environments[e] for e in v["Scope"].get("Environment", []))),
        )
        for v in values
    )
    return {"tenants": tenants, "steps": steps, "values": scoped}


@pytest.fixture
def repo(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> Path:
    """A sync repo after its first push of the guide's scenario."""
    return pushed_repo(tmp_path, source_emulator, destination_emulator, GUIDE)


def test_an_environment_renamed_on_the_source_keeps_every_scope_link_and_role(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    before = _destination_view(destination_emulator)
    _rename(source_emulator, "environments", "Production", "Prod")
    run_cli("export", "--repo", str(repo))

    validated = run_cli("validate", "--repo", str(repo))
    line = GUIDE.splitlines().index("  Production: Production") + 1
    warning = (
        f"overlays/prod.yaml:{line}: warning: environment `Production` was renamed `Prod` on "
        "the source; update this entry"
    )
    assert warning in validated.stdout
    planned = run_cli("plan", "--target", "prod", "--repo", str(repo), "--detailed-exitcode")
    assert warning in planned.stderr
    assert "No changes" in planned.stdout or "0 to create, 0 to update" in planned.stdout
    _push(repo)
    assert _destination_view(destination_emulator) == before
    assert _plan(repo)["has_changes"] is False


def test_a_tenant_and_a_step_renamed_while_excluded_stay_excluded(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    overlay = GUIDE.replace(
        'channels: ["OctoFX/QA"]',
        'channels: ["OctoFX/QA"]\n  steps: ["OctoFX/Run Migration Script"]',
    )
    (repo / "overlays" / "prod.yaml").write_text(overlay)
    git(repo, "commit", "-qam", "exclude the migration step")
    _push(repo)
    steps = [s["Name"] for s in _process(destination_emulator)["Steps"]]
    assert "Run Migration Script" not in steps

    _rename(source_emulator, "tenants", "Development Team A", "Team A (EU)")
    _rename_step(source_emulator, "Run Migration Script", "Migrate Database")
    run_cli("export", "--repo", str(repo))
    out = _push(repo)
    assert "exclude.tenants: `Development Team A` was renamed `Team A (EU)`" in out
    assert (
        "exclude.steps: `OctoFX/Run Migration Script` was renamed `OctoFX/Migrate Database`" in out
    )
    tenants = {t["Name"] for t in destination_emulator.get("tenants/all")}
    assert "Team A (EU)" not in tenants and "Development Team A" not in tenants
    steps = [s["Name"] for s in _process(destination_emulator)["Steps"]]
    assert "Migrate Database" not in steps and "Run Migration Script" not in steps
    assert _plan(repo)["has_changes"] is False


def test_an_explicit_value_follows_its_renamed_owner(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    export_with_overlay(
        repo,
        GUIDE + '  values:\n    "OctoFX/Application.Database.Name": "OctoFX-Regional"\n',
    )
    _push(repo)
    _rename(source_emulator, "projects", "OctoFX", "OctoFX Trading")
    run_cli("export", "--repo", str(repo))
    out = _push(repo)
    assert "was renamed `OctoFX Trading` on the source" in out
    project = destination_emulator.by_name("projects", "OctoFX Trading")
    values = destination_emulator.get(f"variables/{project['VariableSetId']}")["Variables"]
    names = [v["Value"] for v in values if v["Name"] == "Application.Database.Name"]
    assert names and set(names) == {"OctoFX-Regional"}
    assert _plan(repo)["has_changes"] is False


FIDELITY_SEED = Path(__file__).parent / "seeds" / "fidelity-source.yaml"


@pytest.fixture
def fidelity(tmp_path: Path, keys: None) -> Iterator[tuple[Emulator, Emulator, Path]]:
    """The fidelity scenario (a deploy-a-release step naming project Database, a trigger
    running runbook Warm Cache) after its first push to an empty destination."""
    with (
        running_emulator(seed=FIDELITY_SEED, id_offset=1000) as source,
        running_emulator(id_offset=5000) as destination,
    ):
        repo = init_repo(tmp_path, source, destination)
        # The trigger runs a published snapshot: the push publishes the runbook it writes.
        export_with_overlay(
            repo,
            "environments:\n  Staging: Staging\n  Production: Production\n"
            "runbooks:\n  publish: true\n",
        )
        _push(repo)
        yield source, destination, repo


def test_a_referenced_project_and_runbook_renamed_on_the_source_are_renamed_and_rewired(
    fidelity: tuple[Emulator, Emulator, Path],
) -> None:
    source, destination, repo = fidelity
    database = destination.by_name("projects", "Database")
    web = destination.by_name("projects", "Web")
    runbook = next(r for r in destination.get("runbooks/all") if r["Name"] == "Warm Cache")
    _rename(source, "projects", "Database", "Database Schema")
    _rename(source, "runbooks", "Warm Cache", "Prime Cache")
    run_cli("export", "--repo", str(repo))

    plan = _plan(repo)
    assert plan["errors"] == []
    assert ("rename", "projects", "Database Schema") in _writes(plan)
    assert ("rename", "runbooks", "Web/Prime Cache") in _writes(plan)
    _push(repo)
    assert destination.by_name("projects", "Database Schema")["Id"] == database["Id"]
    renamed = next(r for r in destination.get("runbooks/all") if r["Name"] == "Prime Cache")
    assert renamed["Id"] == runbook["Id"]
    process = destination.get(f"projects/{web['Id']}/deploymentprocesses")
    deploys = [
        a["Properties"]["Octopus.Action.DeployRelease.ProjectId"]
        for s in process["Steps"]
        for a in s["Actions"]
        if a["ActionType"] == "Octopus.DeployRelease"
    ]
    assert deploys == [database["Id"]]
    triggers = destination.get(f"projects/{web['Id']}/triggers")["Items"]
    assert [t["Action"].get("RunbookId") for t in triggers if t["Action"].get("RunbookId")] == [
        runbook["Id"]
    ]
    assert _plan(repo)["has_changes"] is False


def test_a_rename_and_a_new_resource_under_the_old_name_keep_each_identity(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    synced = destination_emulator.by_name("projects", "OctoFX")
    _rename(source_emulator, "projects", "OctoFX", "OctoFX Legacy")
    old = source_emulator.by_name("projects", "OctoFX Legacy")
    source_emulator.create(
        "projects",
        {
            "Name": "OctoFX",
            "ProjectGroupId": old["ProjectGroupId"],
            "LifecycleId": old["LifecycleId"],
        },
    )
    run_cli("export", "--repo", str(repo))

    writes = _writes(_plan(repo))
    assert ("rename", "projects", "OctoFX Legacy") in writes
    assert ("create", "projects", "OctoFX") in writes
    _push(repo)
    legacy = destination_emulator.by_name("projects", "OctoFX Legacy")
    new = destination_emulator.by_name("projects", "OctoFX")
    assert legacy["Id"] == synced["Id"]  # its releases and history stay with it
    assert new["Id"] != synced["Id"]
    steps = [s["Name"] for s in _process(destination_emulator, "OctoFX Legacy")["Steps"]]
    assert steps == ["Deploy Database", "Run Migration Script", "Deploy Web Site", "Notify Slack"]
    assert _process(destination_emulator, "OctoFX")["Steps"] == []
    assert _plan(repo)["has_changes"] is False


def test_a_rename_onto_a_name_the_destination_uses_for_its_own_stops_before_any_write(
    repo: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    synced = destination_emulator.by_name("projects", "OctoFX")
    destination_emulator.create(
        "projects",
        {
            "Name": "Billing",
            "ProjectGroupId": synced["ProjectGroupId"],
            "LifecycleId": synced["LifecycleId"],
        },
    )
    _rename(source_emulator, "projects", "OctoFX", "Billing")
    run_cli("export", "--repo", str(repo))
    writes = destination_emulator.stats()["writes"]

    out = _push(repo, expect=1)
    assert (
        "projects OctoFX was renamed `Billing` on the source, and the destination has a "
        "projects `Billing` of its own" in out
    )
    assert destination_emulator.stats()["writes"] == writes
    assert _process(destination_emulator, "Billing")["Steps"] == []


def test_a_script_module_and_a_library_variable_set_of_one_name_stop_before_any_write(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    # The source's script module "Logging Helpers"; the destination's own variable set.
    destination_emulator.create(
        "libraryvariablesets", {"Name": "Logging Helpers", "ContentType": "Variables"}
    )
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    export_with_overlay(repo, GUIDE)
    writes = destination_emulator.stats()["writes"]
    out = _push(repo, expect=1)
    assert (
        "script-modules Logging Helpers: the destination has a library variable set "
        "`Logging Helpers`" in out
    )
    assert destination_emulator.stats()["writes"] == writes


def test_a_shallow_clone_says_the_last_push_is_missing_instead_of_planning_deletes(
    repo: Path, tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator
) -> None:
    _rename(source_emulator, "projects", "OctoFX", "OctoFX Trading")
    run_cli("export", "--repo", str(repo))
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    writes = destination_emulator.stats()["writes"]
    for command in (["plan"], ["push", "--yes"]):
        result = run_cli(*command, "--target", "prod", "--repo", str(shallow), expect=1)
        assert "is not in this clone" in result.stderr and "fetch-depth: 0" in result.stderr
        assert "delete" not in result.stdout
    assert destination_emulator.stats()["writes"] == writes


REGIONS = {
    "eu": 'include:\n  tenant-tags: ["Region/EU"]\n',
    "us": 'exclude:\n  tenant-tags: ["Compliance/GDPR-Only", "Region/APAC"]\n',
    "apac": 'include:\n  tenant-tags: ["Region/APAC"]\n',
}


def test_tenants_are_placed_by_their_tags_on_three_regional_targets(
    tmp_path: Path, source_emulator: Emulator, monkeypatch: pytest.MonkeyPatch, keys: None
) -> None:
    source_emulator.create(
        "tagsets", {"Name": "Region", "Tags": [{"Name": n} for n in ("EU", "US", "APAC")]}
    )
    source_emulator.create("tagsets", {"Name": "Compliance", "Tags": [{"Name": "GDPR-Only"}]})
    internal = source_emulator.by_name("tenants", "Internal")
    internal["TenantTags"] = [*internal["TenantTags"], "Region/US"]
    assert source_emulator.put(f"tenants/{internal['Id']}", internal).ok
    with (
        running_emulator(seed=SAMPLES / "destination.yaml", id_offset=5000) as eu,
        running_emulator(seed=SAMPLES / "destination.yaml", id_offset=6000) as us,
        running_emulator(seed=SAMPLES / "destination.yaml", id_offset=7000) as apac,
    ):
        regions = {"eu": eu, "us": us, "apac": apac}
        repo = init_repo(tmp_path, source_emulator)
        config = repo / "snapshotsync.yaml"
        targets = "".join(
            f"  {name}:\n    url: {emulator.url}\n    space: Default\n"
            f"    api_key_env: {name.upper()}_OCTOPUS_API_KEY\n    overlay: overlays/{name}.yaml\n"
            for name, emulator in regions.items()
        )
        text = config.read_text()
        start = text.index("targets:\n")
        end = text.index("\n\n", start)  # the default target `init` wrote, replaced
        config.write_text(f"{text[:start]}targets:\n{targets}{text[end + 1 :]}")
        for name, rules in REGIONS.items():
            monkeypatch.setenv(f"{name.upper()}_OCTOPUS_API_KEY", API_KEY)
            (repo / "overlays" / f"{name}.yaml").write_text(
                "environments:\n  Staging: Staging\n  Production: Production\n"
                'rename:\n  accounts: {"Dev/Test Account": "Staging/Prod Account"}\n' + rules
            )
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "three regions")
        run_cli("export", "--repo", str(repo))
        for name in regions:
            run_cli("push", "--target", name, "--repo", str(repo), "--yes")

        def tenants(emulator: Emulator) -> set[str]:
            return {t["Name"] for t in emulator.get("tenants/all")}

        assert (tenants(eu), tenants(us), tenants(apac)) == (set(), {"Internal"}, set())

        # Onboarding on the source: a GDPR-only customer in the EU, nothing in the overlays.
        project = source_emulator.by_name("projects", "OctoFX")
        environments = {e["Name"]: e["Id"] for e in source_emulator.get("environments/all")}
        source_emulator.create(
            "tenants",
            {
                "Name": "Acme GmbH",
                "TenantTags": ["Region/EU", "Compliance/GDPR-Only"],
                "ProjectEnvironments": {project["Id"]: [environments["Production"]]},
            },
        )
        run_cli("export", "--repo", str(repo))
        validated = run_cli("validate", "--repo", str(repo)).stdout
        assert "overlays/eu.yaml: include.tenant-tags `Region/EU` selects tenants: Acme GmbH" in (
            validated
        )
        plan = run_cli("plan", "--target", "us", "--repo", str(repo), "--verbose").stdout
        assert "exclude.tenant-tags `Compliance/GDPR-Only` selects tenants: Acme GmbH" in plan
        for name in regions:
            run_cli("push", "--target", name, "--repo", str(repo), "--yes")
        assert (tenants(eu), tenants(us), tenants(apac)) == ({"Acme GmbH"}, {"Internal"}, set())


def test_a_deployment_step_and_a_runbook_step_of_one_name_keep_their_own_variables(
    tmp_path: Path, source_emulator: Emulator, destination_emulator: Emulator, keys: None
) -> None:
    project = source_emulator.by_name("projects", "OctoFX")
    runbook = next(
        r for r in source_emulator.get("runbooks/all") if r["Name"] == "Restart Web Site"
    )
    process = source_emulator.get(f"runbookProcesses/{runbook['RunbookProcessId']}")
    step = process["Steps"][0]
    step["Name"] = step["Actions"][0]["Name"] = "Notify Slack"  # as the deployment step
    response = source_emulator.put(f"runbookProcesses/{runbook['RunbookProcessId']}", process)
    assert response.ok, response.text
    variables = source_emulator.get(f"variables/{project['VariableSetId']}")
    variables["Variables"].append(
        {
            "Name": "Runbook.Only",
            "Value": "restart",
            "Scope": {"Action": [step["Actions"][0]["Id"]]},
        }
    )
    assert source_emulator.put(f"variables/{project['VariableSetId']}", variables).ok
    repo = init_repo(tmp_path, source_emulator, destination_emulator)
    export_with_overlay(repo, GUIDE)
    _push(repo)

    synced = destination_emulator.by_name("projects", "OctoFX")
    deployment = _process(destination_emulator)
    deployment_action = next(
        a["Id"] for s in deployment["Steps"] for a in s["Actions"] if a["Name"] == "Notify Slack"
    )
    restart = next(
        r
        for r in destination_emulator.get("runbooks/all")
        if r["Name"] == "Restart Web Site" and r["ProjectId"] == synced["Id"]
    )
    runbook_process = destination_emulator.get(f"runbookProcesses/{restart['RunbookProcessId']}")
    runbook_action = runbook_process["Steps"][0]["Actions"][0]["Id"]
    assert runbook_action != deployment_action
    values = destination_emulator.get(f"variables/{synced['VariableSetId']}")["Variables"]
    scopes = {v["Name"]: v["Scope"].get("Action") for v in values}
    assert scopes["Slack.Message.Prefix"] == [deployment_action]
    assert scopes["Runbook.Only"] == [runbook_action]
    assert _plan(repo)["has_changes"] is False


def test_plans_show_a_rename_as_a_rename_in_text_json_and_markdown(
    repo: Path, source_emulator: Emulator
) -> None:
    _rename(source_emulator, "projects", "OctoFX", "OctoFX Trading")
    project = source_emulator.by_name("projects", "OctoFX Trading")
    project["Description"] = "Renamed and described anew"
    assert source_emulator.put(f"projects/{project['Id']}", project).ok
    run_cli("export", "--repo", str(repo))
    args = ("plan", "--target", "prod", "--repo", str(repo))
    text = run_cli(*args).stdout
    assert "~ rename projects OctoFX Trading  (rename OctoFX -> OctoFX Trading)" in text
    assert "Renamed and described anew" in text  # what else changes is shown with it
    change = next(c for c in _plan(repo)["changes"] if c["kind"] == "projects")
    assert (change["action"], change["name"], change["renamed_from"]) == (
        "rename",
        ["OctoFX Trading"],
        ["OctoFX"],
    )
    markdown = run_cli(*args, "--output", "markdown").stdout
    assert (
        "rename OctoFX -&gt; OctoFX Trading" in markdown
        or "rename OctoFX -> OctoFX Trading" in markdown
    )
    assert "+ create projects" not in text and "create</code> projects" not in markdown
