"""Transform (pure): cascades of exclusion, and scopes that never widen."""

from __future__ import annotations

from typing import Any

from snapshotsync.model import OUT_OF_SCOPE, ResourceKey, Snapshot
from snapshotsync.overlay import Overlay, Rescope, VariablePolicy
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


def test_a_lifecycle_whose_phases_all_go_is_an_error_not_everything() -> None:
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
    assert desired.errors == (
        "lifecycles Dev only: every phase's environments are excluded; "
        "exclude the lifecycle too, or map one of its environments",
    )


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
