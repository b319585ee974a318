"""The emulator's HTTP layer: routes, auth, paging, fault injection and request counters.

A `ThreadingHTTPServer` speaking HTTP/1.1 (so clients keep connections alive) on loopback.
Latency is slept outside the state lock, so concurrent clients overlap their waits the way
they do against a remote server.

Emulator-only routes (not part of Octopus): `GET/DELETE /api/emulator/stats` (request
counters) and `GET/PUT /api/emulator/config` (faults, latency, page size, version at run time).
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from snapshotsync.emulator import bulk, runbook_snapshots, tenant_variables, version_control
from snapshotsync.emulator.schema import KINDS, JsonDict
from snapshotsync.emulator.state import ApiError, Instance, bad_request

FAULT_KINDS = ("503", "429", "drop")
# Settings of the emulated instance rather than of the HTTP layer, also at /api/emulator/config.
INSTANCE_SETTINGS = frozenset({"server_version", "feature_toggles"})
TENANT_VARIABLE_ROUTES = frozenset({"variables", "projectvariables", "commonvariables"})


@dataclass
class Config:
    """Run-time behaviour, settable on the command line and at `/api/emulator/config`."""

    latency_ms: float = 0.0
    fault_rate: float = 0.0
    fault_kinds: list[str] = field(default_factory=lambda: list(FAULT_KINDS))
    fault_seed: int = 0
    retry_after: int = 1  # seconds, sent with 429
    page_size: int = 30  # Octopus's default `take`
    # The largest `take` honoured (0: any). Lets a test force many pages on a client that
    # asks for big pages.
    max_take: int = 0
    # Drop the connection on the Nth write (POST/PUT/DELETE) counted from when this is set;
    # with drop_after_apply the write is applied first, as when a reply is lost on the way.
    drop_on_write: int = 0
    drop_after_apply: bool = False
    # Refuse the Nth write at once (400, nothing applied, no latency), as a server refuses a
    # write it finds invalid: the earliest failure a concurrent writer can meet.
    refuse_on_write: int = 0
    # Before the Nth PUT of a versioned document (process, variable set) or write of tenant
    # variables, act as if another user had just saved it: a process or variable set gets its
    # stored Version bumped (the PUT then carries a stale Version); the legacy tenant-variable
    # document and the scoped routes (`/projectvariables`, `/commonvariables`) get a new
    # ConcurrencyToken (a write carrying the old one is refused, with the "another user has
    # made changes" answer of OctopusDeploy/Issues#10143 on the scoped routes; one without a
    # token is not checked, as on a real server).
    concurrent_edit_on_put: int = 0
    # Play an older server that does not know the `ids` filter (`bulk.py`).
    ignore_ids: bool = False


@dataclass
class Stats:
    requests: int = 0
    writes: int = 0
    unauthorized: int = 0
    by_method: Counter[str] = field(default_factory=Counter)
    by_route: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    # Writes being handled at once, now and at most (a client's concurrency, seen here).
    writes_in_flight: int = 0
    max_writes_in_flight: int = 0

    def count(self, method: str, route: str, is_write: bool, fault: str | None) -> None:
        self.requests += 1
        self.by_method[method] += 1
        self.by_route[route] += 1
        self.writes += int(is_write)
        if fault:
            self.faults[fault] += 1

    def as_json(self) -> JsonDict:
        return {
            "requests": self.requests,
            "writes": self.writes,
            "unauthorized": self.unauthorized,
            "by_method": dict(sorted(self.by_method.items())),
            "by_route": dict(sorted(self.by_route.items())),
            "faults": dict(sorted(self.faults.items())),
            "max_writes_in_flight": self.max_writes_in_flight,
        }


class Dropped(Exception):
    """Close the connection without an answer."""


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], instance: Instance, api_key: str, config: Config):
        super().__init__(address, Handler)
        self.instance = instance
        self.api_key = api_key
        self.config = config
        self.stats = Stats()
        self.control_lock = threading.Lock()
        self.rng = random.Random(config.fault_seed)
        self.writes_since_config = 0
        self.versioned_puts = 0

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def configure(self, changes: JsonDict) -> None:
        known = {f.name for f in fields(Config)}
        unknown = sorted(set(changes) - known - INSTANCE_SETTINGS)
        if unknown:
            raise bad_request(*(f"Unknown emulator setting '{name}'." for name in unknown))
        toggles = changes.get("feature_toggles", {})
        if not isinstance(toggles, dict) or not all(
            isinstance(v, bool | None) for v in toggles.values()
        ):
            raise bad_request("feature_toggles maps toggle names to true, false or null.")
        # The instance's lock first, then the control lock: the order a request takes them
        # (a PUT asks `concurrent_edit_due` while it holds the instance), or a configure
        # racing a versioned PUT deadlocks both.
        with self.instance.lock, self.control_lock:
            for name, value in changes.items():
                if name == "server_version":
                    self.instance.server_version = str(value)
                elif name == "feature_toggles":
                    # null drops an override: the toggle follows the server version again.
                    for toggle, state in value.items():
                        if state is None:
                            self.instance.feature_toggles.pop(toggle, None)
                        else:
                            self.instance.feature_toggles[toggle] = state
                else:
                    setattr(self.config, name, value)
            if "fault_seed" in changes:
                self.rng = random.Random(self.config.fault_seed)
            if "drop_on_write" in changes or "refuse_on_write" in changes:
                self.writes_since_config = 0
            if "concurrent_edit_on_put" in changes:
                self.versioned_puts = 0

    def concurrent_edit_due(self) -> bool:
        """Whether this PUT of a versioned document meets a concurrent edit."""
        with self.control_lock:
            if not self.config.concurrent_edit_on_put:
                return False
            self.versioned_puts += 1
            return self.versioned_puts == self.config.concurrent_edit_on_put

    def pick_fault(self, is_write: bool) -> tuple[str | None, bool]:
        """Decide this request's fault: (kind or None, whether to apply the write first)."""
        with self.control_lock:
            if is_write:
                self.writes_since_config += 1
                n = self.config.drop_on_write
                if n and self.writes_since_config == n:
                    return "drop", self.config.drop_after_apply
                if self.config.refuse_on_write == self.writes_since_config:
                    return "refuse", False
            if self.config.fault_rate and self.rng.random() < self.config.fault_rate:
                kinds = self.config.fault_kinds or list(FAULT_KINDS)
                return kinds[self.rng.randrange(len(kinds))], False
        return None, False


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and the
    # client's delayed ACK add ~40 ms to every keep-alive round trip.
    disable_nagle_algorithm = True
    server: EmulatorServer
    server_version = "OctopusEmulator"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and benchmarks read counters, not access logs."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # ----------------------------------------------------------------- plumbing

    def _handle(self, method: str) -> None:
        server = self.server
        too_long = bulk.refuse_long_line(self.requestline)
        if too_long is not None:
            with server.control_lock:
                server.stats.count(method, "414 request line too long", False, None)
            self.close_connection = True  # as Kestrel does after a bad request
            self._reply(too_long.status, too_long.body())
            return
        split = urlsplit(self.path)
        parts = [p for p in split.path.split("/") if p]
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        emulator_route = parts[:2] == ["api", "emulator"]
        is_write = method != "GET" and not emulator_route
        fault, after_apply = (None, False) if emulator_route else server.pick_fault(is_write)
        if is_write:
            with server.control_lock:
                stats = server.stats
                stats.writes_in_flight += 1
                stats.max_writes_in_flight = max(stats.max_writes_in_flight, stats.writes_in_flight)
        try:
            self._serve(method, parts, query, raw, emulator_route, is_write, fault, after_apply)
        finally:
            if is_write:
                with server.control_lock:
                    server.stats.writes_in_flight -= 1

    def _serve(
        self,
        method: str,
        parts: list[str],
        query: dict[str, str],
        raw: bytes,
        emulator_route: bool,
        is_write: bool,
        fault: str | None,
        after_apply: bool,
    ) -> None:
        server = self.server
        if server.config.latency_ms and not emulator_route and fault != "refuse":
            time.sleep(server.config.latency_ms / 1000)
        if not emulator_route:  # the counters count the API, not themselves
            with server.control_lock:
                route = self._route_key(method, parts)
                if any(k.lower() == "ids" for k in query):
                    route += "?ids"  # a bulk read, told apart from a list or a document
                server.stats.count(method, route, is_write, fault)
        try:
            if fault == "drop" and not after_apply:
                raise Dropped
            if fault == "refuse":
                raise bad_request("The emulator refused this write (refuse_on_write).")
            if fault in ("503", "429"):
                self._fault_reply(fault)
                return
            if not emulator_route and parts != ["api"] and not self._authorized(query):
                with server.control_lock:
                    server.stats.unauthorized += 1
                raise ApiError(
                    401,
                    "You must be logged in to perform this action. Please provide a valid API "
                    "key or log in again.",
                )
            if emulator_route and not self._authorized(query):
                raise ApiError(401, "The emulator's own routes need the API key too.")
            body = self._parse(raw) if method in ("POST", "PUT") else None
            status, payload = self._dispatch(method, parts, query, body)
            if fault == "drop":
                raise Dropped
            self._reply(status, payload)
        except Dropped:
            self._drop()
        except ApiError as error:
            self._reply(error.status, error.body())
        except Exception as error:  # an emulator bug must still answer, like a real 500
            self._reply(500, {"ErrorMessage": f"Emulator error: {error!r}", "Errors": []})

    def _authorized(self, query: dict[str, str]) -> bool:
        key = self.headers.get("X-Octopus-ApiKey") or query.get("apikey", "")
        return bool(key) and key == self.server.api_key

    @staticmethod
    def _parse(raw: bytes) -> Any:
        try:
            return json.loads(raw or b"null")
        except ValueError as error:
            raise bad_request(f"The request body is not valid JSON: {error}") from None

    def _reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            # A server that closes the connection after this reply says so (RFC 9112 9.6,
            # "Connection: close"), so a client does not send its next request on it.
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _fault_reply(self, fault: str) -> None:
        if fault == "429":
            data = json.dumps(
                {"ErrorMessage": "Too many requests. Please retry later.", "Errors": []}
            )
            self.send_response(429)
            self.send_header("Retry-After", str(self.server.config.retry_after))
        else:
            data = json.dumps({"ErrorMessage": "The service is unavailable.", "Errors": []})
            self.send_response(503)
        encoded = data.encode()
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _route_key(method: str, parts: list[str]) -> str:
        """`GET environments`, `PUT deploymentprocesses`, `GET tenants/variables`: for stats."""
        lowered = [p.lower() for p in parts[1:]]
        if not lowered:
            return f"{method} root"
        if lowered[0].startswith("spaces-") and len(lowered) > 1:
            lowered = lowered[1:]
        names = [
            p for p in lowered if p in KINDS or p in _SUB_ROUTES or p in ("emulator", "spaces")
        ]
        return f"{method} {'/'.join(names[:2]) or lowered[0]}"

    # ----------------------------------------------------------------- routing

    def _dispatch(
        self, method: str, parts: list[str], query: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        if not parts or parts[0].lower() != "api":
            raise ApiError(404, "Not found.")
        rest = parts[1:]
        lowered = [p.lower() for p in rest]
        instance = self.server.instance
        if not rest:
            return 200, self._root()
        if lowered[0] == "emulator":
            return self._emulator(method, lowered[1:], body)
        with instance.lock:
            if lowered[:2] == ["configuration", "feature-toggles"] and len(lowered) == 2:
                return self._feature_toggles(method, query)
            if lowered[0] in ("spaces", "userroles"):
                return self._collection(method, None, lowered[0], rest[1:], query, body)
            if lowered[0] in ("teams", "scopeduserroles"):
                return self._system_route(method, lowered[0], rest[1:], query, body)
            space_id = self._space(rest[0])
            return self._space_route(method, space_id, rest[1:], query, body)

    def _root(self) -> JsonDict:
        instance = self.server.instance
        return {
            "Application": "Octopus Deploy",
            "Version": instance.server_version,
            "ApiVersion": "3.0.0",
            "InstallationId": f"emulator-{instance.id_offset}",
            "IsEarlyAccessProgram": False,
            "HasLongTermSupport": False,
            "Links": {
                "Self": "/api",
                "Spaces": "/api/spaces{/id}{?skip,ids,take,partialName}",
                "SpaceHome": "/api/{spaceId}",
            },
        }

    def _emulator(self, method: str, rest: list[str], body: Any) -> tuple[int, Any]:
        server = self.server
        if rest == ["stats"] and method == "GET":
            with server.control_lock:
                return 200, server.stats.as_json()
        if rest == ["stats"] and method == "DELETE":
            with server.control_lock:
                server.stats = Stats()
            return 200, {}
        if rest == ["config"] and method == "GET":
            return 200, self._config()
        if rest == ["config"] and method == "PUT":
            if not isinstance(body, dict):
                raise bad_request("Send an object of settings.")
            server.configure(body)
            return 200, self._config()
        raise ApiError(404, "No such emulator route.")

    def _config(self) -> JsonDict:
        instance = self.server.instance
        return {
            **asdict(self.server.config),
            "server_version": instance.server_version,
            "feature_toggles": dict(instance.feature_toggles),
        }

    def _feature_toggles(self, method: str, query: dict[str, str]) -> tuple[int, Any]:
        """`GET /api/configuration/feature-toggles{?Name}`, not space-scoped.

        Shape: go-octopusdeploy `pkg/configuration/feature_toggle_configuration.go`
        (`{"FeatureToggles": [{"Name", "IsEnabled"}]}`), route
        `pkg/configuration/feature_toggle_configuration_service.go`; the CLI's test fixture
        `pkg/cmd/release/deploy/deploy_test.go` mocks the same answer for `?Name=...`.
        """
        if method != "GET":
            raise ApiError(405, "Method not allowed.")
        name = _query(query, "name")
        toggles = self.server.instance.toggles()
        listed = [
            {"Name": toggle, "IsEnabled": state}
            for toggle, state in sorted(toggles.items())
            if not name or toggle.lower() == name.lower()
        ]
        return 200, {"FeatureToggles": listed}

    def _space(self, token: str) -> str:
        instance = self.server.instance
        for space in instance.docs["spaces"].values():
            if space["Id"].lower() == token.lower():
                return str(space["Id"])
        raise ApiError(404, f"The resource '{token}' was not found.")

    def _space_route(
        self, method: str, space_id: str, rest: list[str], query: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        instance = self.server.instance
        if not rest:
            return 200, {"Id": space_id, "Links": {"Self": f"/api/{space_id}"}}
        head = rest[0].lower()
        if self.server.config.ignore_ids:
            query = bulk.without_ids(query)
        if method == "GET":
            served = bulk.serve(instance, space_id, rest, query, self._page)
            if served is not None:
                return served
        if head == "projects" and len(rest) >= 3:
            return self._project_sub(method, space_id, rest[1], [p for p in rest[2:]], query, body)
        if head == "tenants" and len(rest) == 3 and rest[2].lower() in TENANT_VARIABLE_ROUTES:
            return self._tenant_variables(method, space_id, rest[1], rest[2].lower(), query, body)
        if head == "teams" and len(rest) == 3 and rest[2].lower() == "scopeduserroles":
            team = instance.find_team(space_id, rest[1])
            items = [
                r
                for r in instance.space_items(space_id, "scopeduserroles")
                if r["TeamId"] == team["Id"]
            ]
            return 200, self._page(space_id, "scopeduserroles", items, query, rest)
        if head not in KINDS or not KINDS[head].space_scoped:
            raise ApiError(404, f"There is no collection '{rest[0]}'.")
        if head == "deploymentprocesses" and len(rest) == 2:
            process = instance.find(space_id, "deploymentprocesses", rest[1])
            owner = instance.docs["projects"].get(str(process["ProjectId"]))
            if owner is not None:
                version_control.require_git_route(owner, None)
        if head in ("runbooks", "runbookprocesses"):
            # The root routes of a git runbook, or a new one posted for such a project.
            named = instance.docs[head].get(rest[1]) if len(rest) >= 2 else None
            owner_id = (named or (body if isinstance(body, dict) else {})).get("ProjectId")
            version_control.refuse_git_runbooks(instance.docs["projects"].get(str(owner_id)))
        return self._collection(method, space_id, head, rest[1:], query, body)

    def _tenant_variables(
        self,
        method: str,
        space_id: str,
        tenant_id: str,
        route: str,
        query: dict[str, str],
        body: Any,
    ) -> tuple[int, Any]:
        """The legacy document (`variables`) and the scoped routes, see `tenant_variables.py`."""
        instance = self.server.instance
        if route == "variables":
            if method == "GET":
                return 200, tenant_variables.legacy_document(instance, space_id, tenant_id)
            if method in ("PUT", "POST"):
                instance.find(space_id, "tenants", tenant_id)
                tenant_variables.refuse_legacy_write(instance, space_id)
                if self.server.concurrent_edit_due():
                    # Another user saves the tenant's variables first: a token read before
                    # is stale now (a write without a token is not checked).
                    tenant = instance.find(space_id, "tenants", tenant_id)
                    instance.bump_tenant_concurrency_token(tenant["Id"])
                return 200, tenant_variables.legacy_write(instance, space_id, tenant_id, body)
            raise ApiError(405, "Method not allowed.")
        tenant_variables.require_scoped_api(instance, route)
        if method == "GET":
            missing = _query(query, "includeMissingVariables").lower() == "true"
            return 200, tenant_variables.scoped_document(
                instance, space_id, tenant_id, route, include_missing=missing
            )
        if method in ("PUT", "POST"):
            tenant = instance.find(space_id, "tenants", tenant_id)
            if self.server.concurrent_edit_due():
                # Another user saves the tenant's variables first: the token read before is
                # stale now (a write without a token is not checked, as the reference says).
                instance.bump_tenant_concurrency_token(tenant["Id"])
            return 200, tenant_variables.scoped_write(instance, space_id, tenant_id, route, body)
        raise ApiError(405, "Method not allowed.")

    def _system_route(
        self, method: str, collection: str, rest: list[str], query: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        """`/api/teams` and `/api/scopeduserroles`: the routes the space root links to
        (go-octopusdeploy `pkg/constants/constants_api_replies.go`:
        `/api/teams{/id}{?skip,take,ids,partialName,spaces,includeSystem}`), where SpaceCloner
        posts with `SpaceId` in the body (`src/DataAccess/OctopusRepository.ps1`) and lists
        `teams?spaces=<space>&includeSystem=true`. Every space's documents and the system ones.
        """
        instance = self.server.instance
        if not rest or (rest[0].lower() == "all" and len(rest) == 1):
            if method == "POST" and not rest:
                doc = instance.create(None, collection, body)
                return 201, instance.present(doc.get("SpaceId"), collection, doc)
            if method != "GET":
                raise ApiError(405, "Method not allowed.")
            items = list(instance.docs[collection].values())
            spaces = {s.strip().lower() for s in _query(query, "spaces").split(",") if s.strip()}
            include_system = _query(query, "includeSystem").lower()
            if spaces:
                items = [
                    d
                    for d in items
                    if str(d.get("SpaceId") or "").lower() in spaces
                    or (d.get("SpaceId") is None and include_system == "true")
                ]
            elif include_system == "false":
                items = [d for d in items if d.get("SpaceId") is not None]
            if rest:
                return 200, [
                    instance.present(d.get("SpaceId"), collection, d)
                    for d in self._sorted(collection, self._filtered(items, query))
                ]
            return 200, self._page(None, collection, items, query, [collection])
        doc = instance.find_any(collection, rest[0])
        space_id = doc.get("SpaceId")
        if collection == "teams" and len(rest) == 2 and rest[1].lower() == "scopeduserroles":
            roles = [
                r for r in instance.docs["scopeduserroles"].values() if r["TeamId"] == doc["Id"]
            ]
            return 200, self._page(None, "scopeduserroles", roles, query, ["teams", *rest])
        return self._collection(method, space_id, collection, rest, query, body)

    def _project_sub(
        self,
        method: str,
        space_id: str,
        project_id: str,
        rest: list[str],
        query: dict[str, str],
        body: Any,
    ) -> tuple[int, Any]:
        instance = self.server.instance
        project = instance.find(space_id, "projects", project_id)
        head = rest[0].lower()
        process_id = str(project["DeploymentProcessId"])
        if head == "deploymentprocesses" and len(rest) == 1:
            version_control.require_git_route(project, None)
            return self._collection(
                method, space_id, "deploymentprocesses", [process_id], query, body
            )
        if head == "deploymentsettings" and len(rest) == 1:
            return self._deployment_settings(method, space_id, project, None, body)
        if [p.lower() for p in rest] == ["git", "convert"] and method == "POST":
            return 200, version_control.convert(instance, space_id, project["Id"], body)
        if len(rest) == 2 and rest[1].lower() == "deploymentsettings":
            return self._deployment_settings(method, space_id, project, rest[0], body)
        if len(rest) == 2 and rest[1].lower() == "deploymentprocesses":
            # A version-controlled project's process, at a git ref (one copy, any ref).
            version_control.require_git_route(project, rest[0])
            if isinstance(body, dict):
                body = {k: v for k, v in body.items() if k != "ChangeDescription"}
            return self._collection(
                method, space_id, "deploymentprocesses", [process_id], query, body
            )
        if head == "channels":
            return self._children(method, space_id, "channels", project, rest[1:], query, body)
        if head in ("runbooks", "runbookprocesses", "runbooksnapshots"):
            version_control.refuse_git_runbooks(project)
        if head == "runbooks":
            return self._children(method, space_id, "runbooks", project, rest[1:], query, body)
        if head == "triggers":
            return self._children(
                method, space_id, "projecttriggers", project, rest[1:], query, body
            )
        if head == "runbooksnapshots":
            return runbook_snapshots.route(
                instance, method, space_id, project, rest[1:], query, body
            )
        if head == "runbookprocesses" and len(rest) == 2:
            process = instance.find(space_id, "runbookprocesses", rest[1])
            if process["ProjectId"] != project["Id"]:
                raise ApiError(404, f"The resource '{rest[1]}' was not found.")
            return self._collection(method, space_id, "runbookprocesses", rest[1:], query, body)
        raise ApiError(404, f"There is no project route '{'/'.join(rest)}'.")

    def _deployment_settings(
        self, method: str, space_id: str, project: JsonDict, git_ref: str | None, body: Any
    ) -> tuple[int, Any]:
        instance = self.server.instance
        if method == "GET":
            return 200, version_control.settings_document(instance, space_id, project, git_ref)
        if method == "PUT":
            return 200, version_control.put_settings(instance, space_id, project, git_ref, body)
        raise ApiError(405, "Method not allowed.")

    def _children(
        self,
        method: str,
        space_id: str,
        collection: str,
        project: JsonDict,
        rest: list[str],
        query: dict[str, str],
        body: Any,
    ) -> tuple[int, Any]:
        items = [
            d
            for d in self.server.instance.space_items(space_id, collection)
            if d["ProjectId"] == project["Id"]
        ]
        if not rest and method == "GET":
            return 200, self._page(
                space_id, collection, items, query, ["projects", project["Id"], collection]
            )
        if rest and rest[0].lower() == "all" and method == "GET":  # the Page.All link
            return 200, [
                self.server.instance.present(space_id, collection, d)
                for d in self._sorted(collection, self._filtered(items, query))
            ]
        if not rest and method == "POST" and isinstance(body, dict):
            body = {**body, "ProjectId": body.get("ProjectId") or project["Id"]}
        return self._collection(method, space_id, collection, rest, query, body)

    def _collection(
        self,
        method: str,
        space_id: str | None,
        collection: str,
        rest: list[str],
        query: dict[str, str],
        body: Any,
    ) -> tuple[int, Any]:
        instance = self.server.instance
        if not rest:
            if method == "GET":
                items = self._listed(space_id, collection, query)
                return 200, self._page(space_id, collection, items, query, [collection])
            if method == "POST":
                doc = instance.create(space_id, collection, body)
                return 201, instance.present(space_id, collection, doc)
            raise ApiError(405, "Method not allowed.")
        if len(rest) != 1:
            raise ApiError(404, f"There is no route '{'/'.join(rest)}'.")
        if collection == "environments" and rest[0].lower() == "sortorder" and method == "PUT":
            instance.sort_environments(space_id, body)
            return 200, {}
        if collection == "environments" and rest[0].lower() == "v2" and method == "GET":
            return 200, self._environments_v2(space_id, query)
        if rest[0].lower() == "all" and method == "GET":
            items = self._filtered(self._listed(space_id, collection, query), query)
            return 200, [
                instance.present(space_id, collection, d) for d in self._sorted(collection, items)
            ]
        if method == "GET":
            return 200, instance.present(
                space_id, collection, instance.find(space_id, collection, rest[0])
            )
        if method == "PUT":
            if KINDS[collection].versioned and self.server.concurrent_edit_due():
                stored = instance.find(space_id, collection, rest[0])
                stored["Version"] = int(stored["Version"]) + 1
            doc = instance.update(space_id, collection, rest[0], body)
            return 200, instance.present(space_id, collection, doc)
        if method == "DELETE":
            instance.delete(space_id, collection, rest[0])
            return 200, {}
        raise ApiError(405, "Method not allowed.")

    # ----------------------------------------------------------------- listing

    def _listed(
        self, space_id: str | None, collection: str, query: dict[str, str]
    ) -> list[JsonDict]:
        """A space's documents; teams and roles add the system ones on `includeSystem=true`."""
        instance = self.server.instance
        items = instance.space_items(space_id, collection)
        mixed = KINDS[collection].mixed_scope and space_id is not None
        if mixed and _query(query, "includeSystem").lower() == "true":
            items += instance.space_items(None, collection)
        return items

    @staticmethod
    def _sorted(collection: str, items: list[JsonDict]) -> list[JsonDict]:
        if collection == "environments":
            # "sorted as per environment sort order", not by name (OctopusDeploy/Issues#2251);
            # ties by creation (inferred: no source gives the tie-break; a new environment is
            # appended, Issues#282 and #8940).
            return sorted(items, key=lambda d: (d["SortOrder"], _id_number(d["Id"])))
        if KINDS[collection].named:
            return sorted(items, key=lambda d: (str(d.get("Name", "")).lower(), d["Id"]))
        return sorted(items, key=lambda d: d["Id"])

    def _environments_v2(self, space_id: str | None, query: dict[str, str]) -> JsonDict:
        """`GET /api/{space}/environments/v2{?ids,partialName,type,skip,take}`: every
        environment with its `Type` (api-client.ts `environmentV2Repository.ts`,
        `deploymentEnvironment.ts`). The emulator has static environments only."""
        instance = self.server.instance
        wanted = _query(query, "type")
        items = instance.space_items(space_id, "environments")
        if wanted and wanted.lower() != "static":
            items = []
        page = self._page(space_id, "environments", items, query, ["environments", "v2"])
        page["Items"] = [{**item, "Type": "Static"} for item in page["Items"]]
        return page

    @staticmethod
    def _filtered(items: list[JsonDict], query: dict[str, str]) -> list[JsonDict]:
        partial = query.get("partialName", query.get("partialname", "")).lower()
        if partial:
            items = [d for d in items if partial in str(d.get("Name", "")).lower()]
        ids = query.get("ids")
        if ids:
            wanted = {i.strip().lower() for i in ids.split(",") if i.strip()}
            items = [d for d in items if str(d["Id"]).lower() in wanted]
        return items

    def _page(
        self,
        space_id: str | None,
        collection: str,
        items: list[JsonDict],
        query: dict[str, str],
        route: list[str],
    ) -> JsonDict:
        """The collection envelope of `resourceCollection.d.ts`, with `skip`/`take` paging."""
        instance = self.server.instance
        items = self._sorted(collection, self._filtered(items, query))
        try:
            skip = max(0, int(query.get("skip", 0)))
            take = max(0, int(query.get("take", self.server.config.page_size)))
            if self.server.config.max_take:
                take = min(take, self.server.config.max_take)
        except ValueError:
            raise bad_request("skip and take must be numbers.") from None
        page = items[skip : skip + take]
        total = len(items)
        pages = (total + take - 1) // take if take else 0
        base = (f"/api/{space_id}/" if space_id else "/api/") + "/".join(route)

        def link(new_skip: int) -> str:
            params = {k: v for k, v in query.items() if k not in ("skip", "take")}
            return f"{base}?{urlencode({**params, 'skip': new_skip, 'take': take})}"

        links = {
            "Self": link(skip),
            "Template": f"{base}{{?skip,take,ids,partialName}}",
            "Page.All": f"{base}/all",
            "Page.Current": link(skip),
            "Page.Last": link(max(0, (pages - 1) * take)),
        }
        if take and skip + take < total:
            links["Page.Next"] = link(skip + take)
        return {
            "ItemType": KINDS[collection].item_type,
            "TotalResults": total,
            "ItemsPerPage": take,
            "NumberOfPages": pages,
            "LastPageNumber": max(0, pages - 1),
            "Items": [instance.present(space_id, collection, d) for d in page],
            "Links": links,
        }


_SUB_ROUTES = frozenset(
    {
        "variables",
        "projectvariables",
        "commonvariables",
        "triggers",
        "runbookprocesses",
        "scopeduserroles",
        "sortorder",
        "feature-toggles",
        "deploymentsettings",
        "git",
        "tenantvariables",
    }
)


def _id_number(resource_id: str) -> int:
    """`Environments-1042` -> 1042 (ids are handed out in creation order)."""
    digits = resource_id.rsplit("-", 1)[-1]
    return int(digits) if digits.isdigit() else 0


def _query(query: dict[str, str], name: str, default: str = "") -> str:
    """A query parameter by name in any case (go sends `IncludeMissingVariables`, Octopus.Client
    `includeMissingVariables`; ASP.NET binds both)."""
    lowered = name.lower()
    return next((v for k, v in query.items() if k.lower() == lowered), default)


def serve(
    instance: Instance,
    api_key: str,
    config: Config | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
) -> EmulatorServer:
    """Bind a server (port 0: any free port); call `serve_forever()` or use `start()`."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the emulator only listens on loopback")
    return EmulatorServer((host, port), instance, api_key, config or Config())


def start(server: EmulatorServer) -> threading.Thread:
    """Run `server` on a daemon thread (for tests and `demo`); stop with `server.shutdown()`."""
    # A short poll interval: `shutdown()` waits for the loop to notice, 0.5 s by default.
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="octopus-emulator",
        daemon=True,
    )
    thread.start()
    return thread
