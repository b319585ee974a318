"""The variable merge engine: the guide's worked example, the rules, and their invariants.

The worked example is the seed's "Variable scoping" section: the source has Development and
Test, the destination Staging and Production. In desired form (after transform) a value
scoped only to Development or Test carries `~OutOfScope` and no Environment scope.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from snapshotsync.merge import POLICY_OF, SPECIFIC, Merged, ValueAction, merge, with_note
from snapshotsync.model import EXPLICIT, OUT_OF_SCOPE, SENSITIVE, JsonDict, is_sensitive_marker
from snapshotsync.octopus.kinds import SCOPE_DIMENSIONS
from snapshotsync.overlay import DIMENSIONS, POLICIES, VariablePolicy

DB_NAME = "Application.Database.Name"
CONN = "ConnectionString"
DATABASE = "Database=#{Application.Database.Name}"
DATA_SOURCE = "Data Source=#{Application.Database.Name}"


def _policy(**changes: Any) -> VariablePolicy:
    return VariablePolicy(**changes)


def _canon(values: Any) -> list[str]:
    """Values as a sorted list of canonical JSON: compare sets of values, order aside."""
    return sorted(json.dumps(v, sort_keys=True) for v in values)


def _sensitive(name: str, scope: dict[str, list[str]] | None = None) -> JsonDict:
    value: JsonDict = {"Name": name, "Value": dict(SENSITIVE), "Type": "Sensitive"}
    if scope:
        value["Scope"] = scope
    return value


def _placeholder(value: JsonDict) -> JsonDict:
    """A value as the merge adds it: a secret (written with the placeholder) carries the
    note first in its description."""
    if not is_sensitive_marker(value.get("Value")):
        return value
    return {**value, "Description": with_note(value.get("Description"))}


def _summary(merged: Merged) -> list[tuple[str, str]]:
    return [(a.action, a.name) for a in merged.actions]


# ------------------------------------------------------------- the guide's worked example

# Source: Application.Database.Name = OctoFx-Dev [Development], OctoFX-Test [Test];
# ConnectionString = Database=#{...} unscoped. Neither environment exists on the destination.
INITIAL_DESIRED: list[JsonDict] = [
    {"Name": DB_NAME, "Value": "OctoFx-Dev", OUT_OF_SCOPE: True},
    {"Name": DB_NAME, "Value": "OctoFX-Test", OUT_OF_SCOPE: True},
    {"Name": CONN, "Value": DATABASE},
]
CLONED = [
    {"Name": DB_NAME, "Value": "OctoFx-Dev"},
    {"Name": DB_NAME, "Value": "OctoFX-Test"},
    {"Name": CONN, "Value": DATABASE},
]
PLACEHELD = [
    {"Name": DB_NAME, "Value": "Replace Me"},
    {"Name": CONN, "Value": DATABASE},
]
# The source after the change: one templated name, the connection string split by role.
RECURRING_DESIRED: list[JsonDict] = [
    {"Name": DB_NAME, "Value": "OctoFx-#{Octopus.Environment.Name}"},
    {"Name": CONN, "Value": DATABASE, "Scope": {"Role": ["SQL-Server"]}},
    {"Name": CONN, "Value": DATA_SOURCE, "Scope": {"Role": ["Oracle"]}},
]


def test_initial_sync_clone_copies_each_value_without_its_environments() -> None:
    merged = merge(copy.deepcopy(INITIAL_DESIRED), [], _policy(new_out_of_scope="clone"))
    assert _canon(merged.variables) == _canon(CLONED)
    assert [a.action for a in merged.actions] == ["add", "add", "add"]
    by_value = {a.after["Value"]: a for a in merged.actions if a.after}
    # the clones go into the cleanup ledger; the connection string is an ordinary add
    assert "clone" in by_value["OctoFx-Dev"].placeholder
    assert "clone" in by_value["OctoFX-Test"].placeholder
    assert by_value[DATABASE].placeholder == ""
    assert merged.changed


def test_initial_sync_placeholder_writes_one_replace_me_value() -> None:
    merged = merge(copy.deepcopy(INITIAL_DESIRED), [], _policy(new_out_of_scope="placeholder"))
    assert _canon(merged.variables) == _canon(PLACEHELD)
    adds = [a for a in merged.actions if a.action == "add"]
    assert len(adds) == 2
    (placeholder,) = [a for a in adds if a.name == DB_NAME]
    assert placeholder.after == {"Name": DB_NAME, "Value": "Replace Me"}
    assert "placeholder" in placeholder.placeholder


def test_initial_sync_placeholder_uses_the_configured_text() -> None:
    merged = merge(
        copy.deepcopy(INITIAL_DESIRED),
        [],
        _policy(new_out_of_scope="placeholder", placeholder="TODO"),
    )
    assert {"Name": DB_NAME, "Value": "TODO"} in merged.variables


def test_initial_sync_placeholder_of_a_sensitive_variable_is_sensitive() -> None:
    desired = [{**_sensitive("Db.Password"), OUT_OF_SCOPE: True}]
    merged = merge(desired, [], _policy(new_out_of_scope="placeholder"))
    assert list(merged.variables) == [_placeholder(_sensitive("Db.Password"))]
    assert merged.actions[0].placeholder


def test_initial_sync_skip_leaves_the_variable_out() -> None:
    merged = merge(copy.deepcopy(INITIAL_DESIRED), [], _policy(new_out_of_scope="skip"))
    assert list(merged.variables) == [{"Name": CONN, "Value": DATABASE}]
    assert sorted(_summary(merged)) == [("add", CONN), ("leave", DB_NAME), ("leave", DB_NAME)]


def test_clone_keeps_the_other_dimensions_of_the_scope() -> None:
    desired = [{"Name": "Port", "Value": "1", "Scope": {"Role": ["web"]}, OUT_OF_SCOPE: True}]
    merged = merge(desired, [], _policy(new_out_of_scope="clone"))
    assert list(merged.variables) == [{"Name": "Port", "Value": "1", "Scope": {"Role": ["web"]}}]


def test_an_unchanged_source_changes_nothing_after_the_initial_sync() -> None:
    for mode, live in (("clone", CLONED), ("placeholder", PLACEHELD), ("skip", PLACEHELD)):
        merged = merge(
            copy.deepcopy(INITIAL_DESIRED), copy.deepcopy(live), _policy(new_out_of_scope=mode)
        )
        assert not merged.changed, mode
        assert list(merged.variables) == live, mode


def _assert_recurring(live: list[JsonDict]) -> None:
    merged = merge(copy.deepcopy(RECURRING_DESIRED), copy.deepcopy(live), _policy())
    db_before = [v for v in live if v["Name"] == DB_NAME]
    assert list(merged.variables) == [
        *db_before,  # left alone: overwrite is off
        {"Name": CONN, "Value": DATABASE, "Scope": {"Role": ["SQL-Server"]}},
        {"Name": CONN, "Value": DATA_SOURCE, "Scope": {"Role": ["Oracle"]}},
    ]
    actions = {(a.action, a.name): a for a in merged.actions}
    assert set(actions) == {("leave", DB_NAME), ("update-scope", CONN), ("add", CONN)}
    assert len(merged.actions) == 3
    assert actions[("leave", DB_NAME)].before in db_before
    assert actions[("leave", DB_NAME)].after == actions[("leave", DB_NAME)].before
    update = actions[("update-scope", CONN)]
    assert update.before == {"Name": CONN, "Value": DATABASE}
    assert update.after == {"Name": CONN, "Value": DATABASE, "Scope": {"Role": ["SQL-Server"]}}
    assert actions[("add", CONN)].placeholder == ""


def test_recurring_sync_after_clone() -> None:
    _assert_recurring(CLONED)


def test_recurring_sync_after_placeholder() -> None:
    _assert_recurring(PLACEHELD)


def test_recurring_sync_keeps_the_destination_environments_when_roles_change() -> None:
    live = [{"Name": CONN, "Value": DATABASE, "Scope": {"Environment": ["Production"]}}]
    desired = [{"Name": CONN, "Value": DATABASE, "Scope": {"Role": ["SQL-Server"]}}]
    merged = merge(desired, live, _policy())
    # the environments differ (none vs Production): not an update-scope but a new value
    assert _summary(merged) == [("add", CONN)]
    desired = [
        {
            "Name": CONN,
            "Value": DATABASE,
            "Scope": {"Environment": ["Production"], "Role": ["SQL-Server"]},
        }
    ]
    merged = merge(desired, live, _policy())
    assert _summary(merged) == [("update-scope", CONN)]
    assert merged.variables[0]["Scope"] == {
        "Environment": ["Production"],
        "Role": ["SQL-Server"],
    }


def test_recurring_sync_is_stable() -> None:
    first = merge(copy.deepcopy(RECURRING_DESIRED), copy.deepcopy(CLONED), _policy())
    again = merge(copy.deepcopy(RECURRING_DESIRED), list(first.variables), _policy())
    assert not again.changed
    assert again.variables == first.variables


def test_existing_variable_with_new_out_of_scope_values_is_left_alone() -> None:
    live = [{"Name": DB_NAME, "Value": "prod-db", "Scope": {"Environment": ["Production"]}}]
    for mode in ("clone", "placeholder", "skip"):
        merged = merge(copy.deepcopy(INITIAL_DESIRED[:2]), live, _policy(new_out_of_scope=mode))
        assert list(merged.variables) == live, mode
        assert [a.action for a in merged.actions] == ["leave", "leave"], mode


def _scoping(environment: str) -> dict[str, str]:
    return {**dict.fromkeys(DIMENSIONS, "skip-unless-partial"), "environment": environment}


def test_ignore_on_new_leaves_an_existing_variable_alone_and_says_so() -> None:
    live = [{"Name": DB_NAME, "Value": "prod-db", "Scope": {"Environment": ["Production"]}}]
    desired = [
        {"Name": DB_NAME, "Value": "other", "Scope": {"Environment": ["Production"]}},
        {"Name": DB_NAME, "Value": "OctoFx-Dev", OUT_OF_SCOPE: True},
    ]
    policy = _policy(scoping=_scoping("ignore-on-new"), overwrite=True)
    merged = merge(desired, copy.deepcopy(live), policy)
    assert list(merged.variables) == live
    # both values get a recorded decision, the scoped-out one included
    assert sorted(a.after["Value"] for a in merged.actions if a.action == "leave" and a.after) == [
        "OctoFx-Dev",
        "other",
    ]
    assert len(merged.actions) == 2


def test_ignore_on_new_copies_a_new_variable_with_its_scope() -> None:
    desired = [{"Name": "Fresh", "Value": "1", "Scope": {"Environment": ["Production"]}}]
    merged = merge(desired, [], _policy(scoping=_scoping("ignore-on-new")))
    assert list(merged.variables) == desired


def test_ignore_compares_values_without_that_dimension() -> None:
    live = [{"Name": "Url", "Value": "u", "Scope": {"Environment": ["Production"]}}]
    desired = [{"Name": "Url", "Value": "u", "Scope": {"Environment": ["Staging"]}}]
    assert _summary(merge(desired, live, _policy(scoping=_scoping("ignore")))) == [("same", "Url")]
    assert _summary(merge(desired, live, _policy())) == [("add", "Url")]


# --------------------------------------------------------------------------- overwrite


def test_overwrite_replaces_a_differing_value_with_the_same_scope() -> None:
    scope = {"Environment": ["Production"], "Role": ["web"]}
    live = [{"Name": "Url", "Value": "old", "Scope": scope}]
    desired = [{"Name": "Url", "Value": "new", "Scope": scope}]
    merged = merge(desired, live, _policy(overwrite=True))
    assert list(merged.variables) == [{"Name": "Url", "Value": "new", "Scope": scope}]
    assert _summary(merged) == [("overwrite", "Url")]
    assert merged.actions[0].before == live[0]

    kept = merge(desired, live, _policy(overwrite=False))
    assert list(kept.variables) == live
    assert _summary(kept) == [("leave", "Url")]
    assert not kept.changed


def test_overwrite_needs_the_same_scope() -> None:
    live = [{"Name": "Url", "Value": "old", "Scope": {"Environment": ["Production"]}}]
    desired = [{"Name": "Url", "Value": "new", "Scope": {"Environment": ["Staging"]}}]
    merged = merge(desired, live, _policy(overwrite=True))
    assert list(merged.variables) == [*live, desired[0]]
    assert _summary(merged) == [("add", "Url")]


def test_overwrite_never_touches_a_sensitive_destination_value() -> None:
    live = [_sensitive("Password", {"Environment": ["Production"]})]
    for desired_value in (
        {"Name": "Password", "Value": "hunter2", "Type": "Sensitive"},
        {"Name": "Password", "Value": "hunter2"},
    ):
        desired_value["Scope"] = {"Environment": ["Production"]}
        merged = merge([desired_value], copy.deepcopy(live), _policy(overwrite=True))
        assert merged.variables[0] == live[0]
        assert all(a.action != "overwrite" for a in merged.actions)
    # same type: matched, and left with the reason
    merged = merge(
        [{"Name": "Password", "Value": "x", "Type": "Sensitive", "Scope": live[0]["Scope"]}],
        copy.deepcopy(live),
        _policy(overwrite=True),
    )
    assert list(merged.variables) == live
    assert _summary(merged) == [("leave", "Password")]
    assert "sensitive" in merged.actions[0].reason


def test_a_sensitive_desired_value_never_overwrites() -> None:
    live = [{"Name": "Password", "Value": "visible"}]
    # the source's secret cannot be read; whatever the destination has stays
    merged = merge([{"Name": "Password", "Value": dict(SENSITIVE)}], live, _policy(overwrite=True))
    assert list(merged.variables) == live
    assert _summary(merged) == [("leave", "Password")]
    # a sensitive value is a different type: added next to it, with the sensitive placeholder
    merged = merge([_sensitive("Password")], live, _policy(overwrite=True))
    assert list(merged.variables) == [*live, _placeholder(_sensitive("Password"))]
    assert _summary(merged) == [("add", "Password")]
    assert "sensitive" in merged.actions[0].placeholder


def test_an_identical_sensitive_value_is_the_same() -> None:
    live = [_sensitive("Password", {"Role": ["db"]})]
    merged = merge([_sensitive("Password", {"Role": ["db"]})], live, _policy(overwrite=True))
    assert _summary(merged) == [("same", "Password")]
    assert not merged.changed


def test_a_sensitive_destination_value_keeps_its_scope() -> None:
    live = [_sensitive("Password", {"Role": ["db"]})]
    merged = merge([_sensitive("Password", {"Role": ["sql"]})], live, _policy())
    assert merged.variables[0] == live[0]
    assert _summary(merged) == [("add", "Password")]


# ---------------------------------------------------------------------- explicit values


def test_an_explicit_value_overwrites_even_with_overwrite_off() -> None:
    live = [{"Name": "ApiUrl", "Value": "https://old"}]
    desired = [{"Name": "ApiUrl", "Value": "https://new", EXPLICIT: True}]
    merged = merge(desired, live, _policy(overwrite=False))
    assert list(merged.variables) == [{"Name": "ApiUrl", "Value": "https://new"}]
    assert _summary(merged) == [("overwrite", "ApiUrl")]
    assert merged.actions[0].reason == "value set by the overlay"


def test_an_explicit_value_never_overwrites_a_sensitive_destination_value() -> None:
    live = [_sensitive("ApiKey")]
    for desired_value in (
        {"Name": "ApiKey", "Value": "k", "Type": "Sensitive", EXPLICIT: True},
        {"Name": "ApiKey", "Value": "k", EXPLICIT: True},
    ):
        merged = merge([desired_value], copy.deepcopy(live), _policy(overwrite=True))
        assert merged.variables[0] == live[0]
        assert all(a.action != "overwrite" for a in merged.actions)
        assert all(EXPLICIT not in v for v in merged.variables)


def test_an_explicit_value_is_added_without_its_marker() -> None:
    merged = merge([{"Name": "ApiUrl", "Value": "u", EXPLICIT: True}], [], _policy())
    assert list(merged.variables) == [{"Name": "ApiUrl", "Value": "u"}]


# ------------------------------------------------------------------------- matching


def test_destination_only_values_are_kept() -> None:
    live = [
        {"Name": "Local", "Value": "1"},
        {"Name": CONN, "Value": "other", "Scope": {"Environment": ["Production"]}},
    ]
    merged = merge(
        [{"Name": CONN, "Value": DATABASE}], copy.deepcopy(live), _policy(overwrite=True)
    )
    assert list(merged.variables) == [*live, {"Name": CONN, "Value": DATABASE}]
    assert _summary(merged) == [("add", CONN)]


def test_type_is_part_of_the_match() -> None:
    live = [{"Name": "Aws", "Value": "aws-prod", "Type": "AmazonWebServicesAccount"}]
    desired = [{"Name": "Aws", "Value": "aws-prod"}]
    merged = merge(desired, copy.deepcopy(live), _policy(overwrite=True))
    assert list(merged.variables) == [*live, {"Name": "Aws", "Value": "aws-prod"}]
    assert _summary(merged) == [("add", "Aws")]
    same = merge(copy.deepcopy(live), copy.deepcopy(live), _policy())
    assert _summary(same) == [("same", "Aws")]


def test_names_match_ignoring_case() -> None:
    live = [{"Name": "app.name", "Value": "v", "Scope": {"Role": ["web"]}}]
    merged = merge(
        [{"Name": "App.Name", "Value": "v", "Scope": {"Role": ["web"]}}], live, _policy()
    )
    assert _summary(merged) == [("same", "App.Name")]
    assert list(merged.variables) == live


def test_values_match_case_sensitively() -> None:
    live = [{"Name": "Mode", "Value": "fast"}]
    desired = [{"Name": "Mode", "Value": "Fast"}]
    assert _summary(merge(desired, live, _policy())) == [("leave", "Mode")]
    merged = merge(desired, live, _policy(overwrite=True))
    assert list(merged.variables) == [{"Name": "Mode", "Value": "Fast"}]


def test_two_source_values_never_collapse_into_one() -> None:
    live = [{"Name": CONN, "Value": DATABASE}]
    desired = [
        {"Name": CONN, "Value": DATABASE, "Scope": {"Role": ["a"]}},
        {"Name": CONN, "Value": DATABASE, "Scope": {"Role": ["b"]}},
    ]
    merged = merge(desired, live, _policy())
    assert _canon(merged.variables) == _canon(desired)
    assert sorted(a.action for a in merged.actions) == ["add", "update-scope"]


def test_merge_does_not_modify_its_arguments() -> None:
    scoped_out = {"Name": "X", "Value": "1", "Scope": {"Role": ["r"]}, OUT_OF_SCOPE: True}
    desired = [*copy.deepcopy(RECURRING_DESIRED), scoped_out]
    live = copy.deepcopy(CLONED)
    before = (copy.deepcopy(desired), copy.deepcopy(live))
    merge(desired, live, _policy(overwrite=True))
    assert (desired, live) == before


# ---------------------------------------------------------------------- properties

NAMES = ["Db", "DB", "Conn"]  # case-only collisions on purpose
TEXTS = ["v", "V", "w"]
SCOPE_NAMES = ["a", "b"]
ALL_DIMENSIONS = SCOPE_DIMENSIONS

# Half the scopes come from a small pool, so that values often share a scope or differ in
# one dimension only (specific or the same on every instance).
COMMON_SCOPES: list[dict[str, list[str]]] = [
    {},
    {"Role": ["a"]},
    {"Role": ["b"]},
    {"Environment": ["a"]},
    {"Environment": ["a"], "Role": ["a"]},
    {"Environment": ["a"], "Role": ["b"]},
    {"Channel": ["a"], "TenantTag": ["a"]},
    {"Machine": ["a", "b"], "Action": ["a"], "ProcessOwner": ["b"]},
]
scopes = st.one_of(
    st.sampled_from(COMMON_SCOPES).map(copy.deepcopy),
    st.dictionaries(
        st.sampled_from(ALL_DIMENSIONS),
        st.lists(st.sampled_from(SCOPE_NAMES), min_size=1, max_size=2, unique=True).map(sorted),
        max_size=3,
    ),
)


KINDS = ["String", "String", "String", "Sensitive", "AmazonWebServicesAccount"]
SECRET_KINDS = ["String", "Sensitive", "Sensitive"]


@st.composite
def values(draw: st.DrawFn, *, desired: bool, kinds: list[str] = KINDS) -> JsonDict:
    # "Fresh" exists only in the source: a new variable on the destination
    name = draw(st.sampled_from([*NAMES, "Fresh"] if desired else NAMES))
    kind = draw(st.sampled_from(kinds))
    value: JsonDict = {"Name": name}
    if kind == "Sensitive":
        value.update({"Value": dict(SENSITIVE), "Type": "Sensitive"})
    else:
        value["Value"] = draw(st.sampled_from(TEXTS))
        if kind != "String":
            value["Type"] = kind
    scope = draw(scopes)
    marker = draw(st.sampled_from(["", "", "", OUT_OF_SCOPE, EXPLICIT])) if desired else ""
    if marker == OUT_OF_SCOPE:
        scope.pop("Environment", None)  # transform empties the Environment scope
    if marker == EXPLICIT:
        # what transform writes for an overlay value: name and text only (sometimes typed
        # as the variable it replaces, so a readable value meets a sensitive one)
        explicit: JsonDict = {"Name": name, "Value": draw(st.sampled_from(TEXTS)), EXPLICIT: True}
        if kind == "Sensitive":
            explicit["Type"] = "Sensitive"
        return explicit
    if scope:
        value["Scope"] = scope
    if marker:
        value[marker] = True
    return value


policies = st.builds(
    VariablePolicy,
    scoping=st.one_of(
        st.sampled_from(POLICIES).map(lambda p: dict.fromkeys(DIMENSIONS, p)),
        st.fixed_dictionaries({d: st.sampled_from(POLICIES) for d in DIMENSIONS}),
    ),
    overwrite=st.booleans(),
    new_out_of_scope=st.sampled_from(["clone", "placeholder", "skip"]),
    placeholder=st.sampled_from(["Replace Me", "TODO"]),
)


def _as_transform_writes(desired: list[JsonDict]) -> list[JsonDict]:
    """An overlay value replaces every source value of its variable, once (transform)."""
    explicit = {v["Name"].lower(): v for v in reversed(desired) if v.get(EXPLICIT)}
    kept = [v for v in desired if v["Name"].lower() not in explicit]
    return kept + list(explicit.values())


desired_lists = st.lists(values(desired=True), max_size=6)
live_lists = st.lists(values(desired=False), max_size=6)
cases = st.tuples(desired_lists, live_lists, policies)
transform_cases = st.tuples(desired_lists.map(_as_transform_writes), live_lists, policies)
secret_cases = st.tuples(  # mostly sensitive values on both sides
    st.lists(values(desired=True, kinds=SECRET_KINDS), max_size=6),
    st.lists(values(desired=False, kinds=SECRET_KINDS), max_size=6),
    policies,
)
PROPERTY = settings(max_examples=200, deadline=None)


def _ignored(policy: VariablePolicy) -> set[str]:
    return {d for d, p in POLICY_OF.items() if policy.scoping.get(p) in ("ignore", "ignore-on-new")}


def _clean(value: JsonDict) -> JsonDict:
    return {k: v for k, v in value.items() if not k.startswith("~")}


def _scope_of(value: JsonDict, ignored: set[str]) -> dict[str, list[str]]:
    return {d: v for d, v in (value.get("Scope") or {}).items() if d not in ignored}


def _type(value: JsonDict) -> str:
    return str(value.get("Type") or "String")


def _same(a: JsonDict, b: JsonDict, ignored: set[str]) -> bool:
    """The same value for the engine: name (any case), type, value and the compared scope."""
    return (
        a["Name"].lower() == b["Name"].lower()
        and _type(a) == _type(b)
        and a.get("Value") == b.get("Value")
        and _scope_of(a, ignored) == _scope_of(b, ignored)
    )


def _explains(action: ValueAction, wanted: JsonDict, ignored: set[str]) -> bool:
    """Whether a `leave` action is the decision about desired value `wanted`."""
    if action.action != "leave" or action.after is None:
        return False
    if action.before is None:  # left before matching (ignore-on-new)
        return action.after == _clean(wanted)
    existing = action.before  # matched by scope, but the value differs
    return (
        existing["Name"].lower() == wanted["Name"].lower()
        and _type(existing) == _type(wanted)
        and existing.get("Value") != wanted.get("Value")
        and _scope_of(existing, ignored) == _scope_of(wanted, ignored)
    )


def _perfect_matching(edges: list[list[int]]) -> bool:
    """Whether every left node can have its own right node (Kuhn's augmenting paths)."""
    owner: dict[int, int] = {}

    def augment(left: int, seen: set[int]) -> bool:
        for right in edges[left]:
            if right in seen:
                continue
            seen.add(right)
            if right not in owner or augment(owner[right], seen):
                owner[right] = left
                return True
        return False

    return all(augment(left, set()) for left in range(len(edges)))


@PROPERTY
@given(transform_cases)
def test_merging_the_result_again_changes_nothing(case: Any) -> None:
    # Holds under every scoping policy, ignore and ignore-on-new included. The desired values
    # are shaped as transform writes them (an overlay value replaces its variable's source
    # values): with an overlay value *and* an equal source value of the same name, the
    # source value can take the overlay value's added copy on the next run, and the overlay
    # value then overwrites another destination value (converging on the third run).
    desired, live, policy = case
    first = merge(copy.deepcopy(desired), live, policy)
    again = merge(copy.deepcopy(desired), list(first.variables), policy)
    assert not again.changed, [a for a in again.actions if a.action != "same"]
    assert again.variables == first.variables


@PROPERTY
@given(cases)
def test_no_two_source_values_collapse(case: Any) -> None:
    desired, live, policy = case
    merged = merge(copy.deepcopy(desired), copy.deepcopy(live), policy)
    result = list(merged.variables)
    ignored = _ignored(policy)
    adds = [a for a in merged.actions if a.action == "add"]
    # every add adds exactly one value, after the destination's own
    assert len(result) == len(live) + len(adds)
    assert result[len(live) :] == [a.after for a in adds]
    leaves = [a for a in merged.actions if a.action == "leave"]
    wanted = [v for v in desired if not v.get(OUT_OF_SCOPE)]
    edges = [
        [i for i, r in enumerate(result) if _same(w, r, ignored)]
        + [len(result) + j for j, a in enumerate(leaves) if _explains(a, w, ignored)]
        for w in wanted
    ]
    assert _perfect_matching(edges)


@PROPERTY
@given(cases)
def test_every_desired_value_has_a_recorded_decision(case: Any) -> None:
    desired, live, policy = case
    merged = merge(copy.deepcopy(desired), copy.deepcopy(live), policy)
    live_names = {v["Name"].lower() for v in live}
    new_out = Counter(
        v["Name"].lower()
        for v in desired
        if v.get(OUT_OF_SCOPE)
        and v["Name"].lower() not in live_names
        and not any(
            w["Name"].lower() == v["Name"].lower() and not w.get(OUT_OF_SCOPE) for w in desired
        )
    )
    expected = len(desired)
    if policy.new_out_of_scope == "placeholder":
        # One placeholder per new variable and scope beyond its environments (a tenant tag,
        # a role): never wider than a source value applied.
        for name, count in new_out.items():
            scopes = {
                json.dumps(
                    {
                        d: sorted(n)
                        for d, n in (v.get("Scope") or {}).items()
                        if d != "Environment" and n
                    },
                    sort_keys=True,
                )
                for v in desired
                if v["Name"].lower() == name and v.get(OUT_OF_SCOPE)
            }
            expected -= count - len(scopes)
    assert len(merged.actions) == expected


@PROPERTY
@given(secret_cases)
def test_a_sensitive_destination_value_is_never_changed(case: Any) -> None:
    desired, live, policy = case
    merged = merge(copy.deepcopy(desired), copy.deepcopy(live), policy)
    for index, value in enumerate(live):
        if value.get("Type") == "Sensitive":
            assert merged.variables[index] == value
    for action in merged.actions:
        if action.action in ("overwrite", "update-scope"):
            assert action.before is not None
            assert action.before.get("Type") != "Sensitive"
            assert action.after is not None
            assert action.after.get("Value") != dict(SENSITIVE)


@PROPERTY
@given(cases)
def test_written_values_carry_exactly_the_desired_scope(case: Any) -> None:
    desired, live, policy = case
    merged = merge(copy.deepcopy(desired), copy.deepcopy(live), policy)
    ignored = _ignored(policy)
    live_names = {v["Name"].lower() for v in live}
    in_scope = [v for v in desired if not v.get(OUT_OF_SCOPE)]
    out = [v for v in desired if v.get(OUT_OF_SCOPE)]
    for action in merged.actions:
        after = action.after
        assert after is not None
        assert not any(k.startswith("~") for k in after)
        if action.action == "add":
            if any(after == _placeholder(_clean(v)) for v in in_scope):
                continue
            # only a new variable with every value scoped out gets a clone or a placeholder
            assert after["Name"].lower() not in live_names
            assert not any(v["Name"].lower() == after["Name"].lower() for v in in_scope)
            assert action.placeholder
            if policy.new_out_of_scope == "clone":
                assert after in [_placeholder(_clean(v)) for v in out]  # scope minus Environment
            else:
                assert policy.new_out_of_scope == "placeholder"
                unscoped = {k: v for k, v in after.items() if k != "Scope"}
                assert unscoped in (
                    {"Name": after["Name"], "Value": policy.placeholder},
                    _placeholder(_sensitive(after["Name"])),
                )
                # ... scoped as a source value was, but for its environments: never wider
                # than a source value applied (a tenant tag or a role is kept).
                kept = [
                    {d: n for d, n in (v.get("Scope") or {}).items() if d != "Environment" and n}
                    for v in out
                    if v["Name"].lower() == after["Name"].lower()
                ]
                assert after.get("Scope", {}) in kept
        elif action.action in ("update-scope", "overwrite"):
            assert action.before is not None
            if action.action == "overwrite":  # only when asked to
                assert policy.overwrite or any(
                    v.get(EXPLICIT) and v["Value"] == after["Value"] for v in in_scope
                )
            assert any(_same(after, v, ignored) for v in in_scope)
            # the destination's environments, channels and machines are kept
            kept = {d: s for d, s in (action.before.get("Scope") or {}).items() if d in SPECIFIC}
            assert {d: s for d, s in (after.get("Scope") or {}).items() if d in SPECIFIC} == kept


@PROPERTY
@given(cases)
def test_nothing_is_ever_deleted(case: Any) -> None:
    desired, live, policy = case
    arguments = copy.deepcopy((desired, live))
    merged = merge(desired, live, policy)
    assert (desired, live) == arguments  # the arguments are not modified either
    result = list(merged.variables)
    assert len(result) >= len(live)
    assert {v["Name"] for v in live} <= {v["Name"] for v in result}
    changes = [
        (a.before, a.after) for a in merged.actions if a.action in ("update-scope", "overwrite")
    ]
    for index, value in enumerate(live):
        # kept in place, or changed by exactly one action that reports it
        if result[index] != value:
            changes.remove((value, result[index]))  # ValueError: a change nobody reported
    assert changes == []  # and every reported change is in the result


# ------------------------------------------------------- names regardless of case (issue 11)


def _recased(value: JsonDict, how: list[int]) -> JsonDict:
    """`value` with its name and the names in its scope in another case (as Octopus matches
    them: the same names)."""
    cases = [str.lower, str.upper, str.swapcase, lambda text: text]
    turns = iter(how * 50)

    def turn(text: str) -> str:
        return cases[next(turns) % len(cases)](text)

    recased = {**value, "Name": turn(value["Name"])}
    if value.get("Scope"):
        recased["Scope"] = {d: [turn(n) for n in names] for d, names in value["Scope"].items()}
    return recased


recasings = st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=4)


