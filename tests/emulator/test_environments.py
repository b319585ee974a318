"""Environment order over real HTTP: new environments go last, lists follow SortOrder, and
`PUT /environments/sortorder` reorders them, as on a real server."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tests.emulator.test_http import assert_400
from tests.helpers import API_KEY, Emulator

# Names in non-alphabetical order: a name-sorted list would give them back differently.
NAMES = ["Production", "Development", "Staging", "Test"]


def names(items: list[dict[str, Any]]) -> list[str]:
    return [str(item["Name"]) for item in items]


def test_new_environments_are_appended_and_listed_in_sort_order(emulator: Emulator) -> None:
    created = [emulator.create("environments", {"Name": name}) for name in NAMES]
    assert [e["SortOrder"] for e in created] == [0, 1, 2, 3]
    assert names(emulator.get("environments/all")) == NAMES
    assert names(emulator.get("environments")["Items"]) == NAMES
    # SortOrder 0 sent explicitly also means "last" (OctopusDeploy/Issues#8940).
    qa = emulator.create("environments", {"Name": "QA", "SortOrder": 0})
    assert qa["SortOrder"] == 4
    # A SortOrder sent on create is kept; equal sort orders list in creation order.
    early = emulator.create("environments", {"Name": "Alpha", "SortOrder": 1})
    assert early["SortOrder"] == 1
    assert names(emulator.get("environments/all")) == [
        "Production",
        "Development",
        "Alpha",
        "Staging",
        "Test",
        "QA",
    ]


def test_the_sort_order_route_reorders_with_the_full_list(emulator: Emulator) -> None:
    ids = {name: emulator.create("environments", {"Name": name})["Id"] for name in NAMES}
    order = [ids[n] for n in ("Development", "Test", "Staging", "Production")]
    response = emulator.put("environments/sortorder", order)
    assert response.status_code == 200, response.text
    assert names(emulator.get("environments/all")) == [
        "Development",
        "Test",
        "Staging",
        "Production",
    ]
    assert [e["Id"] for e in emulator.get("environments")["Items"]] == order
    # A partial list, an unknown id, a repeated id or not an array: refused, nothing moves.
    assert_400(emulator.put("environments/sortorder", order[:2]), order[2], order[3])
    assert_400(emulator.put("environments/sortorder", [*order, "Environments-999999"]), "999999")
    assert_400(emulator.put("environments/sortorder", [*order, order[0]]))
    assert_400(emulator.put("environments/sortorder", {"Ids": order}))
    assert [e["Id"] for e in emulator.get("environments/all")] == order
    # A new one still goes last.
    emulator.create("environments", {"Name": "QA"})
    assert names(emulator.get("environments/all"))[-1] == "QA"


def test_the_vendors_typescript_client_sees_the_real_servers_order(emulator: Emulator) -> None:
    """The requests `@octopusdeploy/api-client` makes (api-client.ts at f0635e0e):
    `resolveSpaceId` (src/spaceResolver.ts) lists spaces by partial name with `take` =
    `BasicRepository.TakeAll`; `EnvironmentRepository.create` POSTs a
    `NewDeploymentEnvironment` (no SortOrder) to `~/api/{spaceId}/environments`;
    `list()` GETs the bare route and `list({skip, take})` adds the query
    (src/features/basicRepository.ts); `EnvironmentV2Repository.list` GETs
    `/environments/v2{?ids,partialName,type,skip,take}`; `sort(order)` PUTs the id array to
    `/environments/sortorder` (src/features/deploymentEnvironments/environmentRepository.ts)."""
    session = emulator.session
    session.headers.update({"X-Octopus-ApiKey": API_KEY, "Content-Type": "application/json"})
    base = emulator.url
    spaces = session.get(
        f"{base}/api/spaces?partialName={quote('Default')}&skip=0&take=2147483647"
    ).json()
    space_id = next(s["Id"] for s in spaces["Items"] if s["Name"] == "Default")
    route = f"{base}/api/{space_id}/environments"
    for name in NAMES:
        body = {"Name": name, "Description": f"{name} environment", "UseGuidedFailure": False}
        response = session.post(route, json=body)
        assert response.status_code == 201, response.text

    listed = session.get(route).json()
    assert names(listed["Items"]) == NAMES  # the real server's order: as created
    all_at_once = session.get(f"{route}?skip=0&take=2147483647").json()
    assert names(all_at_once["Items"]) == NAMES
    v2 = session.get(f"{route}/v2?skip=0&take=1000").json()
    assert names(v2["Items"]) == NAMES and {e["Type"] for e in v2["Items"]} == {"Static"}
    assert session.get(f"{route}/v2?type=Ephemeral&skip=0&take=1000").json()["Items"] == []

    by_name = {e["Name"]: e["Id"] for e in listed["Items"]}
    order = [by_name[n] for n in sorted(NAMES)]
    assert session.put(f"{route}/sortorder", json=order).status_code == 200
    assert names(session.get(route).json()["Items"]) == sorted(NAMES)
