"""Endpoints as objects: method, headers, body, the conditions a response must meet, render.

A plain string in ``endpoints`` or ``static_paths`` is ``Endpoint(path)``: GET, any 2xx/3xx passes.
An object is checked key by key (file:line: key: reason) by :func:`read_endpoint`, called by the
config reader for every item of those lists. Secrets never live in the config text: a header's
value may be ``{env: NAME}`` or ``{file: /path}``, and a header value or a body may hold ``${env:NAME}``
or ``${file:/path}``; a credential header (Authorization, Cookie, ...) whose value holds neither is refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from exporter.config_values import Key, boolean, parse_duration, url_path
from exporter.jsonpath import Expectation, parse_expectation, parse_path

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
MAX_HEADERS = 32
MAX_HEADER_VALUE = 4096
MAX_BODY = 64 * 1024
MAX_REGEX = 1000
MAX_CONDITIONS = 32
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# ${env:NAME} or ${file:/absolute/path} inside a body
PLACEHOLDER = re.compile(r"\$\{(env|file):([^}\s]{1,512})\}")
CREDENTIAL_HEADER = re.compile(r"authorization|cookie|token|secret|password|api[-_]?key|session|credential", re.I)
FORBIDDEN_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "host"})


@dataclass(frozen=True)
class SecretRef:
    """A value read when the request is made: an environment variable or a file's content (trimmed)."""

    kind: str  # "env" or "file"
    name: str

    def to_config(self) -> dict[str, str]:
        return {self.kind: self.name}


@dataclass(frozen=True)
class JsonCondition:
    path: str  # as written: $.items[0].id
    steps: tuple[str | int, ...]
    expect: Expectation


@dataclass(frozen=True)
class Expect:
    status: tuple[int, ...] = ()  # empty: any 2xx or 3xx
    body_regex: str | None = None
    json: tuple[JsonCondition, ...] = ()
    max_seconds: float | None = None

    def names(self) -> list[str]:
        """The conditions declared, as the ``condition`` label names them."""
        names = ["status"] if self.status else []
        names += ["body_regex"] if self.body_regex is not None else []
        names += [f"json:{c.path}" for c in self.json]
        return names + (["max_seconds"] if self.max_seconds is not None else [])


@dataclass(frozen=True)
class Endpoint:
    path: str
    method: str = "GET"
    headers: tuple[tuple[str, str | SecretRef], ...] = ()
    body: str | None = None
    json_body: str | None = None  # the ``json`` key's value as JSON text; ${env:...} in its strings
    expect: Expect | None = None
    render: bool = False
    name: str | None = None

    @property
    def label(self) -> str:
        """The ``path`` label of its samples: the name when given, else the path."""
        return self.name or self.path

    def passes_status(self, status: int) -> bool:
        if self.expect is not None and self.expect.status:
            return status in self.expect.status
        return 200 <= status < 400

    def to_config(self) -> str | dict[str, Any]:
        """As the config file writes it (a plain path when nothing else is set): /config loads back."""
        if self == Endpoint(self.path):
            return self.path
        data: dict[str, Any] = {"path": self.path}
        if self.name:
            data["name"] = self.name
        if self.method != "GET":
            data["method"] = self.method
        if self.headers:
            data["headers"] = {k: v.to_config() if isinstance(v, SecretRef) else v for k, v in self.headers}
        if self.body is not None:
            data["body"] = self.body
        if self.json_body is not None:
            data["json"] = json.loads(self.json_body)
        if self.expect is not None:
            data["expect"] = _expect_config(self.expect)
        if self.render:
            data["render"] = True
        return data


def _expect_config(expect: Expect) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if expect.status:
        data["status"] = list(expect.status)
    if expect.body_regex is not None:
        data["body_regex"] = expect.body_regex
    if expect.json:
        data["json"] = {c.path: c.expect.text for c in expect.json}
    if expect.max_seconds is not None:
        data["max_seconds"] = expect.max_seconds
    return data


# --- value parsers ---------------------------------------------------------------------------


