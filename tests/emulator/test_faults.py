"""Paging, injected faults and request counters, over real HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.helpers import Emulator, running_emulator


def create_environments(e: Emulator, count: int) -> list[str]:
    """`Env 00`, `Env 01`, ... with ascending sort orders; returns their ids in order."""
    return [
        e.create("environments", {"Name": f"Env {n:02d}", "SortOrder": n})["Id"]
        for n in range(count)
    ]


def walk_pages(e: Emulator, first: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page from `first` on, following `Links["Page.Next"]`."""
    pages = [first]
    while "Page.Next" in pages[-1]["Links"]:
        link = pages[-1]["Links"]["Page.Next"]
        assert link.startswith("/api/"), link
        response = e.session.get(e.url + link)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        assert len(pages) < 100, "Page.Next never ends"
    return pages


# ----------------------------------------------------------------- 8. paging


def test_default_page_is_30_and_page_next_walks_every_item_once(emulator: Emulator) -> None:
    ids = create_environments(emulator, 75)
    first = emulator.get("environments")
    assert first["ItemType"] == "Environment"
    assert first["TotalResults"] == 75
    assert first["ItemsPerPage"] == 30
    assert first["NumberOfPages"] == 3
    assert first["LastPageNumber"] == 2
    assert len(first["Items"]) == 30
    assert {"Self", "Template", "Page.All", "Page.Current", "Page.Last", "Page.Next"} <= set(
        first["Links"]
    )
    pages = walk_pages(emulator, first)
    assert [len(p["Items"]) for p in pages] == [30, 30, 15]
    assert "Page.Next" not in pages[-1]["Links"]
    walked = [item["Id"] for page in pages for item in page["Items"]]
    assert walked == ids  # every item exactly once, in sort order
    assert all(p["TotalResults"] == 75 for p in pages)


def test_all_returns_a_plain_list_of_everything(emulator: Emulator) -> None:
    ids = create_environments(emulator, 75)
    everything = emulator.get("environments/all")
    assert isinstance(everything, list)
    assert [e["Id"] for e in everything] == ids
    page_all = emulator.get("environments")["Links"]["Page.All"]
    assert emulator.session.get(emulator.url + page_all).json() == everything


def test_skip_and_take(emulator: Emulator) -> None:
    ids = create_environments(emulator, 12)
    page = emulator.get("environments", params={"skip": 10, "take": 5})
    assert [e["Id"] for e in page["Items"]] == ids[10:]
    assert (page["TotalResults"], page["ItemsPerPage"], page["NumberOfPages"]) == (12, 5, 3)
    assert "Page.Next" not in page["Links"]
    # A last page that ends exactly on the last item has no next page either.
    exact = emulator.get("environments", params={"skip": 7, "take": 5})
    assert [e["Id"] for e in exact["Items"]] == ids[7:]
    assert "Page.Next" not in exact["Links"]
    assert "Page.Next" in emulator.get("environments", params={"skip": 6, "take": 5})["Links"]
    big = emulator.get("environments", params={"skip": 0, "take": 2147483647})
    assert [e["Id"] for e in big["Items"]] == ids and "Page.Next" not in big["Links"]
    bad = emulator.session.get(emulator.space_url("environments"), params={"take": "many"})
    assert bad.status_code == 400


def test_partial_name_and_ids_filter(emulator: Emulator) -> None:
    ids = create_environments(emulator, 75)
    emulator.create("environments", {"Name": "Production", "SortOrder": 100})
    # partialName is a case-insensitive substring match; paging applies to the filtered set.
    matched = emulator.get("environments", params={"partialName": "env 1"})
    assert [e["Name"] for e in matched["Items"]] == [f"Env {n}" for n in range(10, 20)]
    assert matched["TotalResults"] == 10
    assert "Page.Next" not in matched["Links"]
    sub = emulator.get("environments", params={"partialName": "ODUC"})
    assert [e["Name"] for e in sub["Items"]] == ["Production"]
    listed = emulator.get("environments/all", params={"partialName": "Env 7"})
    assert [e["Name"] for e in listed] == [f"Env {n}" for n in range(70, 75)]

    wanted = [ids[3], ids[40], ids[74]]
    by_ids = emulator.get("environments", params={"ids": ",".join(wanted)})
    assert [e["Id"] for e in by_ids["Items"]] == wanted
    assert by_ids["TotalResults"] == 3
    assert emulator.get("environments/all", params={"ids": ids[5]})[0]["Id"] == ids[5]
    assert emulator.get("environments", params={"ids": "Environments-999999"})["Items"] == []