@PROPERTY
@given(live_lists, policies, recasings)
def test_the_same_values_in_another_case_are_never_added_again(
    live: list[JsonDict], policy: VariablePolicy, how: list[int]
) -> None:
    # The destination's own values, asked for with names in another case: nothing to add,
    # never a second value of the same name and scope.
    desired = [_recased(v, how) for v in live]
    merged = merge(desired, copy.deepcopy(live), policy)
    assert not merged.changed, [a for a in merged.actions if a.action != "same"]
    assert list(merged.variables) == live


@PROPERTY
@given(cases, recasings)
def test_the_case_of_names_never_changes_a_decision(case: Any, how: list[int]) -> None:
    desired, live, policy = case
    plain = merge(copy.deepcopy(desired), copy.deepcopy(live), policy)
    recased = merge([_recased(v, how) for v in desired], copy.deepcopy(live), policy)
    assert [a.action for a in recased.actions] == [a.action for a in plain.actions]
    assert len(recased.variables) == len(plain.variables)


# ------------------------------------------------------- explicit values never widen (issue 11)

SOURCE_ENVIRONMENTS = ["Dev", "QA", "UAT", "Prod"]
DESTINATION_ENVIRONMENTS = ["Production", "DR", "Staging"]


@st.composite
def explicit_cases(draw: st.DrawFn) -> tuple[Any, ...]:
    """A source variable with environment-scoped (or unscoped) values, an environment
    mapping (some excluded, some to several), and an explicit value, plain or scoped."""
    mapping = {
        source: tuple(targets)
        for source in SOURCE_ENVIRONMENTS
        if (
            targets := draw(
                st.lists(st.sampled_from(DESTINATION_ENVIRONMENTS), max_size=2, unique=True)
            )
        )
    }
    source_values = [
        {"Name": "V", "Value": f"v{i}", **({"Scope": {"Environment": envs}} if envs else {})}
        for i, envs in enumerate(
            draw(
                st.lists(
                    st.lists(st.sampled_from(SOURCE_ENVIRONMENTS), max_size=3, unique=True).map(
                        sorted
                    ),
                    max_size=4,
                )
            )
        )
    ]
    scoped = draw(
        st.one_of(
            st.none(),
            st.lists(st.sampled_from(DESTINATION_ENVIRONMENTS), min_size=1, unique=True),
        )
    )
    return mapping, source_values, scoped


