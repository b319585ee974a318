"""Plan and drift agree on what a person changed (issue 20), key by key and pure.

Random triples of one resource (base: what the last push placed; live: the destination now;
desired: the source through the overlay) of five kinds: a deployment process, a project
variable set, a tenant's project links, a tenant's values and a team's roles. The
destination before the last push (`before`, what `drift` tells an addition by) is the base
plus parts of the destination's own. Through the real `plan.make_plan` and `threeway.drift`:

a. the parts the plan reports as hand edits it keeps (`plan.hand_edit_parts`) are exactly
   the parts drift names as changed or deleted whose result is not the source's;
b. after the push (the plan's documents as live, its records as base), the next plan
   writes nothing and names the same hand edits; the base alone still differs from the
   destination there (a kept edit does not become the destination's own), and with what
   the push records it kept (`changes.kept_marks`) drift is empty;
c. nothing a person changed or added is gone from what the push writes, unless forced.

What a person deleted inside a part (a key of a step) is kept deleted; a whole variable
value, tenant link or role a person deleted is created again, as anything desired that the
destination lacks is (docs/ownership.md, "the rules"), and a part a person added where the
source now has one of the same name is taken over: those are not hand edits kept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from snapshotsync import changes, report, tenantvars, threeway
from snapshotsync.changes import Plan, hand_edit_parts
from snapshotsync.model import JsonDict, ResourceKey, Snapshot, copy_json, lowered
from snapshotsync.overlay import Overlay
from snapshotsync.plan import make_plan
from snapshotsync.threeway import part_key
from snapshotsync.transform import Desired

OVERLAY = Overlay(path=Path("prod.yaml"))
ENVIRONMENTS = ["Production", "Staging", "Test"]
PROJECTS = ["Web", "Api", "Db"]
ROLES = ["Deployer", "Viewer"]
FACTS = {
    "environments": frozenset(ENVIRONMENTS),
    "projects": frozenset(PROJECTS),
    "user-roles": frozenset(ROLES),
}
VALUES = st.sampled_from(["a", "b", "c"])
STEPS = ["Deploy", "Migrate", "Notify", "Smoke", "Audit"]

# ------------------------------------------------------------------- the kinds


def _step(name: str, props: dict[str, str], action: dict[str, str]) -> JsonDict:
    return {
        "Name": name,
        "Properties": props,
        "Actions": [{"Name": name, "ActionType": "Octopus.Script", "Properties": action}],
    }


_PROPS = st.dictionaries(st.sampled_from(["P1", "P2"]), VALUES, max_size=2)


def _steps(names: list[str]) -> st.SearchStrategy[list[JsonDict]]:
    return st.lists(
        st.builds(_step, st.sampled_from(names), _PROPS, _PROPS),
        max_size=3,
        unique_by=lambda s: str(s["Name"]).lower(),
    )


def _mutate_process(data: st.DataObject, document: JsonDict, pool: list[str]) -> JsonDict:
    document = copy_json(document)
    steps: list[JsonDict] = document["Steps"]
    for _ in range(data.draw(st.integers(0, 3))):
        what = data.draw(st.sampled_from(["step", "action", "delete", "add", "case"]))
        names = {str(s["Name"]).lower() for s in steps}
        if what == "add":
            name = data.draw(st.sampled_from(pool))
            if name.lower() not in names:
                at = data.draw(st.integers(0, len(steps)))
                steps.insert(at, _step(name, data.draw(_PROPS), data.draw(_PROPS)))
            continue
        if not steps:
            continue
        step = steps[data.draw(st.integers(0, len(steps) - 1))]
        if what == "delete":
            steps.remove(step)
        elif what == "case":
            step["Name"] = str(step["Name"]).swapcase()
        else:
            props = step["Properties"] if what == "step" else step["Actions"][0]["Properties"]
            key = data.draw(st.sampled_from(["P1", "P2", "P3"]))
            value = data.draw(st.one_of(st.none(), VALUES))
            if value is None:
                props.pop(key, None)
            else:
                props[key] = value
    return document


def _variable(name: str, environments: list[str], value: str, description: str | None) -> JsonDict:
    variable: JsonDict = {"Name": name, "Value": value}
    if environments:
        variable["Scope"] = {"Environment": sorted(environments)}
    if description is not None:
        variable["Description"] = description
    return variable


_VARIABLE = st.builds(
    _variable,
    st.sampled_from(["Url", "Size"]),
    st.lists(st.sampled_from(ENVIRONMENTS), max_size=2, unique=True),
    VALUES,
    st.one_of(st.none(), st.sampled_from(["note", "other"])),
)


def _slot(variable: JsonDict) -> str:
    return json.dumps([str(variable["Name"]).lower(), variable.get("Scope")], sort_keys=True)


def _mutate_variables(data: st.DataObject, document: JsonDict) -> JsonDict:
    document = copy_json(document)
    values: list[JsonDict] = document["Variables"]
    for _ in range(data.draw(st.integers(0, 3))):
        what = data.draw(st.sampled_from(["value", "description", "scope", "delete", "add"]))
        if what == "add":
            new = data.draw(_VARIABLE)
            if _slot(new) not in {_slot(v) for v in values}:
                values.append(new)
            continue
        if not values:
            continue
        variable = values[data.draw(st.integers(0, len(values) - 1))]
        if what == "value":
            variable["Value"] = data.draw(VALUES)
        elif what == "description":
            description = data.draw(st.one_of(st.none(), st.sampled_from(["note", "mine"])))
            if description is None:
                variable.pop("Description", None)
            else:
                variable["Description"] = description
        elif what == "delete":
            values.remove(variable)
        else:
            environments = data.draw(
                st.lists(st.sampled_from(ENVIRONMENTS), max_size=2, unique=True)
            )
            moved = _variable(variable["Name"], environments, "", None)
            if _slot(moved) not in {_slot(v) for v in values}:
                variable.pop("Scope", None)
                variable.update({k: v for k, v in moved.items() if k == "Scope"})
    return document


_LINKS = st.dictionaries(
    st.sampled_from(PROJECTS),
    st.lists(st.sampled_from(ENVIRONMENTS), min_size=1, max_size=3, unique=True).map(sorted),
    max_size=3,
)


WHERE = [*ENVIRONMENTS, ""]  # a tenant value's environment ("": the unscoped value)
_TENANT_VALUES = st.dictionaries(
    st.tuples(st.sampled_from(["Web", "Api"]), st.sampled_from(WHERE)), VALUES, max_size=4
)


def _tenant_values(values: dict[tuple[str, str], str]) -> JsonDict:
    """The normal-form document of a tenant's Tenant.Url values, project and environment by
    project and environment (`tenantvars`: one entry per value, with its environments)."""
    entries: dict[str, list[JsonDict]] = {}
    for (project, environment), value in sorted(values.items()):
        scope = [environment] if environment else []
        entries.setdefault(project, []).append({"Value": value, "Environments": scope})
    return tenantvars.document(
        {
            "ProjectVariables": {
                project: {"Tenant.Url": tenantvars.canonical(found)}
                for project, found in entries.items()
            }
        }
    )


def _flat(document: JsonDict) -> dict[tuple[str, str], str]:
    return {
        (value.owner, value.environment or ""): value.value
        for value in tenantvars.per_environment(document).values()
    }


def _mutate_tenant_values(data: st.DataObject, document: JsonDict) -> JsonDict:
    values = _flat(document)
    for _ in range(data.draw(st.integers(0, 3))):
        where = (data.draw(st.sampled_from(["Web", "Api"])), data.draw(st.sampled_from(WHERE)))
        if data.draw(st.booleans()) and where in values:
            del values[where]
        else:
            values[where] = data.draw(VALUES)
    return _tenant_values(values)


def _mutate_tenant(data: st.DataObject, document: JsonDict) -> JsonDict:
    document = copy_json(document)
    links: dict[str, list[str]] = document["ProjectEnvironments"]
    for _ in range(data.draw(st.integers(0, 3))):
        what = data.draw(st.sampled_from(["description", "link", "unlink"]))
        if what == "description":
            document["Description"] = data.draw(VALUES)
        elif what == "link":
            project = data.draw(st.sampled_from(PROJECTS))
            links[project] = data.draw(_LINKS.filter(bool)).popitem()[1]
        elif links:
            links.pop(data.draw(st.sampled_from(sorted(links))))
    document["ProjectEnvironments"] = dict(sorted(links.items()))
    return document


def _role(role: str, environments: list[str]) -> JsonDict:
    return {"UserRoleId": role, "EnvironmentIds": sorted(environments), "ProjectIds": []}


_ROLE = st.builds(
    _role, st.sampled_from(ROLES), st.lists(st.sampled_from(ENVIRONMENTS), unique=True)
)


def _mutate_roles(data: st.DataObject, document: JsonDict) -> JsonDict:
    document = copy_json(document)
    roles: list[JsonDict] = document["ScopedUserRoles"]
    for _ in range(data.draw(st.integers(0, 2))):
        if roles and data.draw(st.booleans()):
            roles.remove(roles[data.draw(st.integers(0, len(roles) - 1))])
        else:
            role = data.draw(_ROLE)
            if role not in roles:
                roles.append(role)
    return document


def _triple(
    data: st.DataObject, kind: str
) -> tuple[ResourceKey, JsonDict, JsonDict, JsonDict, JsonDict]:
    """(key, base, before, live, desired) of one resource of `kind`."""
    if kind == "deployment-processes":
        base = {"Steps": data.draw(_steps(STEPS[:3]).filter(bool))}
        own = [s for s in data.draw(_steps(STEPS)) if s["Name"].lower() not in _names(base)]
        before = {"Steps": base["Steps"] + own}
        live = _mutate_process(data, before, STEPS)
        desired = _mutate_process(data, base, STEPS)
        return ResourceKey(kind, ("Web",)), base, before, live, desired
    if kind == "project-variables":
        base = {
            "Variables": data.draw(st.lists(_VARIABLE, min_size=1, max_size=3, unique_by=_slot))
        }
        slots = {_slot(v) for v in base["Variables"]}
        own = data.draw(st.lists(_VARIABLE, max_size=2, unique_by=_slot))
        before = {"Variables": base["Variables"] + [v for v in own if _slot(v) not in slots]}
        live = _mutate_variables(data, before)
        desired = _mutate_variables(data, base)
        return ResourceKey(kind, ("Web",)), base, before, live, desired
    if kind == "tenant-variables":
        placed = data.draw(_TENANT_VALUES.filter(bool))
        own = data.draw(_TENANT_VALUES)
        base = _tenant_values(placed)
        before = _tenant_values({**own, **placed})
        live = _mutate_tenant_values(data, before)
        desired = _mutate_tenant_values(data, base)
        return ResourceKey(kind, ("Acme",)), base, before, live, desired
    if kind == "tenants":
        links = data.draw(_LINKS.filter(bool))
        own = data.draw(_LINKS)
        base = {"Name": "Acme", "Description": "a", "ProjectEnvironments": links}
        before = {**base, "ProjectEnvironments": dict(sorted({**own, **links}.items()))}
        live = _mutate_tenant(data, before)
        desired = _mutate_tenant(data, base)
        return ResourceKey(kind, ("Acme",)), base, before, live, desired
    base = {
        "ScopedUserRoles": data.draw(st.lists(_ROLE, min_size=1, max_size=3, unique_by=json.dumps))
    }
    own = data.draw(st.lists(_ROLE, max_size=2, unique_by=json.dumps))
    before = {
        "ScopedUserRoles": base["ScopedUserRoles"]
        + [r for r in own if r not in base["ScopedUserRoles"]]
    }
    live = _mutate_roles(data, before)
    desired = _mutate_roles(data, base)
    return ResourceKey(kind, ("Ops",)), base, before, live, desired


def _names(process: JsonDict) -> set[str]:
    return {str(s["Name"]).lower() for s in process["Steps"]}


# --------------------------------------------------------------------- checking


def _plan(key: ResourceKey, base: JsonDict, live: JsonDict, desired: JsonDict, force: bool) -> Plan:
    plan = make_plan(
        Desired(Snapshot({key: desired})),
        Snapshot({key: live}),
        OVERLAY,
        facts=FACTS,
        base=Snapshot({key: base}, {}),
        force=force,
    )
    assert plan.errors == ()
    return plan


def _written(plan: Plan, key: ResourceKey) -> JsonDict:
    """What the destination holds of `key` once the plan's push is done."""
    (change,) = [c for c in plan.changes if c.key == key]
    document = change.after if change.action in changes.WRITES else change.before
    assert document is not None
    return document


