"""Transform (pure): cascades of exclusion, and scopes that never widen."""

from __future__ import annotations

from typing import Any

from snapshotsync.model import OUT_OF_SCOPE, ResourceKey, Snapshot
from snapshotsync.overlay import Overlay, Rescope, ScopedValue, VariablePolicy
from snapshotsync.transform import apply

ENVIRONMENTS = {"Staging": "Staging", "Production": "Production"}


def _overlay(**changes: Any) -> Overlay:
    from pathlib import Path

    return Overlay(
        path=Path("prod.yaml"), environments=changes.pop("environments", ENVIRONMENTS), **changes
    )


def _snapshot(*items: tuple[str, tuple[str, ...], dict[str, Any]]) -> Snapshot:
    return Snapshot({ResourceKey(kind, name): document for kind, name, document in items})


def _variables(*values: dict[str, Any]) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    return ("project-variables", ("Web",), {"Variables": list(values)})


PROJECT = ("projects", ("Web",), {"Name": "Web", "LifecycleId": "Default"})


def test_a_lifecycle_whose_phases_all_go_is_left_out_not_everything() -> None:
    snapshot = _snapshot(
        (
            "lifecycles",
            ("Dev only",),
            {
                "Name": "Dev only",
                "Phases": [
                    {
                        "Name": "Dev",
                        "AutomaticDeploymentTargets": ["Development"],
                        "OptionalDeploymentTargets": [],
                    }
                ],
            },
        )
    )
    desired = apply(snapshot, _overlay())
    assert desired.snapshot.resources == {}
    # Left out like an excluded lifecycle (an empty one would allow every environment), with
    # a decision; a project that needs it gets an error from the plan's reference check.
    assert desired.errors == ()
    assert [str(d) for d in desired.decisions] == [
        "lifecycles Dev only: every phase's environments are excluded: left out, with its "
        "channels (an empty lifecycle would allow every environment)",
    ]


def test_environment_mapping_renames_and_partial_scopes_narrow() -> None:
    snapshot = _snapshot(
        PROJECT,
        _variables(
            {"Name": "A", "Value": "1", "Scope": {"Environment": ["Test", "Staging"]}},
            {"Name": "B", "Value": "2", "Scope": {"Environment": ["Test"]}},
        ),
    )
    desired = apply(snapshot, _overlay(environments={"Staging": "Pre-Prod"}))
    values = desired.snapshot.resources[ResourceKey("project-variables", ("Web",))]["Variables"]
    assert values == [
        {"Name": "A", "Value": "1", "Scope": {"Environment": ["Pre-Prod"]}},
        {"Name": "B", "Value": "2", OUT_OF_SCOPE: True},
    ]


def test_exact_policies_skip_or_fail_on_a_partial_scope() -> None:
    snapshot = _snapshot(
        PROJECT,
        _variables({"Name": "A", "Value": "1", "Scope": {"Environment": ["Test", "Staging"]}}),
    )
    skip = apply(
        snapshot, _overlay(variables=VariablePolicy(scoping={"environment": "skip-unless-exact"}))
    )
    assert skip.snapshot.resources[ResourceKey("project-variables", ("Web",))]["Variables"] == []
    fail = apply(
        snapshot, _overlay(variables=VariablePolicy(scoping={"environment": "error-unless-exact"}))
    )
    assert len(fail.errors) == 1 and "error-unless-exact" in fail.errors[0]


def test_machine_scopes_never_widen_even_under_ignore() -> None:
    snapshot = _snapshot(
        PROJECT, _variables({"Name": "A", "Value": "1", "Scope": {"Machine": ["web-dev-01"]}})
    )
    for policy in ("ignore", "skip-unless-partial", "ignore-on-new"):
        desired = apply(
            snapshot,
            _overlay(variables=VariablePolicy(scoping={"machine": policy})),
            {"machines": frozenset({"web-prod-01"})},
        )
        values = desired.snapshot.resources[ResourceKey("project-variables", ("Web",))]["Variables"]
        assert values == [], policy