@PROPERTY
@given(explicit_cases(), live_lists, policies)
def test_explicit_values_never_widen_a_scope(case: Any, live: list[JsonDict], policy: Any) -> None:
    from pathlib import Path

    from snapshotsync.model import ResourceKey, Snapshot
    from snapshotsync.overlay import Overlay, ScopedValue
    from snapshotsync.transform import apply

    mapping, source_values, scoped = case
    values = (
        {"values": {"Web/V": "explicit"}}
        if scoped is None
        else {"scoped_values": {"Web/V": (ScopedValue("explicit", tuple(scoped)),)}}
    )
    overlay = Overlay(
        path=Path("prod.yaml"),
        environments={s: targets[0] for s, targets in mapping.items()},
        environment_targets=mapping,
        variables=VariablePolicy(scoping=policy.scoping, **values),  # type: ignore[arg-type]
    )
    snapshot = Snapshot(
        {
            ResourceKey("projects", ("Web",)): {"Name": "Web"},
            ResourceKey("project-variables", ("Web",)): {"Variables": source_values},
        }
    )
    desired = apply(snapshot, overlay)
    written = desired.snapshot.resources[ResourceKey("project-variables", ("Web",))]["Variables"]
    explicit = [v for v in written if v.get(EXPLICIT)]
    # where each source value applies on the destination (None: everywhere)
    mapped: list[frozenset[str] | None] = []
    for value in source_values:
        environments = (value.get("Scope") or {}).get("Environment")
        if not environments:
            mapped.append(None)
        elif targets := {t for e in environments for t in mapping.get(e, ())}:
            mapped.append(frozenset(targets))
    for value in explicit:
        environments = (value.get("Scope") or {}).get("Environment")
        if scoped is not None:
            assert environments == sorted(scoped)  # exactly where the overlay says
        elif environments is None:
            # unscoped only where the source was, or when no source value applies there
            assert None in mapped or not mapped
        else:
            assert frozenset(environments) in mapped  # a source value's own mapped scope
    # the source's values narrow, never widen, around a scoped explicit value
    for value in written:
        if not value.get(EXPLICIT) and scoped is not None and value.get("Scope"):
            assert not set(value["Scope"].get("Environment", [])) & set(scoped)
    # and the merge writes each explicit value with the scope it was given
    merged = merge(copy.deepcopy(written), copy.deepcopy(live), policy)
    ignored = _ignored(policy)
    for action in merged.actions:
        if action.action in ("add", "overwrite") and action.after is not None:
            sources = [v for v in explicit if v["Name"].lower() == action.name.lower()]
            if sources and action.after.get("Value") == "explicit":
                assert any(
                    _scope_of(action.after, ignored) == _scope_of(v, ignored) for v in sources
                )


