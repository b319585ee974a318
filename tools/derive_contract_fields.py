"""Derive Octopus Deploy REST resource field lists from Octopus's TypeScript contracts.

Input: the extracted npm package ``@octopusdeploy/message-contracts`` (the ``package/``
folder left by ``npm pack @octopusdeploy/message-contracts@1.3.1`` followed by
``tar xzf``). Its ``dist/*.d.ts`` declaration files describe the API resources.

Output: ``tests/contracts/octopus_fields.json``. For each resource kind listed in
``KINDS`` it records every field, inherited ones included (``extends`` chains are
followed across files through the import statements, generic arguments included),
with:

* ``type``: a coarse JSON type: string, number, boolean, array, object or any;
* ``optional``: the property is declared with ``?``;
* ``nullable``: the type admits ``null`` or ``undefined``;
* ``from``: the declaration file the field comes from;
* when known: ``const`` (the single value of a literal or enum-member type),
  ``ref`` (the named contract type behind the field; the element type for arrays),
  ``items`` (coarse element type of an array), ``link_keys`` (declared keys of a
  ``Links`` collection) and, for kinds that are unions of interfaces, ``in`` (the
  members that declare a field not shared by all of them).

Each kind also names its ``file``, how it is ``declared_as`` (interface, class or
type alias), its ``type_params`` when generic and, for a union of interfaces, the
members it is the ``union_of``. ``aliases`` maps names used for a resource elsewhere
to its name in the contracts. An ``enums`` section lists the values of ``VariableType``, the keys of
``ScopeSpecification`` and the values of every enum a field refers to.

Only facts about the contracts are written, never their code. The parser handles
the subset of TypeScript that ``tsc`` emits into declaration files.

Usage: ``python tools/derive_contract_fields.py PACKAGE_DIR [--output PATH]``
"""

from __future__ import annotations

import argparse
import json
import posixpath
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

# Resource kinds to emit, by their names in the contracts.
KINDS: tuple[str, ...] = (
    "AccountResource",
    "ActionTemplateParameterResource",
    "ActionTemplateResource",
    "AmazonWebServicesAccountResource",
    "AwsElasticContainerRegistryFeedResource",
    "AzureServicePrincipalAccountResource",
    "AzureSubscriptionAccountResource",
    "BuiltInFeedResource",
    "CertificateResource",
    "ChannelResource",
    "ChannelVersionRuleResource",
    "DeploymentActionContainer",
    "DeploymentActionResource",
    "DeploymentProcessResource",
    "DeploymentStepResource",
    "DeploymentTargetResource",
    "DockerFeedResource",
    "DynamicWorkerPoolResource",
    "EnvironmentResource",
    "ExtensionSettingsValues",
    "ExternalFeedResource",
    "Feed",
    "FeedResource",
    "GitHubFeedResource",
    "GoogleCloudAccountResource",
    "HelmFeedResource",
    "LibraryVariableSetResource",
    "LifecycleResource",
    "MachinePolicyResource",
    "MachineResource",
    "MavenFeedResource",
    "NonVcsRunbookResource",
    "NugetFeedResource",
    "OctopusProjectFeedResource",
    "PackageReference",
    "PhaseResource",
    "ProjectGroupResource",
    "ProjectResource",
    "ResourceCollection",
    "RetentionPeriod",
    "RootResource",
    "RunbookProcessResource",
    "RunbookResource",
    "ScopeSpecification",
    "ScopeSpecificationTypes",
    "ScopeValues",
    "ScopedUserRoleResource",
    "SensitiveValue",
    "SpaceResource",
    "SpaceRootResource",
    "SshKeyPairAccountResource",
    "StaticWorkerPoolResource",
    "TagResource",
    "TagSetResource",
    "TeamResource",
    "TenantLibraryVariable",
    "TenantProjectVariable",
    "TenantResource",
    "TenantVariableResource",
    "TenantVariableTemplateResource",
    "TokenAccountResource",
    "TriggerResource",
    "UserRoleResource",
    "UsernamePasswordAccountResource",
    "VariablePromptOptions",
    "VariableResource",
    "VariableSetResource",
    "VcsRunbookResource",
    "WorkerMachineResource",
    "WorkerPoolResource",
)

# Names used for a resource in the request whose contract name differs.
ALIASES: dict[str, str] = {
    "ProjectTriggerResource": "TriggerResource",
    "WorkerResource": "WorkerMachineResource",
}

# Enums recorded whether or not a field refers to them, and key lists of interfaces.
ENUMS: tuple[str, ...] = ("VariableType",)
KEY_ENUMS: tuple[str, ...] = ("ScopeSpecification",)

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "tests" / "contracts" / "octopus_fields.json"

# ---------------------------------------------------------------------------
# Tokens

TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<str>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')
  | (?P<tpl>`(?:\\.|[^`\\])*`)
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<id>[A-Za-z_$][\w$]*)
  | (?P<p>=>|\.\.\.|[{}()\[\]<>;:,.?|&=*+\-!@])
    """,
    re.VERBOSE | re.DOTALL,
)

OPENERS = {"(": ")", "[": "]", "{": "}", "<": ">"}
CLOSERS = set(OPENERS.values())


@dataclass(frozen=True)
class Token:
    kind: str  # str, tpl, num, id, p or eof
    text: str
    line: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    line = 1
    while pos < len(text):
        match = TOKEN_RE.match(text, pos)
        if match is None:
            raise ParseError(f"line {line}: unexpected character {text[pos]!r}")
        kind = match.lastgroup or ""
        if kind not in ("ws", "comment"):
            tokens.append(Token(kind, match.group(), line))
        line += match.group().count("\n")
        pos = match.end()
    tokens.append(Token("eof", "", line))
    return tokens


def unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


# ---------------------------------------------------------------------------
# Type syntax


@dataclass(frozen=True)
class Prim:
    """A keyword type such as ``string`` or ``null``."""

    name: str


@dataclass(frozen=True)
class Lit:
    """A literal type such as ``"Docker"``, ``3`` or ``true``."""

    value: str | float | bool


@dataclass(frozen=True)
class Ref:
    """A named type, possibly dotted (``FeedType.Docker``), with type arguments."""

    name: str
    args: tuple[TypeNode, ...] = ()


@dataclass(frozen=True)
class Arr:
    elem: TypeNode


@dataclass(frozen=True)
class Tup:
    items: tuple[TypeNode, ...]


@dataclass(frozen=True)
class Member:
    name: str
    optional: bool
    type: TypeNode


@dataclass(frozen=True)
class Mapped:
    """``{ [param in source]?: template }``."""

    param: str
    source: TypeNode
    optional: bool | None
    template: TypeNode


@dataclass(frozen=True)
class Obj:
    members: tuple[Member, ...]
    mapped: Mapped | None = None


@dataclass(frozen=True)
class Indexed:
    """An indexed access type ``obj[index]``."""

    obj: TypeNode
    index: TypeNode


@dataclass(frozen=True)
class Union:
    items: tuple[TypeNode, ...]


@dataclass(frozen=True)
class Inter:
    items: tuple[TypeNode, ...]


@dataclass(frozen=True)
class Opaque:
    """A type this tool does not look into (functions, conditionals, ``keyof``...)."""

    what: str
    target: TypeNode | None = None


TypeNode = Prim | Lit | Ref | Arr | Tup | Obj | Indexed | Union | Inter | Opaque


@dataclass(frozen=True)
class TypeParam:
    name: str
    default: TypeNode | None


@dataclass(frozen=True)
class InterfaceDecl:
    """An interface, or a class (whose instance properties are treated alike)."""

    name: str
    type_params: tuple[TypeParam, ...]
    heritage: tuple[TypeNode, ...]
    members: tuple[Member, ...]
    is_class: bool
    exported: bool


@dataclass(frozen=True)
class AliasDecl:
    name: str
    type_params: tuple[TypeParam, ...]
    body: TypeNode
    exported: bool


@dataclass(frozen=True)
class EnumDecl:
    name: str
    members: tuple[tuple[str, str | float | None], ...]
    exported: bool


Decl = InterfaceDecl | AliasDecl | EnumDecl


@dataclass
class Module:
    rel: str  # path inside the package, e.g. dist/environmentResource.d.ts
    decls: dict[str, Decl] = field(default_factory=dict)
    imports: dict[str, tuple[str, str]] = field(default_factory=dict)


class ParseError(Exception):
    pass


PRIMITIVES = {
    "string",
    "number",
    "boolean",
    "any",
    "unknown",
    "null",
    "undefined",
    "void",
    "never",
    "object",
    "bigint",
    "symbol",
    "this",
}
CLASS_MODIFIERS = {
    "public",
    "private",
    "protected",
    "static",
    "abstract",
    "declare",
    "override",
    "readonly",
}


class Parser:
    """Recursive-descent parser for the declarations found in ``.d.ts`` files."""

    def __init__(self, text: str, rel: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.module = Module(rel)

    # -- token helpers

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.peek()
        self.pos += 1
        return token

    def at(self, text: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind in ("p", "id") and token.text == text

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.pos += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            self.fail(f"expected {text!r}")

    def ident(self) -> str:
        token = self.next()
        if token.kind != "id":
            self.pos -= 1
            self.fail("expected an identifier")
        return token.text

    def fail(self, message: str) -> None:
        token = self.peek()
        raise ParseError(f"{self.module.rel}:{token.line}: {message}, found {token.text!r}")

    def skip_balanced(self) -> None:
        """Skip one bracketed group starting at the current token."""
        depth = 0
        while True:
            token = self.next()
            if token.kind == "eof":
                self.fail("unbalanced brackets")
            if token.kind == "p" and token.text in OPENERS:
                depth += 1
            elif token.kind == "p" and token.text in CLOSERS:
                depth -= 1
                if depth == 0:
                    return

    def skip_until(self, stops: Iterable[str]) -> None:
        """Skip tokens up to (not including) a stop token outside any brackets."""
        stop_set = set(stops)
        depth = 0
        while True:
            token = self.peek()
            if token.kind == "eof":
                return
            if token.kind == "p":
                if depth == 0 and (token.text in stop_set or token.text in CLOSERS):
                    return
                if token.text in OPENERS:
                    depth += 1
                elif token.text in CLOSERS:
                    depth -= 1
            self.pos += 1

    # -- module level

    def parse_module(self) -> Module:
        while self.peek().kind != "eof":
            if self.accept(";"):
                continue
            if self.at("import"):
                self.parse_import()
                continue
            exported = False
            if self.at("export"):
                if self.peek(1).text in ("{", "*", "=", "default") or (
                    self.at("type", 1) and self.at("{", 2)
                ):
                    self.skip_statement()
                    continue
                self.next()
                exported = True
            while self.peek().text in ("declare", "abstract") and self.peek(1).kind == "id":
                self.next()
            keyword = self.peek().text
            if keyword == "interface":
                self.add(self.parse_interface(exported, is_class=False))
            elif keyword == "class":
                self.add(self.parse_interface(exported, is_class=True))
            elif keyword == "type" and self.peek(1).kind == "id":
                self.add(self.parse_alias(exported))
            elif keyword == "enum" or (keyword == "const" and self.at("enum", 1)):
                self.accept("const")
                self.add(self.parse_enum(exported))
            elif keyword in ("namespace", "module", "global"):
                self.skip_until("{")
                self.skip_balanced()
            elif keyword in ("function", "const", "let", "var"):
                self.skip_statement()
            else:
                self.fail("unsupported declaration")
        return self.module

    def add(self, decl: Decl) -> None:
        previous = self.module.decls.get(decl.name)
        if isinstance(previous, InterfaceDecl) and isinstance(decl, InterfaceDecl):
            # Declaration merging: later members win.
            decl = replace(
                decl,
                heritage=previous.heritage + decl.heritage,
                members=previous.members + decl.members,
            )
        self.module.decls[decl.name] = decl

    def skip_statement(self) -> None:
        self.skip_until(";")
        self.accept(";")

    def parse_import(self) -> None:
        self.expect("import")
        if self.peek().kind == "str":
            self.skip_statement()
            return
        if self.at("type") and not self.at("from", 1) and not self.at(",", 1):
            self.next()
        names: list[tuple[str, str]] = []
        if self.at("*"):
            self.skip_until(("from",))
        else:
            if self.peek().kind == "id":
                names.append(("default", self.ident()))
                self.accept(",")
            if self.accept("{"):
                while not self.accept("}"):
                    if self.at("type") and self.peek(1).kind == "id":
                        self.next()
                    original = self.ident()
                    local = self.ident() if self.accept("as") else original
                    names.append((original, local))
                    self.accept(",")
        self.expect("from")
        specifier = unquote(self.next().text)
        for original, local in names:
            self.module.imports[local] = (specifier, original)
        self.accept(";")

    def parse_type_params(self) -> tuple[TypeParam, ...]:
        params: list[TypeParam] = []
        if not self.accept("<"):
            return ()
        while not self.accept(">"):
            while self.peek().text in ("in", "out", "const") and self.peek(1).kind == "id":
                self.next()
            name = self.ident()
            if self.accept("extends"):
                self.parse_type()
            default = self.parse_type() if self.accept("=") else None
            params.append(TypeParam(name, default))
            self.accept(",")
        return tuple(params)

    def parse_interface(self, exported: bool, is_class: bool) -> InterfaceDecl:
        self.next()  # interface / class
        name = self.ident()
        type_params = self.parse_type_params()
        heritage: list[TypeNode] = []
        while self.peek().text in ("extends", "implements"):
            keep = self.next().text == "extends"
            while True:
                base = self.parse_type()
                if keep:
                    heritage.append(base)
                if not self.accept(","):
                    break
        members = self.parse_members("}", is_class)
        return InterfaceDecl(name, type_params, tuple(heritage), members, is_class, exported)

    def parse_alias(self, exported: bool) -> AliasDecl:
        self.expect("type")
        name = self.ident()
        type_params = self.parse_type_params()
        self.expect("=")
        body = self.parse_type()
        self.accept(";")
        return AliasDecl(name, type_params, body, exported)

    def parse_enum(self, exported: bool) -> EnumDecl:
        self.expect("enum")
        name = self.ident()
        self.expect("{")
        members: list[tuple[str, str | float | None]] = []
        while not self.accept("}"):
            token = self.next()
            member = unquote(token.text) if token.kind == "str" else token.text
            value: str | float | None = None
            if self.accept("="):
                negative = self.accept("-")
                token = self.peek()
                if token.kind == "str" and self.peek(1).text in (",", "}"):
                    value = unquote(token.text)
                elif token.kind == "num" and self.peek(1).text in (",", "}"):
                    value = -float(token.text) if negative else float(token.text)
                self.skip_until((",",))
            members.append((member, value))
            self.accept(",")
        return EnumDecl(name, tuple(members), exported)

    # -- members

    def parse_members(self, closer: str, is_class: bool) -> tuple[Member, ...]:
        self.expect("{")
        members: list[Member] = []
        while not self.accept(closer):
            if self.accept(";") or self.accept(","):
                continue
            skip = False
            while (
                self.peek().text in (CLASS_MODIFIERS if is_class else {"readonly"})
                and self.peek().kind == "id"
                and self.peek(1).text not in (":", "?", "(", ";", "<", "!")
            ):
                if self.next().text in ("private", "protected", "static"):
                    skip = True
            token = self.peek()
            signature = token.text == "new" and self.peek(1).text in ("(", "<")
            if signature or token.text in ("[", "(", "<"):
                # Index, call or construct signature: not a named field.
                self.skip_until((";", ","))
                continue
            accessor_ahead = self.peek(1).kind in ("id", "str") and self.at("(", 2)
            if token.text in ("get", "set") and accessor_ahead:
                accessor = self.next().text
                name = self.next().text
                self.skip_balanced()
                if accessor == "get" and self.accept(":") and not skip:
                    members.append(Member(name, False, self.parse_type()))
                self.skip_until((";", ","))
                continue
            if token.kind not in ("id", "str", "num"):
                self.fail("expected a member name")
            self.next()
            name = unquote(token.text) if token.kind == "str" else token.text
            optional = self.accept("?")
            self.accept("!")
            if self.peek().text in ("(", "<"):
                self.skip_until((";", ","))  # method
                continue
            member_type: TypeNode = self.parse_type() if self.accept(":") else Prim("any")
            self.skip_until((";", ","))
            if not skip:
                members.append(Member(name, optional, member_type))
        return tuple(members)

    # -- types

    def parse_type(self) -> TypeNode:
        node = self.parse_union()
        if self.at("extends"):
            self.next()
            self.parse_union()
            self.expect("?")
            self.parse_type()
            self.expect(":")
            self.parse_type()
            return Opaque("conditional")
        return node

    def parse_union(self) -> TypeNode:
        self.accept("|")
        items = [self.parse_intersection()]
        while self.accept("|"):
            items.append(self.parse_intersection())
        return items[0] if len(items) == 1 else Union(tuple(items))

    def parse_intersection(self) -> TypeNode:
        self.accept("&")
        items = [self.parse_operator()]
        while self.accept("&"):
            items.append(self.parse_operator())
        return items[0] if len(items) == 1 else Inter(tuple(items))

    def parse_operator(self) -> TypeNode:
        if self.at("keyof") and self.peek(1).text not in (":", "?", ",", ";"):
            self.next()
            return Opaque("keyof", self.parse_operator())
        if self.at("typeof"):
            self.next()
            self.parse_entity_name()
            return Opaque("typeof")
        if self.at("infer"):
            self.next()
            self.ident()
            return Opaque("infer")
        if self.peek().text in ("readonly", "unique") and self.peek(1).kind == "id":
            self.next()
            return self.parse_operator()
        node = self.parse_primary()
        while self.at("["):
            self.next()
            if self.accept("]"):
                node = Arr(node)
            else:
                index = self.parse_type()
                self.expect("]")
                node = Indexed(node, index)
        return node

    def parse_entity_name(self) -> str:
        name = self.ident()
        while self.at(".") and self.peek(1).kind == "id":
            self.next()
            name += "." + self.ident()
        return name

    def parse_function_rest(self) -> TypeNode:
        """Parse ``(params) => return`` from the opening parenthesis."""
        self.skip_balanced()
        self.expect("=>")
        if self.peek(1).text == "is" or self.at("asserts"):
            self.next()
            if self.accept("is"):
                pass
            elif self.peek().kind == "id":
                self.next()
                self.accept("is")
        self.parse_type()
        return Opaque("function")

    def closing_index(self) -> int:
        """Index of the token closing the bracket at the current position."""
        depth = 0
        index = self.pos
        while self.tokens[index].kind != "eof":
            text = self.tokens[index].text
            if self.tokens[index].kind == "p":
                if text in OPENERS:
                    depth += 1
                elif text in CLOSERS:
                    depth -= 1
                    if depth == 0:
                        return index
            index += 1
        self.fail("unbalanced brackets")
        return index

    def parse_primary(self) -> TypeNode:
        token = self.peek()
        if token.kind == "str":
            self.next()
            return Lit(unquote(token.text))
        if token.kind == "num":
            self.next()
            return Lit(float(token.text))
        if token.kind == "tpl":
            self.next()
            return Prim("string")
        if token.text == "-" and self.peek(1).kind == "num":
            self.next()
            return Lit(-float(self.next().text))
        if token.text == "(":
            end = self.closing_index()
            if self.tokens[end + 1].text == "=>":
                return self.parse_function_rest()
            self.next()
            node = self.parse_type()
            self.expect(")")
            return node
        if token.text == "<":
            self.skip_balanced()
            return self.parse_function_rest()
        constructor_type = token.kind == "id" and token.text in ("new", "abstract")
        if constructor_type and self.peek(1).text in ("(", "<", "new"):
            self.next()
            self.accept("new")
            if self.at("<"):
                self.skip_balanced()
            return self.parse_function_rest()
        if token.text == "{":
            return self.parse_object()
        if token.text == "[":
            return self.parse_tuple()
        if token.kind != "id":
            self.fail("expected a type")
        if token.text in ("true", "false"):
            self.next()
            return Lit(token.text == "true")
        if token.text in PRIMITIVES:
            self.next()
            return Prim(token.text)
        name = self.parse_entity_name()
        args: list[TypeNode] = []
        if self.accept("<"):
            while not self.accept(">"):
                args.append(self.parse_type())
                self.accept(",")
        return Ref(name, tuple(args))

    def parse_tuple(self) -> TypeNode:
        self.expect("[")
        items: list[TypeNode] = []
        while not self.accept("]"):
            self.accept("...")
            labelled = self.at(":", 1) or (self.at("?", 1) and self.at(":", 2))
            if self.peek().kind == "id" and labelled:
                self.next()
                self.accept("?")
                self.expect(":")
            items.append(self.parse_type())
            self.accept("?")
            self.accept(",")
        return Tup(tuple(items))

    def parse_object(self) -> TypeNode:
        start = self.pos
        self.expect("{")
        if not self.accept("+"):
            self.accept("-")
        self.accept("readonly")
        if self.at("[") and self.peek(1).kind == "id" and self.at("in", 2):
            self.next()
            param = self.ident()
            self.expect("in")
            source = self.parse_type()
            if self.accept("as"):
                self.parse_type()
            self.expect("]")
            optional: bool | None = None
            if self.accept("-"):
                self.expect("?")
                optional = False
            elif self.accept("+") or self.at("?"):
                self.expect("?")
                optional = True
            self.expect(":")
            template = self.parse_type()
            self.accept(";")
            self.expect("}")
            return Obj((), Mapped(param, source, optional, template))
        self.pos = start
        return Obj(self.parse_members("}", is_class=False))


def parse_file(path: Path, rel: str) -> Module:
    return Parser(path.read_text(encoding="utf-8"), rel).parse_module()


# ---------------------------------------------------------------------------
# Resolution


@dataclass(frozen=True, eq=False)
class Ctx:
    """Where a type expression is evaluated: its module and type-parameter bindings."""

    module: Module
    env: Mapping[str, Bound]


@dataclass(frozen=True, eq=False)
class Bound:
    node: TypeNode
    ctx: Ctx


@dataclass(frozen=True)
class TypeInfo:
    kind: str  # string, number, boolean, array, object, any, null or never
    nullable: bool = False
    const: str | float | bool | None = None
    ref: str | None = None
    items: TypeInfo | None = None


@dataclass(frozen=True)
class Field:
    info: TypeInfo
    optional: bool
    source: str
    link_keys: tuple[str, ...] = ()
    members: tuple[str, ...] = ()  # union members declaring it, when not all do


Fields = dict[str, Field]
UnionMember = tuple[str, TypeNode, Ctx]  # label, type, where to evaluate it

BUILTIN_ARRAYS = {"Array", "ReadonlyArray", "Set", "ReadonlySet"}
BUILTIN_OBJECTS = {"Record", "Map", "ReadonlyMap", "WeakMap", "Partial", "Required", "Pick", "Omit"}
FIELD_BUILTINS = {"Partial", "Required", "Readonly", "NonNullable", "Pick", "Omit"}
BUILTIN_SCALARS = {"Date": "string", "String": "string", "Number": "number", "Boolean": "boolean"}
ANY = TypeInfo("any")
MAX_DEPTH = 60


class Resolver:
    def __init__(self, package_dir: Path) -> None:
        self.root = package_dir
        self.modules: dict[str, Module] = {}
        self.enums: dict[str, tuple[str, EnumDecl]] = {}
        self.unresolved: set[str] = set()

    # -- modules and names

    def module(self, rel: str) -> Module | None:
        if rel not in self.modules:
            path = self.root / rel
            if not path.is_file():
                return None
            self.modules[rel] = parse_file(path, rel)
        return self.modules[rel]

    def find(self, name: str) -> tuple[Module, Decl]:
        """Find the one file of the package declaring ``name``."""
        pattern = re.compile(r"\b(?:interface|type|class|enum)\s+" + re.escape(name) + r"\b")
        found: list[tuple[Module, Decl]] = []
        for path in sorted((self.root / "dist").rglob("*.d.ts")):
            if pattern.search(path.read_text(encoding="utf-8")):
                module = self.module(path.relative_to(self.root).as_posix())
                if module is not None and name in module.decls:
                    found.append((module, module.decls[name]))
        exported = [item for item in found if item[1].exported]
        candidates = exported or found
        if len(candidates) != 1:
            where = ", ".join(module.rel for module, _ in candidates) or "nowhere"
            raise LookupError(f"{name} is declared in {where}")
        return candidates[0]

    def lookup(self, name: str, module: Module, depth: int = 0) -> tuple[Module, Decl] | None:
        if name in module.decls:
            return module, module.decls[name]
        if name not in module.imports or depth > MAX_DEPTH:
            return None
        specifier, original = module.imports[name]
        if not specifier.startswith("."):
            return None  # another package
        base = posixpath.normpath(posixpath.join(posixpath.dirname(module.rel), specifier))
        for rel in (base + ".d.ts", base + "/index.d.ts"):
            target = self.module(rel)
            if target is not None:
                return self.lookup(original, target, depth + 1)
        return None

    def instantiate(
        self, params: tuple[TypeParam, ...], args: tuple[TypeNode, ...], caller: Ctx, module: Module
    ) -> Ctx:
        env: dict[str, Bound] = {}
        for index, param in enumerate(params):
            if index < len(args):
                env[param.name] = Bound(args[index], caller)
            elif param.default is not None:
                env[param.name] = Bound(param.default, Ctx(module, dict(env)))
            else:
                env[param.name] = Bound(Prim("unknown"), caller)
        return Ctx(module, env)

    # -- coarse types

    def classify(self, node: TypeNode, ctx: Ctx, depth: int = 0) -> TypeInfo:
        if depth > MAX_DEPTH:
            return ANY
        depth += 1
        match node:
            case Prim(name):
                if name in ("string", "number", "boolean", "object"):
                    return TypeInfo(name)
                if name == "bigint":
                    return TypeInfo("number")
                if name in ("null", "undefined", "void"):
                    return TypeInfo("null", nullable=True)
                return TypeInfo("never") if name == "never" else ANY
            case Lit(value):
                if isinstance(value, bool):
                    return TypeInfo("boolean", const=value)
                return TypeInfo("string" if isinstance(value, str) else "number", const=value)
            case Arr(elem):
                return TypeInfo("array", items=self.classify(elem, ctx, depth))
            case Tup():
                return TypeInfo("array")
            case Obj():
                return TypeInfo("object")
            case Union(items):
                return union_info([self.classify(item, ctx, depth) for item in items])
            case Inter(items):
                return intersection_info([self.classify(item, ctx, depth) for item in items])
            case Indexed(obj, index):
                fields = self.fields_of(obj, ctx, depth)
                keys = self.literal_keys(index, ctx, depth)
                if fields is None or keys is None or not keys <= fields.keys():
                    return ANY
                return union_info([fields[key].info for key in sorted(keys)])
            case Ref():
                return self.classify_ref(node, ctx, depth)
        return ANY

    def classify_ref(self, node: Ref, ctx: Ctx, depth: int) -> TypeInfo:
        if not node.args and node.name in ctx.env:
            bound = ctx.env[node.name]
            return self.classify(bound.node, bound.ctx, depth)
        head, _, member = node.name.partition(".")
        found = self.lookup(head, ctx.module)
        if found is None:
            return self.classify_builtin(node, ctx, depth)
        module, decl = found
        if isinstance(decl, EnumDecl):
            self.enums.setdefault(decl.name, (module.rel, decl))
            values = dict(decl.members)
            if member:
                value = values.get(member)
                return TypeInfo(value_kind(value), const=value, ref=decl.name)
            return TypeInfo(enum_kind(decl), ref=decl.name)
        if isinstance(decl, InterfaceDecl):
            return TypeInfo("object", ref=decl.name)
        inner = self.instantiate(decl.type_params, node.args, ctx, module)
        return replace(self.classify(decl.body, inner, depth), ref=decl.name)

    def classify_builtin(self, node: Ref, ctx: Ctx, depth: int) -> TypeInfo:
        first = node.args[0] if node.args else None
        if node.name in BUILTIN_ARRAYS:
            items = self.classify(first, ctx, depth) if first is not None else None
            return TypeInfo("array", items=items)
        if node.name in BUILTIN_OBJECTS:
            return TypeInfo("object")
        if node.name in BUILTIN_SCALARS:
            return TypeInfo(BUILTIN_SCALARS[node.name])
        if node.name in ("Readonly", "NonNullable") and first is not None:
            info = self.classify(first, ctx, depth)
            return replace(info, nullable=False) if node.name == "NonNullable" else info
        self.unresolved.add(f"{ctx.module.rel}: {node.name}")
        return replace(ANY, ref=node.name)

    # -- fields

    def fields_of(self, node: TypeNode, ctx: Ctx, depth: int = 0) -> Fields | None:
        """Named properties of an object-like type, or None if it has no fixed set."""
        if depth > MAX_DEPTH:
            return None
        depth += 1
        match node:
            case Obj(members, None):
                return {m.name: self.make_field(m, ctx, depth) for m in members}
            case Obj(_, Mapped(_, Opaque("keyof", target)) as mapped) if target:
                return self.mapped_fields(mapped, target, ctx, depth)
            case Inter(items):
                merged: Fields = {}
                for item in items:
                    part = self.fields_of(item, ctx, depth)
                    if part is None:
                        return None
                    for name, new in part.items():
                        old = merged.get(name)
                        optional = new.optional and (old.optional if old else True)
                        merged[name] = replace(new, optional=optional)
                return merged
            case Union():
                return self.union_fields(self.union_members(node, ctx, depth), depth)
            case Ref():
                return self.ref_fields(node, ctx, depth)
        return None

    def make_field(self, member: Member, ctx: Ctx, depth: int) -> Field:
        info = self.classify(member.type, ctx, depth)
        link_keys: tuple[str, ...] = ()
        if member.name == "Links":
            links = self.fields_of(member.type, ctx, depth)
            link_keys = tuple(sorted(links)) if links else ()
        return Field(info, member.optional, ctx.module.rel, link_keys)

    def mapped_fields(
        self, mapped: Mapped, target: TypeNode, ctx: Ctx, depth: int
    ) -> Fields | None:
        base = self.fields_of(target, ctx, depth)
        if base is None:
            return None
        result: Fields = {}
        for name, old in base.items():
            inner = Ctx(ctx.module, {**ctx.env, mapped.param: Bound(Lit(name), ctx)})
            optional = old.optional if mapped.optional is None else mapped.optional
            result[name] = Field(self.classify(mapped.template, inner, depth), optional, old.source)
        return result

    def ref_fields(self, node: Ref, ctx: Ctx, depth: int) -> Fields | None:
        if not node.args and node.name in ctx.env:
            bound = ctx.env[node.name]
            return self.fields_of(bound.node, bound.ctx, depth)
        found = self.lookup(node.name, ctx.module)
        if found is None:
            return self.builtin_fields(node, ctx, depth)
        module, decl = found
        if isinstance(decl, EnumDecl):
            return None
        inner = self.instantiate(decl.type_params, node.args, ctx, module)
        if isinstance(decl, AliasDecl):
            return self.fields_of(decl.body, inner, depth)
        result: Fields = {}
        for base in decl.heritage:
            base_fields = self.fields_of(base, inner, depth)
            if base_fields is None:
                raise LookupError(f"{module.rel}: cannot resolve base {base} of {decl.name}")
            result.update(base_fields)
        for member in decl.members:
            result[member.name] = self.make_field(member, inner, depth)
        return result

    def builtin_fields(self, node: Ref, ctx: Ctx, depth: int) -> Fields | None:
        if not node.args or node.name not in FIELD_BUILTINS:
            return None
        base = self.fields_of(node.args[0], ctx, depth)
        if base is None:
            return None
        if node.name == "Partial":
            return {name: replace(f, optional=True) for name, f in base.items()}
        if node.name == "Required":
            return {name: replace(f, optional=False) for name, f in base.items()}
        if node.name in ("Pick", "Omit"):
            keys = self.literal_keys(node.args[1], ctx, depth) if len(node.args) > 1 else None
            if keys is None:
                return None
            keep = node.name == "Pick"
            return {name: f for name, f in base.items() if (name in keys) == keep}
        return base

    def literal_keys(self, node: TypeNode, ctx: Ctx, depth: int) -> set[str] | None:
        match node:
            case Lit(str(value)):
                return {value}
            case Union(items):
                keys: set[str] = set()
                for item in items:
                    part = self.literal_keys(item, ctx, depth)
                    if part is None:
                        return None
                    keys |= part
                return keys
            case Ref(name, ()) if name in ctx.env:
                bound = ctx.env[name]
                return self.literal_keys(bound.node, bound.ctx, depth + 1)
            case Ref(name, ()):
                found = self.lookup(name, ctx.module)
                if found and isinstance(found[1], AliasDecl) and depth < MAX_DEPTH:
                    return self.literal_keys(found[1].body, Ctx(found[0], {}), depth + 1)
        return None

    def union_members(self, node: TypeNode, ctx: Ctx, depth: int = 0) -> list[UnionMember]:
        """Flatten a union, following aliases of unions, into labelled members."""
        if depth > MAX_DEPTH:
            return [("?", node, ctx)]
        if isinstance(node, Union):
            members: list[UnionMember] = []
            for item in node.items:
                members.extend(self.union_members(item, ctx, depth + 1))
            return members
        if isinstance(node, Ref):
            if not node.args and node.name in ctx.env:
                bound = ctx.env[node.name]
                return self.union_members(bound.node, bound.ctx, depth + 1)
            found = self.lookup(node.name, ctx.module)
            decl = found[1] if found else None
            if found and isinstance(decl, AliasDecl) and isinstance(decl.body, (Union, Ref)):
                module = found[0]
                inner = self.instantiate(decl.type_params, node.args, ctx, module)
                flattened = self.union_members(decl.body, inner, depth + 1)
                if len(flattened) > 1:
                    return flattened
            return [(node.name, node, ctx)]
        return [("?", node, ctx)]

    def union_fields(self, members: list[UnionMember], depth: int) -> Fields | None:
        per_member: list[tuple[str, Fields]] = []
        for label, node, ctx in members:
            part = self.fields_of(node, ctx, depth)
            if part is None:
                return None
            per_member.append((label, part))
        names: list[str] = []
        for _, part in per_member:
            names.extend(name for name in part if name not in names)
        result: Fields = {}
        for name in names:
            having = [(label, part[name]) for label, part in per_member if name in part]
            first = having[0][1]
            info = union_info([f.info for _, f in having])
            everywhere = len(having) == len(per_member)
            result[name] = Field(
                info=info,
                optional=not everywhere or any(f.optional for _, f in having),
                source=first.source,
                link_keys=tuple(sorted({key for _, f in having for key in f.link_keys})),
                members=() if everywhere else tuple(label for label, _ in having),
            )
        return result


def value_kind(value: str | float | None) -> str:
    if value is None:
        return "any"
    return "string" if isinstance(value, str) else "number"


def enum_kind(decl: EnumDecl) -> str:
    values = [value for _, value in decl.members]
    if values and all(isinstance(value, str) for value in values):
        return "string"
    if all(value is None or isinstance(value, float) for value in values):
        return "number"
    return "any"


def union_info(infos: list[TypeInfo]) -> TypeInfo:
    infos = [info for info in infos if info.kind != "never"]
    nullable = any(info.nullable for info in infos)
    present = [info for info in infos if info.kind != "null"]
    if not present:
        return TypeInfo("any", nullable=True)
    kinds = {info.kind for info in present}
    kind = kinds.pop() if len(kinds) == 1 else "any"
    consts = {info.const for info in present}
    refs = sorted({info.ref for info in present if info.ref})
    items = {info.items for info in present}
    return TypeInfo(
        kind=kind,
        nullable=nullable,
        const=consts.pop() if len(consts) == 1 else None,
        ref=" | ".join(refs) if refs else None,
        items=items.pop() if len(items) == 1 else None,
    )


def intersection_info(infos: list[TypeInfo]) -> TypeInfo:
    kinds = {info.kind for info in infos}
    if "never" in kinds:
        return TypeInfo("never")
    scalars = kinds & {"string", "number", "boolean"}
    if len(kinds) == 1:
        kind = kinds.pop()
    elif len(scalars) == 1 and kinds <= scalars | {"object"}:
        kind = scalars.pop()  # branded primitive such as string & {...}
    else:
        kind = "any"
    refs = " & ".join(info.ref for info in infos if info.ref)
    return TypeInfo(kind, nullable=all(info.nullable for info in infos), ref=refs or None)


# ---------------------------------------------------------------------------
# Output


def json_kind(kind: str) -> str:
    return kind if kind in ("string", "number", "boolean", "array", "object") else "any"


def field_json(item: Field) -> dict[str, object]:
    info = item.info
    data: dict[str, object] = {
        "type": json_kind(info.kind),
        "optional": item.optional,
        "nullable": info.nullable,
        "from": item.source,
    }
    if info.const is not None:
        data["const"] = info.const
    ref = info.ref or (info.items.ref if info.items else None)
    if ref:
        data["ref"] = ref
    if info.items is not None:
        data["items"] = json_kind(info.items.kind)
    if item.link_keys:
        data["link_keys"] = list(item.link_keys)
    if item.members:
        data["in"] = list(item.members)
    return data


def declared_as(decl: Decl) -> str:
    if isinstance(decl, InterfaceDecl):
        return "class" if decl.is_class else "interface"
    return "type" if isinstance(decl, AliasDecl) else "enum"


def collect_enum_refs(fields: Fields) -> set[str]:
    names: set[str] = set()
    for item in fields.values():
        for info in (item.info, item.info.items):
            if info is not None and info.ref:
                names.update(re.split(r" [|&] ", info.ref))
    return names


def derive(package_dir: Path) -> dict[str, object]:
    resolver = Resolver(package_dir)
    package = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
    kinds: dict[str, object] = {}
    referenced: set[str] = set()
    for name in KINDS:
        module, decl = resolver.find(name)
        ctx = Ctx(module, {})
        fields = resolver.fields_of(Ref(name), ctx)
        if fields is None:
            raise LookupError(f"{name} in {module.rel} has no fixed set of fields")
        referenced |= collect_enum_refs(fields)
        entry: dict[str, object] = {
            "file": module.rel,
            "declared_as": declared_as(decl),
            "fields": {key: field_json(value) for key, value in fields.items()},
        }
        if not isinstance(decl, EnumDecl) and decl.type_params:
            entry["type_params"] = [param.name for param in decl.type_params]
        members = resolver.union_members(Ref(name), ctx)
        if len(members) > 1:
            entry["union_of"] = [label for label, _, _ in members]
        kinds[name] = entry
    enums: dict[str, list[str | float | None]] = {}
    for name in ENUMS:
        module, decl = resolver.find(name)
        if not isinstance(decl, EnumDecl):
            raise LookupError(f"{name} in {module.rel} is not an enum")
        resolver.enums.setdefault(name, (module.rel, decl))
        referenced.add(name)
    for name in sorted(referenced):
        if name in resolver.enums:
            enums[name] = [value for _, value in resolver.enums[name][1].members]
    for name in KEY_ENUMS:
        module, _ = resolver.find(name)
        keys = resolver.fields_of(Ref(name), Ctx(module, {}))
        if keys is None:
            raise LookupError(f"{name} in {module.rel} has no fixed keys")
        enums[name] = list(keys)
    for problem in sorted(resolver.unresolved):
        print(f"warning: unresolved type {problem}", file=sys.stderr)
    return {
        "_source": f"{package['name']}@{package['version']}",
        "_generated_by": "tools/derive_contract_fields.py",
        "aliases": ALIASES,
        "enums": enums,
        "kinds": kinds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("package_dir", type=Path, help="the extracted npm package/ folder")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON file to write")
    args = parser.parse_args(argv)
    try:
        data = derive(args.package_dir)
    except (LookupError, ParseError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {len(KINDS)} kinds to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