def test_steps_out_of_scope_skip_or_unscope_and_rescope() -> None:
    process = {
        "Steps": [
            {
                "Name": "Smoke",
                "Actions": [{"Name": "Smoke", "Environments": ["Test"], "Channels": []}],
            },
            {
                "Name": "Sign-off",
                "Actions": [{"Name": "Sign-off", "Environments": ["Test"], "Channels": []}],
            },
        ]
    }
    snapshot = _snapshot(PROJECT, ("deployment-processes", ("Web",), process))
    key = ResourceKey("deployment-processes", ("Web",))
    skipped = apply(
        snapshot, _overlay(rescope={"Web/Sign-off": Rescope(environments=("Staging",))})
    )
    steps = skipped.snapshot.resources[key]["Steps"]
    assert [(s["Name"], s["Actions"][0]["Environments"]) for s in steps] == [
        ("Sign-off", ["Staging"])
    ]
    unscoped = apply(snapshot, _overlay(step_out_of_scope="unscope"))
    assert [s["Actions"][0]["Environments"] for s in unscoped.snapshot.resources[key]["Steps"]] == [
        [],
        [],
    ]
    assert any("runs in every environment" in d.message for d in unscoped.decisions)


def test_a_channel_on_an_excluded_lifecycle_goes_and_takes_its_steps_and_values() -> None:
    snapshot = _snapshot(
        PROJECT,
        ("channels", ("Web", "Hotfix"), {"Name": "Hotfix", "LifecycleId": "QA"}),
        (
            "deployment-processes",
            ("Web",),
            {"Steps": [{"Name": "Gate", "Actions": [{"Name": "Gate", "Channels": ["Hotfix"]}]}]},
        ),
        _variables({"Name": "A", "Value": "1", "Scope": {"Channel": ["Hotfix"]}}),
    )
    desired = apply(snapshot, _overlay(exclude={"lifecycles": ("QA",)}))
    resources = desired.snapshot.resources
    assert ResourceKey("channels", ("Web", "Hotfix")) not in resources
    assert resources[ResourceKey("deployment-processes", ("Web",))]["Steps"] == []
    assert resources[ResourceKey("project-variables", ("Web",))]["Variables"] == []


def test_team_permission_entries_that_would_empty_are_dropped() -> None:
    permissions = {
        "ScopedUserRoles": [
            {
                "UserRoleId": "Tenant manager",
                "TenantIds": ["Team A"],
                "EnvironmentIds": [],
                "ProjectIds": [],
            },
            {
                "UserRoleId": "Deployer",
                "TenantIds": [],
                "EnvironmentIds": ["Test", "Production"],
                "ProjectIds": [],
            },
        ]
    }
    snapshot = _snapshot(("team-permissions", ("Ops",), permissions))
    desired = apply(snapshot, _overlay(exclude={"tenants": ("Team A",)}))
    roles = desired.snapshot.resources[ResourceKey("team-permissions", ("Ops",))]["ScopedUserRoles"]
    assert roles == [
        {
            "UserRoleId": "Deployer",
            "TenantIds": [],
            "EnvironmentIds": ["Production"],
            "ProjectIds": [],
        }
    ]


def test_renames_reach_typed_values_and_step_references() -> None:
    snapshot = _snapshot(
        PROJECT,
        ("accounts", ("Dev AWS",), {"Name": "Dev AWS", "EnvironmentIds": ["Staging"]}),
        _variables({"Name": "Aws", "Value": "Dev AWS", "Type": "AmazonWebServicesAccount"}),
        (
            "deployment-processes",
            ("Web",),
            {
                "Steps": [
                    {
                        "Name": "Run",
                        "Actions": [
                            {
                                "Name": "Run",
                                "WorkerPoolId": "Dev Pool",
                                "Properties": {
                                    "Acct": {"Ref": {"kind": "accounts", "name": "Dev AWS"}}
                                },
                            }
                        ],
                    }
                ]
            },
        ),
    )
    overlay = _overlay(
        rename={"accounts": {"Dev AWS": "Prod AWS"}, "worker-pools": {"Dev Pool": "Prod Pool"}}
    )
    resources = apply(snapshot, overlay).snapshot.resources
    assert ResourceKey("accounts", ("Prod AWS",)) in resources
    assert (
        resources[ResourceKey("project-variables", ("Web",))]["Variables"][0]["Value"] == "Prod AWS"
    )
    action = resources[ResourceKey("deployment-processes", ("Web",))]["Steps"][0]["Actions"][0]
    assert action["WorkerPoolId"] == "Prod Pool"
    assert action["Properties"]["Acct"] == {"Ref": {"kind": "accounts", "name": "Prod AWS"}}