# ---------------------------------------------------------------- three-way (a recorded base)

THREE_WAY_NAMES = st.sampled_from(["A", "B"])
THREE_WAY_VALUES = st.sampled_from(["1", "2", "3"])
THREE_WAY_SCOPES = st.sampled_from([{}, {"Environment": ["Production"]}, {"Role": ["web"]}])


def _value(name: str, value: str, scope: dict[str, list[str]]) -> JsonDict:
    out: JsonDict = {"Name": name, "Value": value}
    if scope:
        out["Scope"] = scope
    return out


VALUE = st.builds(_value, THREE_WAY_NAMES, THREE_WAY_VALUES, THREE_WAY_SCOPES)


def _slot(value: JsonDict) -> str:
    return json.dumps([value["Name"].lower(), value.get("Scope") or {}], sort_keys=True)


def _unique_slots(values: list[JsonDict]) -> list[JsonDict]:
    """At most one value per name and scope, as a destination holds them."""
    return list({_slot(v): v for v in values}.values())


@given(
    st.lists(VALUE, max_size=5).map(_unique_slots),
    st.lists(VALUE, max_size=5).map(_unique_slots),
    st.lists(VALUE, max_size=5).map(_unique_slots),
    st.sampled_from([None, True, False]),
)
def test_three_way_never_loses_a_hand_edit_never_touches_the_destinations_own_and_settles(
    base: list[JsonDict],
    live: list[JsonDict],
    desired: list[JsonDict],
    overwrite: bool | None,
) -> None:
    policy = _policy(overwrite=overwrite)
    merged = merge(desired, live, policy, base=base)
    result = list(merged.variables)
    written = {_slot(v): v for v in base}
    for value in live:
        ours = written.get(_slot(value))
        if ours is None:
            # Never placed by snapshotsync: the destination's own, never removed.
            assert any(_slot(v) == _slot(value) for v in result), value
        elif ours != value and overwrite is not True:
            # Changed by hand since the last push: kept exactly as it is (without force).
            assert value in result, (value, merged.actions)
    # Once written and recorded, the same desired state changes nothing more.
    again = merge(desired, result, policy, base=list(merged.base))
    assert not again.changed, again.actions
