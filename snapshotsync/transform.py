"""Stage 2: the source snapshot and a target's overlay -> the desired state for that target.

Pure: no I/O. The result is a `Snapshot` in the same normal form, written with the
destination's names (mapped environments, renamed accounts...), holding only what the
target should get, and every decision the overlay caused (logged and shown by `plan`).

The rules come from the guide's "Handling different environments", "Variable scoping" and
"Handling different Tenants/Deployment Targets":

- an environment not mapped by the overlay is excluded, and so is everything scoped only to
  it: lifecycle phases, step scoping, tenant links, team permissions, account scoping;
- excluding a lifecycle, channel, project, runbook or step takes what depends on it along
  (a channel on an excluded lifecycle, a step scoped only to an excluded channel, a variable
  value scoped to an excluded step or runbook);
- a scope list that empties never silently becomes "everywhere": the policy of its
  dimension skips the item or reports an error. The one deliberate exception is a *new*
  variable whose values were all scoped out by the environment mapping, which follows
  `new-out-of-scope`; such values are marked here (`OUT_OF_SCOPE`) and decided by `plan`,
  which knows whether the variable is new on the destination.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from snapshotsync import tenantvars
from snapshotsync.model import EXPLICIT, OUT_OF_SCOPE, JsonDict, ResourceKey, Snapshot
from snapshotsync.octopus.kinds import (
    ENVIRONMENT_PROPERTIES,
    is_expression,
    is_version_controlled,
)
from snapshotsync.overlay import Overlay

ERROR_POLICIES = ("error-unless-exact", "error-unless-partial")
EXACT_POLICIES = ("error-unless-exact", "skip-unless-exact")
RENAMED_REF_KINDS = {
    "accounts": "accounts",
    "certificates": "certificates",
    "worker-pools": "worker-pools",
    "feeds": "feeds",
}
# Channels of ephemeral environments (go-octopusdeploy pkg/channels/channel_type.go, 2025-10)
# name a parent environment of the separate environments v2 API.
EPHEMERAL_CHANNEL = "EphemeralEnvironment"
TYPED_VALUE_KINDS = {"Certificate": "certificates", "WorkerPool": "worker-pools"}


@dataclass(frozen=True)
class Decision:
    """Something the overlay left out or changed, and why."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class Desired:
    snapshot: Snapshot
    decisions: tuple[Decision, ...] = ()
    errors: tuple[str, ...] = ()


@dataclass
class _Context:
    overlay: Overlay
    facts: Mapping[str, frozenset[str]]
    decisions: list[Decision] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def decide(self, where: str, message: str) -> None:
        self.decisions.append(Decision(where, message))

    def policy(self, dimension: str) -> str:
        return self.overlay.variables.scoping.get(dimension, "skip-unless-partial")

    def __post_init__(self) -> None:
        self._environments = {k.lower(): v for k, v in self.overlay.environments.items()}

    def env(self, name: str) -> str | None:
        return self._environments.get(name.lower())

    def envs(self, names: list[str]) -> list[str]:
        return sorted({m for n in names if (m := self.env(n)) is not None})

    def excluded(self, kind: str, name: str) -> bool:
        return self.overlay.excluded(kind, name)


def apply(
    snapshot: Snapshot, overlay: Overlay, facts: Mapping[str, frozenset[str]] | None = None
) -> Desired:
    """The desired state of one target.

    `facts` holds names that exist on the destination and are never synced (`machines`),
    or may exist there already (`tenants`); they decide machine scoping and which tenants a
    team's permissions can keep.
    """
    context = _Context(overlay, facts or {})
    out: dict[ResourceKey, JsonDict] = {}
    resources = snapshot.resources
    projects = {
        key.name[0]
        for key in resources
        if key.kind == "projects" and not context.excluded("projects", key.name[0])
    }
    on_destination = {name.lower() for name in context.facts.get("projects", frozenset())}
    for key, source in resources.items():
        if (
            key.kind == "projects"
            and key.name[0] in projects
            and is_version_controlled(source)
            and key.name[0].lower() not in on_destination
        ):
            # Real clients create such a project and then convert it, committing to its
            # repository (Terraform resource_project.go, the Octopus CLI's project convert):
            # a sync must not commit to a team's repository behind its back.
            projects.discard(key.name[0])
            context.decide(
                str(key),
                "a config-as-code project the destination does not have: create it there and "
                "connect it to its repository (Settings > Version Control), then sync again; "
                "left out with its channels, runbooks, triggers and tenant links",
            )
    for key in sorted(resources, key=lambda k: (k.kind, k.name)):
        document = _one(context, key, resources[key], projects, snapshot)
        if document is not None:
            out[_renamed_key(context, key)] = document
    return Desired(Snapshot(out, snapshot.meta), tuple(context.decisions), tuple(context.errors))


