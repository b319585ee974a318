"""The Octopus REST API client: the only module that speaks HTTP.

One `requests.Session` (keep-alive, a connection pool as large as the concurrency), the
`X-Octopus-ApiKey` header, paging that follows the server's `Links.Page.Next`, timeouts, and
retries with exponential backoff and jitter for 429 (honouring `Retry-After`), 502/503/504
and dropped connections. Only idempotent calls (GET, PUT, DELETE) are retried on 5xx and
dropped connections: a POST whose answer was lost may have created something. A 429 is
retried for every method, because the server refused it before doing anything.

Every call is logged (method, path, status, milliseconds, retries); the key never is.

The key goes to the configured server and nowhere else: redirects are never followed by
requests (which keeps custom headers such as `X-Octopus-ApiKey` on a redirect to another
host); a GET redirected within the same server is followed here, a redirect to another
server is refused, and a write is never re-sent on a redirect (a 301/302 would turn a POST
into a GET). A link to another server in an answer is refused the same way. An `http://`
address that is not loopback gets a warning: the key would cross the network in clear.

`timeout` bounds each call as a whole, not only the connect and each read: a server that
trickles its answer a byte at a time is cut off when the call's time is up (a watchdog
shuts the connection's socket down, which ends the blocked read at once).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from snapshotsync.errors import OctopusApiError
from snapshotsync.log import get_logger, redact, register_secret
from snapshotsync.octopus import replies

RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "HEAD"})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
# Pages of one collection followed at most: 10,000 pages of the client's 500 items is far
# beyond any space (the benchmark's large instance lists under 1,000 of anything).
MAX_PAGES = 10_000
# What a dropped connection looks like to requests, mid-answer included.
_DROPPED = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

_log = get_logger("octopus")


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to wait before trying a failed call again."""

    attempts: int = 6  # the first call and five retries
    base_delay: float = 0.25  # seconds, doubled on every retry
    max_delay: float = 20.0
    max_retry_after: float = 60.0  # never sleep longer than this for a Retry-After

    def delay(self, retry: int, retry_after: float | None, rand: Callable[[], float]) -> float:
        """Exponential backoff with "equal jitter"; a Retry-After is a lower bound."""
        backoff = min(self.max_delay, self.base_delay * 2.0**retry)
        wait = backoff / 2 + rand() * backoff / 2
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


