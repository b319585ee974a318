"""Plan rules (pure) that the end-to-end tests reach only through a real server's refusals;
names as the server matches them; references checked on what would be written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snapshotsync.changes import ENVIRONMENT_ORDER, Plan
from snapshotsync.model import OUT_OF_SCOPE, SENSITIVE, ResourceKey, Snapshot
from snapshotsync.overlay import Overlay, VariablePolicy
from snapshotsync.plan import make_plan
from snapshotsync.transform import Desired

OVERLAY = Overlay(path=Path("prod.yaml"))


def _snapshot(*items: tuple[str, tuple[str, ...], dict[str, Any]]) -> Snapshot:
    return Snapshot({ResourceKey(kind, name): document for kind, name, document in items})


def _environment(name: str, order: int) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    return ("environments", (name,), {"Name": name, "SortOrder": order})


def test_created_environments_take_the_sources_order_around_the_destinations_own() -> None:
    desired = _snapshot(_environment("Staging", 3), _environment("Production", 4))
    live = _snapshot(_environment("Production", 1), _environment("DR", 2))
    plan = make_plan(Desired(desired), live, OVERLAY)
    created = [c for c in plan.changes if c.action == "create"]
    assert [c.key.name for c in created] == [("Staging",)]
    assert created[0].after is not None and created[0].after["SortOrder"] == 0
    order = next(c for c in plan.changes if c.key == ENVIRONMENT_ORDER)
    assert order.before == {"Order": ["Production", "DR", "Staging"]}
    assert order.after == {"Order": ["Staging", "DR", "Production"]}
    # The order is not one of an environment's details: no "left alone" for it.
    assert [
        c.action for c in plan.changes if c.key == ResourceKey("environments", ("Production",))
    ] == ["same"]


def test_no_environment_created_means_the_destinations_order_is_left_alone() -> None:
    desired = _snapshot(_environment("Staging", 1), _environment("Production", 2))
    live = _snapshot(_environment("Production", 1), _environment("Staging", 2))
    plan = make_plan(Desired(desired), live, OVERLAY)
    assert all(c.key != ENVIRONMENT_ORDER for c in plan.changes)
    assert not plan.has_changes


def _process(*steps: tuple[str, list[str]]) -> dict[str, Any]:
    return {
        "Steps": [
            {
                "Name": step,
                "Actions": [{"Name": action, "ActionType": "Octopus.Script"} for action in actions],
            }
            for step, actions in steps
        ]
    }


def test_a_destination_step_sharing_a_name_with_a_synced_one_is_a_plan_error() -> None:
    desired = _snapshot(
        ("deployment-processes", ("Web",), _process(("Notify", ["Notify"]), ("Deploy", ["Deploy"])))
    )
    live = _snapshot(
        ("deployment-processes", ("Web",), _process(("Deploy", ["Deploy"]), ("Alert", ["notify"])))
    )
    plan = make_plan(Desired(desired), live, OVERLAY)
    assert plan.errors == (
        "deployment-processes Web: synced step 'Notify' and the destination's own step 'Alert' "
        "both use the name 'notify', and Octopus needs step and action names unique within a "
        "process: rename the destination's step, or exclude the synced one (exclude.steps)",
    )
    assert plan.writes == ()


def test_a_step_and_its_own_action_may_share_a_name() -> None:
    desired = _snapshot(("deployment-processes", ("Web",), _process(("Deploy", ["Deploy"]))))
    plan = make_plan(Desired(desired), _snapshot(), OVERLAY)
    assert plan.errors == ()


def test_a_certificate_the_destination_lacks_stops_the_plan_with_the_way_out() -> None:
    desired = _snapshot(("certificates", ("Wildcard",), {"Name": "Wildcard"}))
    plan = make_plan(Desired(desired), _snapshot(), OVERLAY)
    (error,) = plan.errors
    assert error.startswith("certificates Wildcard: not on the destination")
    assert "rename.certificates" in error and "exclude.certificates" in error
    assert plan.writes == ()


def test_a_config_as_code_destination_project_keeps_its_deployment_settings() -> None:
    source = {
        "Name": "Web",
        "Description": "new",
        "ReleaseNotesTemplate": "source notes",
        "VersioningStrategy": {"Template": "1.0.#{Octopus.Version.NextPatch}"},
        "PersistenceSettings": {"Type": "Database"},
    }
    destination = {
        "Name": "Web",
        "Description": "old",
        "ReleaseNotesTemplate": "",
        "PersistenceSettings": {"Type": "VersionControlled", "Url": "https://git.example/web"},
    }
    plan = make_plan(
        Desired(_snapshot(("projects", ("Web",), source))),
        _snapshot(("projects", ("Web",), destination)),
        OVERLAY,
    )
    (change,) = plan.changes
    assert change.action == "update" and change.after is not None
    assert change.after["Description"] == "new"
    assert change.after["ReleaseNotesTemplate"] == ""
    assert "VersioningStrategy" not in change.after
    assert change.after["PersistenceSettings"] == destination["PersistenceSettings"]


def test_a_new_project_is_created_without_persistence_settings() -> None:
    source = {"Name": "Web", "PersistenceSettings": {"Type": "Database"}}
    plan = make_plan(Desired(_snapshot(("projects", ("Web",), source))), _snapshot(), OVERLAY)
    (change,) = plan.changes
    assert change.action == "create" and change.after == {"Name": "Web"}


# ---------------------------------------------------------------- issue 11


def _plan(desired: Snapshot, live: Snapshot, overlay: Overlay = OVERLAY, **facts: Any) -> Plan:
    return make_plan(
        Desired(desired), live, overlay, facts={k: frozenset(v) for k, v in facts.items()}
    )


def _change(plan: Plan, kind: str, *name: str) -> Any:
    return next(c for c in plan.changes if c.key == ResourceKey(kind, name))


LIVE = _snapshot(
    ("environments", ("Production",), {"Name": "Production"}),
    ("projects", ("PayFX",), {"Name": "PayFX", "LifecycleId": "Default"}),
    (
        "project-variables",
        ("PayFX",),
        {
            "Variables": [
                {
                    "Name": "Db.Password",
                    "Type": "Sensitive",
                    "Value": dict(SENSITIVE),
                    "Scope": {"Environment": ["Production"]},
                }
            ]
        },
    ),
)


def test_a_name_in_another_case_is_the_destination_s_name() -> None:
    desired = _snapshot(
        ("environments", ("production",), {"Name": "production"}),
        ("projects", ("PayFX",), {"Name": "PayFX", "LifecycleId": "default"}),
        (
            "project-variables",
            ("PayFX",),
            {
                "Variables": [
                    {
                        "Name": "db.password",
                        "Type": "Sensitive",
                        "Value": dict(SENSITIVE),
                        "Scope": {"Environment": ["production"]},
                    }
                ]
            },
        ),
    )
    plan = _plan(desired, LIVE, lifecycles={"Default"})
    assert plan.errors == ()
    assert not plan.has_changes, [(c.action, c.key, c.diff) for c in plan.writes]
    assert _change(plan, "environments", "Production").action == "same"


def test_references_are_checked_on_what_would_be_written() -> None:
    values = [
        {"Name": "Azure", "Type": "AzureAccount", "Value": "Azure NonProd", OUT_OF_SCOPE: True},
        {
            "Name": "Azure",
            "Type": "AzureAccount",
            "Value": "Azure Prod",
            "Scope": {"Environment": ["Production"]},
        },
    ]
    desired = _snapshot(("project-variables", ("PayFX",), {"Variables": values}))
    assert _plan(desired, LIVE, accounts={"Azure Prod"}).errors == ()
    # a new variable whose values were all scoped out is cloned: then its account is needed
    cloned = _snapshot(("project-variables", ("PayFX",), {"Variables": values[:1]}))
    assert _plan(cloned, LIVE, accounts={"Azure Prod"}).errors == (
        "project-variables PayFX: needs accounts 'Azure NonProd', which is not on the "
        "destination and not synced",
    )


def test_a_missing_feed_is_reported_once_however_many_fields_name_it() -> None:
    action = {
        "Name": "Deploy",
        "Properties": {"Octopus.Action.Package.FeedId": "Artifacts"},
        "Packages": [{"Name": "", "PackageId": "Web", "FeedId": "Artifacts"}],
    }
    desired = _snapshot(
        ("deployment-processes", ("PayFX",), {"Steps": [{"Name": "Deploy", "Actions": [action]}]})
    )
    assert _plan(desired, LIVE).errors == (
        "deployment-processes PayFX: needs feeds 'Artifacts', which is not on the destination "
        "and not synced",
    )


def test_tenant_values_written_with_the_placeholder_go_into_the_ledger() -> None:
    overlay = Overlay(
        path=Path("prod.yaml"),
        environments={"Prod": "Production"},
        tenant_variables="placeholder",
        variables=VariablePolicy(placeholder="TODO"),
    )
    live = _snapshot(
        (
            "tenant-variables",
            ("Acme",),
            {
                "ProjectVariables": {
                    "PayFX": {"Kept": [{"Environments": ["Production"], "Value": "TODO"}]}
                }
            },
        ),
    )
    desired = _snapshot(
        (
            "tenant-variables",
            ("Acme",),
            {
                "ProjectVariables": {
                    "PayFX": {
                        "Url": [{"Environments": ["Production"], "Value": "TODO"}],
                        "Kept": [{"Environments": ["Production"], "Value": "TODO"}],
                        "Key": [{"Environments": ["Production"], "Value": dict(SENSITIVE)}],
                    }
                },
                "CommonVariables": {"Common": {"Alias": [{"Value": "TODO"}]}},
            },
        ),
    )
    plan = _plan(desired, live, overlay)
    assert sorted((p.field, p.value, p.path) for p in plan.placeholders if p.value) == [
        ("Common Alias", "TODO", ("CommonVariables", "Common", "Alias")),
        ("PayFX Url [Production]", "TODO", ("ProjectVariables", "PayFX", "Url", "Production")),
    ]
    assert [p.field for p in plan.placeholders if not p.value] == ["PayFX Key [Production]"]
