"""The write schedule (pure): deferred fields go out once what they name exists."""

from __future__ import annotations

from typing import Any

from snapshotsync.model import ResourceKey
from snapshotsync.plan import Change, Plan
from snapshotsync.schedule import writes


def _change(kind: str, name: str, after: dict[str, Any], before: dict[str, Any] | None = None):
    action = "create" if before is None else "update"
    return Change(action, ResourceKey(kind, (name,)), before, after)


PROJECT = {
    "Name": "Web",
    "LifecycleId": "Default Lifecycle",
    "VersioningStrategy": {
        "Template": "",
        "DonorPackage": {"DeploymentAction": "Deploy", "PackageReference": ""},
        "DonorPackageStepId": "Deploy",
    },
    "ReleaseCreationStrategy": {"ChannelId": "Hotfix", "ReleaseCreationPackageStepId": None},
}


def test_a_new_project_is_created_without_what_names_its_steps_then_linked() -> None:
    plan = Plan(
        "prod",
        (
            _change("projects", "Web", PROJECT),
            _change("deployment-processes", "Web", {"Steps": []}),
            _change("tenant-variables", "Internal", {}),
        ),
    )
    scheduled = writes(plan)
    assert [(w.change.key.kind, w.part) for w in scheduled] == [
        ("projects", "main"),
        ("deployment-processes", "whole"),
        ("projects", "links"),
        ("tenant-variables", "whole"),
    ]
    created = scheduled[0].document
    assert created["VersioningStrategy"] == {
        "Template": "",
        "DonorPackage": None,
        "DonorPackageStepId": None,
    }
    assert created["ReleaseCreationStrategy"]["ChannelId"] is None
    assert scheduled[2].document == PROJECT


def test_an_update_that_only_links_makes_one_write_and_an_unchanged_link_none() -> None:
    before = {**PROJECT, "Description": "old"}
    only_description = {**PROJECT, "Description": "new"}
    (write,) = writes(Plan("prod", (_change("projects", "Web", only_description, before),)))
    assert write.part == "main" and write.document == only_description

    tenant_before = {"Name": "Internal", "ProjectEnvironments": {"Web": ["Staging"]}}
    tenant_after = {"Name": "Internal", "ProjectEnvironments": {"Web": ["Production", "Staging"]}}
    (link,) = writes(Plan("prod", (_change("tenants", "Internal", tenant_after, tenant_before),)))
    assert link.part == "links" and link.document == tenant_after


def test_links_go_out_after_every_project_part_even_when_nothing_follows() -> None:
    tenant = {"Name": "Internal", "ProjectEnvironments": {"Web": ["Staging"]}}
    plan = Plan(
        "prod",
        (
            _change("tenants", "Internal", tenant),
            _change("projects", "Web", {"Name": "Web"}),
            _change("triggers", "Web", {"Name": "T"}),
        ),
    )
    assert [(w.change.key.kind, w.part) for w in writes(plan)] == [
        ("tenants", "main"),
        ("projects", "main"),
        ("triggers", "whole"),
        ("tenants", "links"),
    ]
    assert writes(plan)[0].document["ProjectEnvironments"] == {}