class Throttle:
    """One pace for every thread of a client: at most `max_rps` calls a second, and a pause
    for everyone when the server answers 429 (its limiter counts the whole client, so one
    thread backing off while the others keep going would only trip it again)."""

    def __init__(
        self,
        max_rps: float = 0.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / max_rps if max_rps > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._paused_until = 0.0
        self.waited = 0.0

    def wait(self) -> None:
        """Block until this thread may make its next call."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_slot, self._paused_until)
            self._next_slot = start + self.interval
            delay = start - now
            self.waited += delay
        if delay > 0:
            self._sleep(delay)

    def pause(self, seconds: float) -> None:
        """Nobody calls for `seconds` (a 429's Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


class CallStats:
    """Counts of calls by method and of retries, for reports and benchmarks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_method: Counter[str] = Counter()
        self.retries = 0

    def add(self, method: str, retries: int) -> None:
        with self._lock:
            self.by_method[method] += 1
            self.retries += retries

    @property
    def writes(self) -> int:
        return sum(n for method, n in self.by_method.items() if method != "GET")


class _Call:
    """One call in flight: its deadline and, once it has one, its connection."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.connection: Any = None
        self.expired = False

    def expire(self) -> None:
        self.expired = True
        connection = self.connection
        if getattr(connection, "snapshotsync_call", None) is not self:
            return  # no connection yet, or already back in the pool and making another call
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns at once


_current = threading.local()  # the call the current thread is making


class _Watchdog:
    """Ends the calls that outlive their deadline: one thread per client, asleep until the
    nearest deadline (started with the first call, stopped by `close`)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._calls: set[_Call] = set()
        self._thread: threading.Thread | None = None
        self._closed = False

    def watch(self, call: _Call) -> None:
        with self._cond:
            self._calls.add(call)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()

    def done(self, call: _Call) -> None:
        with self._cond:
            self._calls.discard(call)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                for call in [c for c in self._calls if c.deadline <= now]:
                    self._calls.discard(call)
                    call.expire()
                nearest = min((c.deadline for c in self._calls), default=None)
                self._cond.wait(None if nearest is None else max(nearest - now, 0.001))


class _Watched:
    """Mixed into urllib3's connections: the connection making the current thread's call
    is handed to that call, so its deadline can shut it down."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        call = getattr(_current, "call", None)
        self.snapshotsync_call = call
        if call is not None:
            call.connection = self
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Watched, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_Watched, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(HTTPAdapter):
    """requests' adapter, with connections a deadline can reach."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port made explicit."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    try:
        port = parts.port or default
    except ValueError:
        port = None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class OctopusClient:
    """A client for one Octopus instance (one server URL and one API key)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        session: requests.Session | None = None,
        concurrency: int = 8,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        page_size: int = 500,
        max_rps: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.page_size = page_size
        self.stats = CallStats()
        self.throttle = Throttle(max_rps, clock=clock, sleep=sleep)
        self._sleep = sleep
        self._rand = rand
        self._session = session or _session_for(self.base_url)
        adapter = _Adapter(pool_connections=1, pool_maxsize=max(concurrency, 1), max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        register_secret(api_key)  # whoever logs, the key is masked
        self._session.headers.update({"X-Octopus-ApiKey": api_key, "Accept": "application/json"})
        self._origin = _origin(self.base_url)
        self._watchdog = _Watchdog()
        scheme, host, _ = self._origin
        if scheme == "http" and not _loopback(host):
            _log.warning(
                "%s is reached over http://: the API key crosses the network unencrypted; "
                "use https://",
                self.base_url.rstrip("/"),
            )

    def close(self) -> None:
        self._watchdog.close()
        self._session.close()

    def __enter__(self) -> OctopusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- calls

    def url(self, path: str) -> str:
        """An absolute URL for an API path (`api/...` or `/api/...`) or a server link."""
        if urlsplit(path).scheme:
            return path
        prefix = urlsplit(self.base_url).path
        if prefix != "/" and path.startswith(prefix):
            # A server installed under a path prefix returns links that already carry it
            # (Octopus.Client's DefaultLinkResolver resolves them against the host).
            return urljoin(self.base_url, path)
        return urljoin(self.base_url, path.lstrip("/"))

    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> Any:
        """Make one call (with retries) and return the decoded JSON body."""
        url = self.url(path)
        self._check_origin(method, url, path)
        retries = 0
        redirects = 0
        while True:
            self.throttle.wait()
            started = time.monotonic()
            try:
                response = self._send(method, url, params, body)
            except _DROPPED as error:
                elapsed = (time.monotonic() - started) * 1000
                if method in IDEMPOTENT and retries + 1 < self.retry.attempts:
                    _log.debug(
                        "%s %s dropped after %.0f ms (%s); retrying",
                        method,
                        _path(url),
                        elapsed,
                        type(error).__name__,
                    )
                    self._sleep(self.retry.delay(retries, None, self._rand))
                    retries += 1
                    continue
                self.stats.add(method, retries)
                _log.info("%s %s failed: no response after %d retries", method, _path(url), retries)
                raise OctopusApiError(method, _path(url), None, _reason(error)) from None
            elapsed = (time.monotonic() - started) * 1000
            status = response.status_code
            if status in REDIRECTS:
                url = self._redirect(method, url, response, redirects)
                params = None  # the new address carries its own query
                redirects += 1
                continue
            retryable = status in RETRY_STATUSES and (method in IDEMPOTENT or status == 429)
            if retryable and retries + 1 < self.retry.attempts:
                wait = self.retry.delay(retries, _retry_after(response), self._rand)
                _log.debug(
                    "%s %s %d in %.0f ms; retry %d in %.2f s",
                    method,
                    _path(url),
                    status,
                    elapsed,
                    retries + 1,
                    wait,
                )
                if status == 429:
                    self.throttle.pause(wait)  # everyone waits; this call does at wait()
                else:
                    self._sleep(wait)
                retries += 1
                continue
            self.stats.add(method, retries)
            _log.debug("%s %s %d %.0f ms retries=%d", method, _path(url), status, elapsed, retries)
            if status >= 400:
                raise OctopusApiError(method, _path(url), status, _error_text(response))
            if not response.content:
                return None
            try:
                reply = response.json()
            except RecursionError:
                raise replies.UnexpectedReply(
                    method,
                    _path(url).split("?", 1)[0],
                    f"the server's reply to {method} {_path(url).split('?', 1)[0]} nests "
                    "lists or objects too deeply to read (no Octopus document does): is the "
                    "URL that of an Octopus server? Nothing more was written",
                ) from None
            except ValueError:
                raise OctopusApiError(
                    method, _path(url), status, _not_octopus(response, self.base_url)
                ) from None
            replies.check(method, _path(url), reply)
            return reply

    def _send(
        self, method: str, url: str, params: dict[str, Any] | None, body: Any
    ) -> requests.Response:
        """One HTTP exchange, bounded as a whole by `timeout` (see the module doc)."""
        call = _Call(time.monotonic() + self.timeout)
        _current.call = call
        self._watchdog.watch(call)
        late = requests.Timeout(f"no complete answer within {self.timeout:g} s")
        try:
            response = self._session.request(
                method,
                url,
                params=params,
                json=body,
                timeout=self.timeout,
                allow_redirects=False,  # followed (or refused) by `_redirect`
            )
        except _DROPPED:
            if call.expired:
                raise late from None
            raise
        finally:
            self._watchdog.done(call)
            _current.call = None
        if call.expired:  # cut off mid-answer, what was read may even look whole
            raise late
        return response

    def _check_origin(self, method: str, url: str, path: str) -> None:
        """The key only ever goes to the configured server."""
        if _origin(url) != self._origin:
            raise OctopusApiError(
                method,
                _path(url),
                None,
                f"{path!r} points to another server than {self.base_url.rstrip('/')}: the API "
                "key is only sent to the configured server",
            )

    def _redirect(self, method: str, url: str, response: requests.Response, hops: int) -> str:
        """The address to follow a redirect to, or the reason it is not followed."""
        location = response.headers.get("Location", "")
        target = urljoin(url, location)
        status = response.status_code
        configured = self.base_url.rstrip("/")
        if not location or _origin(target) != self._origin:
            where = "nowhere" if not location else f"{_origin(target)[0]}://{_origin(target)[1]}"
            raise OctopusApiError(
                method,
                _path(url),
                status,
                f"redirected to another server ({where}); the API key is only sent to "
                f"{configured}: set the url in snapshotsync.yaml to the address the server "
                "answers on",
            )
        if method not in ("GET", "HEAD"):
            raise OctopusApiError(
                method,
                _path(url),
                status,
                f"redirected to {_path(target)}; a write is never re-sent on a redirect (a "
                "POST must not become a GET): set the url in snapshotsync.yaml to the address "
                "the server answers on",
            )
        if hops >= MAX_REDIRECTS:
            raise OctopusApiError(method, _path(url), status, "too many redirects")
        _log.debug("%s %s redirected (%d) to %s", method, _path(url), status, _path(target))
        return target

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def list_all(
        self, path: str, params: dict[str, Any] | None = None, *, _rereads: int = 0
    ) -> list[dict[str, Any]]:
        """Every item of a paged collection, following `Links.Page.Next` to the end.

        Paging stops with an error (never loops) when a page links to a page already read,
        when more items arrive than the server's own `TotalResults`, and at `MAX_PAGES`."""
        query = {"skip": 0, "take": self.page_size, **(params or {})}
        route = "/" + path.split("?", 1)[0].lstrip("/")
        page = self.get(path, query)
        items: list[dict[str, Any]] = []
        links_read: set[str] = set()
        while True:
            if not isinstance(page, dict) or not isinstance(page.get("Items"), list):
                raise OctopusApiError("GET", path, 200, "expected a collection with Items")
            items.extend(page["Items"])
            links = page.get("Links")
            next_link = links.get("Page.Next") if isinstance(links, dict) else None
            total = page.get("TotalResults")
            if isinstance(total, int) and not isinstance(total, bool) and len(items) > total:
                raise _paging_error(
                    route,
                    f"gave {len(items)} items where its TotalResults says {total} (a page "
                    "read twice, or a paging loop)",
                )
            if not next_link or not page["Items"]:
                break
            if not isinstance(next_link, str):
                raise _paging_error(route, f"had a Page.Next of type {type(next_link).__name__}")
            if next_link in links_read:
                raise _paging_error(route, f"links again to the page {next_link!r} it read")
            if len(links_read) >= MAX_PAGES:
                raise _paging_error(route, f"has more than {MAX_PAGES} pages")
            links_read.add(next_link)
            page = self.get(next_link)
        total = page.get("TotalResults")
        if isinstance(total, int) and total != len(items) and _rereads < 3:
            # The collection changed while it was read; a partial list would be a wrong
            # snapshot, so read it again from the start.
            _log.info(
                "GET %s: %d items read but TotalResults is %d; reading again",
                path,
                len(items),
                total,
            )
            return self.list_all(path, params, _rereads=_rereads + 1)
        return items

    # ----------------------------------------------------------------- Octopus specifics

    def server_version(self) -> str:
        root = self.get("api")
        if not isinstance(root, dict) or "Version" not in root:
            raise OctopusApiError("GET", "/api", 200, "no Version: is this an Octopus server?")
        return str(root["Version"])

    def feature_enabled(self, name: str) -> bool:
        """Whether the server has the feature toggle `name` on.

        `GET /api/configuration/feature-toggles?Name=...` answers `{"FeatureToggles": [{"Name",
        "IsEnabled"}]}` (go-octopusdeploy pkg/configuration/feature_toggle_configuration.go);
        servers that do not know `Name` list every toggle, so the name is matched here
        (the Octopus CLI does the same, pkg/util/featuretoggle/feature_toggles.go). A server
        without the route predates the toggles: off (as the Terraform provider decides).
        """
        try:
            answer = self.get("api/configuration/feature-toggles", {"Name": name})
        except OctopusApiError as error:
            if error.status in (404, 405):
                return False
            raise
        toggles = answer.get("FeatureToggles") if isinstance(answer, dict) else None
        return any(
            isinstance(t, dict) and t.get("Name") == name and t.get("IsEnabled") is True
            for t in toggles or []
        )

    def space_id(self, name: str) -> str:
        """The id of the space called `name` (exact, case-insensitive match)."""
        # partialName is a substring filter on a real server: match the name exactly here.
        spaces = self.list_all("api/spaces", {"partialName": name})
        matches = [s for s in spaces if str(s.get("Name", "")).lower() == name.lower()]
        if not matches:
            known = ", ".join(sorted(str(s.get("Name")) for s in self.list_all("api/spaces")))
            raise OctopusApiError(
                "GET",
                "/api/spaces",
                404,
                f"no space named {name!r} on {self.base_url} (spaces: {known or 'none'})",
            )
        return str(matches[0]["Id"])


def _paging_error(route: str, what: str) -> OctopusApiError:
    return replies.UnexpectedReply(
        "GET",
        route,
        f"the server's reply to GET {route} {what}: paging stopped. Is the URL that of an "
        "Octopus server (not a proxy or another service)? Nothing more was written",
    )


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _not_octopus(response: requests.Response, base_url: str) -> str:
    """What was reached instead of the Octopus REST API (which answers JSON), never the
    page itself."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
    if _is_html(response):
        title = _TITLE.search(response.text[:5000])
        kind = "an HTML page" + (
            f" titled {redact(' '.join(title.group(1).split()))[:80]!r}" if title else ""
        )
    return (
        f"{base_url} answered with {kind}, not JSON as an Octopus server's REST API does: "
        "check that the URL is the Octopus server's address (not a proxy, login or other "
        "web page)"
    )


def _is_html(response: requests.Response) -> bool:
    content_type = response.headers.get("Content-Type", "").lower()
    return "html" in content_type or response.text.lstrip()[:1] == "<"


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        if _is_html(response):
            return _not_octopus(response, response.url.split("/api", 1)[0])
        return redact(response.text[:200].strip())
    if isinstance(body, dict):
        parts = [str(body.get("ErrorMessage") or "")]
        parts += [str(e) for e in body.get("Errors") or []]
        return redact(" ".join(p for p in parts if p)[:500])
    return redact(str(body)[:200])


# How name resolution failures read (urllib3's NameResolutionError, the resolver's own
# words on Linux, macOS and Windows).
_DNS = (
    "NameResolutionError",
    "Failed to resolve",
    "Name or service not known",
    "nodename nor servname",
    "getaddrinfo failed",
    "Temporary failure in name resolution",
)


def _reason(error: Exception) -> str:
    text = str(error)
    if isinstance(error, requests.exceptions.SSLError):
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return (
                "TLS: the server's certificate is not trusted here (certificate verify "
                "failed). If your organisation signs it with its own CA, set "
                "REQUESTS_CA_BUNDLE to a PEM file holding that CA"
            )
        return (
            "TLS handshake failed: is the URL's scheme right (https:// for a server with TLS, "
            "http:// for one without)? A certificate from your own CA is trusted through "
            "REQUESTS_CA_BUNDLE (a PEM file)"
        )
    if any(marker in text for marker in _DNS):
        return (
            "the host name does not resolve (DNS): check the URL for a typo, and the DNS "
            "or proxy settings (HTTPS_PROXY, NO_PROXY) of this machine"
        )
    if "Connection refused" in text or "Failed to establish" in text:
        return "connection refused: is the URL right and the server up?"
    if isinstance(error, requests.Timeout):
        return f"timed out: {text}" if text.startswith("no complete answer") else "timed out"
    return redact(f"connection failed ({type(error).__name__})")


def _session_for(base_url: str) -> requests.Session:
    """A session that reads its proxy and certificate settings from the environment once.

    requests looks them up again on every call (`trust_env`: proxy variables, the no-proxy
    list, `REQUESTS_CA_BUNDLE`, netrc), a third of the client's CPU per call on a large
    export; the environment does not change during a run, so they are read here once, with
    the same rules, and the per-call lookup is switched off.
    """
    session = requests.Session()
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False
    return session