def _renamed_key(context: _Context, key: ResourceKey) -> ResourceKey:
    if key.kind in RENAMED_REF_KINDS:
        return ResourceKey(key.kind, (context.overlay.renamed(key.kind, key.name[0]),))
    if key.kind == "environments":
        return ResourceKey(key.kind, (context.env(key.name[0]) or key.name[0],))
    return key


def _one(
    context: _Context, key: ResourceKey, source: JsonDict, projects: set[str], snapshot: Snapshot
) -> JsonDict | None:
    where = str(key)
    document = copy.deepcopy(source)
    kind = key.kind
    project = (
        key.name[0]
        if kind
        in (
            "channels",
            "deployment-processes",
            "runbooks",
            "runbook-processes",
            "project-variables",
            "triggers",
            "projects",
        )
        else None
    )
    if project is not None and project not in projects:
        if kind == "projects" and context.excluded("projects", project):
            context.decide(where, "excluded by the overlay")
        return None
    if kind == "environments":
        mapped = context.env(key.name[0])
        if mapped is None:
            context.decide(where, "not mapped by the overlay: excluded")
            return None
        document["Name"] = mapped
        return document
    if kind == "lifecycles":
        return _lifecycle(context, where, key.name[0], document)
    if kind == "channels":
        return _channel(context, where, key, document, snapshot)
    if kind in ("deployment-processes", "runbook-processes"):
        if kind == "runbook-processes" and _runbook_excluded(context, key, snapshot):
            return None
        assert project is not None
        return _process(context, where, project, document, snapshot)
    if kind == "runbooks":
        if context.excluded("runbooks", "/".join(key.name)):
            context.decide(where, "excluded by the overlay")
            return None
        if _runbook_excluded(context, key, snapshot):
            context.decide(where, "every environment it runs in is excluded: left out")
            return None
        return _runbook(context, where, document)
    if kind in ("project-variables", "library-variables"):
        return _variables(context, where, key, document, snapshot)
    if kind == "triggers":
        assert project is not None
        return _trigger(context, where, project, document, snapshot)
    if kind == "projects":
        return _project(context, where, document, snapshot)
    if kind == "tenants":
        if context.excluded("tenants", key.name[0]):
            context.decide(where, "excluded by the overlay")
            return None
        return _tenant(context, where, document, projects)
    if kind == "tenant-variables":
        if context.excluded("tenants", key.name[0]):
            return None
        tenant = snapshot.resources.get(ResourceKey("tenants", key.name)) or {}
        linked = {
            project
            for project, environments in (tenant.get("ProjectEnvironments") or {}).items()
            if project in projects and context.envs(environments)
        }
        libraries = {
            name
            for project in linked
            for name in (snapshot.resources.get(ResourceKey("projects", (project,))) or {}).get(
                "IncludedLibraryVariableSetIds"
            )
            or []
        }
        return _tenant_variables(context, where, document, linked, libraries)
    if kind in ("accounts", "certificates"):
        return _infrastructure(context, where, key, document)
    if kind in RENAMED_REF_KINDS:
        document["Name"] = context.overlay.renamed(kind, key.name[0])
        return document
    if kind == "team-permissions":
        return _team_permissions(context, where, document, projects)
    if kind == "step-templates":
        _rename_feeds(context, document.get("Packages") or [])
        return document
    return document


# --------------------------------------------------------------------- scaffolding


