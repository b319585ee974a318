"""Server profiles: what `--server-version` and single feature toggles change, over real HTTP.

2025.2 and later serve `CommonVariableScopingFeatureToggle` as on (scoped tenant variables,
OctopusDeploy/Issues#9414); earlier versions list it as off. A toggle can also be switched on
its own, as on a real instance. The tenant-variable routes the toggle governs are tested in
`test_tenant_variables.py`.
"""

from __future__ import annotations

import pytest

from snapshotsync.emulator import Instance
from tests.helpers import Emulator, running_emulator

TOGGLE = "CommonVariableScopingFeatureToggle"


def toggles(e: Emulator, query: str = "") -> list[dict[str, object]]:
    response = e.session.get(f"{e.url}/api/configuration/feature-toggles{query}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"FeatureToggles"}
    return list(body["FeatureToggles"])


@pytest.mark.parametrize(
    ("version", "enabled"),
    [
        ("2024.2.9000", False),
        ("2025.1.7559", False),
        ("2025.2.11370", True),
        ("2025.4.3000", True),
        ("2026.1.100", True),
    ],
)
def test_the_scoped_tenant_variables_toggle_follows_the_server_version(
    version: str, enabled: bool
) -> None:
    with running_emulator(server_version=version) as e:
        listed = toggles(e)
        assert {"Name": TOGGLE, "IsEnabled": enabled} in listed
        assert all(set(t) == {"Name", "IsEnabled"} for t in listed)
        # The CLI asks by name and reads the first toggle returned.
        assert toggles(e, f"?Name={TOGGLE}") == [{"Name": TOGGLE, "IsEnabled": enabled}]


def test_the_toggle_route_is_not_space_scoped_and_needs_the_key(emulator: Emulator) -> None:
    url = f"{emulator.url}/api/configuration/feature-toggles"
    import requests

    assert requests.get(url, timeout=5).status_code == 401
    spaced = emulator.session.get(emulator.space_url("configuration/feature-toggles"))
    assert spaced.status_code == 404
    assert toggles(emulator, "?Name=NoSuchToggle") == []
    assert emulator.session.post(url, json={}).status_code == 405


def test_a_toggle_can_be_switched_at_run_time_whatever_the_version() -> None:
    with running_emulator(server_version="2024.2.9000") as e:
        e.configure(feature_toggles={TOGGLE: True})
        assert toggles(e, f"?name={TOGGLE}") == [{"Name": TOGGLE, "IsEnabled": True}]
        assert e.instance.scoped_tenant_variables
        config = e.session.get(f"{e.url}/api/emulator/config").json()
        assert config["feature_toggles"] == {TOGGLE: True}
        assert config["server_version"] == "2024.2.9000"
        # null drops the override: the version decides again.
        e.configure(feature_toggles={TOGGLE: None})
        assert toggles(e, f"?Name={TOGGLE}") == [{"Name": TOGGLE, "IsEnabled": False}]
        e.configure(server_version="2025.2.1")
        assert toggles(e, f"?Name={TOGGLE}") == [{"Name": TOGGLE, "IsEnabled": True}]
        # A 2025.2 instance with the toggle switched off, as Octopus did for one customer.
        e.configure(feature_toggles={TOGGLE: False, "SomeOtherToggle": True})
        assert {"Name": TOGGLE, "IsEnabled": False} in toggles(e)
        assert {"Name": "SomeOtherToggle", "IsEnabled": True} in toggles(e)
        bad = e.session.put(f"{e.url}/api/emulator/config", json={"feature_toggles": ["x"]})
        assert bad.status_code == 400


def test_the_instance_takes_toggles_on_construction() -> None:
    instance = Instance(server_version="2026.1.1", feature_toggles={TOGGLE: False})
    assert instance.scoped_tenant_variables is False
    assert Instance(server_version="2025.2.0").scoped_tenant_variables is True
    assert Instance(server_version="2025.1.9999").scoped_tenant_variables is False
