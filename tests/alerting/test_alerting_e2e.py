"""End to end with real servers on 127.0.0.1: Prometheus scrapes the real exporter watching a real app
behind real nginx, evaluates the rules made by alerting-rules/generate.py (with shortened `for:`),
and notifies a real Alertmanager configured like the shipped alertmanager.yml, which pages a small
webhook receiver standing in for the pager.

Stop the app: InventoryAppNotListening pages with severity=critical and its runbook link, and the
cascade (nginx 502, refused upstreams) is inhibited. Restart it: the page resolves.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from exporter.app import State, create_app
from exporter.config import Config, DnsConfig, Target
from tests.alerting.conftest import ALERTMANAGER_FILE, GENERATOR
from tests.conftest import free_port
from tests.support.stack import LoggedServer as Server
from tests.support.stack import Nginx, require, start_app

FOR_SCALE = "0.01"  # 1m -> 600ms: the generator's own knob, never a hand-copied rules file
POLL = 0.2
CASCADE = ("InventoryProxyBadGateway", "InventoryProxyUpstreamRefused")


async def eventually(probe, within: float, what: str, servers: list[Server]):
    """Poll ``probe`` (async, returns something truthy when done) until ``within`` seconds have passed."""
    end = time.monotonic() + within
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {within}s" + "".join(s.tail() for s in servers))
        await asyncio.sleep(POLL)


def alertmanager_config_for_test(webhook: str) -> dict:
    """The shipped alertmanager.yml with only the receivers' URLs and the timings changed."""
    config = yaml.safe_load(ALERTMANAGER_FILE.read_text(encoding="utf-8"))
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{webhook}/{receiver['name']}"
    config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    for route in config["route"]["routes"]:
        if "repeat_interval" in route:
            route["repeat_interval"] = "1h"
    return config