def _lifecycle(context: _Context, where: str, name: str, document: JsonDict) -> JsonDict | None:
    if context.excluded("lifecycles", name):
        context.decide(where, "excluded by the overlay")
        return None
    phases = []
    for phase in document.get("Phases") or []:
        automatic = context.envs(phase.get("AutomaticDeploymentTargets") or [])
        optional = context.envs(phase.get("OptionalDeploymentTargets") or [])
        if not automatic and not optional:
            context.decide(
                f"{where} phase {phase.get('Name')}",
                "every environment of the phase is excluded: phase left out",
            )
            continue
        phases.append(
            {
                **phase,
                "AutomaticDeploymentTargets": automatic,
                "OptionalDeploymentTargets": optional,
            }
        )
    if document.get("Phases") and not phases:
        # No phases means "every environment" to Octopus: never let exclusion widen it.
        context.errors.append(
            f"{where}: every phase's environments are excluded; exclude the "
            "lifecycle too, or map one of its environments"
        )
        return None
    document["Phases"] = phases
    return document


def _infrastructure(
    context: _Context, where: str, key: ResourceKey, document: JsonDict
) -> JsonDict | None:
    if context.excluded(key.kind, key.name[0]):
        context.decide(where, "excluded by the overlay")
        return None
    document["Name"] = context.overlay.renamed(key.kind, key.name[0])
    # When the destination has its own, it is left alone: its scoping is its own business.
    its_own = document["Name"].lower() in {
        n.lower() for n in context.facts.get(key.kind, frozenset())
    }
    original = document.get("EnvironmentIds") or []
    mapped = context.envs(original)
    if original and not mapped and not its_own:
        # An unscoped account or certificate is usable everywhere; that would widen it.
        context.decide(
            where,
            "every environment it is scoped to is excluded: not synced "
            f"(rename it to a destination {key.kind[:-1]} in the overlay if needed)",
        )
        return None
    document["EnvironmentIds"] = mapped
    tenants = document.get("TenantIds") or []
    kept = [t for t in tenants if not context.excluded("tenants", t)]
    if tenants and not kept and not its_own:
        context.decide(where, "every tenant it is scoped to is excluded: not synced")
        return None
    document["TenantIds"] = kept
    return document


def _team_permissions(
    context: _Context, where: str, document: JsonDict, projects: set[str]
) -> JsonDict | None:
    known_tenants = context.facts.get("tenants", frozenset())
    roles = []
    for role in document.get("ScopedUserRoles") or []:
        role = dict(role)
        reasons = []
        environments = role.get("EnvironmentIds") or []
        role["EnvironmentIds"] = context.envs(environments)
        tenants = role.get("TenantIds") or []
        role["TenantIds"] = sorted(
            t for t in tenants if not context.excluded("tenants", t) or t in known_tenants
        )
        project_ids = role.get("ProjectIds") or []
        role["ProjectIds"] = sorted(p for p in project_ids if p in projects)
        for field_name, before in (
            ("EnvironmentIds", environments),
            ("TenantIds", tenants),
            ("ProjectIds", project_ids),
        ):
            lost = sorted(set(before) - set(role[field_name]))
            if lost:
                reasons.append(f"{field_name} loses {', '.join(lost)}")
            if before and not role[field_name]:
                context.decide(
                    f"{where} {role.get('UserRoleId')}",
                    f"every entry of {field_name} is missing on the destination: "
                    "role left out (an empty list would grant it everywhere)",
                )
                break
        else:
            for reason in reasons:
                context.decide(f"{where} {role.get('UserRoleId')}", reason)
            roles.append(role)
    if not roles:
        return None
    return {**document, "ScopedUserRoles": roles}


# --------------------------------------------------------------------- projects


def _project(context: _Context, where: str, document: JsonDict, snapshot: Snapshot) -> JsonDict:
    lifecycle = document.get("LifecycleId")
    if lifecycle and context.excluded("lifecycles", lifecycle):
        context.errors.append(
            f"{where}: its lifecycle {lifecycle!r} is excluded; a project "
            "needs one: map it, or exclude the project"
        )
    strategy = document.get("ReleaseCreationStrategy") or {}
    channel = strategy.get("ChannelId")
    if channel and context.excluded("channels", f"{document['Name']}/{channel}"):
        strategy["ChannelId"] = None
        context.decide(where, f"automatic release creation channel {channel!r} is excluded")
    del snapshot
    return document


