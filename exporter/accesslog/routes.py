"""Request paths to route templates, with a hard cap on how many distinct routes a target may have.

``/api/products/123`` → ``/api/products/:id``; a UUID segment → ``:uuid``; under ``/_next/static/``
content hashes and build ids → ``:hash`` (``chunks/pages/index-3f2a9c1b2d4e5f60.js`` →
``chunks/pages/index-:hash.js``); long hex strings anywhere → ``:hash``; the query string is
dropped. Every pattern matches one segment (bounded by the 64 KiB line cap) without nested
repetition, so each test is linear in the segment.

The first ``limit`` distinct routes a target sees are kept; every later one is ``other``: the
``route`` label's cardinality is bounded whatever clients send.
"""

from __future__ import annotations

import re

DEFAULT_LIMIT = 100
OTHER = "other"
MAX_PATH = 1024  # characters; a longer path is "other" outright
MAX_SEGMENTS = 16

_NUMBER = re.compile(r"[0-9]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]{16,}")
_STATIC_HASH = re.compile(r"(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{8,}")  # hashes and build ids (nanoid-like)
_STATIC_PART = re.compile(r"([-.~])")


def template(path: str) -> str:
    """The route of ``path`` (query string and fragment dropped)."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/") or len(path) > MAX_PATH:
        return OTHER
    segments = path.split("/")[1:]
    if len(segments) > MAX_SEGMENTS:
        return OTHER
    static = len(segments) > 2 and segments[0] == "_next" and segments[1] == "static"
    out = [_segment(s, static and i >= 2) for i, s in enumerate(segments)]
    return "/" + "/".join(out)


def _segment(segment: str, static: bool) -> str:
    if _NUMBER.fullmatch(segment):
        return ":id"
    if _UUID.fullmatch(segment):
        return ":uuid"
    if _HEX.fullmatch(segment):
        return ":hash"
    if static:
        return "".join(":hash" if _STATIC_HASH.fullmatch(part) else part for part in _STATIC_PART.split(segment))
    return segment


class RouteTable:
    """Routes by path, at most ``limit`` distinct ones (then ``other``)."""

    def __init__(self, limit: int = DEFAULT_LIMIT):
        self.limit = limit
        self.known: set[str] = set()

    def route(self, path: str) -> str:
        route = template(path)
        if route in self.known:
            return route
        if len(self.known) >= self.limit or route == OTHER:
            return OTHER
        self.known.add(route)
        return route
