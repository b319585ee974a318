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
  which knows whether the variable is new on the destination;
- a lifecycle that loses every phase is left out like an excluded one (an empty lifecycle
  would allow every environment), and its channels with it; a tenant that keeps no project
  link (every environment of each link excluded) is left out, and so is what names it;
- one source environment can map to several destination ones (`Prod: [Production, DR]`):
  every list of environments gets all of them; a field that holds one environment (a
  trigger's target) gets the first, the primary;
- several source environments can map to one destination environment: lists get the
  union, and where their variable values disagree on it, `prefer:` says whose win (the
  others' values lose that environment) or the disagreement is an error naming the values;
- explicit values (`variables.values`) never widen a scope: a plain value replaces the
  value of every source value in scope on the destination, each keeping its mapped scope
  (only a variable with no value in scope there gets it unscoped, as its one value); a
  value with `environments` applies exactly there, and the source's values lose those
  environments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from snapshotsync import tenantvars
from snapshotsync.merge import describe
from snapshotsync.model import EXPLICIT, OUT_OF_SCOPE, JsonDict, ResourceKey, Snapshot, copy_json
from snapshotsync.octopus.kinds import (
    ENVIRONMENT_PROPERTIES,
    is_expression,
    is_version_controlled,
)
from snapshotsync.overlay import Overlay, ScopedValue

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
LOSES = "~Loses"  # working marker: destination environments a source value gives up


@dataclass(frozen=True)
class Decision:
    """Something the overlay left out or changed, and why."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class Clash:
    """Source environments sharing a destination environment disagree on a value there."""

    where: str  # e.g. "project-variables PayFX Payment.Mode"
    environment: str  # the destination environment
    values: tuple[tuple[str, str], ...]  # (source environment, the value it has, described)

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(source for source, _ in self.values))

    def __str__(self) -> str:
        shown = ", ".join(f"{value} in {source}" for source, value in self.values)
        return (
            f"{self.where}: {' and '.join(self.sources)} both map to {self.environment} with "
            f"different values ({shown}); say whose win there with "
            f"`prefer: {{{self.environment}: {self.sources[-1]}}}` in the overlay"
        )


@dataclass(frozen=True)
class Desired:
    snapshot: Snapshot
    decisions: tuple[Decision, ...] = ()
    errors: tuple[str, ...] = ()
    clashes: tuple[Clash, ...] = ()  # also in `errors`; validate places them in the overlay


@dataclass
class _Context:
    overlay: Overlay
    facts: Mapping[str, frozenset[str]]
    decisions: list[Decision] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    clashes: list[Clash] = field(default_factory=list)
    gone_lifecycles: set[str] = field(default_factory=set)  # lower-cased
    gone_tenants: set[str] = field(default_factory=set)  # lower-cased, left out by cascade

    def decide(self, where: str, message: str) -> None:
        self.decisions.append(Decision(where, message))

    def clash(self, clash: Clash) -> None:
        self.clashes.append(clash)
        self.errors.append(str(clash))

    def policy(self, dimension: str) -> str:
        return self.overlay.variables.scoping.get(dimension, "skip-unless-partial")

    def __post_init__(self) -> None:
        self._targets = {k.lower(): self.overlay.targets(k) for k in self.overlay.environments}
        # Destination environments that several source environments map to.
        sources: dict[str, list[str]] = {}
        for source in self.overlay.environments:
            for target in self._targets[source.lower()]:
                sources.setdefault(target.lower(), []).append(source)
        self.shared = {d: tuple(s) for d, s in sources.items() if len(s) > 1}

    def env(self, name: str) -> str | None:
        """The primary destination environment of `name` (None when it is excluded)."""
        targets = self._targets.get(name.lower())
        return targets[0] if targets else None

    def targets(self, name: str) -> tuple[str, ...]:
        return self._targets.get(name.lower(), ())

    def envs(self, names: list[str]) -> list[str]:
        """Every destination environment the source environments `names` map to."""
        return sorted({m for n in names for m in self.targets(n)})

    def excluded(self, kind: str, name: str) -> bool:
        return self.overlay.excluded(kind, name)

    def lifecycle_gone(self, name: str) -> bool:
        return self.excluded("lifecycles", name) or name.lower() in self.gone_lifecycles

    def tenant_gone(self, name: str) -> bool:
        return self.excluded("tenants", name) or name.lower() in self.gone_tenants


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
    # Cascades that other kinds depend on, known before any document is transformed.
    context.gone_lifecycles = {
        key.name[0].lower()
        for key, document in resources.items()
        if key.kind == "lifecycles" and _phases_all_excluded(context, document)
    }
    context.gone_tenants = {
        key.name[0].lower()
        for key, document in resources.items()
        if key.kind == "tenants" and _tenant_links_all_gone(context, document, projects)
    }
    for lowered, sources in sorted(context.shared.items()):
        winner = overlay.preferred(lowered)
        shared = next(t for s in sources for t in context.targets(s) if t.lower() == lowered)
        context.decide(
            f"environments {shared}",
            f"receives {' and '.join(sources)}: it gets what either had"
            + (
                f"; where their values disagree, {winner}'s (prefer)"
                if winner
                else "; values they disagree on are errors until `prefer:` names a winner"
            ),
        )
    for key in sorted(resources, key=lambda k: (k.kind, k.name)):
        if key.kind == "environments":
            out.update(_environments(context, key, resources[key]))
            continue
        document = _one(context, key, resources[key], projects, snapshot)
        if document is not None:
            out[_renamed_key(context, key)] = document
    return Desired(
        Snapshot(out, snapshot.meta),
        tuple(context.decisions),
        tuple(context.errors),
        tuple(context.clashes),
    )


def _environments(
    context: _Context, key: ResourceKey, document: JsonDict
) -> dict[ResourceKey, JsonDict]:
    """A source environment becomes each destination environment it maps to (none when it
    is excluded); several source environments mapped to one give one document (the first's)."""
    targets = context.targets(key.name[0])
    if not targets:
        context.decide(str(key), "not mapped by the overlay: excluded")
        return {}
    return {
        ResourceKey("environments", (target,)): {**copy_json(document), "Name": target}
        for target in targets
    }


def _renamed_key(context: _Context, key: ResourceKey) -> ResourceKey:
    if key.kind in RENAMED_REF_KINDS:
        return ResourceKey(key.kind, (context.overlay.renamed(key.kind, key.name[0]),))
    return key


def _one(
    context: _Context, key: ResourceKey, source: JsonDict, projects: set[str], snapshot: Snapshot
) -> JsonDict | None:
    where = str(key)
    document = copy_json(source)
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
        if context.tenant_gone(key.name[0]):
            _tenant(context, where, document, projects)  # the decisions about each link
            context.decide(
                where, "no project link is left on the destination: left out with its variables"
            )
            return None
        return _tenant(context, where, document, projects)
    if kind == "tenant-variables":
        if context.tenant_gone(key.name[0]):
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


def _phases_all_excluded(context: _Context, document: JsonDict) -> bool:
    """A lifecycle with phases, none of which keeps an environment."""
    phases = document.get("Phases") or []
    return bool(phases) and not any(
        context.envs(
            (p.get("AutomaticDeploymentTargets") or []) + (p.get("OptionalDeploymentTargets") or [])
        )
        for p in phases
    )


def _lifecycle(context: _Context, where: str, name: str, document: JsonDict) -> JsonDict | None:
    if context.excluded("lifecycles", name):
        context.decide(where, "excluded by the overlay")
        return None
    if context.lifecycle_gone(name):
        # No phases means "every environment" to Octopus: never let exclusion widen it.
        context.decide(
            where,
            "every phase's environments are excluded: left out, with its channels (an empty "
            "lifecycle would allow every environment)",
        )
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
    kept = [t for t in tenants if not context.tenant_gone(t)]
    if tenants and not kept and not its_own:
        context.decide(where, "every tenant it is scoped to is excluded: not synced")
        return None
    document["TenantIds"] = kept
    return document


def _team_permissions(
    context: _Context, where: str, document: JsonDict, projects: set[str]
) -> JsonDict | None:
    known_tenants = {t.lower() for t in context.facts.get("tenants", frozenset())}
    roles = []
    for role in document.get("ScopedUserRoles") or []:
        role = dict(role)
        reasons = []
        environments = role.get("EnvironmentIds") or []
        role["EnvironmentIds"] = context.envs(environments)
        tenants = role.get("TenantIds") or []
        role["TenantIds"] = sorted(
            t for t in tenants if not context.tenant_gone(t) or t.lower() in known_tenants
        )
        project_ids = role.get("ProjectIds") or []
        role["ProjectIds"] = sorted(p for p in project_ids if p in projects)
        for field_name, before in (
            ("EnvironmentIds", environments),
            ("TenantIds", tenants),
            ("ProjectIds", project_ids),
        ):
            if field_name == "EnvironmentIds":  # mapped names are not lost, only excluded ones
                lost = sorted(e for e in before if not context.targets(e))
            else:
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
    if lifecycle and context.lifecycle_gone(lifecycle):
        context.decide(where, f"its lifecycle {lifecycle!r} is left out: channel left out")
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
    return bool(lifecycle) and context.lifecycle_gone(str(lifecycle))


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


def _action_gone(context: _Context, project: str, action: str, snapshot: Snapshot) -> bool:
    """Whether the step an `Action` scope names is left out: a deployment step excluded, or
    the runbook of a runbook step (`<runbook>/<step>`, `kinds.action_name`)."""
    if context.excluded("steps", f"{project}/{action}"):
        return True
    return "/" in action and any(
        action.lower().startswith(f"{key.name[1]}/".lower())
        and _runbook_excluded(context, key, snapshot)
        for key in snapshot.resources
        if key.kind == "runbooks" and key.name[0].lower() == project.lower()
    )


def _runbook(context: _Context, where: str, document: JsonDict) -> JsonDict:
    environments = document.get("Environments") or []
    document["Environments"] = context.envs(environments)
    lost = sorted(e for e in environments if not context.targets(e))
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
            targets = context.targets(action[name])
            if not targets:
                context.decide(where, f"its {name} {action[name]!r} is excluded: left out")
                return None
            if len(targets) > 1:
                context.decide(
                    where,
                    f"its {name} {action[name]!r} maps to {', '.join(targets)}: it targets the "
                    f"first, {targets[0]} (a trigger targets one environment)",
                )
            action[name] = targets[0]
    tenants = action.get("TenantIds") or []
    if tenants:
        kept = sorted(t for t in tenants if not context.tenant_gone(t))
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
    action = copy_json(action)
    # An explicit rescope wins over the source's scoping: the guide's "QA signs off in
    # Staging" case keeps a step whose own environments are all excluded.
    rescope = context.overlay.rescope_of(step_label)
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
    plain, scoped = _explicit(context, owner)
    source_values = [copy_json(v) for v in document.get("Variables") or []]
    for value in source_values:
        entries = scoped.get(str(value["Name"]).lower())
        if entries:  # the overlay's value applies there instead
            value[LOSES] = sorted({e.lower() for entry in entries for e in entry.environments})
    _shared_environments(context, where, source_values, set(plain))
    values = []
    for value in source_values:
        kept = _value(context, f"{where} {value['Name']}", project, value, snapshot)
        if kept is not None:
            values.append(kept)
    for name, text in plain.values():
        values = _inherit(context, f"{where} {name}", values, source_values, name, text)
    for lowered, entries in scoped.items():
        name = next((str(v["Name"]) for v in source_values if v["Name"].lower() == lowered), "")
        name = name or next(n for n in _owned(context, owner) if n.lower() == lowered)
        for entry in entries:
            given: JsonDict = {"Name": name, "Value": entry.value}
            _keep_type(given, source_values)
            given["Scope"] = {"Environment": sorted(entry.environments)}
            values.append({**given, EXPLICIT: True})
            context.decide(
                f"{where} {name}",
                f"value set by the overlay for {', '.join(sorted(entry.environments))}",
            )
    return {**document, "Variables": values}


def _owned(context: _Context, owner: str) -> list[str]:
    """The variable names the overlay gives values for in `owner` (as written there)."""
    names = [*context.overlay.variables.values, *context.overlay.variables.scoped_values]
    return [n.split("/", 1)[1] for n in names if n.split("/", 1)[0].lower() == owner.lower()]


def _explicit(
    context: _Context, owner: str
) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[ScopedValue, ...]]]:
    """The overlay's values for `owner`'s variables, by lower-cased variable name (names
    match regardless of case, as everywhere)."""
    policy = context.overlay.variables
    plain = {
        name.split("/", 1)[1].lower(): (name.split("/", 1)[1], value)
        for name, value in policy.values.items()
        if name.split("/", 1)[0].lower() == owner.lower()
    }
    scoped = {
        name.split("/", 1)[1].lower(): entries
        for name, entries in policy.scoped_values.items()
        if name.split("/", 1)[0].lower() == owner.lower()
    }
    return plain, scoped


def _keep_type(given: JsonDict, source_values: list[JsonDict]) -> None:
    """An explicit value keeps its variable's type, so a secret given explicitly stays one,
    and its description and prompt (the overlay gives a value, not what it is for)."""
    lowered = str(given["Name"]).lower()
    source = next((v for v in source_values if str(v["Name"]).lower() == lowered), None)
    if source is None:
        return
    kind = source.get("Type")
    if kind and kind != "String":
        given["Type"] = kind
    for field_name in VARIABLE_METADATA:
        if field_name in source and field_name not in given:
            given[field_name] = copy_json(source[field_name])


VARIABLE_METADATA = ("Description", "Prompt")


def _inherit(
    context: _Context,
    where: str,
    values: list[JsonDict],
    source_values: list[JsonDict],
    name: str,
    text: str,
) -> list[JsonDict]:
    """A plain explicit value: the value of every source value in scope on the destination,
    each keeping its (mapped) scope; never wider. A variable with no value in scope there
    (or none on the source) gets it as its one, unscoped, value."""
    lowered = name.lower()
    mine = [v for v in values if str(v["Name"]).lower() == lowered]
    in_scope = [v for v in mine if not v.get(OUT_OF_SCOPE)]
    on_source = [v for v in source_values if str(v["Name"]).lower() == lowered]
    if not in_scope and len(mine) < len(on_source):
        # Some source values were left out (a scoping policy, an excluded channel...):
        # an unscoped value would apply where they did not, so nothing is written.
        context.decide(
            where,
            "the overlay's value is not written: no source value of the variable applies on "
            "the destination, and an unscoped value would widen those left out",
        )
        return [v for v in values if str(v["Name"]).lower() != lowered]
    if not in_scope:
        spelled = next(
            (str(v["Name"]) for v in source_values if str(v["Name"]).lower() == lowered), name
        )
        given: JsonDict = {"Name": spelled, "Value": text}
        _keep_type(given, source_values)
        if mine:
            context.decide(
                where,
                "value set by the overlay; no source value applies on the destination, so "
                "it is the variable's one value",
            )
        else:
            context.decide(where, "value set by the overlay")
        at = values.index(mine[0]) if mine else len(values)
        others = [v for v in values if str(v["Name"]).lower() != lowered]
        return [*others[:at], {**given, EXPLICIT: True}, *others[at:]]
    result: list[JsonDict] = []
    seen: set[str] = set()
    for value in values:
        if value in in_scope:
            value = {**value, "Value": text, EXPLICIT: True}
            identity = json.dumps(
                [value.get("Type"), value.get("Scope")], sort_keys=True, default=str
            )
            if identity in seen:
                continue  # two source values now identical: one destination value
            seen.add(identity)
        result.append(value)
    scopes = sorted({_scope_text(v) for v in in_scope})
    context.decide(
        where, f"value set by the overlay, kept in the source's scopes ({'; '.join(scopes)})"
    )
    return result


def _scope_text(value: JsonDict) -> str:
    scope = value.get("Scope") or {}
    return ", ".join(f"{d}: {', '.join(v)}" for d, v in sorted(scope.items())) or "unscoped"


def _shared_environments(
    context: _Context, where: str, values: list[JsonDict], explicit: set[str]
) -> None:
    """Where several source environments map to one destination environment and their
    values of a variable disagree there (same other dimensions), the overlay's `prefer:`
    decides: the other environments' values lose it. Without `prefer:` it is a `Clash`.

    What a source environment "has" is its environment-scoped values, or else the
    unscoped ones (Octopus picks the more specific). Works on the source's values,
    before their scopes are mapped; marks the losers with `LOSES`."""
    for lowered_destination, sources in context.shared.items():
        destination = next(
            t for s in sources for t in context.targets(s) if t.lower() == lowered_destination
        )
        groups: dict[str, list[int]] = {}
        for index, value in enumerate(values):
            if str(value["Name"]).lower() in explicit:
                continue
            others = {
                d: sorted(n.lower() for n in names)
                for d, names in (value.get("Scope") or {}).items()
                if d != "Environment" and names
            }
            group = json.dumps([str(value["Name"]).lower(), others], sort_keys=True)
            groups.setdefault(group, []).append(index)
        for members in groups.values():
            _settle(context, where, values, members, destination, sources)


def _settle(
    context: _Context,
    where: str,
    values: list[JsonDict],
    members: list[int],
    destination: str,
    sources: tuple[str, ...],
) -> None:
    def environments(index: int) -> set[str]:
        return {e.lower() for e in (values[index].get("Scope") or {}).get("Environment") or []}

    unscoped = [i for i in members if not environments(i)]
    has: dict[str, list[int]] = {}
    for source in sources:
        scoped = [
            i
            for i in members
            if source.lower() in environments(i)
            and destination.lower() not in values[i].get(LOSES, [])
        ]
        if scoped or unscoped:
            has[source] = scoped or unscoped
    signatures = {
        source: frozenset(_signature(values[i], i) for i in indexes)
        for source, indexes in has.items()
    }
    if len(set(signatures.values())) <= 1:
        return
    name = str(values[members[0]]["Name"])
    winner = context.overlay.preferred(destination)
    if winner is None:
        shown = tuple(
            (source, _shown(values[i])) for source, indexes in has.items() for i in indexes
        )
        context.clash(Clash(f"{where} {name}", destination, shown))
        return
    for index in members:
        covered = environments(index)
        if not covered or winner.lower() in covered:
            continue
        if not any(source.lower() in covered for source in sources):
            continue
        values[index][LOSES] = sorted({*values[index].get(LOSES, []), destination.lower()})
        context.decide(
            f"{where} {name}",
            f"{_shown(values[index])} gives way on {destination} to {winner}'s value "
            f"(prefer: {destination}: {winner})",
        )


def _signature(value: JsonDict, index: int) -> tuple[str, str]:
    if value.get("Type") == "Sensitive" or _is_secret(value.get("Value")):
        return ("Sensitive", str(index))  # unreadable: two secrets are never known equal
    return (str(value.get("Type") or "String"), json.dumps(value.get("Value"), default=str))


def _shown(value: JsonDict) -> str:
    return describe({**value, "Scope": {}}).split(" = ", 1)[1]


def _value(
    context: _Context, where: str, project: str | None, value: JsonDict, snapshot: Snapshot
) -> JsonDict | None:
    value = copy_json(value)
    loses = set(value.pop(LOSES, []))
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
            unmapped = [n for n in names if not context.targets(n)]
            kept = _policy(context, where, "environment", names, mapped, unmapped)
            if kept is not None and loses:
                kept = [k for k in kept if k.lower() not in loses]
                if not kept:
                    context.decide(where, "its environments take the overlay's value: left out")
                    return None
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
                if project is None or not _action_gone(context, project, a, snapshot)
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
            machines = {m.lower(): m for m in context.facts.get("machines", frozenset())}
            surviving = [machines[m.lower()] for m in names if m.lower() in machines]
            lost = [m for m in names if m.lower() not in machines]
            kept = _policy(context, where, "machine", names, surviving, lost)
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
    context: _Context,
    where: str,
    dimension: str,
    original: list[str],
    surviving: list[str],
    lost: list[str] | None = None,
) -> list[str] | None:
    """Apply a dimension's scoping policy; None means the item is skipped.

    `lost` are the names of `original` that have no counterpart (by default those not in
    `surviving`; environments map to other names, so their caller says which were lost)."""
    if not original:
        return []
    policy = context.policy(dimension)
    lost = sorted(set(original) - set(surviving) if lost is None else set(lost))
    if not lost:
        return surviving
    why = (
        "not mapped by the overlay" if dimension == "environment" else "missing on the destination"
    )
    if policy in EXACT_POLICIES or not surviving:
        message = f"{dimension} scope {', '.join(original)}: {', '.join(lost)} {why} ({policy})"
        if policy in ERROR_POLICIES:
            context.errors.append(f"{where}: {message}")
        else:
            context.decide(where, f"{message}: left out")
        return None
    context.decide(
        where,
        f"{dimension} scope narrowed to {', '.join(surviving)} ({', '.join(lost)} {why})",
    )
    return surviving


