"""The write schedule (pure): deferred fields go out once what they name exists."""

from __future__ import annotations

from typing import Any

from snapshotsync.changes import Change, Plan
from snapshotsync.model import ResourceKey
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


def test_nothing_that_names_a_tag_shares_a_wave_with_the_tag_sets() -> None:
    from snapshotsync.schedule import waves

    plan = Plan(
        "prod",
        (
            _change("tag-sets", "Tenant Type", {"Name": "Tenant Type"}),
            _change("feeds", "NuGet", {"Name": "NuGet"}),
            _change("tenants", "Internal", {"Name": "Internal", "TenantTags": ["Tenant Type/A"]}),
        ),
    )
    cut = [[(w.change.key.kind, w.part) for w in wave] for wave in waves(writes(plan))]
    assert cut == [[("tag-sets", "whole"), ("feeds", "whole")], [("tenants", "main")]]


def test_writes_of_one_kind_to_different_documents_share_a_wave() -> None:
    from snapshotsync.schedule import waves

    processes = tuple(
        Change("update", ResourceKey("deployment-processes", (name,)), {}, {"Steps": []})
        for name in ("A", "B", "C")
    )
    variables = tuple(
        Change("update", ResourceKey("project-variables", (name,)), {}, {"Variables": []})
        for name in ("A", "B")
    )
    cut = waves(writes(Plan("prod", (*processes, *variables))))
    assert [[w.change.key.name[0] for w in wave] for wave in cut] == [["A", "B", "C"], ["A", "B"]]


RULED = {
    "Name": "Beta",
    "Rules": [
        {
            "VersionRange": "[1.0,2.0)",
            "Tag": "",
            "ActionPackages": [{"DeploymentAction": "Deploy", "PackageReference": ""}],
        }
    ],
}


def test_channel_rules_go_out_after_the_process_they_name() -> None:
    plan = Plan(
        "prod",
        (
            Change("create", ResourceKey("channels", ("Web", "Beta")), None, RULED),
            _change("deployment-processes", "Web", {"Steps": [{"Name": "Deploy"}]}),
        ),
    )
    scheduled = writes(plan)
    assert [(w.change.key.kind, w.part) for w in scheduled] == [
        ("channels", "main"),
        ("deployment-processes", "whole"),
        ("channels", "links"),
    ]
    assert scheduled[0].document == {**RULED, "Rules": []}
    assert scheduled[2].document == RULED
    # An existing channel that only gains a rule: one write, after the process.
    before = {**RULED, "Rules": []}
    edited = Change("update", ResourceKey("channels", ("Web", "Beta")), before, RULED)
    (write,) = writes(Plan("prod", (edited,)))
    assert write.part == "links"