def _channel(
    context: _Context, where: str, key: ResourceKey, document: JsonDict, snapshot: Snapshot
) -> JsonDict | None:
    if context.excluded("channels", "/".join(key.name)):
        context.decide(where, "excluded by the overlay")
        return None
    lifecycle = document.get("LifecycleId")
    if lifecycle and context.excluded("lifecycles", lifecycle):
        context.decide(where, f"its lifecycle {lifecycle!r} is excluded: channel left out")
        return None
    if document.get("Type") == EPHEMERAL_CHANNEL:
        context.decide(
            where,
            "an ephemeral-environment channel: its parent environment lives in Octopus's "
            "environments v2 API, which is not synced; left out",
        )
        return None
    del snapshot
    return document


def _channel_gone(context: _Context, project: str, channel: str, snapshot: Snapshot) -> bool:
    """A channel excluded by name, or through its excluded lifecycle."""
    if context.excluded("channels", f"{project}/{channel}"):
        return True
    document = snapshot.resources.get(ResourceKey("channels", (project, channel)))
    if (document or {}).get("Type") == EPHEMERAL_CHANNEL:
        return True
    lifecycle = (document or {}).get("LifecycleId")
    return bool(lifecycle) and context.excluded("lifecycles", str(lifecycle))


def _runbook_excluded(context: _Context, key: ResourceKey, snapshot: Snapshot) -> bool:
    if context.excluded("runbooks", "/".join(key.name[:2])):
        return True
    runbook = snapshot.resources.get(ResourceKey("runbooks", key.name[:2]))
    if runbook is None:
        return False
    environments = runbook.get("Environments") or []
    return (
        runbook.get("EnvironmentScope") == "Specified"
        and bool(environments)
        and not context.envs(environments)
    )


def _runbook(context: _Context, where: str, document: JsonDict) -> JsonDict:
    environments = document.get("Environments") or []
    document["Environments"] = context.envs(environments)
    lost = sorted(e for e in environments if context.env(e) is None)
    if lost:
        context.decide(where, f"environments {', '.join(lost)} are excluded")
    return document


def _trigger(
    context: _Context, where: str, project: str, document: JsonDict, snapshot: Snapshot
) -> JsonDict | None:
    """Environments mapped, excluded tenants dropped; a trigger left with nothing to act on
    (every environment it watches or deploys to excluded, its runbook or channel excluded,
    every tenant it deploys for excluded) is left out: an empty list would mean "all"."""
    trigger_filter = document.get("Filter") or {}
    action = document.get("Action") or {}
    for container, name in (
        (trigger_filter, "EnvironmentIds"),
        (action, "SourceEnvironmentIds"),
        (action, "EnvironmentIds"),
    ):
        environments = container.get(name) or []
        if environments:
            mapped = context.envs(environments)
            if not mapped:
                context.decide(where, f"every environment of its {name} is excluded: left out")
                return None
            container[name] = mapped
    for name in ("EnvironmentId", "DestinationEnvironmentId"):
        if action.get(name):
            mapped_one = context.env(action[name])
            if mapped_one is None:
                context.decide(where, f"its {name} {action[name]!r} is excluded: left out")
                return None
            action[name] = mapped_one
    tenants = action.get("TenantIds") or []
    if tenants:
        kept = sorted(t for t in tenants if not context.excluded("tenants", t))
        if not kept:
            context.decide(where, "every tenant it deploys for is excluded: left out")
            return None
        if len(kept) < len(tenants):
            lost = sorted(set(tenants) - set(kept))
            context.decide(where, f"tenants {', '.join(lost)} are excluded")
        action["TenantIds"] = kept
    runbook = action.get("RunbookId")
    if runbook and _runbook_excluded(
        context, ResourceKey("runbooks", (project, str(runbook))), snapshot
    ):
        context.decide(where, f"its runbook {runbook!r} is excluded: left out")
        return None
    channel = action.get("ChannelId")
    if channel and _channel_gone(context, project, str(channel), snapshot):
        context.decide(where, f"its channel {channel!r} is excluded: left out")
        return None
    return document


