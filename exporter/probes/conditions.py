"""An endpoint's request (secrets filled in when it is made) and the conditions its response must meet.

Blocking parts (reading secret files, matching the body regex, parsing JSON) run in the probe
threads on a body cut to ``MAX_CHECKED_BODY``. What a failed condition saw is cut to
``SEEN_CHARS``, every secret value sent with the request is masked in it, and it is redacted.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from exporter.endpoints import PLACEHOLDER, Endpoint, SecretRef
from exporter.jsonpath import MISSING, describe, lookup
from exporter.redact import SECRET, redact
from exporter.safeopen import open_configured, read_fd

MAX_CHECKED_BODY = 1 << 20  # bytes of a response the regex and JSON conditions look at
MAX_SECRET_FILE = 64 * 1024
SEEN_CHARS = 120


class SecretUnavailable(Exception):
    """A secret the request needs could not be read; the message names where it was looked for, never a value."""


@dataclass
class Request:
    headers: dict[str, str] = field(default_factory=dict)
    data: bytes | None = None
    secrets: list[str] = field(default_factory=list)  # values to mask in anything shown


@dataclass(frozen=True)
class Result:
    condition: str
    ok: bool
    reason: str = ""
    seen: str = ""


def needs_thread(endpoint: Endpoint) -> bool:
    """Does building the request read a file?"""
    files = any(isinstance(v, SecretRef) and v.kind == "file" for _, v in endpoint.headers)
    text = (endpoint.body or "") + (endpoint.json_body or "") + "".join(v for _, v in endpoint.headers if isinstance(v, str))
    return files or "${file:" in text


def build_request(endpoint: Endpoint) -> Request:
    """Headers and body with every secret read now (blocking when a secret is a file)."""
    request = Request()
    for name, value in endpoint.headers:
        request.headers[name] = _secret(value, request) if isinstance(value, SecretRef) else _fill(value, request)
    if endpoint.body is not None:
        request.data = _fill(endpoint.body, request).encode()
    elif endpoint.json_body is not None:
        request.data = json.dumps(_fill_json(json.loads(endpoint.json_body), request)).encode()
        request.headers.setdefault("Content-Type", "application/json")
    return request


def _secret(ref: SecretRef, request: Request) -> str:
    if ref.kind == "env":
        value = os.environ.get(ref.name)
        if value is None:
            raise SecretUnavailable(f"environment variable {ref.name} is not set")
    else:
        try:
            fd, _ = open_configured(ref.name)
            try:
                value = read_fd(fd, MAX_SECRET_FILE).decode("utf-8", "replace").strip()
            finally:
                os.close(fd)
        except OSError as exc:
            raise SecretUnavailable(f"secret file {ref.name}: {exc.strerror or type(exc).__name__}") from None
    if len(value) >= 3:
        request.secrets.append(value)
    return value


def _fill(text: str, request: Request) -> str:
    return PLACEHOLDER.sub(lambda m: _secret(SecretRef(m[1], m[2]), request), text)


def _fill_json(value: Any, request: Request) -> Any:
    if isinstance(value, str):
        return _fill(value, request)
    if isinstance(value, dict):
        return {k: _fill_json(v, request) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_json(v, request) for v in value]
    return value


def shown(text: str, secrets: list[str]) -> str:
    """``text`` as a label or a message may show it: the request's secrets masked, redacted, cut."""
    for secret in secrets:
        text = text.replace(secret, SECRET)
    text = redact(" ".join(text.split()))
    return text if len(text) <= SEEN_CHARS else text[: SEEN_CHARS - 1] + "…"


def quick_conditions(endpoint: Endpoint, status: int, seconds: float) -> list[Result]:
    """status and max_seconds: no body needed."""
    expect = endpoint.expect
    results = []
    if expect is not None and expect.status:
        ok = status in expect.status
        results.append(Result("status", ok, "" if ok else "unexpected_status", "" if ok else f"status {status}"))
    if expect is not None and expect.max_seconds is not None:
        ok = seconds <= expect.max_seconds
        results.append(Result("max_seconds", ok, "" if ok else "too_slow",
                              "" if ok else f"{seconds:.3f} s > {expect.max_seconds:g} s"))
    return results


def body_conditions(endpoint: Endpoint, body: bytes, charset: str, secrets: list[str]) -> list[Result]:
    """body_regex and json (blocking: call in the probe threads)."""
    expect = endpoint.expect
    if expect is None or (expect.body_regex is None and not expect.json):
        return []
    try:
        text = body[:MAX_CHECKED_BODY].decode(charset, "replace")
    except LookupError:
        text = body[:MAX_CHECKED_BODY].decode("utf-8", "replace")
    results = []
    if expect.body_regex is not None:
        found = re.search(expect.body_regex, text) is not None
        results.append(Result("body_regex", found, "" if found else "no_match",
                              "" if found else shown(text or "(empty body)", secrets)))
    if expect.json:
        results += _json_results(endpoint, text, secrets)
    return results


def _json_results(endpoint: Endpoint, text: str, secrets: list[str]) -> list[Result]:
    assert endpoint.expect is not None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        seen = shown("not JSON: " + (text or "(empty body)"), secrets)
        return [Result(f"json:{c.path}", False, "not_json", seen) for c in endpoint.expect.json]
    results = []
    for condition in endpoint.expect.json:
        value = lookup(document, condition.steps)
        ok = condition.expect.holds(value)
        if ok:
            results.append(Result(f"json:{condition.path}", True))
            continue
        reason = "missing" if value is MISSING else "mismatch"
        seen = f"{describe(value, 4000)}, expected {condition.expect.text}"
        if value is MISSING or isinstance(document, dict) and "error" in document:
            seen += f"; body {describe(document, 4000)}"
        results.append(Result(f"json:{condition.path}", False, reason, shown(seen, secrets)))
    return results
