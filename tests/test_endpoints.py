"""Endpoint objects in the config (every key, every refusal with file:line: key: reason), the JSON
path subset and its comparisons, and the body conditions on real bytes."""

from __future__ import annotations

import json

import pytest

from exporter.config import ConfigError, parse_config
from exporter.endpoints import Endpoint, SecretRef
from exporter.jsonpath import MISSING, lookup, parse_expectation, parse_path
from exporter.probes.conditions import (
    MAX_CHECKED_BODY,
    SecretUnavailable,
    body_conditions,
    build_request,
    quick_conditions,
    shown,
)


def endpoints(items: str) -> str:
    return f"targets:\n  - name: shop\n    endpoints:\n{items}"


def one(item: str) -> Endpoint:
    (target,) = parse_config(endpoints(item)).targets
    return target.endpoint_specs[0]


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "c.yml")
    return caught.value.problems


def test_plain_strings_and_objects_mix_and_paths_stay_the_labels():
    (target,) = parse_config(endpoints(
        "      - /api/health\n"
        "      - {path: /api/orders, name: create-order, method: post, json: {sku: A1, qty: 2},\n"
        "         headers: {Authorization: {env: SHOP_TOKEN}, X-Trace: '1'}, expect: {status: 201}}\n"
        "      - {path: /api/orders}\n"
        "    static_paths: [/favicon.ico, {path: /robots.txt, expect: {body_regex: 'User-agent'}}]\n"
    )).targets
    assert target.endpoints == ("/api/health", "create-order", "/api/orders")
    assert target.static_paths == ("/favicon.ico", "/robots.txt")
    create = target.endpoint_specs[1]
    assert create.method == "POST" and json.loads(create.json_body) == {"sku": "A1", "qty": 2}
    assert create.headers == (("Authorization", SecretRef("env", "SHOP_TOKEN")), ("X-Trace", "1"))
    assert create.expect.status == (201,) and create.expect.names() == ["status"]
    assert [(e.label, static) for e, static in target.http_endpoints()] == [
        ("/api/health", False), ("create-order", False), ("/api/orders", False), ("/favicon.ico", True), ("/robots.txt", True)]


def test_expect_reads_every_condition():
    endpoint = one("      - path: /api/x\n        expect:\n          status: [200, 204]\n"
                   "          body_regex: '\"ok\":\\s*true'\n"
                   "          json: {$.status: ok, $.items: '>= 1', '$.items[0].id': exists, $.error: absent}\n"
                   "          max_seconds: 250ms\n")
    assert endpoint.expect.names() == ["status", "body_regex", "json:$.status", "json:$.items", "json:$.items[0].id",
                                       "json:$.error", "max_seconds"]
    assert endpoint.expect.max_seconds == 0.25