@pytest.fixture
async def pager(aiohttp_server):
    """A webhook receiver on 127.0.0.1 recording every Alertmanager notification as (receiver, alert)."""
    received: list[tuple[str, dict]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        received.extend((request.match_info["receiver"], alert) for alert in body["alerts"])
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{receiver}", hook)
    server = await aiohttp_server(app, host="127.0.0.1")
    return f"http://127.0.0.1:{server.port}", received


@pytest.fixture
async def monitored(tmp_path: Path, aiohttp_server):
    """The app (a process named node) behind nginx, and the real exporter watching it."""
    app_port, proxy_port = free_port(), free_port()
    nginx = Nginx(tmp_path / "nginx", proxy_port, app_port)
    bin_dir = tmp_path / "bin"
    apps = [start_app(bin_dir, app_port)]
    target = Target(
        name="shop",
        app_url=f"http://127.0.0.1:{app_port}",
        endpoints=("/api/health",),
        proxy_url=f"http://127.0.0.1:{proxy_port}/api/health",
        proxy_error_log=nginx.error_log,
        timeout=2.0,
    )
    cfg = Config(targets=(target,), dns=DnsConfig(names=("localhost",)))
    exporter = await aiohttp_server(create_app(State(config=cfg, config_file=None, loader=lambda: cfg)), host="127.0.0.1")
    yield {"exporter_port": exporter.port, "app_port": app_port, "bin": bin_dir, "apps": apps}
    for app in apps:
        app.stop()
    nginx.stop()


@pytest.fixture
async def monitoring(tmp_path: Path, monitored, pager):
    """Real Alertmanager and Prometheus on loopback, with their own storage under tmp_path."""
    webhook, _ = pager
    am_port, prom_port = free_port(), free_port()
    servers: list[Server] = []

    am_dir = tmp_path / "alertmanager"
    am_dir.mkdir()
    (am_dir / "alertmanager.yml").write_text(yaml.safe_dump(alertmanager_config_for_test(webhook)))
    check = subprocess.run([require("amtool"), "check-config", str(am_dir / "alertmanager.yml")], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr

    prom_dir = tmp_path / "prometheus"
    prom_dir.mkdir()
    rules = prom_dir / "inventory.rules.yml"
    generated = subprocess.run([sys.executable, str(GENERATOR), "--for-scale", FOR_SCALE, "--out", str(rules)],
                               capture_output=True, text=True, timeout=30)
    assert generated.returncode == 0, generated.stderr
    (prom_dir / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "alerting": {"alertmanagers": [{"api_version": "v2", "static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [{"job_name": "inventory", "static_configs": [{"targets": [f"127.0.0.1:{monitored['exporter_port']}"]}]}],
    }))
    try:
        servers.append(Server("alertmanager", [
            require("prometheus-alertmanager"),
            f"--config.file={am_dir / 'alertmanager.yml'}",
            f"--storage.path={am_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            f"--web.external-url=http://127.0.0.1:{am_port}/",
            "--cluster.listen-address=",
        ], tmp_path / "alertmanager.log"))
        servers.append(Server("prometheus", [
            require("prometheus"),
            f"--config.file={prom_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={prom_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            f"--web.external-url=http://127.0.0.1:{prom_port}/",
        ], tmp_path / "prometheus.log"))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            env = {"http": http, "servers": servers, "am": f"http://127.0.0.1:{am_port}",
                   "prom": f"http://127.0.0.1:{prom_port}"}

            async def ready() -> bool:
                for url in (f"{env['am']}/-/ready", f"{env['prom']}/-/ready"):
                    try:
                        async with http.get(url) as response:
                            if response.status != 200:
                                return False
                    except aiohttp.ClientError:
                        return False
                return True

            await eventually(ready, 20, "Prometheus and Alertmanager ready", servers)
            yield env
    finally:
        for server in reversed(servers):
            server.stop()


async def prom_query(env: dict, query: str) -> list[dict]:
    async with env["http"].get(f"{env['prom']}/api/v1/query", params={"query": query}) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["data"]["result"]


async def am_alerts(env: dict, alertname: str) -> list[dict]:
    async with env["http"].get(f"{env['am']}/api/v2/alerts", params={"filter": f'alertname="{alertname}"'}) as response:
        assert response.status == 200, await response.text()
        return await response.json()


def notifications(received: list[tuple[str, dict]], alertname: str, status: str) -> list[tuple[str, dict]]:
    return [(r, a) for r, a in received if a["labels"].get("alertname") == alertname and a["status"] == status]


async def test_stopped_app_pages_once_with_its_runbook_inhibits_the_cascade_and_resolves_on_restart(
    monitored, monitoring, pager
):
    env, servers = monitoring, monitoring["servers"]
    _, received = pager
    started = time.monotonic()

    # Healthy: Prometheus scrapes the exporter, which sees the app listening through nginx.
    async def healthy_scraped():
        return await prom_query(env, 'inventory_app_port_listening{job="inventory",target="shop"} == 1') and \
            await prom_query(env, 'inventory_proxy_status_code{target="shop"} == 200')

    await eventually(healthy_scraped, 20, "a healthy scrape of the app through nginx", servers)
    assert await prom_query(env, 'ALERTS{alertname="InventoryAppNotListening"}') == []

    # Stop the app: the root cause pages with severity=critical and its runbook link.
    monitored["apps"].pop().stop()

    async def paged():
        return notifications(received, "InventoryAppNotListening", "firing")

    receiver, alert = (await eventually(paged, 25, "InventoryAppNotListening at the pager", servers))[0]
    assert receiver == "pager"
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["target"] == "shop"
    assert alert["annotations"]["runbook_url"].endswith("docs/runbooks.md#inventoryappnotlistening")
    assert "shop" in alert["annotations"]["description"]

    # The cascade fires in Prometheus but Alertmanager holds it back, inhibited by the root cause.
    async def bad_gateway_inhibited():
        alerts = await am_alerts(env, "InventoryProxyBadGateway")
        return [a for a in alerts if a["status"]["state"] == "suppressed" and a["status"]["inhibitedBy"]]

    inhibited = await eventually(bad_gateway_inhibited, 15, "InventoryProxyBadGateway inhibited in Alertmanager", servers)
    assert inhibited[0]["labels"]["target"] == "shop"
    assert await prom_query(env, 'ALERTS{alertname="InventoryProxyBadGateway",alertstate="firing"}')

    # Restart the app: the page resolves.
    monitored["apps"].append(start_app(monitored["bin"], monitored["app_port"]))

    async def resolved():
        return notifications(received, "InventoryAppNotListening", "resolved")

    receiver, alert = (await eventually(resolved, 25, "InventoryAppNotListening resolved at the pager", servers))[0]
    assert receiver == "pager" and alert["labels"]["target"] == "shop"

    # Nothing of the cascade ever reached a receiver.
    leaked = [(r, a["labels"]["alertname"], a["status"], a["startsAt"], a["endsAt"]) for r, a in received
              if a["labels"].get("alertname") in CASCADE]
    assert leaked == [], f"{leaked} {[(r, a['labels']['alertname'], a['status'], a['startsAt'], a['endsAt']) for r, a in received]}"
    assert time.monotonic() - started < 60
