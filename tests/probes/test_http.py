"""probe_http against real servers on 127.0.0.1: an aiohttp app for answers, redirects and hangs
inside a handler, and raw asyncio servers for broken HTTP (silence, stalled bodies, endless bodies)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from exporter.httpclient import USER_AGENT
from exporter.probes.http import probe_http
from exporter.probing import Deadline
from tests.support.servers import full_backlog_url, raw_server
from tests.conftest import deadline, free_port, target

SHORT = 0.25  # the deadline of tests whose point is that a hang is cut off
SLACK = 1.0  # generous: the probe must finish before the deadline plus this


# --- servers ------------------------------------------------------------------------------------


@dataclass
class Site:
    """An aiohttp app on 127.0.0.1 that records every request it receives.

    /status/<code>  answers <code> (3xx ones point Location at ``location``)
    /hang...        never answers (until the test ends)
    /together/...   answers only once ``together`` requests are in flight at the same time
    /bytes/<n>      a body of n bytes
    anything else   200 "ok"
    """

    url: str
    hits: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    location: str = "/landing"
    together: int = 2


@pytest.fixture
async def site(aiohttp_server):
    release = asyncio.Event()
    arrived: list[asyncio.Event] = []
    all_here = asyncio.Event()
    state = Site(url="")

    async def handler(request: web.Request) -> web.StreamResponse:
        state.hits.append(request.path_qs)
        state.headers.append(dict(request.headers))
        path = request.path
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            headers = {"Location": state.location} if 300 <= code < 400 else {}
            return web.Response(status=code, headers=headers, body=None if code == 304 else b"status")
        if path.startswith("/hang"):
            await release.wait()
            return web.Response(text="too late")
        if path.startswith("/together/"):
            arrived.append(asyncio.Event())
            if len(arrived) >= state.together:
                all_here.set()
            await asyncio.wait_for(all_here.wait(), 5)
            return web.Response(text="together")
        if path.startswith("/bytes/"):
            return web.Response(body=b"x" * int(path.rsplit("/", 1)[1]))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    server = await aiohttp_server(app)
    state.url = f"http://127.0.0.1:{server.port}"
    yield state
    release.set()  # let hanging handlers finish so the server shuts down at once


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept, read the request, never answer; return when the client hangs up."""
    await reader.read()