def _process(
    context: _Context, where: str, project: str, document: JsonDict, snapshot: Snapshot
) -> JsonDict:
    steps = []
    for step in document.get("Steps") or []:
        label = f"{project}/{step.get('Name')}"
        if context.excluded("steps", label):
            context.decide(f"{where} step {step.get('Name')}", "excluded by the overlay")
            continue
        actions = []
        for action in step.get("Actions") or []:
            kept = _action(
                context, f"{where} step {step.get('Name')}", project, label, action, snapshot
            )
            if kept is not None:
                actions.append(kept)
        if not actions:
            continue
        steps.append({**step, "Actions": actions})
    document["Steps"] = steps
    return document


def _action(
    context: _Context,
    where: str,
    project: str,
    step_label: str,
    action: JsonDict,
    snapshot: Snapshot,
) -> JsonDict | None:
    action = copy.deepcopy(action)
    # An explicit rescope wins over the source's scoping: the guide's "QA signs off in
    # Staging" case keeps a step whose own environments are all excluded.
    rescope = context.overlay.rescope.get(step_label)
    if rescope is not None:
        context.decide(where, "rescoped by the overlay")
    channels = action.get("Channels") or []
    if rescope is not None and rescope.channels is not None:
        action["Channels"] = sorted(rescope.channels)
    else:
        surviving = [c for c in channels if not _channel_gone(context, project, c, snapshot)]
        if channels and not surviving:
            context.decide(
                where,
                f"scoped only to excluded channels ({', '.join(channels)}): left out with them",
            )
            return None
        action["Channels"] = sorted(surviving)
    action["ExcludedEnvironments"] = context.envs(action.get("ExcludedEnvironments") or [])
    if rescope is not None and rescope.environments is not None:
        action["Environments"] = sorted(rescope.environments)
    else:
        environments = action.get("Environments") or []
        mapped = context.envs(environments)
        if environments and not mapped:
            if context.overlay.step_out_of_scope != "unscope":
                context.decide(
                    where,
                    "every environment it runs in is excluded: left out (steps.out-of-scope: skip)",
                )
                return None
            context.decide(
                where,
                "every environment it runs in is excluded: it now runs in "
                "every environment (steps.out-of-scope: unscope)",
            )
        action["Environments"] = mapped
    if action.get("WorkerPoolId"):
        action["WorkerPoolId"] = context.overlay.renamed("worker-pools", action["WorkerPoolId"])
    _rename_feeds(context, action.get("Packages") or [])
    container = action.get("Container") or {}
    if container.get("FeedId"):
        container["FeedId"] = context.overlay.renamed("feeds", container["FeedId"])
    properties = action.get("Properties") or {}
    if isinstance(properties.get("Octopus.Action.Package.FeedId"), str):
        properties["Octopus.Action.Package.FeedId"] = context.overlay.renamed(
            "feeds", properties["Octopus.Action.Package.FeedId"]
        )
    for name, value in properties.items():
        if isinstance(value, dict) and isinstance(value.get("Json"), dict):
            properties[name] = {
                "Json": {k: _renamed_ref(context, v) for k, v in value["Json"].items()}
            }
        else:
            properties[name] = _renamed_ref(context, value)
    for name in ENVIRONMENT_PROPERTIES:
        value = properties.get(name)
        if isinstance(value, str) and value and not is_expression(value):
            original = [e.strip() for e in value.split(",") if e.strip()]
            mapped = context.envs(original)
            lost = sorted(e for e in original if context.env(e) is None)
            if lost:
                context.decide(where, f"{name} loses {', '.join(lost)} (excluded)")
            properties[name] = ",".join(mapped)
    return action