def test_page_next_keeps_the_filter(emulator: Emulator) -> None:
    create_environments(emulator, 75)
    emulator.create("environments", {"Name": "Production", "SortOrder": 100})
    first = emulator.get("environments", params={"partialName": "Env", "take": 20})
    pages = walk_pages(emulator, first)
    names = [item["Name"] for page in pages for item in page["Items"]]
    assert names == [f"Env {n:02d}" for n in range(75)]
    assert len(pages) == 4


def test_page_size_is_configurable(emulator: Emulator) -> None:
    ids = create_environments(emulator, 25)
    emulator.configure(page_size=10)
    first = emulator.get("environments")
    assert (first["ItemsPerPage"], first["NumberOfPages"], len(first["Items"])) == (10, 3, 10)
    pages = walk_pages(emulator, first)
    assert [len(p["Items"]) for p in pages] == [10, 10, 5]
    assert [item["Id"] for page in pages for item in page["Items"]] == ids
    # An explicit take still wins.
    assert len(emulator.get("environments", params={"take": 25})["Items"]) == 25


def test_project_child_collections_are_paged(emulator: Emulator) -> None:
    lifecycle = emulator.by_name("lifecycles", "Default Lifecycle")["Id"]
    group = emulator.by_name("projectgroups", "Default Project Group")["Id"]
    body = {"Name": "OctoFX", "LifecycleId": lifecycle, "ProjectGroupId": group}
    project = emulator.create("projects", body)["Id"]
    for n in range(11):
        emulator.create(f"projects/{project}/channels", {"Name": f"Channel {n:02d}"})
    emulator.configure(page_size=5)
    first = emulator.get(f"projects/{project}/channels")
    assert (first["TotalResults"], first["NumberOfPages"]) == (12, 3)
    assert first["Links"]["Page.Next"].startswith(f"/api/{emulator.space_id}/projects/{project}/")
    names = [c["Name"] for page in walk_pages(emulator, first) for c in page["Items"]]
    assert sorted(names) == sorted(["Default", *(f"Channel {n:02d}" for n in range(11))])
    assert len(names) == len(set(names)) == 12


# ----------------------------------------------------------------- 9. faults


def outcomes(e: Emulator, count: int) -> list[str]:
    """The outcome of each of `count` identical GETs: a status code, or "drop"."""
    seen = []
    for _ in range(count):
        try:
            response = e.session.get(e.space_url("environments"), timeout=5)
        except requests.ConnectionError:
            seen.append("drop")
            continue
        if response.status_code == 429:
            assert response.headers["Retry-After"] == "0"
        if response.status_code in (429, 503):
            body = response.json()
            assert body["ErrorMessage"] and body["Errors"] == []
        seen.append(str(response.status_code))
    return seen


def test_seeded_faults_repeat_after_resetting_the_seed(emulator: Emulator) -> None:
    emulator.configure(fault_rate=0.5, fault_seed=7, retry_after=0)
    first = outcomes(emulator, 40)
    emulator.configure(fault_seed=7)
    second = outcomes(emulator, 40)
    assert first == second
    # Every kind of outcome shows up, and roughly at the configured rate.
    assert set(first) == {"200", "503", "429", "drop"}
    assert 8 <= first.count("200") <= 32
    emulator.configure(fault_seed=8)
    assert outcomes(emulator, 40) != first