def _parts(key: ResourceKey, document: JsonDict) -> dict[str, Any]:
    return {part_key(p): v for p, v in changes.parts(key, document).items()}


def _drift(
    key: ResourceKey, base: JsonDict, live: JsonDict, before: JsonDict
) -> list[threeway.Drift]:
    return threeway.drift({key: base}, {key: live}, changes.parts, {key: before})


KINDS = [
    "deployment-processes",
    "project-variables",
    "tenants",
    "tenant-variables",
    "team-permissions",
]


@settings(max_examples=150, deadline=None)
@given(st.data(), st.sampled_from(KINDS), st.booleans())
def test_plan_and_drift_name_the_same_hand_edits(
    data: st.DataObject, kind: str, force: bool
) -> None:
    key, base, before, live, desired = _triple(data, kind)
    plan = _plan(key, base, live, desired, force)
    reported = {part for k, part in hand_edit_parts(plan) if k == key}
    written = _parts(key, _written(plan, key))
    wanted = _parts(key, desired)
    found = _drift(key, base, live, before)
    # A part is changed, deleted or added, never two of them at once.
    assert len({part_key(d.part) for d in found}) == len(found), found

    # a. The plan names a hand edit exactly where drift finds one that the push keeps.
    kept = {
        part_key(d.part)
        for d in found
        if d.change in ("changed", "deleted")
        and written.get(part_key(d.part)) != wanted.get(part_key(d.part))
    }
    assert reported == (set() if force else kept), (reported, kept, found)

    # c. Nothing a person changed or added is gone from what the push writes.
    if not force:
        recorded = _parts(key, base)
        for d in found:
            part = part_key(d.part)
            if d.change == "added" and part not in wanted:
                assert written.get(part) == d.live, d
            if d.change == "changed":
                assert _holds_the_edit(
                    written.get(part), d.live, recorded[part], wanted.get(part, threeway.MISSING)
                ), d

    # b. After the push, nothing more to write, and the kept edits are still named, by both.
    record = plan.records[key].document
    assert record is not None
    after = _written(plan, key)
    again = _plan(key, record, after, desired, False)
    assert again.writes == (), again.writes
    assert {part for k, part in hand_edit_parts(again) if k == key} == reported
    since = _drift(key, record, after, live)
    assert {part_key(d.part) for d in since} == reported
    # ... and what the push records it kept sets exactly those aside: drift after it is empty.
    kept = changes.kept_marks(found, {lowered(key): after}, {lowered(key): record})
    assert changes.since_kept(since, kept) == []


