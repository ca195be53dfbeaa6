"""/probe?target=NAME&debug=true: each probe's outcome, reason, detail and duration, then the metrics."""

from __future__ import annotations

import json
import re

import psutil
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import create_app
from exporter.config import Target
from tests.test_app import state_for

PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def logfmt(line: str) -> dict[str, str]:
    return {key: json.loads(value) if value.startswith('"') else value for key, value in PAIR.findall(line)}


def section(text: str, title: str) -> list[str]:
    """The lines under ``title`` up to the next blank line."""
    lines = text.split("\n")
    start = lines.index(title) + 1
    end = lines.index("", start)
    return lines[start:end]


@pytest.fixture
async def app_with_a_broken_endpoint(aiohttp_server):
    app = web.Application()

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def broken(request: web.Request) -> web.Response:
        return web.json_response({"error": "boom"}, status=500)

    app.router.add_get("/api/health", health)
    app.router.add_get("/api/broken", broken)
    return await aiohttp_server(app, host="127.0.0.1")


@pytest.fixture
async def debug_page(aiohttp_client, app_with_a_broken_endpoint):
    port = app_with_a_broken_endpoint.port
    target = Target(
        name="shop", app_url=f"http://admin:hunter2@127.0.0.1:{port}",
        endpoints=("/api/health", "/api/broken?token=t0k3n"),
        app_process_names=(psutil.Process().name(),),  # the app server runs in this test process
    )
    client = await aiohttp_client(create_app(state_for(target)))
    response = await client.get("/probe", params={"target": "shop", "debug": "true"})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return await response.text()


async def test_every_probe_is_logged_with_its_outcome_and_the_duration_the_metrics_report(debug_page):
    logs = [logfmt(line) for line in section(debug_page, "Logs for the probe:")]
    metrics = "\n".join(section(debug_page, "Metrics that would have been returned:")) + "\n"
    success, duration = {}, {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "inventory_probe_success":
                success[sample.labels["probe"]] = sample.value
            if sample.name == "inventory_probe_duration_seconds":
                duration[sample.labels["probe"]] = sample.value
    assert {entry["probe"] for entry in logs} == set(success) == {"http", "port"}
    for entry in logs:
        assert entry["outcome"] == ("success" if success[entry["probe"]] == 1 else "failure"), entry
        assert float(entry["duration_seconds"]) == pytest.approx(duration[entry["probe"]], abs=1e-6)
    http = next(entry for entry in logs if entry["probe"] == "http")
    assert http["outcome"] == "failure" and http["reason"] == "http_status"
    assert "/api/broken" in http["detail"]


async def test_the_diagnosis_and_the_target_configuration_are_shown(debug_page):
    assert "root_cause=app_error" in section(debug_page, "Diagnosis:")
    assert any(line.startswith("finding=endpoint_failing severity=critical") for line in section(debug_page, "Diagnosis:"))
    configuration = debug_page.split("Target configuration:\n", 1)[1]
    assert "name: shop" in configuration and "- /api/health" in configuration


async def test_secrets_never_reach_the_debug_page(debug_page):
    assert "hunter2" not in debug_page and "t0k3n" not in debug_page
    assert "admin:<secret>@127.0.0.1" in debug_page


@pytest.mark.parametrize("debug", ["false", "", "1x"])
async def test_without_debug_true_the_probe_answers_metrics(aiohttp_client, app_with_a_broken_endpoint, debug):
    target = Target(name="shop", app_url=f"http://127.0.0.1:{app_with_a_broken_endpoint.port}")
    client = await aiohttp_client(create_app(state_for(target)))
    response = await client.get("/probe", params={"target": "shop", "debug": debug})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "Logs for the probe:" not in await response.text()


async def test_debug_of_an_unknown_target_is_still_a_400(aiohttp_client):
    client = await aiohttp_client(create_app(state_for(Target(name="shop"))))
    response = await client.get("/probe", params={"target": "nope", "debug": "true"})
    assert response.status == 400
