"""The emulator's bulk routes (`snapshotsync/emulator/bulk.py`): id filters, paging, `/all`
arrays, frozen copies in the unfiltered lists, the 8 KB request line and `ignore_ids`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from snapshotsync.emulator import Config
from tests.helpers import SAMPLES, Emulator, running_emulator, with_frozen_copies


@pytest.fixture
def frozen(tmp_path: Path) -> Iterator[Emulator]:
    """The sample source with two releases of every project and a snapshot of every
    runbook."""
    with running_emulator(seed=with_frozen_copies(SAMPLES / "source.yaml", tmp_path)) as e:
        yield e


def _ids(items: list[dict[str, str]]) -> list[str]:
    return [item["Id"] for item in items]


def test_a_release_in_a_seed_freezes_copies_that_the_unfiltered_lists_return(
    frozen: Emulator,
) -> None:
    projects = frozen.get("projects/all")
    live = sorted(p["DeploymentProcessId"] for p in projects)
    listed = _ids(frozen.get("deploymentprocesses", params={"take": 1000})["Items"])
    assert listed == sorted(listed)  # "sorted by Id"
    copies = [i for i in listed if i not in live]
    assert len(copies) == 2 * len(projects)
    one = frozen.get(f"deploymentprocesses/{copies[0]}")  # read by its own id
    assert one["Id"] == copies[0]
    assert copies[0].startswith(f"deploymentprocess-{one['ProjectId']}-s-")

    sets = _ids(frozen.get("variables/all"))
    project_sets = [p["VariableSetId"] for p in projects]
    assert set(project_sets) < set(sets)
    assert any(s.startswith("variableset-LibraryVariableSets-") and "-s-" in s for s in sets)

    runbooks = frozen.get("runbooks/all")
    processes = _ids(frozen.get("runbookProcesses", params={"take": 1000})["Items"])
    assert len(processes) == 2 * len(runbooks)


def test_ids_filter_the_lists_and_take_pages_them(frozen: Emulator) -> None:
    projects = frozen.get("projects/all")
    wanted = [p["DeploymentProcessId"] for p in projects]
    page = frozen.get("deploymentprocesses", params={"ids": ",".join(wanted), "take": 1})
    assert page["TotalResults"] == len(wanted) and page["ItemsPerPage"] == 1
    assert _ids(page["Items"]) == sorted(wanted)[:1]
    if len(wanted) > 1:
        assert "ids=" in page["Links"]["Page.Next"]
    everything = frozen.get("deploymentprocesses", params={"ids": ",".join(wanted)})
    assert sorted(_ids(everything["Items"])) == sorted(wanted)

    sets = [p["VariableSetId"] for p in projects]
    found = frozen.get("variables/all", params={"ids": ",".join([*sets, "variableset-nope"])})
    assert isinstance(found, list) and sorted(_ids(found)) == sorted(sets)
    assert all("ScopeValues" in s for s in found)  # the same document as `/variables/{id}`
    assert found[0] == frozen.get(f"variables/{found[0]['Id']}")

    runbook = frozen.get("runbooks/all")[0]
    process = runbook["RunbookProcessId"]
    one = frozen.get("runbookProcesses", params={"ids": process.lower(), "take": 5})
    assert _ids(one["Items"]) == [process]  # ids match case-insensitively
    assert one["Items"][0] == frozen.get(f"runbookProcesses/{process}")


def test_tenantvariables_all_is_every_tenants_legacy_document(source_emulator: Emulator) -> None:
    tenants = source_emulator.get("tenants/all")
    every = source_emulator.get("tenantvariables/all")
    assert [d["TenantId"] for d in every] == [t["Id"] for t in sorted(tenants, key=_by_id)]
    for document in every:
        assert document == source_emulator.get(f"tenants/{document['TenantId']}/variables")
    project = source_emulator.by_name("projects", "OctoFX")["Id"]
    linked = source_emulator.get("tenantvariables/all", params={"projectId": project})
    assert {d["TenantId"] for d in linked} == {
        t["Id"] for t in tenants if project in t["ProjectEnvironments"]
    }


def _by_id(item: dict[str, str]) -> str:
    return f"TenantVariables-{item['Id']}"


def test_a_request_line_over_8_kb_is_refused_with_414(source_emulator: Emulator) -> None:
    url = source_emulator.space_url("deploymentprocesses")
    line_without_ids = len(f"GET {url.split(':', 2)[2].split('/', 1)[1]}?ids= HTTP/1.1\r\n") + 1
    fits = "x" * (8192 - line_without_ids)
    ok = source_emulator.session.get(f"{url}?ids={fits}")
    assert ok.status_code == 200, ok.text
    refused = source_emulator.session.get(f"{url}?ids={fits}y")
    assert refused.status_code == 414
    assert refused.headers.get("Connection") == "close"  # the server closes it after
    assert "414 request line too long" in source_emulator.stats()["by_route"]


def test_ignore_ids_answers_the_unfiltered_list_like_an_older_server(tmp_path: Path) -> None:
    seed = with_frozen_copies(SAMPLES / "source.yaml", tmp_path)
    with running_emulator(seed=seed, config=Config(ignore_ids=True)) as old:
        process = old.get("projects/all")[0]["DeploymentProcessId"]
        page = old.get("deploymentprocesses", params={"ids": process, "take": 50})
        assert len(page["Items"]) > 1 and any("-s-" in i for i in _ids(page["Items"]))
        sets = old.get("variables/all", params={"ids": "variableset-nope"})
        assert len(sets) > 1
        environments = old.get("environments", params={"ids": "Environments-nope"})
        assert environments["Items"]  # every list, not only the bulk ones
        old.configure(ignore_ids=False)
        assert old.get("environments", params={"ids": "Environments-nope"})["Items"] == []


def test_stats_tell_a_bulk_read_from_a_document(source_emulator: Emulator) -> None:
    source_emulator.session.delete(f"{source_emulator.url}/api/emulator/stats")
    sets = [p["VariableSetId"] for p in source_emulator.get("projects/all")]
    source_emulator.get("variables/all", params={"ids": ",".join(sets)})
    source_emulator.get(f"variables/{sets[0]}")
    routes = source_emulator.stats()["by_route"]
    assert routes["GET variables?ids"] == 1 and routes["GET variables"] == 1


def test_the_unknown_route_is_still_404(source_emulator: Emulator) -> None:
    response = source_emulator.session.get(source_emulator.space_url("tenantvariables/nope"))
    assert response.status_code == 404


def test_the_command_line_flag_plays_the_older_server() -> None:
    from snapshotsync.emulator.__main__ import _parser

    assert _parser().parse_args(["--api-key", "k", "--ignore-ids"]).ignore_ids is True
    assert _parser().parse_args(["--api-key", "k"]).ignore_ids is False