REFUSED = {
    "unknown key": ("      - {path: /x, methd: GET}\n", "c.yml:4: targets[0].endpoints[0].methd: unknown key (did you mean 'method'?)"),
    "no path": ("      - {method: GET}\n", "c.yml:4: targets[0].endpoints[0].path: required key is missing"),
    "bad method": ("      - {path: /x, method: TRACE}\n",
                   "c.yml:4: targets[0].endpoints[0].method: 'TRACE': expected one of GET, POST, PUT, PATCH, DELETE, HEAD"),
    "literal credential": ("      - {path: /x, headers: {Authorization: Bearer abc123}}\n",
                           "c.yml:4: targets[0].endpoints[0].headers: Authorization: a credential must not be written in "
                           "the config; use {env: NAME}, {file: /run/secrets/NAME} or a placeholder, e.g. 'Bearer ${env:TOKEN}'"),
    "literal cookie": ("      - {path: /x, headers: {Cookie: sid=1}}\n", "headers: Cookie: a credential must not be written"),
    "relative secret file": ("      - {path: /x, headers: {X-Key: {file: run/k}}}\n",
                             "headers: X-Key: 'run/k': a secret file must be an absolute path"),
    "bad env name": ("      - {path: /x, method: POST, body: 'a=${env:1X}'}\n", "body: '1X' is not an environment variable name"),
    "unclosed placeholder": ("      - {path: /x, method: POST, body: 'a=${env:X'}\n", "body: a ${env:NAME} or ${file:/path} placeholder"),
    "host header": ("      - {path: /x, headers: {Host: a}}\n", "headers: Host: set by the exporter itself"),
    "header newline": ("      - {path: /x, headers: {X-A: \"a\\nb\"}}\n", "headers: X-A: a header value must be one line"),
    "get with body": ("      - {path: /x, body: hi}\n",
                      "c.yml:4: targets[0].endpoints[0]: a GET request sends no body; use method: POST (or PUT, PATCH, DELETE)"),
    "body and json": ("      - {path: /x, method: POST, body: a, json: {a: 1}}\n", "endpoints[0]: give body or json, not both"),
    "head with regex": ("      - {path: /x, method: HEAD, expect: {body_regex: a}}\n", "a HEAD response has no body to check"),
    "render post": ("      - {path: /x, method: POST, render: true}\n", "render: true is for pages fetched with GET"),
    "status range": ("      - {path: /x, expect: {status: [200, 999]}}\n",
                     "c.yml:4: targets[0].endpoints[0].expect.status: 999 is not an HTTP status code (100-599)"),
    "status bool": ("      - {path: /x, expect: {status: true}}\n", "expect.status: True is not an HTTP status code"),
    "bad regex": ("      - {path: /x, expect: {body_regex: '(a'}}\n", "expect.body_regex: '(a' is not a valid regular expression"),
    "nested repeat": ("      - {path: /x, expect: {body_regex: '(a+)+b'}}\n", "expect.body_regex: '(a+)+b': a repetition inside a repetition"),
    "nested star in group": ("      - {path: /x, expect: {body_regex: '(?:x(y*))*'}}\n", "a repetition inside a repetition"),
    "long regex": ("      - {path: /x, expect: {body_regex: '" + "a" * 1001 + "'}}\n", "a pattern longer than 1000 characters"),
    "json path": ("      - {path: /x, expect: {json: {status: ok}}}\n", "expect.json: status: 'status' is not a JSON path"),
    "json path step": ("      - {path: /x, expect: {json: {'$..a': ok}}}\n", "expect.json: $..a: '$..a': cannot read the path at '..a'"),
    "ordering needs a number": ("      - {path: /x, expect: {json: {$.a: '>= many'}}}\n", "expect.json: $.a: '>= many': >= needs a number"),
    "json value a list": ("      - {path: /x, expect: {json: {$.a: [1]}}}\n", "expect.json: $.a: expected a literal or an operator"),
    "max_seconds": ("      - {path: /x, expect: {max_seconds: 0}}\n", "expect.max_seconds: duration must be greater than zero"),
    "empty expect": ("      - {path: /x, expect: {}}\n", "expect: expected at least one of status, body_regex, json, max_seconds"),
    "same label twice": ("      - {path: /x}\n      - {path: /x, method: POST}\n",
                         "c.yml:2: targets[0].endpoints: /x: more than one endpoint with this path; give each a distinct name"),
    "path in object": ("      - {path: api/x}\n", "c.yml:4: targets[0].endpoints[0].path: 'api/x' must be a path starting with '/'"),
}


@pytest.mark.parametrize(("item", "expected"), REFUSED.values(), ids=list(REFUSED))
def test_bad_endpoint_objects_are_refused_with_file_line_key_and_reason(item, expected):
    found = problems(endpoints(item))
    assert any(expected in p for p in found), found
    assert all(p.startswith("c.yml:") for p in found)


def test_static_paths_refuse_render():
    found = problems("targets:\n  - name: s\n    static_paths: [{path: /a.js, render: true}]\n")
    assert found == ["c.yml:3: targets[0].static_paths[0]: render: true is for pages fetched with GET in endpoints"]


# --- JSON paths and expectations -----------------------------------------------------------------

DOC = {"status": "ok", "items": [{"id": 7}, {"id": 8}], "count": 3, "flag": True, "none": None,
       "user-name": {"a b": 1}, "n": "12", "empty": []}


@pytest.mark.parametrize(
    ("path", "value"),
    [("$", DOC), ("$.status", "ok"), ("$.items[0].id", 7), ("$.items[-1].id", 8), ('$["user-name"]["a b"]', 1),
     ("$['user-name']", {"a b": 1}), ("$.items[2]", MISSING), ("$.status.x", MISSING), ("$.nope", MISSING),
     ("$.none", None), ("$.items.id", MISSING), ("$.count[0]", MISSING)],
)
def test_lookup(path, value):
    assert lookup(DOC, parse_path(path)) == value if value is not MISSING else lookup(DOC, parse_path(path)) is MISSING


