"""Tag sets over real HTTP: a tag still used is never removed (OctopusDeploy/Issues#3436)."""

from __future__ import annotations

from tests.emulator.test_http import assert_400
from tests.helpers import Emulator


def test_a_tag_in_use_is_not_removed_and_an_unused_one_is(emulator: Emulator) -> None:
    tag_set = emulator.create(
        "tagsets", {"Name": "Region", "Tags": [{"Name": "EU"}, {"Name": "US"}, {"Name": "APAC"}]}
    )
    emulator.create("tenants", {"Name": "Acme", "TenantTags": ["Region/EU"]})
    without_eu = {**tag_set, "Tags": [t for t in tag_set["Tags"] if t["Name"] != "EU"]}
    assert_400(
        emulator.put(f"tagsets/{tag_set['Id']}", without_eu),
        "The tag 'Region/EU' cannot be removed: it is still used by",
    )
    without_apac = {**tag_set, "Tags": [t for t in tag_set["Tags"] if t["Name"] != "APAC"]}
    response = emulator.put(f"tagsets/{tag_set['Id']}", without_apac)
    assert response.ok, response.text
    assert [t["Name"] for t in response.json()["Tags"]] == ["EU", "US"]