def _meta(value: JsonDict) -> dict[str, Any]:
    return {k: value[k] for k in ("Description", "Prompt") if k in value}


def _holds_the_edit(written: Any, live: Any, base: Any, desired: Any) -> bool:
    """Every key a person changed inside a part (live against base) is as they left it
    (`threeway.MISSING`: not there), but a key they added that the source now has too: that
    one is taken over, as on a first sync."""
    gone = threeway.MISSING
    if base is gone and desired is not gone:
        return True
    if isinstance(live, dict) and isinstance(base, dict) and isinstance(written, dict):
        wanted = desired if isinstance(desired, dict) else {}
        return all(
            _holds_the_edit(
                written.get(k, gone), live.get(k, gone), base.get(k, gone), wanted.get(k, gone)
            )
            for k in {*live, *base}
            if live.get(k, gone) != base.get(k, gone)
        )
    named = _by_name(live), _by_name(base), _by_name(written)
    if named[0] is not None and named[1] is not None and named[2] is not None:
        lives, bases, writtens = named
        wanted = _by_name(desired) or {}
        return all(
            _holds_the_edit(
                writtens.get(n, gone), lives.get(n, gone), bases.get(n, gone), wanted.get(n, gone)
            )
            for n in {*lives, *bases}
            if lives.get(n, gone) != bases.get(n, gone)
        )
    return bool(written == live)


