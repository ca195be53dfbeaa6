"""Connections cannot crowd out scrapes or probes: a real exporter limited to 1,024 descriptors
(as the systemd default gives it) under 1,008 idle connections still answers an authenticated
scrape, and no probe fails for lack of descriptors."""

from __future__ import annotations

import base64
import resource
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.support.exporter_proc import Exporter, fetch
from tests.support.stack import start_app
from tests.test_app import samples, value
from tests.test_webconfig import PASSWORD, htpasswd_hash

IDLE_CONNECTIONS = 1008
EXPORTER_NOFILE = 1024


def limit_descriptors() -> None:
    """In the exporter's child, before exec: soft and hard RLIMIT_NOFILE of 1,024."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (EXPORTER_NOFILE, EXPORTER_NOFILE))


@pytest.fixture
def room_for_idle_sockets():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, IDLE_CONNECTIONS + 512)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= IDLE_CONNECTIONS + 64, "the test needs room for its sockets"
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_idle(port: int, count: int) -> list[socket.socket]:
    held = []
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(5)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue  # a full backlog: the exporter refused it, which is also fine
        held.append(sock)
    return held


def test_idle_connections_do_not_starve_an_authenticated_scrape_or_the_probes(tmp_path: Path, room_for_idle_sockets):
    app_port, port = free_port(), free_port()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  prometheus: '{htpasswd_hash(PASSWORD)}'\n")
    config = tmp_path / "config.yml"
    config.write_text(
        f"targets:\n  - name: shop\n    app_url: http://127.0.0.1:{app_port}\n    endpoints: [/api/health, /api/products]\n"
        "dns:\n  names: [localhost]\n  include_hostname: false\n"
    )
    auth = {"Authorization": "Basic " + base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()}
    args = [f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", f"--web.config.file={tmp_path / 'web.yml'}"]
    app = start_app(tmp_path / "bin", app_port)
    held: list[socket.socket] = []
    try:
        with Exporter(args, port, tmp_path / "exporter.log", tmp_path, preexec_fn=limit_descriptors) as exporter:
            held = open_idle(port, IDLE_CONNECTIONS)
            time.sleep(0.5)  # let the exporter accept what the kernel queued (bounded)
            started = time.monotonic()
            status, _, body = fetch(exporter.url + "/metrics", auth, timeout=20)
            took = time.monotonic() - started
            text = body.decode(errors="replace")
            assert status == 200, (status, text[:500], exporter.text()[-2000:])
            results = {labels: v for (name, labels), v in samples(text).items() if name == "inventory_probe_success"}
            assert results and all(v == 1 for v in results.values()), [l for l, v in results.items() if v != 1]
            assert value(text, "inventory_probe_success", target="shop", probe="port") == 1
            assert "Too many open files" not in text and "EMFILE" not in text
            assert "Too many open files" not in exporter.text()
            assert took < 15, f"the scrape took {took:.1f}s"
            # the exporter's own metrics say what the idle crowd cost: evictions to stay under the cap
            open_now = value(text, "inventory_exporter_connections_open")
            assert open_now is not None and 1 <= open_now <= IDLE_CONNECTIONS + 1
            assert value(text, "inventory_exporter_connections_evicted_total") >= 1
    finally:
        for sock in held:
            sock.close()
        app.stop()


# --- the gate in process, with real sockets -----------------------------------------------------------

import asyncio  # noqa: E402

from aiohttp import web  # noqa: E402

from exporter.web.connections import ConnectionGate, GuardedSite, connection_cap  # noqa: E402


def test_the_cap_keeps_a_reserve_of_descriptors_for_the_probes():
    assert connection_cap(512, 1024) == 512
    assert connection_cap(512, 600) == 600 - 256
    assert connection_cap(512, 100) == 16, "never below a working minimum"


async def start_gated(gate: ConnectionGate, handler) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_get("/", handler)
    app.middlewares.append(gate.middleware)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=30)
    await runner.setup()
    port = free_port()
    await GuardedSite(runner, "127.0.0.1", port, gate=gate).start()
    return runner, port


async def get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


async def test_over_the_cap_the_longest_idle_connection_makes_room_and_busy_ones_are_kept():
    release = asyncio.Event()

    async def slow(request):
        await release.wait()
        return web.Response(text="done")

    gate = ConnectionGate(limit=4, header_timeout=30)
    runner, port = await start_gated(gate, slow)
    try:
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
        await asyncio.sleep(0.1)
        assert gate.in_use() == 4
        busy = [asyncio.create_task(get(port)) for _ in range(4)]  # each evicts one idle socket
        await asyncio.sleep(0.3)
        assert gate.evicted == 4 and gate.in_use() == 4
        for reader, _ in idle:
            assert await asyncio.wait_for(reader.read(), 5) == b"", "evicted idle sockets are closed"
        # every open connection is serving now: a fifth is accepted and closed, not queued
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert gate.refused == 1
        release.set()
        assert all(b"done" in body for body in await asyncio.gather(*busy))
        writer.close()
        for _, w in idle:
            w.close()
    finally:
        await runner.cleanup()


async def test_a_connection_without_a_request_or_with_half_a_request_is_closed_after_the_header_timeout():
    async def hello(request):
        return web.Response(text="hello")

    gate = ConnectionGate(limit=64, header_timeout=0.5)
    runner, port = await start_gated(gate, hello)
    try:
        silent = await asyncio.open_connection("127.0.0.1", port)
        slow = await asyncio.open_connection("127.0.0.1", port)
        slow[1].write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        for reader, _ in (silent, slow):
            assert await asyncio.wait_for(reader.read(), 5) == b""
        assert gate.timed_out == 2
        assert b"hello" in await get(port), "a client that sends its request in time is served"
    finally:
        await runner.cleanup()
