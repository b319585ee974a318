"""Projects over real HTTP: versioning and release-creation strategies that point into the
project's own process and channels, and version-controlled (config-as-code) projects."""

from __future__ import annotations

from typing import Any

from snapshotsync.emulator import Instance
from snapshotsync.emulator.seed import load
from tests.emulator.test_http import assert_400, new_project
from tests.helpers import Emulator

DONOR = {"DeploymentAction": "Deploy Web", "PackageReference": ""}


def with_process(e: Emulator, project: dict[str, Any], feed: str = "feeds-builtin") -> Any:
    path = f"projects/{project['Id']}/deploymentprocesses"
    process = e.get(path)
    process["Steps"] = [
        {
            "Name": "Deploy Web",
            "Actions": [
                {
                    "Name": "Deploy Web",
                    "ActionType": "Octopus.TentaclePackage",
                    "Packages": [{"Name": "", "PackageId": "OctoFX.Web", "FeedId": feed}],
                }
            ],
        }
    ]
    response = e.put(path, process)
    assert response.status_code == 200, response.text
    return response.json()


def versioning(**fields: Any) -> dict[str, Any]:
    return {"Template": "", "DonorPackage": None, "DonorPackageStepId": None, **fields}


def test_a_donor_package_must_be_in_the_projects_process(emulator: Emulator) -> None:
    # Created with a donor package before the process exists: refused, as on a real server.
    body = {"VersioningStrategy": versioning(DonorPackage=DONOR)}
    assert_400(
        emulator.post("projects", {**_base(emulator, "OctoFX"), **body}),
        "VersioningStrategy.DonorPackage",
        "Deploy Web",
    )
    project = new_project(emulator, "OctoFX")
    process = with_process(emulator, project)
    action_id = process["Steps"][0]["Actions"][0]["Id"]
    path = f"projects/{project['Id']}"
    ok = {**project, **body}
    ok["VersioningStrategy"]["DonorPackageStepId"] = action_id
    response = emulator.put(path, ok)
    assert response.status_code == 200, response.text
    # Octopus.Client's "ActionName:PackageReference" form names the action too.
    named = {
        **ok,
        "VersioningStrategy": {**ok["VersioningStrategy"], "DonorPackageStepId": "Deploy Web"},
    }
    assert emulator.put(path, named).status_code == 200
    for bad, fragment in (
        (versioning(DonorPackage={**DONOR, "DeploymentAction": "Other"}), "'Other'"),
        (versioning(DonorPackage={**DONOR, "PackageReference": "tools"}), "'tools'"),
        (versioning(DonorPackage=DONOR, DonorPackageStepId="0000"), "0000"),
        (
            versioning(DonorPackage=DONOR, Template="#{Octopus.Version.NextPatch}"),
            "Only one of either a donor package step or a version template may be provided.",
        ),
    ):
        assert_400(emulator.put(path, {**project, "VersioningStrategy": bad}), fragment)


def test_automatic_release_creation_needs_a_built_in_package_and_own_channel(
    emulator: Emulator,
) -> None:
    project = new_project(emulator, "OctoFX")
    other = new_project(emulator, "Payments")
    channel = emulator.create("channels", {"Name": "Nightly", "ProjectId": project["Id"]})
    foreign = emulator.create("channels", {"Name": "Nightly", "ProjectId": other["Id"]})
    with_process(emulator, project)
    path = f"projects/{project['Id']}"
    arc = {
        "ChannelId": channel["Id"],
        "ReleaseCreationPackage": DONOR,
        "ReleaseCreationPackageStepId": None,
    }
    ok = {**project, "AutoCreateRelease": True, "ReleaseCreationStrategy": arc}
    response = emulator.put(path, ok)
    assert response.status_code == 200, response.text
    wrong_channel = {**ok, "ReleaseCreationStrategy": {**arc, "ChannelId": foreign["Id"]}}
    assert_400(emulator.put(path, wrong_channel), "ReleaseCreationStrategy.ChannelId", "Nightly")
    no_package = {**ok, "ReleaseCreationStrategy": {**arc, "ReleaseCreationPackage": None}}
    assert_400(emulator.put(path, no_package), "ReleaseCreationPackage")
    # The package must come from the built-in feed (OctopusDeploy/Issues#5610).
    nuget = emulator.create(
        "feeds", {"Name": "NuGet", "FeedType": "NuGet", "FeedUri": "https://nuget.example"}
    )
    with_process(emulator, project, feed=nuget["Id"])
    assert_400(
        emulator.put(path, ok),
        "The Automatic Release Creation package must be sourced from the Octopus built-in feed.",
    )


