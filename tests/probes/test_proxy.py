"""probe_proxy against real servers on 127.0.0.1 standing in for the nginx front: an aiohttp app for
answers (2xx to 5xx, redirects), raw asyncio servers for a front that accepts and never answers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from exporter.probes.proxy import probe_proxy
from exporter.probing import Deadline
from tests.support.servers import full_backlog_url, raw_server
from tests.conftest import deadline, free_port, target

SHORT = 0.25  # the deadline of tests whose point is that a hang is cut off
SLACK = 1.0  # generous: the probe must finish before the deadline plus this


# --- servers ------------------------------------------------------------------------------------


@dataclass
class Front:
    """An aiohttp app on 127.0.0.1 playing nginx: /status/<code> answers <code> (3xx point Location at
    /landing), /hang never answers, anything else is 200. Records every request path."""

    url: str
    hits: list[str] = field(default_factory=list)


@pytest.fixture
async def front(aiohttp_server):
    release = asyncio.Event()
    state = Front(url="")

    async def handler(request: web.Request) -> web.StreamResponse:
        state.hits.append(request.path_qs)
        if request.path.startswith("/status/"):
            code = int(request.path.rsplit("/", 1)[1])
            headers = {"Location": "/landing"} if 300 <= code < 400 else {}
            return web.Response(status=code, headers=headers, text=f"<html>{code}</html>")
        if request.path.startswith("/hang"):
            await release.wait()
        return web.Response(text="<html>smart inventory</html>")

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    server = await aiohttp_server(app)
    state.url = f"http://127.0.0.1:{server.port}"
    yield state
    release.set()  # let a hanging handler finish so the server shuts down at once


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept, read the request, never answer; return when the client hangs up."""
    await reader.read()


async def headers_then_stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 1000\r\n\r\n")
    await writer.drain()
    await reader.read()


async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    frame = b"400\r\n" + b"z" * 0x400 + b"\r\n"
    for _ in range(100_000):  # bounded: 100 MB at most; a ConnectionError ends it when the probe hangs up
        writer.write(frame)
        await writer.drain()


async def bounded_probe(t, ctx, out, dl: Deadline):
    """Run the probe with an outer bound so a probe that ignores its deadline fails the test, not hangs it."""
    started = time.monotonic()
    outcome = await asyncio.wait_for(probe_proxy(t, ctx, out, dl), dl.remaining() + 5)
    return outcome, time.monotonic() - started


# --- answers --------------------------------------------------------------------------------------


async def test_front_answering_200_is_up_and_the_probe_succeeds(front, ctx, out):
    outcome = await probe_proxy(target(proxy_url=front.url + "/"), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (True, None)
    assert out.value("inventory_proxy_up", target="t") == 1
    assert out.value("inventory_proxy_status_code", target="t") == 200
    seconds = out.value("inventory_proxy_response_seconds", target="t")
    assert seconds is not None and 0 <= seconds < 5
    assert front.hits == ["/"]


async def test_the_proxy_url_is_requested_as_given_including_its_path(front, ctx, out):
    outcome = await probe_proxy(target(proxy_url=front.url + "/inventory/api/health?x=1"), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_proxy_status_code") == 200
    assert front.hits == ["/inventory/api/health?x=1"]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_bad_gateway_and_other_5xx_answers_mean_the_proxy_is_up_but_the_probe_fails(front, ctx, out, status):
    url = f"{front.url}/status/{status}"
    outcome = await probe_proxy(target(proxy_url=url), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "http_status")
    assert url in outcome.detail and str(status) in outcome.detail
    assert out.value("inventory_proxy_up") == 1  # nginx itself answered
    assert out.value("inventory_proxy_status_code") == status
    assert out.value("inventory_proxy_response_seconds") is not None


@pytest.mark.parametrize("status", [201, 204, 400, 401, 403, 404])
async def test_non_5xx_answers_are_up_and_the_probe_succeeds(front, ctx, out, status):
    outcome = await probe_proxy(target(proxy_url=f"{front.url}/status/{status}"), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (True, None)
    assert out.value("inventory_proxy_up") == 1
    assert out.value("inventory_proxy_status_code") == status


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirect_is_recorded_and_not_followed(front, ctx, out, status):
    outcome = await probe_proxy(target(proxy_url=f"{front.url}/status/{status}"), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_proxy_up") == 1
    assert out.value("inventory_proxy_status_code") == status
    assert front.hits == [f"/status/{status}"]  # /landing never received a request


async def test_endless_body_is_cut_at_the_body_limit_and_the_probe_finishes(ctx, out):
    async with raw_server(endless) as url:
        outcome, elapsed = await bounded_probe(
            target(proxy_url=url), dataclasses.replace(ctx, http_body_limit=2048), out, deadline()
        )
    assert (outcome.ok, outcome.reason) == (True, None)
    assert out.value("inventory_proxy_up") == 1
    assert out.value("inventory_proxy_status_code") == 200
    assert elapsed < 5


# --- no answer ------------------------------------------------------------------------------------


async def test_front_not_listening_is_down_with_reason_connection_refused(ctx, out):
    outcome, elapsed = await bounded_probe(target(proxy_url=f"http://127.0.0.1:{free_port()}/"), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "connection_refused")
    assert out.value("inventory_proxy_up", target="t") == 0
    assert out.value("inventory_proxy_status_code", target="t") == 0
    assert out.value("inventory_proxy_response_seconds") is None
    assert elapsed < SLACK


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(silent, id="accepts-and-never-answers"),
        pytest.param(headers_then_stall, id="headers-then-stalls-the-body"),
        pytest.param(None, id="handler-never-answers"),
    ],
)
async def test_hanging_front_is_down_with_reason_timeout_at_the_deadline(front, ctx, out, handler):
    async with contextlib.AsyncExitStack() as stack:
        url = front.url + "/hang" if handler is None else await stack.enter_async_context(raw_server(handler))
        outcome, elapsed = await bounded_probe(target(proxy_url=url), ctx, out, Deadline(SHORT))
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert out.value("inventory_proxy_up") == 0
    assert out.value("inventory_proxy_status_code") == 0
    assert out.value("inventory_proxy_response_seconds") is None
    assert elapsed < SHORT + SLACK


async def test_connect_that_gets_no_answer_is_down_with_reason_timeout_at_the_deadline(ctx, out):
    with full_backlog_url() as url:
        outcome, elapsed = await bounded_probe(target(proxy_url=url), ctx, out, Deadline(SHORT))
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert out.value("inventory_proxy_up") == 0
    assert out.value("inventory_proxy_status_code") == 0
    assert elapsed < SHORT + SLACK


@pytest.mark.parametrize("seconds", [0.0, -1.0], ids=["zero", "negative"])
async def test_an_expired_deadline_fails_at_once_as_timeout_instead_of_waiting_forever(ctx, out, seconds):
    async with raw_server(silent) as url:
        outcome, elapsed = await bounded_probe(target(proxy_url=url), ctx, out, Deadline(seconds))
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert out.value("inventory_proxy_up") == 0
    assert out.value("inventory_proxy_status_code") == 0
    assert elapsed < SLACK