def test_explicit_values_match_names_case_insensitively_and_keep_the_type() -> None:
    snapshot = _snapshot(
        PROJECT,
        _variables(
            {"Name": "Db.Password", "Value": {"Sensitive": "value unknown"}, "Type": "Sensitive"},
            {"Name": "Db.Name", "Value": "dev", "Scope": {"Environment": ["Test"]}},
        ),
    )
    overlay = _overlay(
        variables=VariablePolicy(
            values={"web/db.password": "from-env", "Web/DB.NAME": "prod-db", "Web/New.One": "x"}
        )
    )
    values = apply(snapshot, overlay).snapshot.resources[
        ResourceKey("project-variables", ("Web",))
    ]["Variables"]
    assert values == [
        {"Name": "Db.Password", "Value": "from-env", "Type": "Sensitive", "~Explicit": True},
        {"Name": "Db.Name", "Value": "prod-db", "~Explicit": True},
        {"Name": "New.One", "Value": "x", "~Explicit": True},
    ]


def test_tenant_library_values_follow_the_projects_the_tenant_keeps() -> None:
    snapshot = _snapshot(
        ("projects", ("Web",), {"Name": "Web", "IncludedLibraryVariableSetIds": ["Web Settings"]}),
        ("projects", ("Api",), {"Name": "Api", "IncludedLibraryVariableSetIds": ["Api Settings"]}),
        (
            "tenants",
            ("Acme",),
            {"Name": "Acme", "ProjectEnvironments": {"Web": ["Test"], "Api": ["Production"]}},
        ),
        (
            "tenant-variables",
            ("Acme",),
            {
                "CommonVariables": {
                    "Web Settings": {"Alias": [{"Value": "acme-web"}]},
                    "Api Settings": {"Alias": [{"Value": "acme-api"}]},
                }
            },
        ),
    )
    desired = apply(snapshot, _overlay())
    values = desired.snapshot.resources[ResourceKey("tenant-variables", ("Acme",))]
    assert values == {"CommonVariables": {"Api Settings": {"Alias": [{"Value": "acme-api"}]}}}
    assert any("Web Settings left out" in d.message for d in desired.decisions)


def _trigger(action: dict[str, Any], **filter_: Any) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    return (
        "triggers",
        ("Web", "Nightly"),
        {
            "Name": "Nightly",
            "Filter": {"FilterType": "CronExpressionSchedule", **filter_},
            "Action": action,
        },
    )


def test_a_run_runbook_trigger_maps_its_environments_and_drops_excluded_tenants() -> None:
    snapshot = _snapshot(
        PROJECT,
        _trigger(
            {
                "ActionType": "RunRunbook",
                "RunbookId": "Restart",
                "EnvironmentIds": ["Development", "Production"],
                "TenantIds": ["Internal", "Team A"],
            }
        ),
    )
    desired = apply(snapshot, _overlay(exclude={"tenants": ("Team A",)}))
    action = desired.snapshot.resources[ResourceKey("triggers", ("Web", "Nightly"))]["Action"]
    assert action["EnvironmentIds"] == ["Production"]
    assert action["TenantIds"] == ["Internal"]
    assert any("Team A are excluded" in str(d) for d in desired.decisions)


def test_a_trigger_with_nothing_left_to_act_on_is_left_out_not_widened() -> None:
    cases = [
        ({"ActionType": "RunRunbook", "RunbookId": "R", "EnvironmentIds": ["Development"]}, {}),
        ({"ActionType": "RunRunbook", "RunbookId": "R", "TenantIds": ["Team A"]}, {}),
        ({"ActionType": "RunRunbook", "RunbookId": "Excluded"}, {}),
        ({"ActionType": "DeployNewRelease", "EnvironmentId": "Test"}, {}),
        (
            {
                "ActionType": "DeployLatestRelease",
                "SourceEnvironmentIds": ["Test"],
                "DestinationEnvironmentId": "Production",
            },
            {},
        ),
        ({"ActionType": "DeployNewRelease", "EnvironmentId": "Production", "ChannelId": "QA"}, {}),
    ]
    for action, filter_ in cases:
        desired = apply(
            _snapshot(PROJECT, _trigger(action, **filter_)),
            _overlay(
                exclude={
                    "tenants": ("Team A",),
                    "runbooks": ("Web/Excluded",),
                    "channels": ("Web/QA",),
                }
            ),
        )
        assert ResourceKey("triggers", ("Web", "Nightly")) not in desired.snapshot.resources, action
        assert any("left out" in str(d) for d in desired.decisions), action


