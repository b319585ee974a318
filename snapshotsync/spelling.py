"""Names as the destination spells them: Octopus matches names regardless of case, so
before anything is compared every reference in the desired state that names something on
the destination takes the destination's spelling (`production` -> `Production`), and so do
the names of what the destination owns (environments and the "exists" kinds). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snapshotsync.changes import BEHAVIOUR, REF_KINDS
from snapshotsync.model import JsonDict, ResourceKey, Snapshot, copy_json
from snapshotsync.octopus.kinds import ACTIONS, KINDS, walk

OWNED = frozenset({"environments", *(kind for kind, b in BEHAVIOUR.items() if b == "exists")})
PROJECT_PARTS = frozenset({"channels", "actions", "runbooks"})


def canonical(desired: Snapshot, live: Snapshot, facts: Mapping[str, frozenset[str]]) -> Snapshot:
    """`desired` with every name the destination has spelled as the destination spells it.

    References of every kind, tenant variables' project and environment keys, and the names
    (keys) of what the destination owns; a name the destination lacks keeps its spelling."""
    spelling = _spellings(live, facts)
    resources: dict[ResourceKey, JsonDict] = {}
    for key, document in desired.resources.items():
        document = respelled(key, document, spelling)
        if key.kind in OWNED:
            name = spelling.get(key.kind, {}).get(key.name[0].lower(), key.name[0])
            if "Name" in document:
                document["Name"] = name
            key = ResourceKey(key.kind, (name,))
        resources[key] = document
    return Snapshot(resources, desired.meta)


def respelled(
    key: ResourceKey, document: JsonDict, spelling: Mapping[str, Mapping[str, str]]
) -> JsonDict:
    """A copy of `document` with the names it refers to spelled as `spelling` says."""
    document = copy_json(document)
    project = key.name[0] if "projects" in (key.kind, KINDS[key.kind].parent) else None
    _respell_refs(key.kind, document, spelling, project)
    if key.kind == "tenant-variables":
        _respell_tenant_values(document, spelling)
    return document


def _spellings(live: Snapshot, facts: Mapping[str, frozenset[str]]) -> dict[str, dict[str, str]]:
    """kind -> lower-cased name -> the destination's spelling (`<project>/<name>` for a
    project's channels and steps)."""
    spelling: dict[str, dict[str, str]] = {}
    for kind, names in facts.items():
        for name in names:
            spelling.setdefault(kind, {})[name.lower()] = name
    for key, document in live.resources.items():
        name = "/".join(key.name)
        spelling.setdefault(key.kind, {})[name.lower()] = name
        if key.kind == "deployment-processes":
            for _, _, action in walk(document, ACTIONS):
                step = f"{key.name[0]}/{action.get('Name')}"
                spelling.setdefault("actions", {})[step.lower()] = step
    for target, kinds in REF_KINDS.items():
        for kind in kinds:
            spelling.setdefault(target, {}).update(spelling.get(kind, {}))
    return spelling


def _respell(
    target: str, name: Any, spelling: Mapping[str, Mapping[str, str]], project: str | None
) -> Any:
    if not isinstance(name, str) or not name:
        return name
    if target in PROJECT_PARTS:
        if project is None:
            return name
        found = spelling.get(target, {}).get(f"{project}/{name}".lower())
        return found.split("/", 1)[1] if found else name
    return spelling.get(target, {}).get(name.lower(), name)


def _respell_refs(
    kind: str,
    document: JsonDict,
    spelling: Mapping[str, Mapping[str, str]],
    project: str | None,
) -> None:
    for ref in KINDS[kind].refs:
        if ref.target == "process-owners":
            continue
        if ref.path[-1] == "~keys":
            for container, _, _ in walk(document, ref.path)[:1]:
                renamed = {
                    _respell(ref.target, k, spelling, project): v for k, v in container.items()
                }
                container.clear()
                container.update(renamed)
            continue
        for container, field_name, value in walk(document, ref.path):
            if ref.when is not None and not ref.when(container):
                continue
            if ref.separator and isinstance(value, str):
                parts = [
                    _respell(ref.target, p, spelling, project) for p in value.split(ref.separator)
                ]
                container[field_name] = ref.separator.join(parts)
            else:
                container[field_name] = _respell(ref.target, value, spelling, project)
    for _, _, action in walk(document, ACTIONS):
        for value in (action.get("Properties") or {}).values():
            if isinstance(value, dict) and isinstance(value.get("Ref"), dict):
                ref_ = value["Ref"]
                ref_["name"] = _respell(str(ref_.get("kind")), ref_.get("name"), spelling, project)


def _respell_tenant_values(document: JsonDict, spelling: Mapping[str, Mapping[str, str]]) -> None:
    """Tenant values' owners (projects, library variable sets) and environments."""
    for kind, target in (("ProjectVariables", "projects"), ("CommonVariables", "library-sets")):
        owners = document.get(kind)
        if not isinstance(owners, dict):
            continue
        document[kind] = {
            _respell(target, owner, spelling, None): {
                template: [
                    {
                        **entry,
                        "Environments": [
                            _respell("environments", e, spelling, None)
                            for e in entry["Environments"]
                        ],
                    }
                    if entry.get("Environments")
                    else entry
                    for entry in entries
                ]
                for template, entries in templates.items()
            }
            for owner, templates in owners.items()
        }


# ---------------------------------------------------------------- parts, for drift
