"""What snapshotsync needs of each reply it reads, checked before anything uses it.

A server that answers with a wrong JSON type in one field (a broken proxy, a plugin, a
version that changed a contract) must stop the run with one line naming the route and the
field: "the server's reply to GET /api/Spaces-1/projects had a Name of type list". Without
the check it surfaces far away, as an internal error in normalizing or in a push.

The shapes are data: for each route, the fields the tool reads, where in the reply, and
the JSON type each must have (when present; some must be present). They follow the
published contracts (`@octopusdeploy/message-contracts@1.3.1`: resourceCollection,
projectResource, deploymentProcessResource, deploymentStepResource,
deploymentActionResource, variableSetResource, variableResource, tenantVariableResource,
tagSetResource, runbookResource, channelResource, libraryVariableSetResource; the field
lists in tests/contracts/), narrowed to what the tool uses: every reference field of the
kinds registry (`kinds.py`), every list it sorts, the names and ids it keys by. Fields the
tool only copies are not checked: any JSON value is kept as it came.

Action and step properties are a map of strings or sensitive-value objects (the contracts'
`PropertyValueResource`, `string | SensitiveValue`; go-octopusdeploy
octopusdeploy/sensitive_value.go: `{HasValue, NewValue}`); anything else there is refused.

Ids go into URL paths, so an `Id` must be a plain id: not empty, not `.` or `..`, no `/`,
`\\`, `?`, `#`, `%` and no whitespace or control character. The ids servers hand out are
`Projects-7`, `deploymentprocess-Projects-7`, `feeds-builtin` and GUIDs; no published source
was found that fixes their alphabet, so this is the stricter reading: anything else is
refused rather than guessed at, and `routes.segment` escapes them all the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import lru_cache
from typing import Any

from snapshotsync.errors import OctopusApiError
from snapshotsync.octopus.kinds import KIND_OF_COLLECTION, KINDS, Kind

Path = tuple[str, ...]


class UnexpectedReply(OctopusApiError):
    """A reply without the shape the tool needs (an `OctopusApiError`, so a push stops at
    it as at any failed write and records what was written before)."""

    def __init__(self, method: str, route: str, message: str) -> None:
        super().__init__(method, route, 200, message)
        self.args = (message,)


@dataclass(frozen=True)
class Field:
    """A field the tool reads: where (`*` each list item, `~values` each mapping value,
    `~keys` the keys of a mapping), the JSON type it must have, and whether it must be
    there (not missing, not null)."""

    path: Path
    need: str  # one of NEEDS
    required: bool = False


NEEDS: dict[str, tuple[str, tuple[type, ...]]] = {
    "id": ("a string id", (str,)),
    "str": ("a string", (str,)),
    "int": ("a number", (int,)),
    "bool": ("true or false", (bool,)),
    "list": ("a list", (list,)),
    "dict": ("an object", (dict,)),
    "prop": ("a string or a sensitive-value object", (str, dict)),
}
_BAD_ID = re.compile(r"[/\\?#%\s\x00-\x1f\x7f]")
_TYPE_NAMES = {
    dict: "object",
    list: "list",
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
}


def _type_name(value: Any) -> str:
    return "null" if value is None else _TYPE_NAMES.get(type(value), type(value).__name__)


def _under(prefix: Path, fields: Iterable[Field]) -> list[Field]:
    return [Field((*prefix, *f.path), f.need, f.required) for f in fields]


def _of_kind(kind: Kind) -> list[Field]:
    """What normalizing and pushing read of a kind: references, sorted lists, nested items."""
    fields: list[Field] = []
    for ref in kind.refs:
        if ref.path[-1] == "~keys":
            fields.append(Field(ref.path[:-1], "dict"))
        else:
            fields.append(Field(ref.path, "str"))
    fields += [Field(path, "list") for path in kind.unordered]
    for path in kind.strip_nested:
        fields += [Field(path[:-1], "list"), Field(path, "dict")] if path[-1] == "*" else []
    return fields


NAMED = [Field(("Id",), "id", True), Field(("Name",), "str", True)]
TEMPLATES = [
    Field(("Templates",), "list"),
    Field(("Templates", "*"), "dict"),
    Field(("Templates", "*", "Id"), "str", True),
    Field(("Templates", "*", "Name"), "str", True),
]
# Collection -> what each of its items must hold, beyond the kind's own fields.
ITEM_EXTRAS: dict[str, list[Field]] = {
    "projects": [
        *TEMPLATES,
        Field(("PersistenceSettings",), "dict"),
        Field(("PersistenceSettings", "Type"), "str"),
        Field(("IsVersionControlled",), "bool"),
        Field(("VariableSetId",), "id"),  # required unless version-controlled: see check
        Field(("DeploymentProcessId",), "id"),
    ],
    "libraryvariablesets": [
        *TEMPLATES,
        Field(("VariableSetId",), "id", True),
        Field(("ContentType",), "str"),
    ],
    "runbooks": [
        Field(("ProjectId",), "id", True),
        Field(("RunbookProcessId",), "id", True),
    ],
    "channels": [Field(("ProjectId",), "id", True)],
    "projecttriggers": [Field(("ProjectId",), "id", True)],
    "tagsets": [
        Field(("Tags",), "list"),
        Field(("Tags", "*"), "dict"),
        Field(("Tags", "*", "Name"), "str", True),
        Field(("Tags", "*", "CanonicalTagName"), "str"),
    ],
    "feeds": [Field(("FeedType",), "str")],
    "teams": [Field(("CanBeDeleted",), "bool")],
    "userroles": [Field(("CanBeDeleted",), "bool")],
    "tenants": [Field(("TenantTags",), "list"), Field(("TenantTags", "*"), "str")],
    "accounts": [Field(("AccountType",), "str")],
}
# The collections whose kind in the registry is not named after them.
_KIND_FOR = {"libraryvariablesets": "library-variable-sets"}
UNNAMED = frozenset({"scopeduserroles"})


def item_fields(collection: str) -> list[Field]:
    """What each item of `collection` must hold."""
    kind_name = _KIND_FOR.get(collection, KIND_OF_COLLECTION.get(collection, ""))
    kind = KINDS.get(kind_name)
    fields = [Field(("Id",), "id", True)] if collection in UNNAMED else list(NAMED)
    if collection == "scopeduserroles":
        fields += _under(("ScopedUserRoles", "*"), [])  # nothing nested: the role itself
        kind = KINDS["team-permissions"]
        fields += [Field(("TeamId",), "str")]
        fields += [
            Field(ref.path[2:], "str")
            for ref in kind.refs
            if ref.path[:2] == ("ScopedUserRoles", "*")
        ]
        return fields
    if kind is not None:
        fields += _of_kind(kind)
    return fields + ITEM_EXTRAS.get(collection, [])


def _process_fields() -> list[Field]:
    steps, actions = ("Steps", "*"), ("Steps", "*", "Actions", "*")
    return [
        Field(("Steps",), "list"),
        Field(steps, "dict"),
        Field((*steps, "Id"), "str"),
        Field((*steps, "Name"), "str", True),
        Field((*steps, "Properties"), "dict"),
        Field((*steps, "Properties", "~values"), "prop"),
        Field((*steps, "Actions"), "list"),
        Field(actions, "dict"),
        Field((*actions, "Id"), "str"),
        Field((*actions, "Name"), "str", True),
        Field((*actions, "Properties"), "dict"),
        Field((*actions, "Properties", "~values"), "prop"),
        Field((*actions, "Packages"), "list"),
        Field((*actions, "Packages", "*"), "dict"),
        Field((*actions, "Container"), "dict"),
        Field(("ProjectId",), "str"),
        Field(("RunbookId",), "str"),
        Field(("Version",), "int"),
        *_of_kind(KINDS["deployment-processes"]),
    ]


PROCESS = _process_fields()
VARIABLE_SET = [
    Field(("Variables",), "list", True),
    Field(("Variables", "*"), "dict"),
    Field(("Variables", "*", "Id"), "str"),
    Field(("Variables", "*", "Name"), "str", True),
    Field(("Variables", "*", "Type"), "str"),
    Field(("Variables", "*", "IsSensitive"), "bool"),
    Field(("Variables", "*", "Description"), "str"),
    Field(("Variables", "*", "Prompt"), "dict"),
    Field(("Variables", "*", "Scope"), "dict"),
    Field(("Variables", "*", "Scope", "~values"), "list"),
    Field(("Variables", "*", "Scope", "~values", "*"), "str"),
    Field(("Variables", "*", "Value"), "str"),
    Field(("Version",), "int"),
    Field(("OwnerId",), "str"),
    *_of_kind(KINDS["project-variables"]),
]
LEGACY_TENANT_VARIABLES = [
    Field(("ProjectVariables",), "dict"),
    Field(("ProjectVariables", "~values"), "dict"),
    Field(("ProjectVariables", "~values", "Variables"), "dict"),
    Field(("ProjectVariables", "~values", "Variables", "~values"), "dict"),
    Field(("ProjectVariables", "~values", "Variables", "~values", "~values"), "prop"),
    Field(("LibraryVariables",), "dict"),
    Field(("LibraryVariables", "~values"), "dict"),
    Field(("LibraryVariables", "~values", "Variables"), "dict"),
    Field(("LibraryVariables", "~values", "Variables", "~values"), "prop"),
]


def _scoped_tenant_variables(items: str, owner: str) -> list[Field]:
    fields = [
        Field((items,), "list"),
        Field((items, "*"), "dict"),
        Field((items, "*", owner), "str"),
        Field((items, "*", "TemplateId"), "str"),
        Field((items, "*", "Value"), "prop"),
        Field((items, "*", "Scope"), "dict"),
        Field((items, "*", "Scope", "EnvironmentIds"), "list"),
        Field((items, "*", "Scope", "EnvironmentIds", "*"), "str"),
    ]
    return fields


PROJECT_TENANT_VARIABLES = [
    *_scoped_tenant_variables("Variables", "ProjectId"),
    *_scoped_tenant_variables("ProjectVariables", "ProjectId"),
]
COMMON_TENANT_VARIABLES = [
    *_scoped_tenant_variables("Variables", "LibraryVariableSetId"),
    *_scoped_tenant_variables("CommonVariables", "LibraryVariableSetId"),
]
ROOT = [Field(("Version",), "str")]  # its absence is named by `server_version`
ENVELOPE = [
    Field(("Items",), "list", True),
    Field(("Items", "*"), "dict"),
    Field(("TotalResults",), "int"),
    Field(("Links",), "dict"),
    Field(("Links", "Page.Next"), "str"),
]

# Routes (the path after `/api`, without its query) -> the shape of their reply.
_SPACE = r"/[^/]+"
_ID = r"/[^/]+"
_DOCUMENTS: list[tuple[re.Pattern[str], list[Field]]] = [
    (re.compile(rf"^{_SPACE}/projects{_ID}/deploymentprocesses$"), PROCESS),
    (re.compile(rf"^{_SPACE}/deploymentprocesses{_ID}$"), PROCESS),
    (re.compile(rf"^{_SPACE}(?:/projects{_ID})?/runbookProcesses{_ID}$", re.I), PROCESS),
    (re.compile(rf"^{_SPACE}/variables{_ID}$"), VARIABLE_SET),
    (re.compile(rf"^{_SPACE}/tenants{_ID}/variables$"), LEGACY_TENANT_VARIABLES),
    (re.compile(rf"^{_SPACE}/tenants{_ID}/projectvariables$"), PROJECT_TENANT_VARIABLES),
    (re.compile(rf"^{_SPACE}/tenants{_ID}/commonvariables$"), COMMON_TENANT_VARIABLES),
]
# Many documents a request (`octopus/bulk.py`): a bare list, or a page of them.
_DOCUMENT_LISTS: list[tuple[re.Pattern[str], str, list[Field]]] = [
    (re.compile(rf"^{_SPACE}/variables/all$"), "all", VARIABLE_SET),
    (re.compile(rf"^{_SPACE}/deploymentprocesses$"), "envelope", PROCESS),
    (re.compile(rf"^{_SPACE}/runbookProcesses$", re.I), "envelope", PROCESS),
    (re.compile(rf"^{_SPACE}/tenantvariables/all$"), "all", LEGACY_TENANT_VARIABLES),
]
_GLOBAL = frozenset({"spaces", "userroles"})
_COLLECTION = re.compile(
    rf"^(?P<space>{_SPACE})?/(?P<collection>[A-Za-z]+)(?P<all>/all)?(?P<id>{_ID})?$"
)
_CHILD_LIST = re.compile(rf"^{_SPACE}/(?:projects|teams){_ID}/(?P<collection>[A-Za-z]+)$")
_COLLECTIONS = frozenset({*KIND_OF_COLLECTION, "scopeduserroles", "spaces"})
_NOT_ITEMS = frozenset({"sortorder"})


def shape(method: str, path: str) -> list[Field] | None:
    """The fields a reply to `method path` must have, or None when the tool reads nothing
    of it (a DELETE's answer, a route it does not know)."""
    found = _form(method, path)
    return None if found is None else list(_fields(*found))


def _form(method: str, path: str) -> tuple[str, str] | None:
    """What a reply to `method path` is: (form, collection or document index), where form
    is root, document, envelope (a page of items), all (a bare list of items) or item."""
    route = api_route(path)
    if route is None or method == "DELETE":
        return None
    if route == "":
        return "root", ""
    for index, (pattern, form, _) in enumerate(_DOCUMENT_LISTS):
        if pattern.match(route) and method == "GET":
            return f"{form}-documents", str(index)
    for index, (pattern, _) in enumerate(_DOCUMENTS):
        if pattern.match(route):
            return "document", str(index)
    child = _CHILD_LIST.match(route)
    if child and child["collection"] in _COLLECTIONS and method == "GET":
        return "envelope", child["collection"]
    found = _COLLECTION.match(route)
    if not found or found["collection"] not in _COLLECTIONS:
        return None
    collection = found["collection"]
    if (found["space"] is None) != (collection in _GLOBAL):
        return None
    if found["id"] and found["id"][1:] in _NOT_ITEMS:
        return None
    if found["all"]:
        return "all", collection
    if found["id"] or method in ("POST", "PUT"):
        return "item", collection
    return "envelope", collection


@lru_cache(maxsize=128)
def _fields(form: str, which: str) -> tuple[Field, ...]:
    if form == "root":
        return tuple(ROOT)
    if form == "document":
        return tuple(_DOCUMENTS[int(which)][1])
    if form == "all-documents":
        document = _DOCUMENT_LISTS[int(which)][2]
        return (Field((), "list", True), Field(("*",), "dict"), *_under(("*",), document))
    if form == "envelope-documents":
        return (*ENVELOPE, *_under(("Items", "*"), _DOCUMENT_LISTS[int(which)][2]))
    items = item_fields(which)
    if form == "all":
        return (Field((), "list", True), Field(("*",), "dict"), *_under(("*",), items))
    if form == "item":
        return tuple(items)
    return (*ENVELOPE, *_under(("Items", "*"), items))


def api_route(path: str) -> str | None:
    """The part of a URL path after `/api` ("" for the root), without the query."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    at = path.find("/api/")
    if at < 0:
        return "" if path.rstrip("/").endswith("/api") or path.rstrip("/") == "api" else None
    return path[at + 4 :].rstrip("/")


def check(method: str, path: str, reply: Any) -> None:
    """Raise `UnexpectedReply` when `reply` lacks the shape `shape(method, path)` needs."""
    found = _form(method, path)
    if found is None:
        return
    form, collection = found
    fields = _fields(form, collection)
    if form == "envelope" and not (
        isinstance(reply, dict) and isinstance(reply.get("Items"), list)
    ):
        return  # not a collection at all: `list_all` says so
    route = path.split("?", 1)[0]
    if not route.startswith("/"):
        route = "/" + route
    root_need = "list" if fields and fields[0].path == () else "dict"
    if not isinstance(reply, NEEDS[root_need][1]):
        raise UnexpectedReply(
            method,
            route,
            f"the server's reply to {method} {route} was {_article(_type_name(reply))}, "
            f"where snapshotsync needs {NEEDS[root_need][0]}: {_HINT}",
        )
    _Walk(method, route).node(_compiled(form, collection), reply, None)
    if collection == "projects":
        _project_needs(reply, method, route)


_HINT = (
    "is the URL that of an Octopus server (not a proxy or another service), and of a "
    "supported version? Nothing more was written"
)


def _article(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _fail(method: str, route: str, label: str, value: Any, where: str, need: str) -> None:
    found = "no " + label if value is _MISSING else f"{_article(label)} of type {_type_name(value)}"
    at = f" (at {where.lstrip('.')})" if where.lstrip(".") != label else ""
    raise UnexpectedReply(
        method,
        route,
        f"the server's reply to {method} {route} had {found}{at}, where snapshotsync needs "
        f"{NEEDS[need][0]}: {_HINT}",
    )


_MISSING = object()


@dataclass
class _Node:
    """The fields of a shape as a tree, so each part of a reply is visited once whatever
    the number of fields below it: what must hold here, and where to go on."""

    leaves: list[Field] = dataclass_field(default_factory=list)
    props: dict[str, _Node] = dataclass_field(default_factory=dict)
    required: dict[str, Field] = dataclass_field(default_factory=dict)  # must be present
    items: _Node | None = None  # `*`
    values: _Node | None = None  # `~values`
    keys: bool = False  # `~keys`: a mapping, nothing below


@lru_cache(maxsize=128)
def _compiled(form: str, which: str) -> _Node:
    root = _Node()
    for field in _fields(form, which):
        if not field.path:
            continue
        node = root
        for depth, step in enumerate(field.path):
            if step == "*":
                node.items = node.items or _Node()
                node = node.items
            elif step == "~values":
                node.values = node.values or _Node()
                node = node.values
            elif step == "~keys":
                node.keys = True
                break
            else:
                if field.required and depth == len(field.path) - 1:
                    node.required[step] = field
                node = node.props.setdefault(step, _Node())
        else:
            node.leaves.append(field)
    return root


# Where in a reply: None (the reply), or (the parent's trail, a step): a name, an index, or
# ("value", key). Only a failure spells it out.
Trail = tuple[Any, Any] | None


def _spelled(trail: Trail) -> tuple[str, str]:
    """(where, label) of a trail: `Steps[0].Actions[1].Name`, `Name`."""
    steps = []
    while trail is not None:
        trail, step = trail
        steps.append(step)
    where, label = "", "reply"
    for step in reversed(steps):
        if isinstance(step, int):
            where, label = f"{where}[{step}]", f"{label} item"
        elif isinstance(step, tuple):
            where, label = f"{where}[{step[1]!r}]", f"{label} value"
        else:
            where, label = f"{where}.{step}", step
    return where, label


class _Walk:
    def __init__(self, method: str, route: str) -> None:
        self.method = method
        self.route = route

    def fail(self, trail: Trail, value: Any, need: str) -> None:
        where, label = _spelled(trail)
        _fail(self.method, self.route, label, value, where, need)

    def node(self, node: _Node, value: Any, trail: Trail) -> None:
        for field in node.leaves:
            self.leaf(field, value, trail)
        if value is None:
            return  # an absent container: nothing below it is read
        if node.items is not None:
            if type(value) is not list:
                self.fail(trail, value, "list")
            below = node.items
            for index, item in enumerate(value):
                self.node(below, item, (trail, index))
        if node.values is not None or node.keys:
            if type(value) is not dict:
                self.fail(trail, value, "dict")
            if node.values is not None:
                below = node.values
                for key, item in value.items():
                    self.node(below, item, (trail, ("value", key)))
        if node.props:
            if type(value) is not dict:
                self.fail(trail, value, "dict")
            for name, below in node.props.items():
                if name in value:
                    self.node(below, value[name], (trail, name))
                elif name in node.required:
                    self.fail((trail, name), _MISSING, node.required[name].need)

    def leaf(self, field: Field, value: Any, trail: Trail) -> None:
        if value is None:
            if field.required:
                self.fail(trail, value, field.need)
            return
        allowed = NEEDS[field.need][1]
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            self.fail(trail, value, field.need)
        if field.need == "id" and (value in ("", ".", "..") or _BAD_ID.search(value)):
            where, label = _spelled(trail)
            at = f" (at {where.lstrip('.')})" if where.lstrip(".") != label else ""
            raise UnexpectedReply(
                self.method,
                self.route,
                f"the server's reply to {self.method} {self.route} had {label} {value!r}{at}, "
                f"which is not an Octopus id and cannot go into a URL: {_HINT}",
            )


def _project_needs(reply: Any, method: str, route: str) -> None:
    """A project that is not version-controlled must name its variable set (export reads
    the set's document by it)."""
    listed = reply if isinstance(reply, list) else reply.get("Items")
    items = listed if isinstance(listed, list) else [reply]
    for index, item in enumerate(items):
        settings = item.get("PersistenceSettings") or {}
        controlled = item.get("IsVersionControlled") or settings.get("Type") == "VersionControlled"
        if not controlled and item.get("VariableSetId") is None:
            where = "VariableSetId" if item is reply else f"[{index}].VariableSetId"
            _fail(method, route, "VariableSetId", _MISSING, where, "id")


__all__ = ["Field", "UnexpectedReply", "api_route", "check", "shape"]
