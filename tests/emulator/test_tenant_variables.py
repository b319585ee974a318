"""Tenant variables over real HTTP: the scoped routes of 2025.2+, the legacy document as a view
of the same values, secrets, validation, stale writes and seeds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from snapshotsync.emulator import Instance
from snapshotsync.emulator.seed import SeedError, load
from tests.emulator.test_http import HIDDEN, SENSITIVE, assert_400, new_project
from tests.helpers import Emulator, running_emulator

NEW = "2025.2.11370"
OLD = "2024.2.9000"


@pytest.fixture
def scoped() -> Iterator[Emulator]:
    with running_emulator(server_version=NEW, id_offset=2000) as running:
        yield running


def setup(e: Emulator) -> dict[str, Any]:
    """Three environments, a project with two templates (one sensitive), a library variable
    set with one template included by it, a second project, and a tenant connected to the
    first project in Dev and Test."""
    ids: dict[str, Any] = {}
    for name in ("Dev", "Test", "Prod"):
        ids[name] = e.create("environments", {"Name": name})["Id"]
    lvs = e.create(
        "libraryvariablesets",
        {
            "Name": "Shared",
            "Templates": [{"Name": "Region"}, {"Name": "Key", "DisplaySettings": SENSITIVE}],
        },
    )
    ids["lvs"] = lvs["Id"]
    ids["region"], ids["key"] = (t["Id"] for t in lvs["Templates"])
    project = new_project(
        e,
        "OctoFX",
        IncludedLibraryVariableSetIds=[lvs["Id"]],
        Templates=[{"Name": "Db"}, {"Name": "Password", "DisplaySettings": SENSITIVE}],
    )
    ids["project"] = project["Id"]
    ids["db"], ids["password"] = (t["Id"] for t in project["Templates"])
    ids["other"] = new_project(e, "Payments", Templates=[{"Name": "Other"}])["Id"]
    ids["other_lvs"] = e.create(
        "libraryvariablesets", {"Name": "Unused", "Templates": [{"Name": "X"}]}
    )["Id"]
    tenant = e.create(
        "tenants",
        {"Name": "Acme", "ProjectEnvironments": {project["Id"]: [ids["Dev"], ids["Test"]]}},
    )
    ids["tenant"] = tenant["Id"]
    return ids


def project_value(ids: dict[str, Any], template: str, value: Any, *envs: str, **extra: Any) -> Any:
    return {
        "ProjectId": ids["project"],
        "TemplateId": ids[template],
        "Value": value,
        "Scope": {"EnvironmentIds": [ids[e] for e in envs]},
        **extra,
    }


def put(e: Emulator, ids: dict[str, Any], document: str, variables: list[Any]) -> Any:
    return e.put(f"tenants/{ids['tenant']}/{document}", {"Variables": variables})


# ----------------------------------------------------------------- the scoped routes


def test_project_values_are_scoped_to_several_environments_and_read_back(scoped: Emulator) -> None:
    ids = setup(scoped)
    path = f"tenants/{ids['tenant']}/projectvariables"
    response = put(
        scoped,
        ids,
        "projectvariables",
        [
            project_value(ids, "db", "shared_db", "Dev", "Test"),
            project_value(ids, "password", {"HasValue": True, "NewValue": "s3cret"}),
        ],
    )
    assert response.status_code == 200, response.text
    written = response.json()
    assert written["TenantId"] == ids["tenant"] and "MissingVariables" not in written
    read = scoped.get(path)
    assert read == written
    by_template = {v["TemplateId"]: v for v in read["Variables"]}
    db = by_template[ids["db"]]
    assert db["Id"].startswith("TenantVariables-")
    assert (db["ProjectId"], db["ProjectName"], db["Value"]) == (
        ids["project"],
        "OctoFX",
        "shared_db",
    )
    assert db["Scope"] == {"EnvironmentIds": [ids["Dev"], ids["Test"]]}
    assert db["Template"]["Name"] == "Db" and db["Template"]["Id"] == ids["db"]
    password = by_template[ids["password"]]
    assert password["Value"] == HIDDEN and password["Scope"] == {"EnvironmentIds": []}
    assert "s3cret" not in scoped.session.get(scoped.space_url(path)).text
    # POST is accepted too (go-octopusdeploy PR #301: GET/PUT/POST).
    again = scoped.post(path, {"Variables": read["Variables"], "TenantId": ids["tenant"]})
    assert again.status_code == 200, again.text
    assert again.json()["Variables"] == read["Variables"]


def test_a_put_replaces_the_whole_document(scoped: Emulator) -> None:
    ids = setup(scoped)
    path = f"tenants/{ids['tenant']}/projectvariables"
    first = put(
        scoped,
        ids,
        "projectvariables",
        [project_value(ids, "db", "dev_db", "Dev"), project_value(ids, "db", "test_db", "Test")],
    ).json()["Variables"]
    dev = next(v for v in first if v["Value"] == "dev_db")
    # Keep Dev (with its Id, a new value), leave Test out, add an unscoped password.
    response = put(
        scoped,
        ids,
        "projectvariables",
        [
            {**dev, "Value": "dev_db2"},
            project_value(ids, "password", {"HasValue": True, "NewValue": "p"}),
        ],
    )
    assert response.status_code == 200, response.text
    after = scoped.get(path)["Variables"]
    assert sorted((v["Value"] if isinstance(v["Value"], str) else "secret") for v in after) == [
        "dev_db2",
        "secret",
    ]
    assert next(v for v in after if v["Value"] == "dev_db2")["Id"] == dev["Id"]
    # An empty list deletes everything.
    assert put(scoped, ids, "projectvariables", []).json()["Variables"] == []


def test_secrets_are_kept_by_id_and_never_inherited_without_it(scoped: Emulator) -> None:
    ids = setup(scoped)
    written = put(
        scoped,
        ids,
        "projectvariables",
        [project_value(ids, "password", {"HasValue": True, "NewValue": "s3cret"}, "Dev")],
    ).json()["Variables"][0]

    def stored() -> list[Any]:
        return [v["Value"] for v in scoped.instance.tenant_values[ids["tenant"]]]

    # Sent back as read (Id, HasValue true, NewValue null): kept.
    assert put(scoped, ids, "projectvariables", [written]).status_code == 200
    assert stored() == [{"HasValue": True, "NewValue": "s3cret", "Hint": None}]
    # The same without its Id is a new value: nothing to keep.
    without_id = {k: v for k, v in written.items() if k != "Id"}
    assert put(scoped, ids, "projectvariables", [without_id]).status_code == 200
    assert stored() == [{"HasValue": False, "NewValue": None, "Hint": None}]
    # A plain string for a sensitive template binds a variable and stays visible.
    binding = project_value(ids, "password", "#{Db.Password}", "Dev")
    assert put(scoped, ids, "projectvariables", [binding]).json()["Variables"][0]["Value"] == (
        "#{Db.Password}"
    )


def test_common_values_may_be_scoped_and_are_their_own_document(scoped: Emulator) -> None:
    ids = setup(scoped)
    put(scoped, ids, "projectvariables", [project_value(ids, "db", "db", "Dev")])
    common = [
        {"LibraryVariableSetId": ids["lvs"], "TemplateId": ids["region"], "Value": "eu"},
        {
            "LibraryVariableSetId": ids["lvs"],
            "TemplateId": ids["region"],
            "Value": "us",
            "Scope": {"EnvironmentIds": [ids["Test"]]},
        },
    ]
    response = put(scoped, ids, "commonvariables", common)
    assert response.status_code == 200, response.text
    values = response.json()["Variables"]
    assert [(v["Value"], v["Scope"]["EnvironmentIds"]) for v in values] == [
        ("eu", []),
        ("us", [ids["Test"]]),
    ]
    assert values[0]["LibraryVariableSetName"] == "Shared"
    # Writing the common document leaves the project document alone.
    assert [
        v["Value"] for v in scoped.get(f"tenants/{ids['tenant']}/projectvariables")["Variables"]
    ] == ["db"]


def test_missing_variables_only_when_asked(scoped: Emulator) -> None:
    ids = setup(scoped)
    put(scoped, ids, "projectvariables", [project_value(ids, "db", "dev_db", "Dev")])
    path = f"tenants/{ids['tenant']}/projectvariables"
    assert "MissingVariables" not in scoped.get(path)
    for flag in ("includeMissingVariables=true", "IncludeMissingVariables=True"):
        missing = scoped.get(f"{path}?{flag}")["MissingVariables"]
        by_template = {m["TemplateId"]: m for m in missing}
        assert by_template[ids["db"]]["Scope"] == {"EnvironmentIds": [ids["Test"]]}
        assert by_template[ids["password"]]["Scope"] == {
            "EnvironmentIds": [ids["Dev"], ids["Test"]]
        }
        assert all(m["Id"] == "" and m["ProjectName"] == "OctoFX" for m in missing)
    common = scoped.get(f"tenants/{ids['tenant']}/commonvariables?includeMissingVariables=true")
    assert {m["TemplateId"] for m in common["MissingVariables"]} == {ids["region"], ids["key"]}


@pytest.mark.parametrize(
    ("case", "fragments"),
    [
        ("null value", ["The Value field is required."]),
        ("project not connected", ["Tenant variable validation failed.", "not connected"]),
        ("environment not connected", ["Tenant variable validation failed.", "{Prod}"]),
        ("no such template", ["Tenant variable validation failed.", "no-such-template"]),
        ("overlapping scopes", ["More than one value", "environments {Test}"]),
        ("two unscoped values", ["More than one value", "no environment scope"]),
        ("unknown id", ["TenantVariables-999999"]),
        ("unknown property", ["Colour"]),
    ],
)
def test_project_values_the_server_refuses(
    scoped: Emulator, case: str, fragments: list[str]
) -> None:
    ids = setup(scoped)
    bodies = {
        "null value": [project_value(ids, "db", None, "Dev")],
        "project not connected": [{**project_value(ids, "db", "x"), "ProjectId": ids["other"]}],
        "environment not connected": [project_value(ids, "db", "x", "Prod")],
        "no such template": [{**project_value(ids, "db", "x"), "TemplateId": "no-such-template"}],
        "overlapping scopes": [
            project_value(ids, "db", "a", "Dev", "Test"),
            project_value(ids, "db", "b", "Test"),
        ],
        "two unscoped values": [project_value(ids, "db", "a"), project_value(ids, "db", "b")],
        "unknown id": [project_value(ids, "db", "a", Id="TenantVariables-999999")],
        "unknown property": [project_value(ids, "db", "a", Colour="red")],
    }
    expected = [fragment.format(**ids) for fragment in fragments]
    assert_400(put(scoped, ids, "projectvariables", bodies[case]), *expected)
    assert scoped.instance.tenant_values.get(ids["tenant"], []) == []


def test_a_common_value_needs_a_set_a_connected_project_includes(scoped: Emulator) -> None:
    ids = setup(scoped)
    body = [{"LibraryVariableSetId": ids["other_lvs"], "TemplateId": "t", "Value": "x"}]
    # The server's words, OctopusDeploy/Issues#9487.
    assert_400(
        put(scoped, ids, "commonvariables", body),
        "Tenant variable validation failed. The variableset value provided for t is invalid as "
        f"they are not connected to the project or they do not exist: {ids['other_lvs']}",
    )
    # A bare array (api-client.ts's form) is refused; so is a TenantId of another tenant.
    bare = scoped.put(f"tenants/{ids['tenant']}/commonvariables", [])
    assert bare.status_code == 400
    other = scoped.put(
        f"tenants/{ids['tenant']}/commonvariables", {"Variables": [], "TenantId": "Tenants-9"}
    )
    assert_400(other, "Tenants-9")


def test_the_scoped_routes_do_not_exist_on_the_legacy_profile() -> None:
    with running_emulator(server_version=OLD) as e:
        ids = setup(e)
        for document in ("projectvariables", "commonvariables"):
            url = e.space_url(f"tenants/{ids['tenant']}/{document}")
            assert e.session.get(url).status_code == 404
            assert e.session.put(url, json={"Variables": []}).status_code == 404
        # Switched on by its toggle, they appear.
        e.configure(feature_toggles={"CommonVariableScopingFeatureToggle": True})
        assert e.get(f"tenants/{ids['tenant']}/projectvariables")["Variables"] == []


# ----------------------------------------------------------------- the legacy view


def test_the_legacy_document_is_a_view_of_the_scoped_values(scoped: Emulator) -> None:
    ids = setup(scoped)
    put(
        scoped,
        ids,
        "projectvariables",
        [
            project_value(ids, "db", "shared_db", "Dev", "Test"),
            project_value(ids, "password", {"HasValue": True, "NewValue": "p"}),
            project_value(ids, "password", {"HasValue": True, "NewValue": "q"}, "Test"),
        ],
    )
    put(
        scoped,
        ids,
        "commonvariables",
        [
            {"LibraryVariableSetId": ids["lvs"], "TemplateId": ids["region"], "Value": "eu"},
            {
                "LibraryVariableSetId": ids["lvs"],
                "TemplateId": ids["key"],
                "Value": {"HasValue": True, "NewValue": "k"},
                "Scope": {"EnvironmentIds": [ids["Dev"]]},
            },
        ],
    )
    legacy = scoped.get(f"tenants/{ids['tenant']}/variables")
    per_env = legacy["ProjectVariables"][ids["project"]]["Variables"]
    # The multi-environment value under each environment; the unscoped password wherever no
    # scoped password is set.
    assert per_env == {
        ids["Dev"]: {ids["db"]: "shared_db", ids["password"]: HIDDEN},
        ids["Test"]: {ids["db"]: "shared_db", ids["password"]: HIDDEN},
    }
    # Common values: the unscoped one; a scoped common value has no place in this shape.
    assert legacy["LibraryVariables"][ids["lvs"]]["Variables"] == {ids["region"]: "eu"}
    assert isinstance(legacy["ConcurrencyToken"], str) and legacy["ConcurrencyToken"]


def test_legacy_writes_are_refused_on_2025_2_and_name_the_new_routes(scoped: Emulator) -> None:
    ids = setup(scoped)
    path = f"tenants/{ids['tenant']}/variables"
    document = scoped.get(path)
    for send in (scoped.put, scoped.post):
        assert_400(send(path, document), "projectvariables", "commonvariables")
    # The same instance with the toggle off takes them again.
    scoped.configure(feature_toggles={"CommonVariableScopingFeatureToggle": False})
    assert scoped.put(path, document).status_code == 200


def test_legacy_writes_go_into_the_store_keeping_multi_environment_values() -> None:
    with running_emulator(server_version=OLD) as e:
        ids = setup(e)
        e.configure(feature_toggles={"CommonVariableScopingFeatureToggle": True})
        put(e, ids, "projectvariables", [project_value(ids, "db", "shared", "Dev", "Test")])
        e.configure(feature_toggles={"CommonVariableScopingFeatureToggle": None})
        path = f"tenants/{ids['tenant']}/variables"

        def store() -> list[tuple[Any, list[str]]]:
            return sorted(
                (v["Value"], v["Scope"]["EnvironmentIds"])
                for v in e.instance.tenant_values[ids["tenant"]]
            )

        # POST (Octopus.Client's verb) of the unchanged document, a common value added: the
        # multi-environment value stays one value.
        document = e.get(path)
        document["LibraryVariables"][ids["lvs"]]["Variables"] = {ids["region"]: "eu"}
        response = e.post(path, document)
        assert response.status_code == 200, response.text
        assert store() == [("eu", []), ("shared", [ids["Dev"], ids["Test"]])]
        # Changing one environment's value splits it into per-environment values.
        document = e.get(path)
        document["ProjectVariables"][ids["project"]]["Variables"][ids["Test"]][ids["db"]] = "test"
        assert e.put(path, document).status_code == 200
        assert store() == [("eu", []), ("shared", [ids["Dev"]]), ("test", [ids["Test"]])]
        # Leaving a value out deletes it.
        document = e.get(path)
        del document["ProjectVariables"][ids["project"]]["Variables"][ids["Dev"]][ids["db"]]
        document["LibraryVariables"][ids["lvs"]]["Variables"] = {}
        assert e.put(path, document).status_code == 200
        assert store() == [("test", [ids["Test"]])]


def test_a_stale_concurrency_token_is_refused_and_no_token_is_not_checked() -> None:
    with running_emulator(server_version=OLD) as e:
        ids = setup(e)
        path = f"tenants/{ids['tenant']}/variables"
        first = e.get(path)
        second = e.get(path)
        assert first["ConcurrencyToken"] == second["ConcurrencyToken"]
        first["ProjectVariables"][ids["project"]]["Variables"][ids["Dev"]] = {ids["db"]: "one"}
        assert e.put(path, first).status_code == 200
        second["ProjectVariables"][ids["project"]]["Variables"][ids["Dev"]] = {ids["db"]: "two"}
        # The server's words (OctopusDeployLabs/terraform-provider-octopusdeploy#907).
        assert_400(
            e.put(path, second),
            "Modification failed for 'TenantVariable' document with "
            f"'TenantVariables-{ids['tenant']}' Id because submitted data was out of date. "
            "Refresh the document and try again.",
        )
        assert e.get(path)["ProjectVariables"][ids["project"]]["Variables"][ids["Dev"]] == {
            ids["db"]: "one"
        }
        del second["ConcurrencyToken"]
        assert e.put(path, second).status_code == 200


def test_a_concurrent_edit_meets_tenant_variable_writes() -> None:
    with running_emulator(server_version=OLD) as e:
        ids = setup(e)
        path = f"tenants/{ids['tenant']}/variables"
        e.configure(concurrent_edit_on_put=1)
        document = e.get(path)
        assert_400(e.put(path, document), "submitted data was out of date")
        retried = e.get(path)
        assert e.put(path, retried).status_code == 200
    with running_emulator(server_version=NEW) as e:
        ids = setup(e)
        path = f"tenants/{ids['tenant']}/projectvariables"
        e.configure(concurrent_edit_on_put=1)
        token = e.get(path)["ConcurrencyToken"]
        body = {"Variables": [project_value(ids, "db", "x", "Dev")], "ConcurrencyToken": token}
        # Another user saves between the read and this write: the token is stale (the API
        # reference, tenants.md: "the write is rejected if someone else changed the variables
        # since your read"), in the words of OctopusDeploy/Issues#10143.
        assert_400(e.put(path, body), "another user has made changes")
        assert e.instance.tenant_values.get(ids["tenant"], []) == []
        fresh = e.get(path)["ConcurrencyToken"]
        assert fresh != token
        saved = e.put(path, {**body, "ConcurrencyToken": fresh})
        assert saved.status_code == 200
        # Every write issues a new token; "omitting it skips the check".
        assert saved.json()["ConcurrencyToken"] not in (fresh, token)
        assert put(e, ids, "projectvariables", body["Variables"]).status_code == 200


def test_scoped_items_may_name_their_owner_as_owner_id(scoped: Emulator) -> None:
    """The API reference names each item's owner `OwnerId`; every client sends `ProjectId`
    or `LibraryVariableSetId`. Both are taken; two that disagree are refused."""
    ids = setup(scoped)
    item = project_value(ids, "db", "x", "Dev")
    owner = item.pop("ProjectId")
    saved = put(scoped, ids, "projectvariables", [{**item, "OwnerId": owner}])
    assert saved.status_code == 200, saved.text
    assert saved.json()["Variables"][0]["ProjectId"] == owner
    assert_400(
        put(scoped, ids, "projectvariables", [{**item, "OwnerId": owner, "ProjectId": "x"}]),
        "name different owners",
    )


# ----------------------------------------------------------------- seeds

SEED: dict[str, Any] = {
    "environments": [{"Name": "Dev"}, {"Name": "Test"}],
    "libraryvariablesets": [{"Name": "Shared", "Templates": [{"Name": "Region"}]}],
    "projects": [
        {
            "Name": "OctoFX",
            "LifecycleId": "Default Lifecycle",
            "ProjectGroupId": "Default Project Group",
            "IncludedLibraryVariableSetIds": ["Shared"],
            "Templates": [{"Name": "Db"}],
        }
    ],
    "tenants": [
        {
            "Name": "Acme",
            "ProjectEnvironments": {"OctoFX": ["Dev", "Test"]},
            "Variables": [
                {
                    "Project": "OctoFX",
                    "Template": "Db",
                    "Value": "both",
                    "Environments": ["Dev", "Test"],
                },
                {"LibraryVariableSet": "Shared", "Template": "Region", "Value": "eu"},
                {
                    "LibraryVariableSet": "Shared",
                    "Template": "Region",
                    "Value": "us",
                    "Environments": ["Test"],
                },
            ],
        }
    ],
}


@pytest.mark.parametrize("version", [OLD, NEW])
def test_seeds_give_scoped_values_on_either_profile(version: str) -> None:
    instance = Instance(server_version=version)
    load(instance, SEED)
    space = instance.default_space_id()
    tenant = instance.find_by_name(space, "tenants", "Acme")
    assert tenant is not None
    env = {e["Name"]: e["Id"] for e in instance.space_items(space, "environments")}
    values = sorted(
        (v["Value"], v["Scope"]["EnvironmentIds"]) for v in instance.tenant_values[tenant["Id"]]
    )
    assert values == [("both", [env["Dev"], env["Test"]]), ("eu", []), ("us", [env["Test"]])]


def test_a_bad_scoped_seed_value_names_the_tenant() -> None:
    seed = {
        **SEED,
        "tenants": [{**SEED["tenants"][0], "Variables": [{"Project": "OctoFX", "Value": "x"}]}],
    }
    with pytest.raises(SeedError, match=r"tenants 'Acme'.*no variable template"):
        load(Instance(), seed)


def test_the_source_sample_loads_on_the_2025_2_profile() -> None:
    from tests.helpers import SAMPLES

    with running_emulator(seed=SAMPLES / "source.yaml", server_version=NEW) as e:
        tenant = e.by_name("tenants", "Internal")
        values = e.get(f"tenants/{tenant['Id']}/projectvariables")["Variables"]
        assert len(values) == 4 and all(len(v["Scope"]["EnvironmentIds"]) == 1 for v in values)
        common = e.get(f"tenants/{tenant['Id']}/commonvariables")["Variables"]
        assert [v["Value"] for v in common] == ["internal"]
