"""Many documents in one request: the id-filtered lists of the Octopus REST API.

Octopus's collections take an `ids` filter (`/api/{space}/deploymentprocesses{?ids,skip,take}`,
`/variables/all{?ids}`, ...: Octopus's generated REST API reference; Octopus.Client's
`BasicRepository.Get(params string[] ids)` pages such a list). Reading a space's processes and
variable sets through them takes a few dozen requests instead of one per document. The
catches, each handled here:

- the unfiltered lists also hold every release's and runbook snapshot's frozen copy and grow
  until they time out, so they are only ever asked for with `ids`;
- a long `ids=` list is refused by proxies and servers (Octopus's own UI met it behind NGINX,
  OctopusDeploy/Issues#5161; Kestrel refuses request lines over 8 KB): ids go in chunks of
  at most `MAX_IDS`, and fewer when the request line would pass `MAX_REQUEST_LINE`;
- `ItemsPerPage` can be wrong (OctopusDeploy/Issues#2519) and `Page.Next` missing
  (Issues#8128): `take` asks for the whole chunk at once, pages are followed by
  `Links.Page.Next` or, without one, by count (`skip`);
- an older server may not know `ids` and answer an unfiltered page: a reply holding any id not
  asked for is not used (`None`), and the caller reads those documents one by one.

Only `client.py` speaks HTTP; this module builds the requests and checks the replies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

from snapshotsync.errors import OctopusApiError
from snapshotsync.log import get_logger
from snapshotsync.octopus.client import OctopusClient

MAX_IDS = 50
# Kestrel's default `MaxRequestLineSize` (8,192 bytes: method, target, version), with room
# for a proxy that adds to the path.
MAX_REQUEST_LINE = 8192 - 192
_REQUEST_LINE_EXTRA = len("GET ") + len(" HTTP/1.1\r\n")

JsonDict = dict[str, Any]
_log = get_logger("octopus")


def chunks(
    client: OctopusClient,
    path: str,
    ids: Sequence[str],
    *,
    paged: bool,
    max_ids: int = MAX_IDS,
    max_line: int = MAX_REQUEST_LINE,
) -> Iterator[list[str]]:
    """`ids` cut into the chunks asked for at once: at most `max_ids` each, and each one's
    request line (with the client's own path prefix) at most `max_line` bytes."""
    base = len(urlsplit(client.url(path)).path) + _REQUEST_LINE_EXTRA
    chunk: list[str] = []
    for resource_id in ids:
        candidate = [*chunk, resource_id]
        line = base + len(_query(candidate, paged)) + 1
        if chunk and (len(candidate) > max_ids or line > max_line):
            yield chunk
            candidate = [resource_id]
            line = base + len(_query(candidate, paged)) + 1
        if line > max_line:
            raise OctopusApiError(
                "GET",
                path,
                None,
                f"the id {resource_id[:80]!r} alone makes a request line over {max_line} bytes",
            )
        chunk = candidate
    if chunk:
        yield chunk


def _params(ids: Sequence[str], paged: bool) -> dict[str, Any]:
    params: dict[str, Any] = {"ids": ",".join(ids)}
    if paged:
        params.update({"skip": 0, "take": len(ids)})
    return params


def _query(ids: Sequence[str], paged: bool) -> str:
    # What requests puts on the wire for these params (urlencode, as `requests` encodes them).
    return urlencode(_params(ids, paged))


def read_chunk(
    client: OctopusClient, path: str, ids: Sequence[str], *, paged: bool
) -> dict[str, JsonDict] | None:
    """The documents with these ids, by id (as asked), from one id-filtered list.

    `paged`: `path` answers the collection envelope (`deploymentprocesses`); otherwise a
    plain array (`variables/all`). None when the reply holds a document not asked for: the
    server ignored the filter. An id the reply lacks is simply not in the result.
    """
    asked = {i.lower(): i for i in ids}
    found: dict[str, JsonDict] = {}
    reply = client.get(path, _params(ids, paged))
    pages = received = 0
    while True:
        items = reply.get("Items") if paged and isinstance(reply, dict) else reply
        if not isinstance(items, list):
            raise OctopusApiError("GET", path, 200, "expected a list of documents")
        keys = [str(i.get("Id", "")).lower() if isinstance(i, dict) else "" for i in items]
        # Each document taken is the one asked for by its id, whatever the server did with
        # the filter; one not asked for shows the filter was ignored.
        if any(key not in asked for key in keys):
            _log.info(
                "GET %s answered documents not asked for: the server ignores ids; "
                "reading them one by one",
                path,
            )
            return None
        for key, item in zip(keys, items, strict=True):
            found[asked[key]] = item
        pages += 1
        received += len(items)
        if not paged or len(found) == len(asked) or not items or pages > len(asked):
            return found  # never more pages than ids
        next_link = (reply.get("Links") or {}).get("Page.Next")
        if next_link:
            reply = client.get(next_link)
        else:
            # Some servers leave `Page.Next` out (OctopusDeploy/Issues#8128): page by count.
            reply = client.get(path, {**_params(ids, paged), "skip": received})