def test_argo_cd_environment_lists_in_step_properties_are_mapped() -> None:
    action = {
        "Name": "Sync",
        "ActionType": "Octopus.ArgoCDSync",
        "Properties": {"Octopus.Action.ArgoCD.Sync.Environments": "Development,Production"},
    }
    snapshot = _snapshot(
        PROJECT,
        ("deployment-processes", ("Web",), {"Steps": [{"Name": "Sync", "Actions": [action]}]}),
    )
    desired = apply(snapshot, _overlay(environments={"Production": "Live"}))
    process = desired.snapshot.resources[ResourceKey("deployment-processes", ("Web",))]
    properties = process["Steps"][0]["Actions"][0]["Properties"]
    assert properties["Octopus.Action.ArgoCD.Sync.Environments"] == "Live"


def test_a_config_as_code_project_the_destination_lacks_is_left_out_with_its_parts() -> None:
    project = {
        "Name": "Web",
        "LifecycleId": "Default",
        "PersistenceSettings": {"Type": "VersionControlled", "Url": "https://git.example/web"},
    }
    snapshot = _snapshot(
        ("projects", ("Web",), project),
        ("channels", ("Web", "Default"), {"Name": "Default"}),
        (
            "tenants",
            ("Internal",),
            {"Name": "Internal", "ProjectEnvironments": {"Web": ["Production"]}},
        ),
    )
    missing = apply(snapshot, _overlay(), {"projects": frozenset()})
    assert set(missing.snapshot.resources) == {ResourceKey("tenants", ("Internal",))}
    assert (
        missing.snapshot.resources[ResourceKey("tenants", ("Internal",))]["ProjectEnvironments"]
        == {}
    )
    assert any(
        "config-as-code project the destination does not have" in str(d) for d in missing.decisions
    )
    present = apply(snapshot, _overlay(), {"projects": frozenset({"web"})})
    assert ResourceKey("projects", ("Web",)) in present.snapshot.resources


def test_an_excluded_certificate_takes_the_values_that_name_it_along() -> None:
    snapshot = _snapshot(
        PROJECT,
        ("certificates", ("Wildcard",), {"Name": "Wildcard", "EnvironmentIds": []}),
        _variables({"Name": "Site.Cert", "Type": "Certificate", "Value": "Wildcard"}),
    )
    desired = apply(snapshot, _overlay(exclude={"certificates": ("Wildcard",)}))
    assert ResourceKey("certificates", ("Wildcard",)) not in desired.snapshot.resources
    assert desired.snapshot.resources[ResourceKey("project-variables", ("Web",))]["Variables"] == []


# ---------------------------------------------------------------- issue 11

DR = {"Staging": "Staging", "Production": "Production"}


def _dr_overlay(**changes: Any) -> Overlay:
    """Production maps to Production and DR; Staging to Staging."""
    return _overlay(
        environment_targets={"Production": ("Production", "DR"), "Staging": ("Staging",)},
        **changes,
    )


def test_one_source_environment_to_several_reaches_lists_and_the_primary_for_one() -> None:
    trigger = {
        "Name": "Promote",
        "Filter": {"EnvironmentIds": ["Production"]},
        "Action": {"ActionType": "DeployLatestRelease", "DestinationEnvironmentId": "Production"},
    }
    snapshot = _snapshot(
        PROJECT,
        ("environments", ("Production",), {"Name": "Production", "Description": "live"}),
        ("triggers", ("Web", "Promote"), trigger),
        ("tenants", ("Acme",), {"Name": "Acme", "ProjectEnvironments": {"Web": ["Production"]}}),
        (
            "tenant-variables",
            ("Acme",),
            {
                "ProjectVariables": {
                    "Web": {"Url": [{"Environments": ["Production"], "Value": "u"}]}
                }
            },
        ),
        _variables({"Name": "A", "Value": "1", "Scope": {"Environment": ["Production"]}}),
    )
    desired = apply(snapshot, _dr_overlay())
    resources = desired.snapshot.resources
    assert resources[ResourceKey("environments", ("DR",))] == {"Name": "DR", "Description": "live"}
    assert ResourceKey("environments", ("Production",)) in resources
    assert resources[ResourceKey("tenants", ("Acme",))]["ProjectEnvironments"] == {
        "Web": ["DR", "Production"]
    }
    assert resources[ResourceKey("tenant-variables", ("Acme",))]["ProjectVariables"] == {
        "Web": {"Url": [{"Environments": ["DR", "Production"], "Value": "u"}]}
    }
    values = resources[ResourceKey("project-variables", ("Web",))]["Variables"]
    assert values == [{"Name": "A", "Value": "1", "Scope": {"Environment": ["DR", "Production"]}}]
    promote = resources[ResourceKey("triggers", ("Web", "Promote"))]
    assert promote["Filter"]["EnvironmentIds"] == ["DR", "Production"]
    assert promote["Action"]["DestinationEnvironmentId"] == "Production"
    assert any("it targets the first, Production" in d.message for d in desired.decisions)