def _renamed_ref(context: _Context, value: Any) -> Any:
    """A typed reference to a renamed kind (`{"Ref": {kind, name}}`) with the new name."""
    if isinstance(value, dict) and isinstance(value.get("Ref"), dict):
        ref = value["Ref"]
        if ref.get("kind") in RENAMED_REF_KINDS:
            return {"Ref": {**ref, "name": context.overlay.renamed(ref["kind"], ref["name"])}}
    return value


def _rename_feeds(context: _Context, packages: list[JsonDict]) -> None:
    for package in packages:
        if package.get("FeedId"):
            package["FeedId"] = context.overlay.renamed("feeds", package["FeedId"])


# --------------------------------------------------------------------- variables


def _variables(
    context: _Context, where: str, key: ResourceKey, document: JsonDict, snapshot: Snapshot
) -> JsonDict:
    owner = key.name[0]
    project = owner if key.kind == "project-variables" else None
    # Names match case-insensitively, as everywhere; the value keeps the variable's type,
    # so a secret given explicitly stays a secret.
    explicit = {
        name.split("/", 1)[1].lower(): (name.split("/", 1)[1], value)
        for name, value in context.overlay.variables.values.items()
        if name.split("/", 1)[0].lower() == owner.lower()
    }
    values = []
    handled_explicit: set[str] = set()
    for value in document.get("Variables") or []:
        name = value["Name"]
        if name.lower() in explicit:
            if name.lower() not in handled_explicit:
                handled_explicit.add(name.lower())
                given: JsonDict = {"Name": name, "Value": explicit[name.lower()][1]}
                if value.get("Type", "String") != "String":
                    given["Type"] = value["Type"]
                values.append({**given, EXPLICIT: True})
                context.decide(f"{where} {name}", "value set by the overlay")
            continue
        kept = _value(context, f"{where} {name}", project, value, snapshot)
        if kept is not None:
            values.append(kept)
    for lowered, (name, value) in explicit.items():
        if lowered not in handled_explicit:
            values.append({"Name": name, "Value": value, EXPLICIT: True})
    return {**document, "Variables": values}


def _value(
    context: _Context, where: str, project: str | None, value: JsonDict, snapshot: Snapshot
) -> JsonDict | None:
    value = copy.deepcopy(value)
    scope: dict[str, list[str]] = dict(value.get("Scope") or {})
    out_of_scope = False
    for dimension, names in list(scope.items()):
        names = list(names)
        if dimension == "Environment":
            mapped = context.envs(names)
            policy = context.policy("environment")
            if not mapped:
                if policy in ERROR_POLICIES:
                    context.errors.append(
                        f"{where}: scoped only to excluded environments "
                        f"({', '.join(names)}) under {policy}"
                    )
                    return None
                out_of_scope = True
                scope[dimension] = []
                continue
            kept = _policy(context, where, "environment", names, mapped)
        elif dimension == "Channel":
            surviving = [
                c
                for c in names
                if project is None or not _channel_gone(context, project, c, snapshot)
            ]
            if not surviving:
                context.decide(where, "scoped only to excluded channels: left out with them")
                return None
            kept = _policy(context, where, "channel", names, surviving)
        elif dimension == "Action":
            surviving = [
                a
                for a in names
                if project is None or not context.excluded("steps", f"{project}/{a}")
            ]
            if not surviving:
                context.decide(where, "scoped only to excluded steps: left out with them")
                return None
            kept = _policy(context, where, "action", names, surviving)
        elif dimension == "ProcessOwner":
            surviving = [
                o
                for o in names
                if project is None
                or o == project
                or not context.excluded("runbooks", f"{project}/{o}")
            ]
            if not surviving:
                context.decide(where, "scoped only to excluded runbooks: left out with them")
                return None
            kept = _policy(context, where, "process-owner", names, surviving)
        elif dimension == "Machine":
            machines = context.facts.get("machines", frozenset())
            surviving = [m for m in names if m in machines]
            kept = _policy(context, where, "machine", names, surviving)
        else:  # Role, TenantTag: the same on every instance
            kept = names
        if kept is None:
            return None
        scope[dimension] = sorted(kept)
    scope = {d: v for d, v in scope.items() if v}
    if scope:
        value["Scope"] = scope
    else:
        value.pop("Scope", None)
    if out_of_scope:
        value[OUT_OF_SCOPE] = True
    if value.get("Type") == "Certificate" and context.excluded(
        "certificates", str(value.get("Value"))
    ):
        context.decide(where, f"its certificate {value.get('Value')!r} is excluded: left out")
        return None
    _rename_typed_value(context, value)
    return value