def test_seeded_faults_repeat_on_a_restarted_instance() -> None:
    runs = []
    for _ in range(2):
        with running_emulator(id_offset=1000) as e:
            e.configure(fault_rate=0.5, fault_seed=7, retry_after=0)
            runs.append(outcomes(e, 30))
    assert runs[0] == runs[1]
    assert "200" in runs[0] and len(set(runs[0])) > 1


@pytest.mark.parametrize(("kind", "expected"), [("503", "503"), ("429", "429"), ("drop", "drop")])
def test_one_fault_kind_only(emulator: Emulator, kind: str, expected: str) -> None:
    emulator.configure(fault_rate=1.0, fault_kinds=[kind], retry_after=0)
    assert outcomes(emulator, 5) == [expected] * 5
    emulator.configure(fault_rate=0.0)
    assert outcomes(emulator, 2) == ["200", "200"]


def test_429_sends_the_configured_retry_after(emulator: Emulator) -> None:
    emulator.configure(fault_rate=1.0, fault_kinds=["429"], retry_after=7)
    response = emulator.session.get(emulator.space_url("environments"))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"


def test_faults_spare_the_emulator_routes(emulator: Emulator) -> None:
    emulator.configure(fault_rate=1.0, fault_kinds=["503"])
    for _ in range(5):
        assert emulator.session.get(f"{emulator.url}/api/emulator/stats").status_code == 200
    emulator.configure(fault_rate=0.0)


def test_latency_delays_each_response(emulator: Emulator) -> None:
    # Lower bounds only, with room for clock granularity: without latency a loopback call
    # takes about a millisecond, so 70 ms still proves the 80 ms delay applied.
    emulator.configure(latency_ms=80)
    for path in ("environments", "environments/all"):
        started = time.perf_counter()
        emulator.get(path)
        assert time.perf_counter() - started >= 0.07
    started = time.perf_counter()
    assert emulator.post("environments", {"Name": "Dev"}).status_code == 201
    assert time.perf_counter() - started >= 0.07


def test_drop_on_write_drops_exactly_the_nth_write_unapplied(emulator: Emulator) -> None:
    emulator.configure(drop_on_write=3)
    results = []
    for n in range(1, 6):
        emulator.get("environments/all")  # reads are not writes
        try:
            response = emulator.post("environments", {"Name": f"Env {n}"})
            results.append(response.status_code)
        except requests.ConnectionError:
            results.append("drop")
    assert results == [201, 201, "drop", 201, 201]
    names = [e["Name"] for e in emulator.get("environments/all")]
    assert names == ["Env 1", "Env 2", "Env 4", "Env 5"]
    assert emulator.stats()["faults"] == {"drop": 1}


def test_drop_after_apply_applies_the_write_the_client_never_heard_of(
    emulator: Emulator,
) -> None:
    env = emulator.create("environments", {"Name": "Dev"})
    emulator.configure(drop_on_write=2, drop_after_apply=True)
    first = emulator.put(f"environments/{env['Id']}", {**env, "Description": "first"})
    assert first.status_code == 200
    with pytest.raises(requests.ConnectionError):
        emulator.put(f"environments/{env['Id']}", {**env, "Description": "second"})
    assert emulator.get(f"environments/{env['Id']}")["Description"] == "second"
    emulator.configure(drop_on_write=1, drop_after_apply=True)  # the counting starts again
    with pytest.raises(requests.ConnectionError):
        emulator.post("environments", {"Name": "Test"})
    # The create went through: a retry by name would now be a duplicate.
    assert [e["Name"] for e in emulator.get("environments/all")] == ["Dev", "Test"]
    retry = emulator.post("environments", {"Name": "Test"})
    assert retry.status_code == 400


# ----------------------------------------------------------------- 10. counters