SHARED = {"Test": "Staging", "Staging": "Staging", "Production": "Production"}


def test_values_that_disagree_on_a_shared_environment_clash_unless_one_is_preferred() -> None:
    snapshot = _snapshot(
        PROJECT,
        _variables(
            {"Name": "Mode", "Value": "sandbox", "Scope": {"Environment": ["Test"]}},
            {"Name": "Mode", "Value": "live", "Scope": {"Environment": ["Staging"]}},
            {"Name": "Url", "Value": "same", "Scope": {"Environment": ["Test", "Staging"]}},
            {"Name": "Level", "Value": "debug", "Scope": {"Environment": ["Test"]}},
            {"Name": "Level", "Value": "info"},
        ),
    )
    clashing = apply(snapshot, _overlay(environments=SHARED))
    assert sorted(str(c) for c in clashing.clashes) == [
        "project-variables Web Level: Test and Staging both map to Staging with different "
        "values ('debug' in Test, 'info' in Staging); say whose win there with "
        "`prefer: {Staging: Staging}` in the overlay",
        "project-variables Web Mode: Test and Staging both map to Staging with different "
        "values ('sandbox' in Test, 'live' in Staging); say whose win there with "
        "`prefer: {Staging: Staging}` in the overlay",
    ]
    assert list(clashing.errors) == [str(c) for c in clashing.clashes]
    preferred = apply(snapshot, _overlay(environments=SHARED, prefer={"Staging": "Staging"}))
    assert preferred.errors == ()
    values = preferred.snapshot.resources[ResourceKey("project-variables", ("Web",))]["Variables"]
    assert values == [
        {"Name": "Mode", "Value": "live", "Scope": {"Environment": ["Staging"]}},
        {"Name": "Url", "Value": "same", "Scope": {"Environment": ["Staging"]}},
        {"Name": "Level", "Value": "info"},
    ]
    test_wins = apply(snapshot, _overlay(environments=SHARED, prefer={"Staging": "Test"}))
    values = test_wins.snapshot.resources[ResourceKey("project-variables", ("Web",))]["Variables"]
    assert values == [
        {"Name": "Mode", "Value": "sandbox", "Scope": {"Environment": ["Staging"]}},
        {"Name": "Url", "Value": "same", "Scope": {"Environment": ["Staging"]}},
        {"Name": "Level", "Value": "debug", "Scope": {"Environment": ["Staging"]}},
        {"Name": "Level", "Value": "info"},  # more specific values win in Octopus
    ]


def test_tenant_values_that_disagree_on_a_shared_environment_clash_or_follow_prefer() -> None:
    values = {
        "Url": [
            {"Environments": ["Test"], "Value": "t"},
            {"Environments": ["Staging"], "Value": "s"},
        ],
        "Only": [{"Environments": ["Test"], "Value": "o"}],
    }
    snapshot = _snapshot(
        PROJECT,
        ("tenants", ("Acme",), {"Name": "Acme", "ProjectEnvironments": {"Web": ["Test"]}}),
        ("tenant-variables", ("Acme",), {"ProjectVariables": {"Web": values}}),
    )
    assert [c.where for c in apply(snapshot, _overlay(environments=SHARED)).clashes] == [
        "tenant-variables Acme Web Url"
    ]
    desired = apply(snapshot, _overlay(environments=SHARED, prefer={"Staging": "Staging"}))
    assert desired.snapshot.resources[ResourceKey("tenant-variables", ("Acme",))] == {
        "ProjectVariables": {
            "Web": {
                "Only": [{"Environments": ["Staging"], "Value": "o"}],
                "Url": [{"Environments": ["Staging"], "Value": "s"}],
            }
        }
    }


