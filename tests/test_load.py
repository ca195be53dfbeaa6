"""100 concurrent scrapes of /metrics against healthy and broken targets: all answer, nothing leaks."""

from __future__ import annotations

import asyncio
import socket

import psutil
import pytest
from aiohttp import web

from exporter.app import State, create_app
from exporter.config import Config, DnsConfig, Target
from tests.conftest import free_port
from tests.test_app import value


@pytest.fixture
async def healthy_url(aiohttp_server):
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/api/health", health)
    server = await aiohttp_server(app, host="127.0.0.1")
    return str(server.make_url("")).rstrip("/")


async def test_a_hundred_concurrent_scrapes_all_answer_and_leak_no_descriptors(aiohttp_client, healthy_url, project):
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(512)
    targets = (
        Target(name="healthy", app_url=healthy_url, project_dir=project),
        Target(name="hung", app_url=f"http://127.0.0.1:{hung.getsockname()[1]}"),
        Target(name="down", app_url=f"http://127.0.0.1:{free_port()}"),
    )
    cfg = Config(targets=targets, dns=DnsConfig(names=("localhost",)))
    client = await aiohttp_client(create_app(State(config=cfg, config_file=None, loader=lambda: cfg)))
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": "1.5"}
    me = psutil.Process()

    async def scrape() -> tuple[int, str]:
        response = await client.get("/metrics", headers=headers)
        return response.status, await response.text()

    fds = []
    for _ in range(3):
        results = await asyncio.gather(*(scrape() for _ in range(100)))
        assert [status for status, _ in results] == [200] * 100
        for _, text in (results[0], results[-1]):
            assert value(text, "inventory_http_up", target="healthy", path="/api/health") == 1
            assert value(text, "inventory_probe_failure_info", target="hung", probe="http", reason="timeout") == 1
            assert value(text, "inventory_app_port_listening", target="down") == 0
        fds.append(me.num_fds())
    hung.close()
    # the first burst opens the test client's pooled connections; later bursts must not add more
    assert fds[2] <= fds[0] + 10, f"descriptors grew with the number of scrapes: {fds}"