def _method(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in METHODS:
        raise ValueError(f"{value!r}: expected one of {', '.join(METHODS)}")
    return value.upper()


def _status(value: Any) -> tuple[int, ...]:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError("expected a status code or a list of them, e.g. [200, 204]")
    for code in values:
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            raise ValueError(f"{code!r} is not an HTTP status code (100-599)")
    return tuple(dict.fromkeys(values))


def _body(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string (use json: for a structured body)")
    if len(value.encode()) > MAX_BODY:
        raise ValueError(f"a body larger than {MAX_BODY} bytes")
    check_placeholders(value)
    return value


def _json_body(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if len(text.encode()) > MAX_BODY:
        raise ValueError(f"a body larger than {MAX_BODY} bytes")
    for leaf in _strings(value):
        check_placeholders(leaf)
    return text


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def check_placeholders(text: str) -> None:
    for match in PLACEHOLDER.finditer(text):
        _secret_ref({match[1]: match[2]})
    rest = PLACEHOLDER.sub("", text)
    if "${env:" in rest or "${file:" in rest:
        raise ValueError("a ${env:NAME} or ${file:/path} placeholder is not closed or names nothing")


def _secret_ref(value: Any) -> SecretRef:
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in ("env", "file"):
        raise ValueError("expected a literal string, {env: NAME} or {file: /path}")
    kind, name = next(iter(value.items()))
    if kind == "env" and (not isinstance(name, str) or not ENV_NAME.match(name)):
        raise ValueError(f"{name!r} is not an environment variable name")
    if kind == "file" and (not isinstance(name, str) or not name.startswith("/") or "\0" in name):
        raise ValueError(f"{name!r}: a secret file must be an absolute path")
    return SecretRef(kind, name)


def _headers(value: Any) -> tuple[tuple[str, str | SecretRef], ...]:
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of header names to values")
    if len(value) > MAX_HEADERS:
        raise ValueError(f"more than {MAX_HEADERS} headers")
    headers = []
    for name, raw in value.items():
        if not isinstance(name, str) or not HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a header name")
        if name.lower() in FORBIDDEN_HEADERS:
            raise ValueError(f"{name}: set by the exporter itself, not configurable")
        if isinstance(raw, str):
            if len(raw) > MAX_HEADER_VALUE or "\r" in raw or "\n" in raw:
                raise ValueError(f"{name}: a header value must be one line of at most {MAX_HEADER_VALUE} characters")
            try:
                check_placeholders(raw)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
            if CREDENTIAL_HEADER.search(name) and not PLACEHOLDER.search(raw):
                raise ValueError(f"{name}: a credential must not be written in the config; use {{env: NAME}}, "
                                 f"{{file: /run/secrets/NAME}} or a placeholder, e.g. 'Bearer ${{env:TOKEN}}'")
            headers.append((name, raw))
        else:
            try:
                headers.append((name, _secret_ref(raw)))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
    return tuple(headers)


def _regex(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("expected a regular expression")
    if len(value) > MAX_REGEX:
        raise ValueError(f"a pattern longer than {MAX_REGEX} characters")
    try:
        parsed = re._parser.parse(value)  # type: ignore[attr-defined]
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a valid regular expression: {exc}") from None
    if _nested_repeat(parsed, False):
        raise ValueError(f"{value!r}: a repetition inside a repetition (like (a+)+) can take exponential time; "
                         "rewrite it without the nesting")
    return value


def _nested_repeat(parsed: Any, inside: bool) -> bool:
    """Does an unbounded repetition sit inside another one (the classic catastrophic backtracking)?"""
    c = re._constants  # type: ignore[attr-defined]
    for op, av in parsed:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            low, high, sub = av
            unbounded = high == c.MAXREPEAT or high > 64
            if unbounded and inside:
                return True
            if _nested_repeat(sub, inside or unbounded):
                return True
        elif op == c.SUBPATTERN and _nested_repeat(av[-1], inside):
            return True
        elif op == c.BRANCH and any(_nested_repeat(alt, inside) for alt in av[1]):
            return True
        elif op in (c.ASSERT, c.ASSERT_NOT) and _nested_repeat(av[1], inside):
            return True
        elif op == getattr(c, "ATOMIC_GROUP", None) and _nested_repeat(av, inside):
            return True
    return False


def _json_conditions(value: Any) -> tuple[JsonCondition, ...]:
    if not isinstance(value, dict) or not value:
        raise ValueError('expected a mapping of JSON paths to expectations, e.g. {"$.status": ok}')
    if len(value) > MAX_CONDITIONS:
        raise ValueError(f"more than {MAX_CONDITIONS} conditions")
    conditions = []
    for path, expected in value.items():
        try:
            conditions.append(JsonCondition(str(path), parse_path(path), parse_expectation(expected)))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return tuple(conditions)


def _label_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 128 or any(c in value for c in "\r\n"):
        raise ValueError("expected a short one-line name")
    return value


# --- reading a node --------------------------------------------------------------------------


def _keys():
    endpoint = {
        "path": Key(url_path, required=True),
        "name": Key(_label_name),
        "method": Key(_method),
        "headers": Key(_headers),
        "body": Key(_body),
        "json": Key(_json_body),
        "expect": Key(lambda v: v, node=True),
        "render": Key(boolean),
    }
    expect = {
        "status": Key(_status),
        "body_regex": Key(_regex),
        "json": Key(_json_conditions),
        "max_seconds": Key(parse_duration),
    }
    return endpoint, expect


def read_endpoint(reader: Any, node: yaml.Node, where: str, static: bool = False) -> Endpoint | None:
    """One item of ``endpoints`` / ``static_paths``: a path string or an object; None after a problem."""
    from exporter.config import _construct

    if not isinstance(node, yaml.MappingNode):
        try:
            return Endpoint(url_path(_construct(node)))
        except ValueError as exc:
            reader.problem(node, where, str(exc))
            return None
    before = len(reader.problems)
    endpoint_keys, expect_keys = _keys()
    values = reader.mapping(node, where, endpoint_keys)
    expect_node = values.pop("expect", None)
    expect = None
    if expect_node is not None:
        fields = reader.mapping(expect_node, f"{where}.expect", expect_keys)
        expect = Expect(**fields) if fields else None
        if isinstance(expect_node, yaml.MappingNode) and not expect_node.value:
            reader.problem(expect_node, f"{where}.expect", "expected at least one of " + ", ".join(expect_keys))
    if len(reader.problems) > before or "path" not in values:
        return None
    endpoint = Endpoint(**{("json_body" if k == "json" else k): v for k, v in values.items()}, expect=expect)
    reason = _inconsistent(endpoint, static)
    if reason:
        reader.problem(node, where, reason)
        return None
    return endpoint


def _inconsistent(endpoint: Endpoint, static: bool) -> str | None:
    if endpoint.body is not None and endpoint.json_body is not None:
        return "give body or json, not both"
    if endpoint.method in ("GET", "HEAD") and (endpoint.body is not None or endpoint.json_body is not None):
        return f"a {endpoint.method} request sends no body; use method: POST (or PUT, PATCH, DELETE)"
    reads_body = endpoint.render or (endpoint.expect is not None and (endpoint.expect.body_regex or endpoint.expect.json))
    if endpoint.method == "HEAD" and reads_body:
        return "a HEAD response has no body to check"
    if endpoint.render and (static or endpoint.method != "GET"):
        return "render: true is for pages fetched with GET in endpoints"
    return None


def secret_refs(item: dict[str, Any]) -> list[tuple[str, str]]:
    """(env|file, name) of every secret an endpoint object (as written) sends."""
    refs = []
    headers = item.get("headers")
    for value in headers.values() if isinstance(headers, dict) else ():
        if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("env", "file"):
            refs.append(tuple(next(iter(value.items()))))
        elif isinstance(value, str):
            refs += [(m[1], m[2]) for m in PLACEHOLDER.finditer(value)]
    for text in _strings([item.get("body"), item.get("json")]):
        refs += [(m[1], m[2]) for m in PLACEHOLDER.finditer(text)]
    return [(str(k), str(v)) for k, v in refs]