def test_a_new_project_cannot_name_a_channel_yet(emulator: Emulator) -> None:
    other = new_project(emulator, "Payments")
    default = emulator.get(f"projects/{other['Id']}/channels")["Items"][0]
    strategy = {"ChannelId": default["Id"], "ReleaseCreationPackage": None}
    body = {**_base(emulator, "OctoFX"), "ReleaseCreationStrategy": strategy}
    assert_400(emulator.post("projects", body), "not a channel of this project")


def test_seeds_write_strategies_after_the_process_and_channels() -> None:
    instance = Instance()
    load(
        instance,
        {
            "projects": [
                {
                    "Name": "OctoFX",
                    "LifecycleId": "Default Lifecycle",
                    "ProjectGroupId": "Default Project Group",
                    "AutoCreateRelease": True,
                    "VersioningStrategy": versioning(DonorPackage=DONOR),
                    "ReleaseCreationStrategy": {
                        "ChannelId": "Nightly",
                        "ReleaseCreationPackage": DONOR,
                    },
                    "Channels": [{"Name": "Nightly"}],
                    "DeploymentProcess": {
                        "Steps": [
                            {
                                "Name": "Deploy Web",
                                "Actions": [
                                    {
                                        "Name": "Deploy Web",
                                        "ActionType": "Octopus.TentaclePackage",
                                        "Packages": [
                                            {
                                                "Name": "",
                                                "PackageId": "Web",
                                                "FeedId": "Octopus Server (built-in)",
                                            }
                                        ],
                                    }
                                ],
                            }
                        ]
                    },
                }
            ]
        },
    )
    space = instance.default_space_id()
    project = instance.find_by_name(space, "projects", "OctoFX")
    nightly = instance.find_by_name(
        space, "channels", "Nightly", project["Id"] if project else None
    )
    assert project is not None and nightly is not None
    assert project["ReleaseCreationStrategy"]["ChannelId"] == nightly["Id"]
    assert project["VersioningStrategy"]["DonorPackage"] == DONOR
    assert project["AutoCreateRelease"] is True


def _base(e: Emulator, name: str) -> dict[str, Any]:
    lifecycle = e.by_name("lifecycles", "Default Lifecycle")["Id"]
    group = e.by_name("projectgroups", "Default Project Group")["Id"]
    return {"Name": name, "LifecycleId": lifecycle, "ProjectGroupId": group}


# ----------------------------------------------------------------- config as code

GIT = {
    "Url": "https://github.com/octofx/deploy.git",
    "DefaultBranch": "main",
    "BasePath": ".octopus/octofx",
    "Credentials": {
        "Type": "UsernamePassword",
        "Username": "bot",
        "Password": {"HasValue": True, "NewValue": "pat"},
    },
}


def convert(e: Emulator, project: dict[str, Any]) -> Any:
    return e.post(
        f"projects/{project['Id']}/git/convert",
        {"CommitMessage": "Initial commit", "VersionControlSettings": GIT},
    )


def test_a_project_is_created_then_converted(emulator: Emulator) -> None:
    body = {
        **_base(emulator, "OctoFX"),
        "PersistenceSettings": {"Type": "VersionControlled", **GIT},
    }
    assert_400(emulator.post("projects", body), "git/convert")
    project = new_project(emulator, "OctoFX")
    assert project["Links"]["ConvertToVcs"].endswith(f"/projects/{project['Id']}/git/convert")
    response = convert(emulator, project)
    assert response.status_code == 200, response.text
    assert response.json() == {"Messages": []}
    read = emulator.get(f"projects/{project['Id']}")
    assert read["IsVersionControlled"] is True
    settings = read["PersistenceSettings"]
    assert (settings["Type"], settings["Url"], settings["DefaultBranch"]) == (
        "VersionControlled",
        GIT["Url"],
        "main",
    )
    assert settings["Credentials"]["Password"] == {"HasValue": True, "NewValue": None, "Hint": None}
    assert "{gitRef}" in read["Links"]["DeploymentSettings"]
    # One-way: converting again is refused with the server's words (Issues#7555).
    assert_400(convert(emulator, project), "It is already a version controlled!")


