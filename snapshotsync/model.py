"""The records that flow between stages. No I/O here.

A `Snapshot` is a set of documents in the *normal form*: what the API returns, with every
id replaced by the name it stands for, the server's own fields stripped, lists without a
meaningful order sorted, and secrets replaced by `SENSITIVE`. Export produces it from the
source; plan reads the destination into the same form, so comparing the two is a plain diff.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

JsonDict = dict[str, Any]
T = TypeVar("T")

# What a secret looks like in the snapshot: the API never reveals it, so the snapshot says
# a value exists and nothing more.
SENSITIVE_KEY = "Sensitive"
SENSITIVE: Mapping[str, str] = {SENSITIVE_KEY: "value unknown"}


# Working markers on desired variable values, set by transform and read by the merge engine.
OUT_OF_SCOPE = "~OutOfScope"  # every environment of the value was excluded
EXPLICIT = "~Explicit"  # the value comes from the overlay's `variables.values`


def copy_json(value: T) -> T:
    """A deep copy of JSON-shaped data (dicts, lists, scalars): what `copy.deepcopy` makes,
    several times faster, with no memo to keep (documents share no inner objects). Anything
    else inside is handed to `copy.deepcopy`."""
    return cast(T, _copy(value))


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    if value is None or isinstance(value, str | int | float):
        return value  # immutable (bool is an int)
    return copy.deepcopy(value)


def is_sensitive_marker(value: Any) -> bool:
    return isinstance(value, Mapping) and dict(value) == dict(SENSITIVE)


@dataclass(frozen=True, order=True)
class ResourceKey:
    """A resource's identity across instances: its kind and its name path.

    `("OctoFX",)` for a project, `("OctoFX", "QA")` for its QA channel, `("OctoFX",)` for
    its deployment process (one per project).
    """

    kind: str
    name: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.kind} {'/'.join(self.name)}"


LoweredKey = tuple[str, tuple[str, ...]]


def lowered(key: ResourceKey) -> LoweredKey:
    """A resource key as Octopus matches names: regardless of case."""
    return key.kind, tuple(part.lower() for part in key.name)


@dataclass(frozen=True)
class Snapshot:
    """Documents in normal form, by key, and facts about where they came from."""

    resources: Mapping[ResourceKey, JsonDict]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def of_kind(self, kind: str) -> dict[ResourceKey, JsonDict]:
        return {key: doc for key, doc in self.resources.items() if key.kind == kind}


@dataclass
class Raw:
    """Everything read from one instance, as the API returned it (ids and all)."""

    version: str = ""
    # Whether tenant variables are read and written as scoped values (`tenantvars`).
    scoped_tenant_variables: bool = False
    collections: dict[str, list[JsonDict]] = field(default_factory=dict)
    documents: dict[str, JsonDict] = field(default_factory=dict)  # by API path

    def items(self, collection: str) -> list[JsonDict]:
        return self.collections.get(collection, [])


@dataclass(frozen=True)
class Problem:
    """Something found along the way that did not stop the stage (reported together)."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"