def _by_name(items: Any) -> dict[str, Any] | None:
    if not isinstance(items, list) or not all(isinstance(i, dict) and "Name" in i for i in items):
        return None
    return {str(i["Name"]).lower(): i for i in items}


# ------------------------------------------------------------------ what it found


def test_a_step_whose_name_a_person_changed_only_in_case_is_changed_not_deleted() -> None:
    """Octopus matches step names regardless of case, and so does the plan (it keeps the
    person's `deploy` as a hand edit of the step `Deploy`): drift names one changed step,
    not a deleted one beside an added one."""
    key = ResourceKey("deployment-processes", ("Web",))
    base = {"Steps": [_step("Deploy", {"P1": "a"}, {})]}
    live = {"Steps": [_step("Deploy", {"P1": "a"}, {}) | {"Name": "deploy"}]}
    plan = _plan(key, base, live, base, False)
    assert hand_edit_parts(plan) == {(key, "step deploy")}
    (found,) = _drift(key, base, live, base)
    assert (found.part, found.change) == ("step Deploy", "changed")
    assert found.live is not None and found.live["Name"] == "deploy"


def test_a_description_a_person_gave_a_value_is_drift_as_the_plan_keeps_it() -> None:
    """The plan keeps a description a person wrote on a value that had none (`keep`): drift
    names it too, though the value snapshotsync wrote had no description field at all."""
    key = ResourceKey("project-variables", ("Web",))
    base = {"Variables": [{"Name": "Url", "Value": "a"}]}
    live = {"Variables": [{"Name": "Url", "Value": "a", "Description": "mine"}]}
    plan = _plan(key, base, live, base, False)
    assert hand_edit_parts(plan) == {(key, "value url")}
    (found,) = _drift(key, base, live, base)
    assert (found.part, found.change) == ("value Url", "changed")
    shown = report.drift_text("prod", [found])
    assert "Description" in shown and "None" not in shown