def _policy(
    context: _Context, where: str, dimension: str, original: list[str], surviving: list[str]
) -> list[str] | None:
    """Apply a dimension's scoping policy; None means the item is skipped."""
    if not original:
        return []
    policy = context.policy(dimension)
    lost = sorted(set(original) - set(surviving))
    if not lost:
        return surviving
    if policy in EXACT_POLICIES or not surviving:
        message = (
            f"{dimension} scope {', '.join(original)}: {', '.join(lost)} missing on the "
            f"destination ({policy})"
        )
        if policy in ERROR_POLICIES:
            context.errors.append(f"{where}: {message}")
        else:
            context.decide(where, f"{message}: left out")
        return None
    context.decide(
        where,
        f"{dimension} scope narrowed to {', '.join(surviving)} "
        f"({', '.join(lost)} missing on the destination)",
    )
    return surviving


def _rename_typed_value(context: _Context, value: JsonDict) -> None:
    kind = TYPED_VALUE_KINDS.get(str(value.get("Type")))
    if kind is None and str(value.get("Type", "")).endswith("Account"):
        kind = "accounts"
    if kind is not None and isinstance(value.get("Value"), str):
        value["Value"] = context.overlay.renamed(kind, value["Value"])


# --------------------------------------------------------------------- tenants


def _tenant(context: _Context, where: str, document: JsonDict, projects: set[str]) -> JsonDict:
    links = {}
    for project, environments in (document.get("ProjectEnvironments") or {}).items():
        if project not in projects:
            context.decide(where, f"link to project {project!r} left out (project not synced)")
            continue
        mapped = context.envs(environments)
        if not mapped:
            context.decide(
                where, f"link to project {project!r} left out: every environment of it is excluded"
            )
            continue
        lost = sorted(set(environments) - {e for e in environments if context.env(e)})
        if lost:
            context.decide(where, f"project {project!r} loses environments {', '.join(lost)}")
        links[project] = mapped
    document["ProjectEnvironments"] = links
    return document


def _tenant_variables(
    context: _Context, where: str, document: JsonDict, projects: set[str], libraries: set[str]
) -> JsonDict | None:
    """Values for the projects the tenant stays linked to on the destination, and for the
    library variable sets those projects include (Octopus refuses values for any other),
    each with its environments mapped; a value whose every environment is excluded goes
    (an unscoped one stays: it applies wherever no value of its own is set)."""
    mode = context.overlay.tenant_variables
    if mode == "skip":
        context.decide(where, "tenant variables not synced (tenants.variables: skip)")
        return None
    placeholder = context.overlay.variables.placeholder
    kept: dict[str, dict[str, dict[str, list[JsonDict]]]] = {}
    dropped_libraries: set[str] = set()
    for kind, owner, template, entry in tenantvars.entries(document):
        allowed = projects if kind == "ProjectVariables" else libraries
        if owner not in allowed:
            if kind == "CommonVariables":
                dropped_libraries.add(owner)
            continue
        scope = tenantvars.environments(entry)
        mapped = context.envs(list(scope))
        if scope and not mapped:
            continue
        value = entry.get("Value")
        if mode == "placeholder" and not _is_secret(value):
            value = placeholder
        new_entry: JsonDict = {"Value": value}
        if mapped:
            new_entry["Environments"] = mapped
        kept.setdefault(kind, {}).setdefault(owner, {}).setdefault(template, []).append(new_entry)
    if dropped_libraries:
        context.decide(
            where,
            f"values for {', '.join(sorted(dropped_libraries))} left out: no project the "
            "tenant keeps on the destination includes them",
        )
    return tenantvars.document(kept) or None


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and "Sensitive" in value
