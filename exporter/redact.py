"""One redaction layer: secrets never leave the exporter.

Every output goes through :func:`redact`: response bodies (the :func:`middleware`), label values
(the exposition), log records (exporter.logs) and every ``diagnose`` format. It masks

- URL userinfo passwords, whatever they contain (``postgres://app:pa/ss@w:rd@db/x`` →
  ``postgres://app:<secret>@db/x``): the userinfo runs to the last ``@`` of the URL;
- values of secret-looking keys, as query parameters, ``key=value`` pairs, YAML/JSON pairs
  (``password=x``, ``?token=x``, ``"secret": "x"``, ``api_key: x``);
- ``Authorization: Basic|Bearer ...`` credentials and ``Bearer <token>``.

Everything is linear in the length of the text (literal searches and regexes without nested or
overlapping unbounded repetition), so hostile text cannot make redaction slow. Output is also
bounded: :func:`cap` truncates bodies and log lines.
"""

from __future__ import annotations

import re
from typing import Awaitable, Callable

SECRET = "<secret>"
_KEYS = (
    r"password|passwd|pwd|passphrase|token|access[_-]?token|auth[_-]?token|refresh[_-]?token|secret|client[_-]?secret"
    r"|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key|credentials?|session[_-]?id|sessionid"
)
# key, optional closing quote, '=' or ':' (a few spaces around), optional opening quote, then the value
_PAIR = re.compile(
    rf"(?<![A-Za-z0-9])(?P<key>(?:{_KEYS}))(?P<sep>[\"']?[ \t]{{0,8}}[=:][ \t]{{0,8}}[\"']?)(?P<value>[^\s&'\",;}}<>]+)",
    re.I,
)
_AUTH = re.compile(r"(?P<scheme>\b(?:authorization:[ \t]{0,8}(?:basic|bearer|token|digest)|bearer))[ \t]{1,8}(?P<value>[^\s'\",;<>]+)", re.I)
_URL_END = re.compile(r"[\s'\"<>`]")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
MAX_BODY = 256 * 1024
MAX_LOG = 16 * 1024


def redact(text: str) -> str:
    """``postgresql://app:hunter2@db/x`` → ``postgresql://app:<secret>@db/x``; ``?password=x`` → ``?password=<secret>``."""
    if "://" in text:
        text = _redact_userinfo(text)
    if "=" in text or ":" in text:
        text = _PAIR.sub(_mask_pair, text)
    if "earer" in text or "EARER" in text or "uthorization" in text or "UTHORIZATION" in text:
        text = _AUTH.sub(_mask_auth, text)
    return text


def _mask_auth(match: re.Match) -> str:
    return match[0] if match["value"] == SECRET else f"{match['scheme']} {SECRET}"


def _mask_pair(match: re.Match) -> str:
    if match["value"] == SECRET:
        return match[0]
    return f"{match['key']}{match['sep']}{SECRET}"


def _redact_userinfo(text: str) -> str:
    """Mask ``user:password@`` of every ``scheme://`` URL; the password may hold ``/``, ``@`` and ``:``."""
    parts: list[str] = []
    done = 0
    start = text.find("://")
    while start != -1:
        scheme_start = start
        while scheme_start > 0 and start - scheme_start < 32 and text[scheme_start - 1] in _SCHEME_CHARS:
            scheme_start -= 1
        body = start + 3
        end_match = _URL_END.search(text, body)
        end = end_match.start() if end_match else len(text)
        at = text.rfind("@", body, end)
        if scheme_start < start and at != -1:
            colon = text.find(":", body, at)
            if colon != -1 and text[colon + 1:at] != SECRET:
                parts.append(text[done:colon + 1])
                parts.append(SECRET)
                done = at
        start = text.find("://", end)
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def cap(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters not shown)\n"


_LABELS: dict[str, str] = {}


def label(value: str) -> str:
    """A label value, redacted (remembered: label values recur in every scrape)."""
    known = _LABELS.get(value)
    if known is None:
        known = redact(value) if ("=" in value or ":" in value) else value
        if len(_LABELS) < 65536:
            _LABELS[value] = known
    return known


Handler = Callable[..., Awaitable]


def middleware(skip: Callable[[object], bool]):
    """An aiohttp middleware redacting (and capping) every text response body and error text.

    ``skip(request)`` names the responses already redacted where they are made (the exposition
    redacts its label values as it writes them), so the hot path is not scanned twice.
    """
    from aiohttp import web

    @web.middleware
    async def redacting(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.text:
                exc.text = cap(redact(exc.text), MAX_BODY)
            raise
        if skip(request) or not isinstance(response, web.Response) or response.body is None:
            return response
        if not (response.content_type or "").startswith(("text/", "application/json", "application/yaml")):
            return response
        body = response.body
        if isinstance(body, (bytes, bytearray)):
            charset = response.charset or "utf-8"
            text = bytes(body).decode(charset, "replace")
            clean = cap(redact(text), MAX_BODY)
            if clean != text:
                response.body = clean.encode(charset)
        return response

    return redacting