def headers_then_stall(sent_body: bytes):
    """Answer with headers promising 1000 bytes, send ``sent_body`` of them, then stall."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n" + sent_body)
        await writer.drain()
        await reader.read()

    return handler


@dataclass
class Endless:
    """A chunked body that never ends; counts what it sent and whether the client hung up."""

    chunk: int = 1024
    sent: int = 0
    client_hung_up: bool = False

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        frame = b"%x\r\n" % self.chunk + b"y" * self.chunk + b"\r\n"
        try:
            for _ in range(100_000):  # bounded: 100 MB at most
                writer.write(frame)
                await writer.drain()
                self.sent += self.chunk
                if writer.is_closing() or reader.at_eof():
                    break
        except ConnectionError:
            pass
        self.client_hung_up = True


def paths(out, metric: str) -> dict[tuple[str, str], float]:
    return {(labels["path"], labels["kind"]): value for labels, value in out.matching(metric)}


async def bounded_probe(t, ctx, out, dl: Deadline):
    """Run the probe with an outer bound so a probe that ignores its deadline fails the test, not hangs it."""
    started = time.monotonic()
    outcome = await asyncio.wait_for(probe_http(t, ctx, out, dl), dl.remaining() + 5)
    return outcome, time.monotonic() - started


# --- answers --------------------------------------------------------------------------------------


async def test_healthy_endpoint_is_up_with_status_timings_and_body_size(site, ctx, out):
    outcome = await probe_http(target(app_url=site.url, endpoints=("/api/health",)), ctx, out, deadline())
    assert outcome.ok and outcome.reason is None
    labels = {"target": "t", "path": "/api/health", "kind": "api"}
    assert out.value("inventory_http_up", **labels) == 1
    assert out.value("inventory_http_status_code", **labels) == 200
    assert out.value("inventory_http_content_length_bytes", **labels) == len(b"ok")
    total = out.value("inventory_http_response_seconds", **labels)
    first_byte = out.value("inventory_http_phase_seconds", phase="first_byte", **labels)
    assert total is not None and first_byte is not None
    assert 0 <= first_byte <= total < 5
    assert {labels["phase"] for labels, _ in out.matching("inventory_http_phase_seconds")} == {"first_byte"}
    assert site.hits == ["/api/health"]


async def test_the_request_is_a_plain_get_of_the_path_with_the_exporter_user_agent(site, ctx, out):
    outcome = await probe_http(
        target(app_url=site.url + "/", endpoints=("/api/items?limit=1",)), ctx, out, deadline()
    )
    assert outcome.ok, outcome
    assert out.value("inventory_http_up", path="/api/items?limit=1", kind="api") == 1
    assert site.hits == ["/api/items?limit=1"]  # the app_url's trailing slash does not double up
    assert site.headers[0]["User-Agent"] == USER_AGENT


@pytest.mark.parametrize(
    ("endpoints", "static_paths", "path", "kind"),
    [
        (("/api/health",), (), "/api/health", "api"),
        (("/api",), (), "/api", "api"),
        (("/api/v1/products/42",), (), "/api/v1/products/42", "api"),
        (("/",), (), "/", "page"),
        (("/dashboard",), (), "/dashboard", "page"),
        (("/apiary",), (), "/apiary", "page"),
        (("/docs/api/",), (), "/docs/api/", "page"),
        ((), ("/_next/static/chunks/main.js",), "/_next/static/chunks/main.js", "static"),
        ((), ("/favicon.ico",), "/favicon.ico", "static"),
        ((), ("/api/asset.png",), "/api/asset.png", "static"),
    ],
)
async def test_each_path_is_labelled_with_its_kind(site, ctx, out, endpoints, static_paths, path, kind):
    outcome = await probe_http(
        target(app_url=site.url, endpoints=endpoints, static_paths=static_paths), ctx, out, deadline()
    )
    assert outcome.ok, outcome
    assert paths(out, "inventory_http_up") == {(path, kind): 1}
    assert paths(out, "inventory_http_status_code") == {(path, kind): 200}
    assert out.value("inventory_http_response_seconds", path=path, kind=kind) is not None
    assert site.hits == [path]


async def test_endpoints_and_static_paths_are_all_probed_with_their_own_kinds(site, ctx, out):
    t = target(app_url=site.url, endpoints=("/api/health", "/"), static_paths=("/logo.svg",))
    outcome = await probe_http(t, ctx, out, deadline())
    assert outcome.ok, outcome
    assert paths(out, "inventory_http_up") == {("/api/health", "api"): 1, ("/", "page"): 1, ("/logo.svg", "static"): 1}
    assert sorted(site.hits) == ["/", "/api/health", "/logo.svg"]


async def test_a_target_without_paths_succeeds_and_reports_nothing(site, ctx, out):
    outcome = await probe_http(target(app_url=site.url, endpoints=(), static_paths=()), ctx, out, deadline())
    assert outcome.ok and outcome.reason is None
    assert out.value("inventory_http_up") is None
    assert site.hits == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500, 502, 503])
async def test_error_status_is_down_with_reason_http_status(site, ctx, out, status):
    path = f"/status/{status}"
    outcome = await probe_http(target(app_url=site.url, endpoints=(path,)), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "http_status")
    assert path in outcome.detail and str(status) in outcome.detail
    assert out.value("inventory_http_up", path=path, kind="page") == 0
    assert out.value("inventory_http_status_code", path=path, kind="page") == status
    assert out.value("inventory_http_response_seconds", path=path, kind="page") is not None
    assert out.value("inventory_http_content_length_bytes", path=path, kind="page") == len(b"status")


@pytest.mark.parametrize("status", [301, 302, 303, 304, 307, 308])
async def test_redirect_status_is_up_and_the_redirect_is_not_followed(site, ctx, out, status):
    path = f"/status/{status}"
    outcome = await probe_http(target(app_url=site.url, endpoints=(path,)), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_http_up", path=path, kind="page") == 1
    assert out.value("inventory_http_status_code", path=path, kind="page") == status
    assert site.hits == [path]  # /landing, the redirect target, never received a request


async def test_redirect_to_another_server_never_reaches_that_server(site, aiohttp_server, ctx, out):
    elsewhere_hits: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        elsewhere_hits.append(request.path)
        return web.Response(status=500)

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", elsewhere)
    other = await aiohttp_server(app)
    site.location = f"http://127.0.0.1:{other.port}/landing"
    outcome = await probe_http(target(app_url=site.url, endpoints=("/status/302",)), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_http_status_code", path="/status/302") == 302
    assert out.value("inventory_http_up", path="/status/302") == 1
    assert elsewhere_hits == []


async def test_first_failing_path_gives_the_outcome_while_every_path_is_reported(site, ctx, out):
    t = target(app_url=site.url, endpoints=("/api/health", "/status/404", "/status/500"))
    outcome = await probe_http(t, ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "http_status")
    assert "/status/404" in outcome.detail
    assert paths(out, "inventory_http_status_code") == {
        ("/api/health", "api"): 200,
        ("/status/404", "page"): 404,
        ("/status/500", "page"): 500,
    }
    assert paths(out, "inventory_http_up") == {
        ("/api/health", "api"): 1,
        ("/status/404", "page"): 0,
        ("/status/500", "page"): 0,
    }


# --- no answer ------------------------------------------------------------------------------------


async def test_closed_port_is_down_with_reason_connection_refused(ctx, out):
    t = target(app_url=f"http://127.0.0.1:{free_port()}", endpoints=("/api/health",), static_paths=("/app.js",))
    outcome, elapsed = await bounded_probe(t, ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "connection_refused")
    assert paths(out, "inventory_http_up") == {("/api/health", "api"): 0, ("/app.js", "static"): 0}
    assert paths(out, "inventory_http_status_code") == {("/api/health", "api"): 0, ("/app.js", "static"): 0}
    assert out.value("inventory_http_response_seconds") is None
    assert out.value("inventory_http_phase_seconds") is None
    assert elapsed < SLACK


async def test_connect_that_gets_no_answer_is_down_with_reason_timeout_at_the_deadline(ctx, out):
    with full_backlog_url() as url:
        t = target(app_url=url, endpoints=("/api/health",))
        outcome, elapsed = await bounded_probe(t, ctx, out, Deadline(SHORT))
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert out.value("inventory_http_up", path="/api/health", kind="api") == 0
    assert out.value("inventory_http_status_code", path="/api/health", kind="api") == 0
    assert elapsed < SHORT + SLACK


async def test_server_that_accepts_and_never_answers_is_down_with_reason_timeout(ctx, out):
    async with raw_server(silent) as url:
        t = target(app_url=url, endpoints=("/api/health",))
        outcome, elapsed = await bounded_probe(t, ctx, out, Deadline(SHORT))
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert out.value("inventory_http_up", path="/api/health", kind="api") == 0
    assert out.value("inventory_http_status_code", path="/api/health", kind="api") == 0
    assert out.value("inventory_http_response_seconds") is None
    assert elapsed < SHORT + SLACK


@pytest.mark.parametrize(
    "sent_body",
    [
        pytest.param(b"", id="no-body-bytes"),
        pytest.param(b"x" * 10, id="some-body-bytes"),
    ],
)
async def test_server_that_sends_headers_then_stalls_the_body_is_down_with_reason_timeout(ctx, out, sent_body):
    async with raw_server(headers_then_stall(sent_body)) as url:
        outcome, elapsed = await bounded_probe(target(app_url=url, endpoints=("/",)), ctx, out, Deadline(SHORT))
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert out.value("inventory_http_up", path="/", kind="page") == 0
    assert out.value("inventory_http_status_code", path="/", kind="page") == 0
    assert elapsed < SHORT + SLACK


async def test_handler_that_never_answers_is_down_with_reason_timeout(site, ctx, out):
    outcome, elapsed = await bounded_probe(target(app_url=site.url, endpoints=("/hang",)), ctx, out, Deadline(SHORT))
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert out.value("inventory_http_up", path="/hang", kind="page") == 0
    assert site.hits == ["/hang"]
    assert elapsed < SHORT + SLACK


@pytest.mark.parametrize("seconds", [0.0, -1.0], ids=["zero", "negative"])
async def test_an_expired_deadline_fails_at_once_as_timeout_instead_of_waiting_forever(ctx, out, seconds):
    async with raw_server(silent) as url:
        t = target(app_url=url, endpoints=("/api/health",))
        outcome, elapsed = await bounded_probe(t, ctx, out, Deadline(seconds))
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert out.value("inventory_http_up", path="/api/health", kind="api") == 0
    assert out.value("inventory_http_status_code", path="/api/health", kind="api") == 0
    assert elapsed < SLACK


# --- bodies ---------------------------------------------------------------------------------------


async def test_endless_streaming_body_is_read_only_up_to_the_body_limit_and_the_probe_finishes(ctx, out):
    limit = 4096
    endless = Endless(chunk=1024)
    async with raw_server(endless) as url:
        small = dataclasses.replace(ctx, http_body_limit=limit)
        outcome, elapsed = await bounded_probe(target(app_url=url, endpoints=("/stream",)), small, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_http_up", path="/stream", kind="page") == 1
    assert out.value("inventory_http_status_code", path="/stream", kind="page") == 200
    size = out.value("inventory_http_content_length_bytes", path="/stream", kind="page")
    assert size is not None and 0 < size <= limit
    assert out.value("inventory_http_response_seconds", path="/stream", kind="page") is not None
    assert endless.client_hung_up
    assert endless.sent < 100_000 * 1024  # the client hung up long before the server's own bound
    assert elapsed < 5


async def test_body_smaller_than_the_limit_is_counted_in_full(site, ctx, out):
    small = dataclasses.replace(ctx, http_body_limit=4096)
    outcome = await probe_http(target(app_url=site.url, endpoints=("/bytes/1000",)), small, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_http_content_length_bytes", path="/bytes/1000", kind="page") == 1000


@pytest.mark.parametrize(
    ("size", "limit", "expected"),
    [
        pytest.param(200_000, 1 << 20, 200_000, id="body-below-limit"),
        pytest.param(4 << 20, 1 << 20, 1 << 20, id="body-above-limit"),
    ],
)
async def test_multi_chunk_body_is_counted_up_to_the_limit(site, ctx, out, size, limit, expected):
    path = f"/bytes/{size}"
    outcome = await probe_http(
        target(app_url=site.url, endpoints=(path,)), dataclasses.replace(ctx, http_body_limit=limit), out, deadline()
    )
    assert outcome.ok, outcome
    assert out.value("inventory_http_content_length_bytes", path=path, kind="page") == expected


# --- concurrency ----------------------------------------------------------------------------------


async def test_paths_are_requested_concurrently(site, ctx, out):
    """Each /together/ handler answers only once all three requests are in flight at once."""
    site.together = 3
    t = target(app_url=site.url, endpoints=("/together/a", "/together/b"), static_paths=("/together/c.js",))
    outcome, _ = await bounded_probe(t, ctx, out, deadline(5))
    assert outcome.ok, outcome
    assert paths(out, "inventory_http_status_code") == {
        ("/together/a", "page"): 200,
        ("/together/b", "page"): 200,
        ("/together/c.js", "static"): 200,
    }


async def test_one_hanging_path_does_not_stop_the_other_paths_from_being_reported(site, ctx, out):
    t = target(app_url=site.url, endpoints=("/hang", "/api/health", "/status/404"), static_paths=("/app.js",))
    limit = 2 * SHORT  # room for the answering paths on a loaded machine
    outcome, elapsed = await bounded_probe(t, ctx, out, Deadline(limit))
    assert (outcome.ok, outcome.reason) == (False, "timeout")  # /hang is listed first
    assert paths(out, "inventory_http_up") == {
        ("/hang", "page"): 0,
        ("/api/health", "api"): 1,
        ("/status/404", "page"): 0,
        ("/app.js", "static"): 1,
    }
    assert paths(out, "inventory_http_status_code") == {
        ("/hang", "page"): 0,
        ("/api/health", "api"): 200,
        ("/status/404", "page"): 404,
        ("/app.js", "static"): 200,
    }
    assert out.value("inventory_http_response_seconds", path="/hang") is None
    assert out.value("inventory_http_response_seconds", path="/api/health") is not None
    assert elapsed < limit + SLACK