def test_a_description_changed_by_hand_is_kept_when_the_source_changes_the_value() -> None:
    key = ResourceKey("project-variables", ("Web",))
    base = {"Variables": [{"Name": "Url", "Value": "a"}]}
    live = {"Variables": [{"Name": "Url", "Value": "a", "Description": "mine"}]}
    desired = {"Variables": [{"Name": "Url", "Value": "b"}]}
    plan = _plan(key, base, live, desired, False)
    record = plan.records[key].document
    assert record is not None
    after = _written(plan, key)
    assert after["Variables"] == [{"Name": "Url", "Value": "b", "Description": "mine"}]
    # The description is kept, so it is a hand edit kept: named by the plan, by drift after
    # the push, and still there after the next push.
    assert hand_edit_parts(plan) == {(key, "value url")}
    assert [d.part for d in _drift(key, record, after, live)] == ["value Url"]
    again = _plan(key, record, after, desired, False)
    assert again.writes == ()


def test_a_value_deleted_by_hand_and_changed_on_the_source_is_not_kept_twice() -> None:
    key = ResourceKey("project-variables", ("Web",))
    base = {"Variables": [{"Name": "Url", "Value": "b"}]}
    live: JsonDict = {"Variables": []}
    desired = {"Variables": [{"Name": "Url", "Value": "a"}]}
    plan = _plan(key, base, live, desired, False)
    assert _written(plan, key) == desired  # created again, as anything desired and missing
    # Nothing of the person's is kept: no hand edit, and nothing left for drift to name.
    assert hand_edit_parts(plan) == set()
    record = plan.records[key].document
    assert record == desired
    assert _drift(key, record, desired, live) == []


def test_an_overwritten_value_takes_the_sources_description_in_the_same_push() -> None:
    key = ResourceKey("project-variables", ("Web",))
    base = {"Variables": [{"Name": "Url", "Value": "a"}]}
    desired = {"Variables": [{"Name": "Url", "Value": "b", "Description": "new"}]}
    plan = _plan(key, base, base, desired, False)
    record = plan.records[key].document
    assert record is not None
    again = _plan(key, record, _written(plan, key), desired, False)
    assert again.writes == ()
