"""The HTTP surface: /metrics under the scrape deadline, /probe for configured targets only, reload."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from exporter.app import State, create_app
from exporter.config import Config, DnsConfig, Target, load_config
from tests.conftest import free_port


def state_for(*targets: Target, loader=None) -> State:
    cfg = Config(targets=targets, dns=DnsConfig(names=("localhost",)))
    return State(config=cfg, config_file=None, loader=loader or (lambda: cfg))


def samples(text: str) -> dict[tuple, float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(text: str, name: str, /, **labels) -> float | None:
    for (sample, sample_labels), v in samples(text).items():
        if sample == name and all(dict(sample_labels).get(k) == val for k, val in labels.items()):
            return v
    return None


@pytest.fixture
async def healthy_app(aiohttp_server):
    app = web.Application()

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/api/health", health)
    return await aiohttp_server(app, host="127.0.0.1")


@pytest.fixture
def silent_listener():
    """A socket that accepts connections and never answers: a hung app."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield sock.getsockname()[1]
    sock.close()


async def test_metrics_report_a_healthy_app_and_the_host(aiohttp_client, healthy_app):
    t = Target(name="shop", app_url=str(healthy_app.make_url("")).rstrip("/"))
    client = await aiohttp_client(create_app(state_for(t)))
    response = await client.get("/metrics")
    assert response.status == 200
    text = await response.text()
    assert value(text, "inventory_probe_success", target="shop", probe="http") == 1
    assert value(text, "inventory_http_status_code", target="shop", path="/api/health") == 200
    assert value(text, "inventory_app_port_listening", target="shop") == 1
    assert value(text, "inventory_probe_success", probe="host") == 1
    assert 0 < value(text, "inventory_memory_total_bytes")
    assert value(text, "inventory_exporter_build_info") == 1
    assert value(text, "process_resident_memory_bytes") > 0


async def test_a_hung_target_is_cut_off_at_the_scrape_deadline(aiohttp_client, silent_listener):
    t = Target(name="hung", app_url=f"http://127.0.0.1:{silent_listener}", timeout=30.0)
    client = await aiohttp_client(create_app(state_for(t)))
    started = time.monotonic()
    response = await client.get("/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "1.5"})
    elapsed = time.monotonic() - started
    text = await response.text()
    assert response.status == 200
    assert elapsed < 1.5, "the scrape must answer before Prometheus gives up"
    assert value(text, "inventory_app_port_listening", target="hung") == 1
    assert value(text, "inventory_probe_success", target="hung", probe="http") == 0
    assert value(text, "inventory_probe_failure_info", target="hung", probe="http", reason="timeout") == 1


async def test_the_target_timeout_caps_the_deadline_without_a_header(aiohttp_client, silent_listener):
    t = Target(name="hung", app_url=f"http://127.0.0.1:{silent_listener}", timeout=0.3)
    client = await aiohttp_client(create_app(state_for(t)))
    started = time.monotonic()
    text = await (await client.get("/probe", params={"target": "hung"})).text()
    assert time.monotonic() - started < 2.0
    assert value(text, "inventory_http_up", target="hung", path="/api/health") == 0


async def test_probe_returns_only_the_named_target(aiohttp_client, healthy_app):
    url = str(healthy_app.make_url("")).rstrip("/")
    a, b = Target(name="a", app_url=url), Target(name="b", app_url=f"http://127.0.0.1:{free_port()}")
    client = await aiohttp_client(create_app(state_for(a, b)))
    text = await (await client.get("/probe", params={"target": "a"})).text()
    assert value(text, "inventory_http_up", target="a", path="/api/health") == 1
    assert value(text, "inventory_http_up", target="b") is None
    assert value(text, "inventory_cpu_usage_ratio") is None


@pytest.mark.parametrize(
    "params",
    [{}, {"target": ""}, {"target": "http://127.0.0.1:1/"}, {"target": "unknown"}, {"target": "x" * 500}],
)
async def test_probe_refuses_anything_but_a_configured_target_name(aiohttp_client, params):
    client = await aiohttp_client(create_app(state_for(Target(name="a"))))
    response = await client.get("/probe", params=params)
    assert response.status == 400


async def test_health_readiness_and_landing_page_answer(aiohttp_client):
    client = await aiohttp_client(create_app(state_for(Target(name="shop"))))
    assert (await client.get("/-/healthy")).status == 200
    assert (await client.get("/-/ready")).status == 200
    page = await (await client.get("/")).text()
    assert 'href="metrics"' in page and "shop" in page


async def test_a_bad_reload_keeps_the_old_config_and_says_so_in_a_metric(aiohttp_client, tmp_path: Path):
    config_file = tmp_path / "config.yml"
    config_file.write_text("targets:\n  - name: first\n")
    state = State(config=load_config(config_file), config_file=config_file, loader=lambda: load_config(config_file))
    client = await aiohttp_client(create_app(state))

    config_file.write_text("targets:\n  - name: second\n    timout: 5s\n")
    response = await client.post("/-/reload")
    assert response.status == 500
    assert "timout" in await response.text()
    text = await (await client.get("/metrics")).text()
    assert value(text, "inventory_exporter_config_last_reload_successful") == 0
    assert value(text, "inventory_probe_success", target="first", probe="port") is not None

    config_file.write_text("targets:\n  - name: second\n")
    assert (await client.post("/-/reload")).status == 200
    text = await (await client.get("/metrics")).text()
    assert value(text, "inventory_exporter_config_last_reload_successful") == 1
    assert value(text, "inventory_probe_success", target="second", probe="port") is not None
    assert value(text, "inventory_probe_success", target="first", probe="port") is None


async def test_reload_must_be_a_post(aiohttp_client):
    client = await aiohttp_client(create_app(state_for(Target(name="a"))))
    assert (await client.get("/-/reload")).status == 405


async def test_openmetrics_is_served_when_asked_for(aiohttp_client):
    client = await aiohttp_client(create_app(state_for(Target(name="a"))))
    response = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await response.text()).rstrip().endswith("# EOF")


from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(st.text(max_size=40), st.text(max_size=300), max_size=10))
async def test_any_query_parameters_give_a_clean_answer_never_a_server_error(aiohttp_client, params):
    client = await aiohttp_client(create_app(state_for(Target(name="shop", app_url=f"http://127.0.0.1:{free_port()}", timeout=0.5))))
    for path in ("/probe", "/"):
        response = await client.get(path, params=params)
        assert response.status in (200, 400), (path, params, response.status)
        if path == "/probe" and params.get("target") != "shop":
            assert response.status == 400
