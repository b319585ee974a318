"""Plan (pure): desired against live, names as the server matches them, references checked
on what would be written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snapshotsync.model import OUT_OF_SCOPE, SENSITIVE, ResourceKey, Snapshot
from snapshotsync.overlay import Overlay, VariablePolicy
from snapshotsync.plan import Plan, make_plan
from snapshotsync.transform import Desired

OVERLAY = Overlay(path=Path("prod.yaml"), environments={"Prod": "Production"})


def _snapshot(*items: tuple[str, tuple[str, ...], dict[str, Any]]) -> Snapshot:
    return Snapshot({ResourceKey(kind, name): document for kind, name, document in items})


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
        ("tenant-variables", ("Acme",), {"ProjectVariables": {"PayFX": {"Production": {}}}}),
    )
    desired = _snapshot(
        (
            "tenant-variables",
            ("Acme",),
            {
                "ProjectVariables": {
                    "PayFX": {"Production": {"Url": "TODO", "Key": dict(SENSITIVE)}}
                },
                "LibraryVariables": {"Common": {"Alias": "TODO"}},
            },
        ),
    )
    plan = _plan(desired, live, overlay)
    assert [(p.field, p.value, p.path) for p in plan.placeholders] == [
        (
            "tenant variable PayFX/Production/Url",
            "TODO",
            ("ProjectVariables", "PayFX", "Production", "Url"),
        ),
        ("tenant variable Common/Alias", "TODO", ("LibraryVariables", "Common", "Alias")),
        ("ProjectVariables.PayFX.Production.Key", None, ()),
    ]
