"""API paths built from server ids: each id is one escaped path segment.

An id is whatever a server answered; it goes into the next URL. Unescaped, an `Id` of
`../x` would send the next PUT elsewhere on the host (URL resolution removes dot segments,
RFC 3986 section 5.2.4), and one holding `?` or `#` would end the path early. Replies are
checked to hold plain ids (`replies.py`), and every id is escaped here all the same.
"""

from __future__ import annotations

from urllib.parse import quote


def segment(value: object) -> str:
    """`value` as one path segment: every reserved character percent-encoded, and a `.`
    or `..` segment (which URL resolution would remove) encoded too."""
    text = quote(str(value), safe="")
    if text in (".", ".."):
        return text.replace(".", "%2E")
    return text


def api_path(*parts: object) -> str:
    """`api/<part>/<part>...`, each part one escaped segment."""
    return "/".join(["api", *(segment(part) for part in parts)])


__all__ = ["api_path", "segment"]
