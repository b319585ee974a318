"""The synthetic "large" Octopus instance (benchmarks/README.md), as emulator seeds by names.

`source_seed()` builds the source: Development/Test/Staging/Production, `projects` projects
(each with a 10-step deployment process, 2 runbooks, 3 channels and 60 variable values),
`tenants` tenants connected to a subset of the projects with tenant variables,
`library_sets` library variable sets (plus 2 script modules), and a couple of lifecycles,
feeds, worker pools, accounts, tag sets and teams. `destination_seed()` is a locked-down
Staging/Production instance with its own account and worker pool, like
`snapshotsync/emulator/samples/destination.yaml`.

Everything is drawn from a `random.Random(seed)`: the same arguments give the same seed.
The seeds use the emulator's seed format (`snapshotsync/emulator/seed.py`): the API's
field names, with names wherever the API holds ids.

Run it alone to write the two seeds: `python benchmarks/generate.py OUTDIR [--projects N]`.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

Seed = dict[str, Any]

ENVIRONMENTS = ("Development", "Test", "Staging", "Production")
DESTINATION_ENVIRONMENTS = ("Staging", "Production")
CHANNELS = ("Default", "Hotfix", "Preview")
ROLES = ("web-server", "app-server", "db-server")
TAG_SETS = {
    "Tenant Type": ("Internal", "External"),
    "Region": ("EU", "US", "APAC"),
    "Tier": ("Gold", "Silver", "Bronze"),
}
SOURCE_ACCOUNT = "Dev/Test Account"
DESTINATION_ACCOUNT = "Staging/Prod Account"
VARIABLES_PER_PROJECT = 60
STEPS_PER_PROCESS = 10
PROJECT_TEMPLATES = ("Tenant.Database.Server", "Tenant.Url")
LIBRARY_TEMPLATE = "Tenant.Alias"
PROJECTS_PER_TENANT = 6
DEFAULT_SEED = 20240601


@dataclass(frozen=True)
class Size:
    """How large the synthetic instance is."""

    projects: int = 200
    tenants: int = 100
    library_sets: int = 20

    def describe(self) -> str:
        return (
            f"{self.projects} projects x ({STEPS_PER_PROCESS} steps, 2 runbooks, "
            f"{len(CHANNELS)} channels, {VARIABLES_PER_PROJECT} variable values), "
            f"{self.tenants} tenants, {self.library_sets} library variable sets"
        )


def project_name(index: int) -> str:
    return f"Service {index:03d}"


def library_set_name(index: int) -> str:
    return f"Shared Settings {index:02d}"


def tenant_name(index: int) -> str:
    return f"Customer {index:03d}"


def _script(name: str, body: str, syntax: str = "Bash", **action: Any) -> Seed:
    properties = {
        "Octopus.Action.RunOnServer": "true",
        "Octopus.Action.Script.ScriptSource": "Inline",
        "Octopus.Action.Script.Syntax": syntax,
        "Octopus.Action.Script.ScriptBody": body,
    }
    return _step(name, {"ActionType": "Octopus.Script", "Properties": properties, **action})


def _package(name: str, package: str, feed: str, role: str, **action: Any) -> Seed:
    step = _step(
        name,
        {
            "ActionType": "Octopus.TentaclePackage",
            "Properties": {
                "Octopus.Action.Package.PackageId": package,
                "Octopus.Action.Package.FeedId": feed,
            },
            "Packages": [
                {
                    "Name": "",
                    "PackageId": package,
                    "FeedId": feed,
                    "AcquisitionLocation": "Server",
                    "Properties": {},
                }
            ],
            **action,
        },
    )
    step["Properties"] = {"Octopus.Action.TargetRoles": role}
    return step


def _step(name: str, action: Seed) -> Seed:
    return {
        "Name": name,
        "Condition": "Success",
        "StartTrigger": "StartAfterPrevious",
        "PackageRequirement": "LetOctopusDecide",
        "Properties": {},
        "Actions": [{"Name": name, **action}],
    }


def _deployment_process(slug: str, rng: random.Random) -> Seed:
    """Ten steps: scripts, package steps on two feeds, a step template, scoped steps."""
    steps = [
        _script("Check Prerequisites", f'echo "checking {slug}"\ntest -d /opt/{slug} || exit 0\n'),
        _package("Deploy Database", f"{slug}.Database", "NuGet.org", "db-server"),
        _script(
            "Run Migrations",
            f'Write-Host "Migrating #{{Database.Name}}"\nInvoke-Migration -Name {slug}\n',
            syntax="PowerShell",
            WorkerPoolId="Ubuntu Worker Pool",
        ),
        _package("Deploy Web App", f"{slug}.Web", "NuGet.org", "web-server"),
        _package("Deploy Container", f"acme/{slug}", "Docker Hub", "app-server"),
        _script(
            "Smoke Test",
            f"curl -fsS https://{slug}.test.example/health\n",
            Environments=["Test"],
        ),
        _script(
            "Warm Cache",
            f"curl -fsS https://{slug}.example/warm?n={rng.randint(10, 99)}\n",
            Environments=["Staging", "Production"],
        ),
        _script("Preview Banner", f'echo "preview build of {slug}"\n', Channels=["Preview"]),
        _step(
            "Notify Slack",
            {
                "ActionType": "Octopus.Script",
                "Environments": ["Staging", "Production"],
                "Properties": {
                    "Octopus.Action.Template.Id": "Notify Slack",
                    "Octopus.Action.Template.Version": "0",
                    "Octopus.Action.RunOnServer": "true",
                    "Slack.Channel": f"#{slug}-releases",
                },
            },
        ),
        _step(
            "Approve Production",
            {
                "ActionType": "Octopus.Manual",
                "Environments": ["Production"],
                "Properties": {
                    "Octopus.Action.Manual.Instructions": f"Check the {slug} dashboard.",
                    "Octopus.Action.RunOnServer": "true",
                },
            },
        ),
    ]
    assert len(steps) == STEPS_PER_PROCESS
    return {"Steps": steps}


def _runbooks(slug: str) -> list[Seed]:
    return [
        {
            "Name": "Restart Service",
            "Description": f"Restarts {slug}",
            "Process": {"Steps": [_script("Restart", f"systemctl restart {slug}\n")]},
        },
        {
            "Name": "Refresh Data",
            "Description": "Copies anonymised data into Test and Staging",
            "EnvironmentScope": "Specified",
            "Environments": ["Test", "Staging"],
            "Process": {
                "Steps": [
                    _script("Export Data", f"./export.sh {slug}\n"),
                    _script("Import Data", f"./import.sh {slug}\n"),
                ]
            },
        },
    ]


def _variables(slug: str, rng: random.Random) -> list[Seed]:
    """60 values: unscoped, environment-, role-, channel-, action-, owner-, tag-scoped,
    environment+role, typed (account, worker pool) and one sensitive."""
    values: list[Seed] = []
    for name in ("Database.Name", "Api.Url", "Log.Level", "Cache.Ttl", "Queue.Name"):
        for environment in ENVIRONMENTS:
            values.append(
                {
                    "Name": name,
                    "Value": f"{slug}-{name.split('.')[0].lower()}-{environment.lower()}",
                    "Scope": {"Environment": [environment]},
                }
            )
    values.append(
        {"Name": "Feature.Beta", "Value": "true", "Scope": {"Environment": ["Development", "Test"]}}
    )
    values.append(
        {
            "Name": "Feature.Beta",
            "Value": "false",
            "Scope": {"Environment": ["Staging", "Production"]},
        }
    )
    for name in ("Threads", "Memory.Limit"):
        for role in ROLES:
            values.append(
                {"Name": name, "Value": str(rng.choice((2, 4, 8, 16))), "Scope": {"Role": [role]}}
            )
    values.append(
        {
            "Name": "Web.Replicas",
            "Value": "4",
            "Scope": {"Environment": ["Production"], "Role": ["web-server"]},
        }
    )
    values.append({"Name": "Hotfix.Mode", "Value": "fast", "Scope": {"Channel": ["Hotfix"]}})
    values.append({"Name": "Preview.Banner", "Value": "preview", "Scope": {"Channel": ["Preview"]}})
    values.append(
        {"Name": "Slack.Prefix", "Value": f"[{slug}]", "Scope": {"Action": ["Notify Slack"]}}
    )
    values.append(
        {"Name": "Restart.Timeout", "Value": "300", "Scope": {"ProcessOwner": ["Restart Service"]}}
    )
    values.append(
        {"Name": "Support.Tier", "Value": "priority", "Scope": {"TenantTag": ["Tier/Gold"]}}
    )
    values.append(
        {"Name": "Api.Key", "Type": "Sensitive", "Value": f"secret-{rng.getrandbits(64):016x}"}
    )
    values.append(
        {"Name": "Aws.Account", "Type": "AmazonWebServicesAccount", "Value": SOURCE_ACCOUNT}
    )
    values.append({"Name": "Build.Pool", "Type": "WorkerPool", "Value": "Ubuntu Worker Pool"})
    values.append(
        {
            "Name": "ConnectionString",
            "Value": "Server=#{Tenant.Database.Server};Database=#{Database.Name}",
        }
    )
    index = 0
    while len(values) < VARIABLES_PER_PROJECT:
        index += 1
        values.append({"Name": f"Setting.{index:02d}", "Value": f"{slug}-{rng.randint(0, 9999)}"})
    return values


def _template(name: str, label: str) -> Seed:
    return {
        "Name": name,
        "Label": label,
        "HelpText": f"The tenant's {label.lower()}",
        "DefaultValue": "",
        "DisplaySettings": {"Octopus.ControlType": "SingleLineText"},
    }


def _library_sets(count: int, rng: random.Random) -> list[Seed]:
    sets: list[Seed] = [
        {
            "Name": "Logging Helpers",
            "ContentType": "ScriptModule",
            "Description": "Shared logging functions",
            "Variables": [
                {
                    "Name": "Octopus.Script.Module[Logging Helpers]",
                    "Value": (
                        "function Write-Step {\n    param([string]$Message)\n"
                        '    Write-Host "==> $Message"\n}\n'
                    ),
                },
                {"Name": "Octopus.Script.Module.Language[Logging Helpers]", "Value": "PowerShell"},
            ],
        },
        {
            "Name": "Retry Helpers",
            "ContentType": "ScriptModule",
            "Description": "Retry with backoff",
            "Variables": [
                {
                    "Name": "Octopus.Script.Module[Retry Helpers]",
                    "Value": (
                        'retry() {\n  for i in 1 2 3; do "$@" && return 0; sleep $i; done\n}\n'
                    ),
                },
                {"Name": "Octopus.Script.Module.Language[Retry Helpers]", "Value": "Bash"},
            ],
        },
    ]
    for index in range(1, count + 1):
        name = library_set_name(index)
        variables: list[Seed] = [
            {"Name": f"Shared{index:02d}.Smtp.Host", "Value": f"smtp{index}.example"},
            {"Name": f"Shared{index:02d}.Timeout", "Value": str(rng.randint(10, 120))},
        ]
        for environment in ENVIRONMENTS:
            variables.append(
                {
                    "Name": f"Shared{index:02d}.Monitoring.Url",
                    "Value": f"https://grafana-{environment.lower()}.example/{index}",
                    "Scope": {"Environment": [environment]},
                }
            )
        variables.append(
            {
                "Name": f"Shared{index:02d}.Role.Hint",
                "Value": "db",
                "Scope": {"Role": ["db-server"]},
            }
        )
        for extra in range(1, 4):
            variables.append(
                {"Name": f"Shared{index:02d}.Setting.{extra}", "Value": str(rng.randint(0, 999))}
            )
        sets.append(
            {
                "Name": name,
                "Description": f"Settings shared by a group of services ({index})",
                "Templates": [_template(LIBRARY_TEMPLATE, "Tenant alias")],
                "Variables": variables,
            }
        )
    return sets


def _tenants(
    size: Size, tenanted: list[str], included: dict[str, list[str]], rng: random.Random
) -> list[Seed]:
    """Tenants linked to a few tenanted projects, with project and library variables."""
    tenants: list[Seed] = []
    env_choices = (
        list(ENVIRONMENTS),
        ["Staging", "Production"],
        ["Production"],
        ["Development", "Test"],
    )
    for index in range(1, size.tenants + 1):
        name = tenant_name(index)
        projects = rng.sample(tenanted, min(PROJECTS_PER_TENANT, len(tenanted)))
        links = {project: list(rng.choice(env_choices)) for project in sorted(projects)}
        project_values = {
            project: {
                environment: {
                    "Tenant.Database.Server": f"sql-{environment.lower()}-{index:03d}.example",
                    "Tenant.Url": f"https://c{index:03d}.{environment.lower()}.example",
                }
                for environment in environments
            }
            for project, environments in links.items()
        }
        # Library templates can only be set for sets the tenant's projects include. Some of
        # them come only from a project linked in Development/Test, which the
        # Staging/Production overlay drops: the sync must leave those values out (the
        # destination refuses them), as transform does since the benchmark found it.
        usable = sorted({s for p in projects for s in included[p] if s != "Logging Helpers"})
        chosen = rng.sample(usable, min(2, len(usable)))
        tags = [f"{tag_set}/{rng.choice(tags)}" for tag_set, tags in TAG_SETS.items()]
        tenants.append(
            {
                "Name": name,
                "Description": f"Customer number {index}",
                "TenantTags": tags,
                "ProjectEnvironments": links,
                "Variables": {
                    "ProjectVariables": project_values,
                    "LibraryVariables": {
                        set_name: {LIBRARY_TEMPLATE: f"c{index:03d}"} for set_name in sorted(chosen)
                    },
                },
            }
        )
    return tenants


def _project(index: int, included: list[str], tenanted: bool, rng: random.Random) -> Seed:
    name = project_name(index)
    slug = f"svc{index:03d}"
    return {
        "Name": name,
        "Description": f"Synthetic service number {index}",
        "ProjectGroupId": f"Group {index % 5 + 1}",
        "LifecycleId": "Default Lifecycle",
        "TenantedDeploymentMode": "TenantedOrUntenanted" if tenanted else "Untenanted",
        "IncludedLibraryVariableSetIds": included,
        "Templates": [
            _template("Tenant.Database.Server", "Database server"),
            _template("Tenant.Url", "Public URL"),
        ]
        if tenanted
        else [],
        "Channels": [
            {"Name": "Default", "IsDefault": True, "Description": "Normal releases"},
            {"Name": "Hotfix", "LifecycleId": "Hotfix", "Description": "Straight to Staging"},
            {"Name": "Preview", "Description": "Preview builds"},
        ],
        "DeploymentProcess": _deployment_process(slug, rng),
        "Runbooks": _runbooks(slug),
        "Variables": _variables(slug, rng),
    }


def source_seed(size: Size | None = None, seed: int = DEFAULT_SEED) -> Seed:
    """The source instance: Development/Test/Staging/Production and everything above."""
    size = size or Size()
    rng = random.Random(seed)
    names = [project_name(i) for i in range(1, size.projects + 1)]
    tenanted = names[::2]
    library = [library_set_name(i) for i in range(1, size.library_sets + 1)]
    included = {
        name: ["Logging Helpers", *sorted(rng.sample(library, min(3, len(library))))]
        for name in names
    }
    projects = [
        _project(i, included[name], name in set(tenanted), rng)
        for i, name in enumerate(names, start=1)
    ]
    return {
        "environments": [
            {"Name": name, "SortOrder": order, "Description": f"{name} environment"}
            for order, name in enumerate(ENVIRONMENTS, start=1)
        ],
        "projectgroups": [
            {"Name": f"Group {i}", "Description": f"Project group {i}"} for i in range(1, 6)
        ],
        "tagsets": [
            {
                "Name": tag_set,
                "Description": f"Tenants by {tag_set.lower()}",
                "Tags": [{"Name": tag, "Color": "#1565C0"} for tag in tags],
            }
            for tag_set, tags in TAG_SETS.items()
        ],
        "feeds": [
            {
                "Name": "NuGet.org",
                "FeedType": "NuGet",
                "FeedUri": "https://api.nuget.org/v3/index.json",
            },
            {
                "Name": "Docker Hub",
                "FeedType": "Docker",
                "FeedUri": "https://index.docker.io",
                "Username": "acme-ci",
                "Password": {"HasValue": True, "NewValue": "source-docker-password"},
            },
        ],
        "workerpools": [
            {"Name": "Ubuntu Worker Pool", "Description": "Linux workers", "SortOrder": 2},
            {"Name": "Windows Worker Pool", "Description": "Windows workers", "SortOrder": 3},
        ],
        "teams": [
            {
                "Name": "Release Managers",
                "Description": "Deploy to Staging and Production",
                "ScopedUserRoles": [
                    {
                        "UserRoleId": "Project deployer",
                        "ProjectIds": names[:10],
                        "EnvironmentIds": ["Staging", "Production"],
                    }
                ],
            },
            {"Name": "QA Team", "Description": "Signs off releases"},
        ],
        "accounts": [
            {
                "Name": SOURCE_ACCOUNT,
                "AccountType": "AmazonWebServicesAccount",
                "Description": "AWS account for non-production workloads",
                "AccessKey": "AKIADEVTEST000000000",
                "SecretKey": {"HasValue": True, "NewValue": "source-aws-secret"},
                "EnvironmentIds": ["Development", "Test"],
            },
            {
                "Name": "Database Admin",
                "AccountType": "UsernamePassword",
                "Username": "db_admin",
                "Password": {"HasValue": True, "NewValue": "source-db-password"},
            },
        ],
        "actiontemplates": [
            {
                "Name": "Notify Slack",
                "Description": "Posts a message to a Slack channel",
                "ActionType": "Octopus.Script",
                "Properties": {
                    "Octopus.Action.Script.ScriptSource": "Inline",
                    "Octopus.Action.Script.Syntax": "Bash",
                    "Octopus.Action.Script.ScriptBody": (
                        'curl -s -X POST -d "{\\"channel\\": \\"#{Slack.Channel}\\"}" '
                        "https://hooks.slack.example\n"
                    ),
                },
                "Parameters": [
                    {
                        "Name": "Slack.Channel",
                        "Label": "Channel",
                        "HelpText": "Where to post",
                        "DefaultValue": "#deployments",
                        "DisplaySettings": {"Octopus.ControlType": "SingleLineText"},
                    }
                ],
            }
        ],
        "libraryvariablesets": _library_sets(size.library_sets, rng),
        "lifecycles": [
            {
                "Name": "Default Lifecycle",
                "Description": "Development to Production",
                "Phases": [
                    {
                        "Name": name,
                        "AutomaticDeploymentTargets": [name] if name == "Development" else [],
                        "OptionalDeploymentTargets": [] if name == "Development" else [name],
                    }
                    for name in ENVIRONMENTS
                ],
            },
            {
                "Name": "Hotfix",
                "Description": "Straight to Staging, then Production",
                "Phases": [
                    {
                        "Name": name,
                        "AutomaticDeploymentTargets": [],
                        "OptionalDeploymentTargets": [name],
                    }
                    for name in DESTINATION_ENVIRONMENTS
                ],
            },
        ],
        "tenants": _tenants(size, tenanted, included, rng),
        "projects": projects,
    }


def destination_seed() -> Seed:
    """A locked-down Staging/Production instance with its own account and worker pool."""
    return {
        "environments": [
            {"Name": "Staging", "SortOrder": 1, "Description": "Pre-production (locked down)"},
            {"Name": "Production", "SortOrder": 2, "Description": "Live (locked down)"},
        ],
        "lifecycles": [
            {
                "Name": "Default Lifecycle",
                "Description": "Staging to Production",
                "Phases": [
                    {
                        "Name": name,
                        "AutomaticDeploymentTargets": [],
                        "OptionalDeploymentTargets": [name],
                    }
                    for name in DESTINATION_ENVIRONMENTS
                ],
            }
        ],
        "workerpools": [
            {"Name": "Ubuntu Worker Pool", "Description": "Workers in us-east-1", "SortOrder": 2}
        ],
        "accounts": [
            {
                "Name": DESTINATION_ACCOUNT,
                "AccountType": "AmazonWebServicesAccount",
                "Description": "AWS account for production workloads",
                "AccessKey": "AKIASTAGINGPROD00000",
                "SecretKey": {"HasValue": True, "NewValue": "destination-aws-secret"},
                "EnvironmentIds": ["Staging", "Production"],
            }
        ],
    }


OVERLAY = f"""\
environments:
  Staging: Staging
  Production: Production
rename:
  accounts: {{"{SOURCE_ACCOUNT}": "{DESTINATION_ACCOUNT}"}}
variables:
  new-out-of-scope: clone
"""


def dump(seed: Seed, path: Path) -> Path:
    """Write a seed as YAML (what `python -m snapshotsync.emulator --seed` reads)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    with path.open("w", encoding="utf-8") as handle:
        yaml.dump(seed, handle)
    return path


def write_seeds(directory: Path, size: Size, seed: int = DEFAULT_SEED) -> tuple[Path, Path]:
    """Write `source.yaml` and `destination.yaml` into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    return (
        dump(source_seed(size, seed), directory / "source.yaml"),
        dump(destination_seed(), directory / "destination.yaml"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--projects", type=int, default=Size.projects)
    parser.add_argument("--tenants", type=int, default=Size.tenants)
    parser.add_argument("--library-sets", type=int, default=Size.library_sets)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    size = Size(args.projects, args.tenants, args.library_sets)
    source, destination = write_seeds(args.outdir, size, args.seed)
    print(f"{size.describe()}\nwrote {source} and {destination}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