def _rename_typed_value(context: _Context, value: JsonDict) -> None:
    kind = TYPED_VALUE_KINDS.get(str(value.get("Type")))
    if kind is None and str(value.get("Type", "")).endswith("Account"):
        kind = "accounts"
    if kind is not None and isinstance(value.get("Value"), str):
        value["Value"] = context.overlay.renamed(kind, value["Value"])


# --------------------------------------------------------------------- tenants


def _tenant_links_all_gone(context: _Context, document: JsonDict, projects: set[str]) -> bool:
    """A tenant with project links on the source, every environment of which is excluded."""
    links = document.get("ProjectEnvironments") or {}
    del projects  # a link lost with its project (not synced) does not count: only environments
    return bool(links) and not any(context.envs(environments) for environments in links.values())


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
        lost = sorted(e for e in environments if not context.targets(e))
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
    (an unscoped one stays: it applies wherever no value of its own is set). Where several
    source environments share a destination environment and a template's values disagree
    there, `prefer:` decides as for variables (`_shared_environments`), or it is a clash."""
    mode = context.overlay.tenant_variables
    if mode == "skip":
        context.decide(where, "tenant variables not synced (tenants.variables: skip)")
        return None
    placeholder = context.overlay.variables.placeholder
    kept: dict[str, dict[str, dict[str, list[JsonDict]]]] = {}
    dropped_libraries: set[str] = set()
    templates: dict[tuple[str, str, str], list[JsonDict]] = {}
    for kind, owner, template, entry in tenantvars.entries(document):
        allowed = projects if kind == "ProjectVariables" else libraries
        if owner not in allowed:
            if kind == "CommonVariables":
                dropped_libraries.add(owner)
            continue
        templates.setdefault((kind, owner, template), []).append(entry)
    for (kind, owner, template), entries in templates.items():
        # The template's entries as variable values, so shared environments settle alike.
        values: list[JsonDict] = []
        for entry in entries:
            value: JsonDict = {"Name": template, "Value": entry.get("Value")}
            if tenantvars.environments(entry):
                value["Scope"] = {"Environment": list(tenantvars.environments(entry))}
            values.append(value)
        _shared_environments(context, f"{where} {owner}", values, set())
        for value in values:
            scope: list[str] = (value.get("Scope") or {}).get("Environment") or []
            loses: list[str] = value.get(LOSES, [])
            mapped = [m for m in context.envs(scope) if m.lower() not in loses]
            if scope and not mapped:
                continue
            text = value.get("Value")
            if mode == "placeholder" and not _is_secret(text):
                text = placeholder
            new_entry: JsonDict = {"Value": text}
            if mapped:
                new_entry["Environments"] = mapped
            kept.setdefault(kind, {}).setdefault(owner, {}).setdefault(template, []).append(
                new_entry
            )
    if dropped_libraries:
        context.decide(
            where,
            f"values for {', '.join(sorted(dropped_libraries))} left out: no project the "
            "tenant keeps on the destination includes them",
        )
    return tenantvars.document(kept) or None


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and "Sensitive" in value