def test_stats_count_by_method_route_writes_and_faults(emulator: Emulator) -> None:
    emulator.session.delete(f"{emulator.url}/api/emulator/stats")
    env = emulator.create("environments", {"Name": "Dev"})
    emulator.get("environments")
    emulator.get(f"environments/{env['Id']}")
    emulator.put(f"environments/{env['Id']}", {**env, "Description": "x"})
    emulator.session.get(f"{emulator.url}/api")
    lifecycle = emulator.by_name("lifecycles", "Default Lifecycle")["Id"]
    group = emulator.by_name("projectgroups", "Default Project Group")["Id"]
    body = {"Name": "OctoFX", "LifecycleId": lifecycle, "ProjectGroupId": group}
    project = emulator.create("projects", body)["Id"]
    emulator.get(f"projects/{project}/deploymentprocesses")
    requests.get(emulator.space_url("environments"), timeout=5)  # no key
    emulator.configure(fault_rate=1.0, fault_kinds=["503"])
    emulator.session.get(emulator.space_url("environments"))
    emulator.session.get(emulator.space_url("environments"))
    emulator.configure(fault_rate=0.0)

    stats = emulator.stats()
    assert stats["by_method"] == {"GET": 9, "POST": 2, "PUT": 1}
    assert stats["requests"] == 12
    assert stats["writes"] == 3
    assert stats["unauthorized"] == 1
    assert stats["faults"] == {"503": 2}
    assert stats["by_route"] == {
        "GET environments": 5,
        "GET lifecycles": 1,
        "GET projectgroups": 1,
        "GET projects/deploymentprocesses": 1,
        "GET root": 1,
        "POST environments": 1,
        "POST projects": 1,
        "PUT environments": 1,
    }


def test_deleting_stats_resets_them(emulator: Emulator) -> None:
    emulator.get("environments")
    emulator.post("environments", {"Name": "Dev"})
    before = emulator.stats()
    assert before["requests"] >= 2 and before["writes"] >= 1
    reset = emulator.session.delete(f"{emulator.url}/api/emulator/stats")
    assert reset.status_code == 200
    after = emulator.stats()
    assert after == {
        "requests": 0,
        "writes": 0,
        "unauthorized": 0,
        "by_method": {},
        "by_route": {},
        "faults": {},
        "max_writes_in_flight": 0,
    }
    emulator.get("environments")
    assert emulator.stats()["by_route"] == {"GET environments": 1}


def test_emulator_routes_need_the_key(emulator: Emulator) -> None:
    assert requests.get(f"{emulator.url}/api/emulator/stats", timeout=5).status_code == 401
    config = requests.put(f"{emulator.url}/api/emulator/config", json={"latency_ms": 1}, timeout=5)
    assert config.status_code == 401
    bad = emulator.session.put(f"{emulator.url}/api/emulator/config", json={"no_such": 1})
    assert bad.status_code == 400 and "no_such" in bad.text


def test_refuse_on_write_refuses_exactly_the_nth_write_at_once_unapplied(
    emulator: Emulator,
) -> None:
    emulator.configure(refuse_on_write=2, latency_ms=200)
    first = emulator.post("environments", {"Name": "First"})
    refused = emulator.post("environments", {"Name": "Second"})
    third = emulator.post("environments", {"Name": "Third"})
    emulator.configure(latency_ms=0, refuse_on_write=0)
    assert first.status_code == 201 and third.status_code == 201
    assert refused.status_code == 400
    assert "refuse_on_write" in refused.json()["Errors"][0]
    assert [e["Name"] for e in emulator.get("environments/all")] == ["First", "Third"]


def test_the_stats_count_the_writes_in_flight_at_once(emulator: Emulator) -> None:
    import threading

    import requests

    emulator.configure(latency_ms=150)
    emulator.session.delete(f"{emulator.url}/api/emulator/stats")
    from tests.helpers import API_KEY

    def create(name: str) -> None:
        with requests.Session() as session:
            session.headers["X-Octopus-ApiKey"] = API_KEY
            session.post(emulator.space_url("environments"), json={"Name": name})

    threads = [threading.Thread(target=create, args=(f"Env {n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    one_at_a_time = emulator.stats()["max_writes_in_flight"]
    emulator.session.delete(f"{emulator.url}/api/emulator/stats")
    emulator.post("environments", {"Name": "Alone"})
    emulator.configure(latency_ms=0)
    assert one_at_a_time == 4
    assert emulator.stats()["max_writes_in_flight"] == 1