@pytest.mark.parametrize(
    ("path", "expectation", "holds"),
    [
        ("$.status", "ok", True), ("$.status", "fail", False), ("$.status", "== ok", True), ("$.status", "!= ok", False),
        ("$.count", 3, True), ("$.count", "3", True), ("$.count", ">= 3", True), ("$.count", "> 3", False),
        ("$.count", "< 3.5", True), ("$.count", "<= 2", False), ("$.count", "!= 4", True),
        ("$.items", ">= 1", True), ("$.items", "> 2", False), ("$.empty", ">= 1", False), ("$.empty", "< 1", True),
        ("$.flag", True, True), ("$.flag", "true", True), ("$.flag", False, False), ("$.flag", "1", False),
        ("$.none", None, True), ("$.none", "null", True), ("$.none", "exists", True), ("$.none", "absent", False),
        ("$.nope", "exists", False), ("$.nope", "absent", True), ("$.nope", "!= ok", False), ("$.nope", None, False),
        ("$.n", 12, True), ("$.n", "> 1", False), ("$.status", ">= 1", False), ("$.status", '"ok"', True),
        ("$.items[0]", '{"id": 7}', False),
    ],
)
def test_expectations(path, expectation, holds):
    assert parse_expectation(expectation).holds(lookup(DOC, parse_path(path))) is holds


# --- conditions on real bytes, and the request's secrets ---------------------------------------------


def test_body_conditions_read_a_capped_body_and_show_what_they_saw_masked(monkeypatch):
    endpoint = one("      - {path: /x, expect: {body_regex: 'needle', json: {$.token: absent}}}\n")
    body = json.dumps({"token": "tok-VERY-secret-1", "pad": "x" * 50}).encode()
    (regex, token) = body_conditions(endpoint, body, "utf-8", ["tok-VERY-secret-1"])
    assert (regex.condition, regex.ok, regex.reason) == ("body_regex", False, "no_match")
    assert "tok-VERY-secret-1" not in regex.seen and "<secret>" in regex.seen and len(regex.seen) <= 120
    assert (token.condition, token.ok, token.reason) == ("json:$.token", False, "mismatch")
    assert "tok-VERY-secret-1" not in token.seen
    late = b"x" * MAX_CHECKED_BODY + b"needle"
    (regex,) = body_conditions(one("      - {path: /x, expect: {body_regex: needle}}\n"), late, "utf-8", [])
    assert not regex.ok, "only the first MiB is looked at"


def test_not_json_fails_every_json_condition():
    endpoint = one("      - {path: /x, expect: {json: {$.a: 1, $.b: exists}}}\n")
    results = body_conditions(endpoint, b"<html>oops</html>", "utf-8", [])
    assert [(r.condition, r.reason, r.seen) for r in results] == [
        ("json:$.a", "not_json", "not JSON: <html>oops</html>"), ("json:$.b", "not_json", "not JSON: <html>oops</html>")]


def test_quick_conditions():
    endpoint = one("      - {path: /x, expect: {status: [200, 204], max_seconds: 1s}}\n")
    assert [(r.condition, r.ok) for r in quick_conditions(endpoint, 204, 0.2)] == [("status", True), ("max_seconds", True)]
    assert [(r.condition, r.ok, r.seen) for r in quick_conditions(endpoint, 500, 1.5)] == [
        ("status", False, "status 500"), ("max_seconds", False, "1.500 s > 1 s")]


def test_build_request_reads_env_and_files_and_remembers_the_values_to_mask(tmp_path, monkeypatch):
    secret_file = tmp_path / "token"
    secret_file.write_text("file-Tok-991\n")
    monkeypatch.setenv("SHOP_PW", 'p"w-1')
    endpoint = one(f"      - {{path: /x, method: POST, headers: {{X-Key: {{file: {secret_file}}}, "
                   "Authorization: 'Bearer ${env:SHOP_PW}'}, json: {user: admin, pw: '${env:SHOP_PW}'}}\n")
    request = build_request(endpoint)
    assert request.headers == {"X-Key": "file-Tok-991", "Authorization": 'Bearer p"w-1', "Content-Type": "application/json"}
    assert json.loads(request.data) == {"user": "admin", "pw": 'p"w-1'}
    assert shown('echo p"w-1 and file-Tok-991', request.secrets) == "echo <secret> and <secret>"
    monkeypatch.delenv("SHOP_PW")
    with pytest.raises(SecretUnavailable, match="environment variable SHOP_PW is not set"):
        build_request(endpoint)
    secret_file.unlink()
    with pytest.raises(SecretUnavailable, match=f"secret file {secret_file}: No such file"):
        build_request(one(f"      - {{path: /x, headers: {{X-Key: {{file: {secret_file}}}}}}}\n"))