def test_a_version_controlled_project_refuses_deployment_settings_on_its_route(
    emulator: Emulator,
) -> None:
    project = new_project(emulator, "OctoFX")
    assert convert(emulator, project).status_code == 200
    path = f"projects/{project['Id']}"
    read = emulator.get(path)
    # Sent back as read, the deployment settings fields are refused.
    assert_400(
        emulator.put(path, {**read, "Description": "changed"}),
        "Cannot update deployment settings for a version controlled project with this endpoint.",
        "deploymentsettings",
    )
    # Left out (or at their defaults, as the Terraform provider sends them), the PUT passes.
    cleared = {
        **read,
        "Description": "changed",
        "VersioningStrategy": None,
        "ProjectConnectivityPolicy": None,
        "DefaultGuidedFailureMode": "EnvironmentDefault",
        "ReleaseNotesTemplate": "",
        "DeploymentChangesTemplate": "",
    }
    response = emulator.put(path, cleared)
    assert response.status_code == 200, response.text
    assert response.json()["IsVersionControlled"] is True
    # Nor can a PUT turn it back into a database project.
    back = {**cleared, "PersistenceSettings": {"Type": "Database"}}
    assert_400(emulator.put(path, back), "one-way")


def test_deployment_settings_and_process_live_at_a_git_ref(emulator: Emulator) -> None:
    project = new_project(emulator, "OctoFX")
    database_settings = emulator.get(f"projects/{project['Id']}/deploymentsettings")
    assert database_settings["ConnectivityPolicy"] == project["ProjectConnectivityPolicy"]
    assert convert(emulator, project).status_code == 200
    ref = "refs%2Fheads%2Fmain"
    settings_path = f"projects/{project['Id']}/{ref}/deploymentsettings"
    settings = emulator.get(settings_path)
    assert settings["VersioningStrategy"] == project["VersioningStrategy"]
    changed = {
        **settings,
        "ReleaseNotesTemplate": "#{Octopus.Release.Notes}",
        "ChangeDescription": "notes",
    }
    response = emulator.put(settings_path, changed)
    assert response.status_code == 200, response.text
    assert emulator.get(settings_path)["ReleaseNotesTemplate"] == "#{Octopus.Release.Notes}"
    # The database routes answer that the resource is version-controlled.
    for path in (
        f"projects/{project['Id']}/deploymentsettings",
        f"projects/{project['Id']}/deploymentprocesses",
        f"deploymentprocesses/{project['DeploymentProcessId']}",
    ):
        assert_400(emulator.session.get(emulator.space_url(path)), "version-controlled resource")
    process_path = f"projects/{project['Id']}/{ref}/deploymentprocesses"
    process = emulator.get(process_path)
    process["Steps"] = [
        {"Name": "Run", "Actions": [{"Name": "Run", "ActionType": "Octopus.Script"}]}
    ]
    response = emulator.put(process_path, {**process, "ChangeDescription": "add a step"})
    assert response.status_code == 200, response.text
    # A database project has no git ref.
    other = new_project(emulator, "Payments")
    missing = emulator.session.get(
        emulator.space_url(f"projects/{other['Id']}/{ref}/deploymentsettings")
    )
    assert missing.status_code == 404


def test_seeds_create_version_controlled_projects() -> None:
    instance = Instance()
    load(
        instance,
        {
            "projects": [
                {
                    "Name": "OctoFX",
                    "LifecycleId": "Default Lifecycle",
                    "ProjectGroupId": "Default Project Group",
                    "PersistenceSettings": {"Type": "VersionControlled", **GIT},
                    "DeploymentProcess": {
                        "Steps": [
                            {
                                "Name": "Run",
                                "Actions": [{"Name": "Run", "ActionType": "Octopus.Script"}],
                            }
                        ]
                    },
                }
            ]
        },
    )
    project = instance.find_by_name(instance.default_space_id(), "projects", "OctoFX")
    assert project is not None and project["IsVersionControlled"] is True
    assert project["PersistenceSettings"]["Url"] == GIT["Url"]
    process = instance.docs["deploymentprocesses"][project["DeploymentProcessId"]]
    assert [s["Name"] for s in process["Steps"]] == ["Run"]
