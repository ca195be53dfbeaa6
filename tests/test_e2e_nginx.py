"""End to end with real nginx in front of a real app process: the incident and its neighbours.

Each state of the stack must come out as one root cause with the right critical finding.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exporter.app import State, create_app
from exporter.config import Config, DnsConfig, Target
from tests.conftest import free_port, make_project
from tests.support.stack import Nginx, start_app, start_foreign_listener
from tests.test_app import value


@pytest.fixture
def stack(tmp_path: Path):
    app_port, proxy_port = free_port(), free_port()
    project = make_project(tmp_path / "smart-inventory")
    nginx = Nginx(tmp_path / "nginx", proxy_port, app_port)
    target = Target(
        name="shop",
        app_url=f"http://127.0.0.1:{app_port}",
        endpoints=("/api/health", "/api/products"),
        static_paths=("/favicon.ico",),
        proxy_url=f"http://127.0.0.1:{proxy_port}/api/health",
        proxy_error_log=nginx.error_log,
        project_dir=project,
        timeout=3.0,
    )
    running = []
    yield {"target": target, "app_port": app_port, "bin": tmp_path / "bin", "running": running}
    for process in running:
        process.stop()
    nginx.stop()


@pytest.fixture
async def scrape_metrics(aiohttp_client, stack):
    cfg = Config(targets=(stack["target"],), dns=DnsConfig(names=("localhost",)))
    client = await aiohttp_client(create_app(State(config=cfg, config_file=None, loader=lambda: cfg)))

    async def scrape() -> str:
        response = await client.get("/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "5"})
        assert response.status == 200
        return await response.text()

    return scrape


def active_target_findings(text: str) -> dict[str, str]:
    from prometheus_client.parser import text_string_to_metric_families

    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "inventory_finding" and s.labels["target"] == "shop" and s.value == 1:
                found[s.labels["check"]] = s.labels["severity"]
    return found


async def test_healthy_stack_has_no_cause_and_nothing_above_info(stack, scrape_metrics):
    stack["running"].append(start_app(stack["bin"], stack["app_port"]))
    text = await scrape_metrics()
    assert value(text, "inventory_proxy_status_code", target="shop") == 200
    assert value(text, "inventory_app_port_owner_info", target="shop", process="node") == 1
    assert value(text, "inventory_root_cause_info", target="shop", cause="none") == 1
    assert {c: s for c, s in active_target_findings(text).items() if s != "info"} == {}


async def test_stopped_app_is_app_not_listening_with_nginx_502_and_refused_upstreams(stack, scrape_metrics):
    app = start_app(stack["bin"], stack["app_port"])
    before = await scrape_metrics()
    refused_before = value(before, "inventory_proxy_upstream_errors_total", target="shop", reason="connection_refused")
    app.stop()

    text = await scrape_metrics()
    assert value(text, "inventory_proxy_status_code", target="shop") == 502
    assert value(text, "inventory_app_port_listening", target="shop") == 0
    assert value(text, "inventory_root_cause_info", target="shop", cause="app_not_listening") == 1
    assert value(text, "inventory_finding", target="shop", check="app_not_listening", severity="critical") == 1
    # nginx logs the refused upstream connection while the scrape's proxy request is answered
    text = await scrape_metrics()
    refused = value(text, "inventory_proxy_upstream_errors_total", target="shop", reason="connection_refused")
    assert refused > refused_before
    assert active_target_findings(text)["proxy_bad_gateway"] == "critical"


async def test_foreign_process_on_the_app_port_is_a_port_conflict(stack, scrape_metrics):
    stack["running"].append(start_foreign_listener(stack["app_port"]))
    text = await scrape_metrics()
    assert value(text, "inventory_app_port_listening", target="shop") == 1
    assert value(text, "inventory_app_port_conflict", target="shop") == 1
    assert value(text, "inventory_root_cause_info", target="shop", cause="port_conflict") == 1
    owner = [s for s in text.splitlines() if s.startswith("inventory_app_port_owner_info")]
    assert owner and "python" in owner[0]


async def test_hung_app_is_app_unresponsive(stack, scrape_metrics):
    stack["running"].append(start_app(stack["bin"], stack["app_port"], hang=True))
    text = await scrape_metrics()
    assert value(text, "inventory_app_port_listening", target="shop") == 1
    assert value(text, "inventory_http_up", target="shop", path="/api/health") == 0
    assert value(text, "inventory_proxy_status_code", target="shop") == 504
    assert value(text, "inventory_root_cause_info", target="shop", cause="app_unresponsive") == 1
    assert value(text, "inventory_finding", target="shop", check="app_unresponsive", severity="critical") == 1


def write_config(path: Path, target) -> Path:
    path.write_text(
        "targets:\n"
        f"  - name: {target.name}\n    app_url: {target.app_url}\n    endpoints: [/api/health, /api/products]\n"
        f"    proxy_url: {target.proxy_url}\n    proxy_error_log: {target.proxy_error_log}\n"
        f"    project_dir: {target.project_dir}\n    timeout: 3s\n"
        "dns:\n  names: [localhost]\n  include_hostname: false\n"
    )
    return path


def diagnose_json(config: Path) -> tuple[int, dict]:
    import json
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "diagnose", "--config.file", str(config), "--format", "json"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def critical_checks(report: dict) -> set[str]:
    return {f["check"] for t in report["targets"] for f in t["findings"] if f["severity"] == "critical"}


async def test_recovery_reads_none_on_the_first_scrape_after_the_app_answers_again(stack, scrape_metrics, tmp_path):
    app = start_app(stack["bin"], stack["app_port"])
    await scrape_metrics()  # healthy: the error log is tailed from here
    app.stop()
    await scrape_metrics()  # 502: nginx logs the refused connection of this scrape's proxy request
    outage = await scrape_metrics()
    assert value(outage, "inventory_root_cause_info", target="shop", cause="app_not_listening") == 1
    assert active_target_findings(outage)["proxy_upstream_refused"] == "critical"
    assert value(outage, "inventory_up_since_timestamp_seconds", target="shop") is None

    # diagnose started during the outage sees the refusals nginx wrote in the last minutes
    config = write_config(tmp_path / "config.yml", stack["target"])
    code, report = diagnose_json(config)
    assert code == 2 and report["targets"][0]["cause"] == "app_not_listening"
    refused = next(f for f in report["targets"][0]["findings"] if f["check"] == "proxy_upstream_refused")
    assert "connection_refused=" in refused["evidence"]["last_5m"] and refused["evidence"]["last_line"]

    stack["running"].append(start_app(stack["bin"], stack["app_port"]))
    recovered = await scrape_metrics()  # the first scrape after the app answers again
    assert value(recovered, "inventory_proxy_status_code", target="shop") == 200
    assert value(recovered, "inventory_root_cause_info", target="shop", cause="none") == 1
    assert {c for c, s in active_target_findings(recovered).items() if s == "critical"} == set()
    # the outage stays on record: counters and the five-minute gauge keep the refusals
    assert value(recovered, "inventory_proxy_upstream_errors_total", target="shop", reason="connection_refused") >= 1
    assert value(recovered, "inventory_proxy_upstream_errors_recent", target="shop", reason="connection_refused") >= 1
    assert value(recovered, "inventory_up_since_timestamp_seconds", target="shop") > 0

    # diagnose started after recovery, with the outage's refusals still in nginx's last five minutes
    code, report = diagnose_json(config)
    assert report["targets"][0]["cause"] == "none"
    assert critical_checks(report) == set()
    assert code in (0, 1), "no critical finding: not exit 2"