def test_a_scoped_explicit_value_applies_exactly_there_and_the_source_values_give_way() -> None:
    snapshot = _snapshot(
        PROJECT,
        _variables(
            {"Name": "Db", "Value": "stage", "Scope": {"Environment": ["Staging"]}},
            {"Name": "Db", "Value": "prod", "Scope": {"Environment": ["Production"]}},
            {"Name": "Db", "Value": "both", "Scope": {"Environment": ["Staging", "Production"]}},
        ),
    )
    overlay = _overlay(
        variables=VariablePolicy(scoped_values={"Web/db": (ScopedValue("dr", ("Production",)),)})
    )
    values = apply(snapshot, overlay).snapshot.resources[
        ResourceKey("project-variables", ("Web",))
    ]["Variables"]
    assert values == [
        {"Name": "Db", "Value": "stage", "Scope": {"Environment": ["Staging"]}},
        {"Name": "Db", "Value": "both", "Scope": {"Environment": ["Staging"]}},
        {"Name": "Db", "Value": "dr", "Scope": {"Environment": ["Production"]}, "~Explicit": True},
    ]


def test_a_plain_explicit_value_keeps_the_scope_of_each_source_value() -> None:
    snapshot = _snapshot(
        PROJECT,
        _variables(
            {"Name": "Db", "Value": "dev", "Scope": {"Environment": ["Development", "Test"]}},
            {"Name": "Db", "Value": "prod", "Scope": {"Environment": ["Production"]}},
            {"Name": "Db", "Value": "web", "Scope": {"Role": ["web"]}},
        ),
    )
    overlay = _overlay(variables=VariablePolicy(values={"Web/Db": "x"}))
    values = apply(snapshot, overlay).snapshot.resources[
        ResourceKey("project-variables", ("Web",))
    ]["Variables"]
    assert values == [
        {"Name": "Db", "Value": "dev", OUT_OF_SCOPE: True},  # left by the merge, as before
        {"Name": "Db", "Value": "x", "Scope": {"Environment": ["Production"]}, "~Explicit": True},
        {"Name": "Db", "Value": "x", "Scope": {"Role": ["web"]}, "~Explicit": True},
    ]


def test_a_tenant_that_keeps_no_link_is_left_out_with_what_names_it() -> None:
    snapshot = _snapshot(
        PROJECT,
        ("tenants", ("QA Crew",), {"Name": "QA Crew", "ProjectEnvironments": {"Web": ["Test"]}}),
        (
            "tenant-variables",
            ("QA Crew",),
            {"ProjectVariables": {"Web": {"U": [{"Environments": ["Test"], "Value": "u"}]}}},
        ),
        ("tenants", ("New",), {"Name": "New", "ProjectEnvironments": {}}),
        ("accounts", ("QA Key",), {"Name": "QA Key", "TenantIds": ["QA Crew"]}),
        (
            "team-permissions",
            ("Testers",),
            {"ScopedUserRoles": [{"UserRoleId": "Viewer", "TenantIds": ["QA Crew"]}]},
        ),
    )
    desired = apply(snapshot, _overlay())
    resources = desired.snapshot.resources
    assert sorted(k for k in resources if k.kind.startswith("tenant")) == [
        ResourceKey("tenants", ("New",))  # no links on the source either: kept
    ]
    assert ResourceKey("accounts", ("QA Key",)) not in resources
    assert ResourceKey("team-permissions", ("Testers",)) not in resources
    assert (
        "tenants QA Crew: no project link is left on the destination: left out with its "
        "variables" in [str(d) for d in desired.decisions]
    )


def test_a_narrowed_environment_scope_names_the_unmapped_environment() -> None:
    snapshot = _snapshot(
        PROJECT,
        _variables({"Name": "A", "Value": "1", "Scope": {"Environment": ["Test", "Production"]}}),
    )
    desired = apply(snapshot, _overlay(environments={"Production": "Live"}))
    assert [str(d) for d in desired.decisions] == [
        "project-variables Web A: environment scope narrowed to Live (Test not mapped by the "
        "overlay)"
    ]
    # an exact policy is about what is lost, not about a name that maps to another name
    exact = apply(
        snapshot,
        _overlay(
            environments={"Production": "Live", "Test": "Staging"},
            variables=VariablePolicy(scoping={"environment": "error-unless-exact"}),
        ),
    )
    assert exact.errors == ()
