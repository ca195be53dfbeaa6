"""What node_exporter and blackbox_exporter users expect of the pages: gzip when asked, the telemetry
path, exporter metrics and host collectors that can be turned off, and the landing page's language."""

from __future__ import annotations

import gzip

import pytest

from exporter.app import create_app
from exporter.config import Target
from exporter.exposition import wants_gzip
from tests.conftest import free_port
from tests.test_app import state_for, value


def down_target() -> Target:
    return Target(name="shop", app_url=f"http://127.0.0.1:{free_port()}", timeout=1.0)


@pytest.mark.parametrize(
    "header, expected",
    [("gzip", True), ("gzip, deflate, br", True), ("deflate, gzip;q=0.5", True), ("*", True),
     ("GZIP", True), ("identity", False), ("", False), ("deflate", False), ("gzip;q=0", False), ("gzip;q=x", False)],
)
def test_wants_gzip(header, expected):
    assert wants_gzip(header) is expected


@pytest.mark.parametrize("path", ["/metrics", "/probe?target=shop", "/probe?target=shop&debug=true"])
async def test_gzip_is_used_whenever_the_scraper_accepts_it_however_small_the_page(aiohttp_client, path):
    client = await aiohttp_client(create_app(state_for(down_target())))
    response = await client.get(path, headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert response.status == 200
    assert response.headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(await response.read()).decode()
    assert "inventory_probe_success" in text
    assert len(text) < 16 * 1024 or path == "/metrics"


@pytest.mark.parametrize("accept_encoding", ["identity", "gzip;q=0", "deflate"])
async def test_no_gzip_unless_asked(aiohttp_client, accept_encoding):
    client = await aiohttp_client(create_app(state_for(down_target())))
    response = await client.get("/metrics", headers={"Accept-Encoding": accept_encoding}, auto_decompress=False)
    assert "Content-Encoding" not in response.headers
    assert value((await response.read()).decode(), "inventory_probe_success", target="shop", probe="port") == 0


async def test_the_telemetry_path_moves_the_metrics_page(aiohttp_client):
    client = await aiohttp_client(create_app(state_for(down_target()), telemetry_path="/internal/metrics"))
    response = await client.get("/internal/metrics")
    assert response.status == 200
    assert value(await response.text(), "inventory_exporter_build_info") == 1
    assert (await client.get("/metrics")).status == 404
    assert 'href="internal/metrics"' in await (await client.get("/")).text()


async def test_disabling_exporter_metrics_drops_the_process_ones_and_keeps_the_exporters_own(aiohttp_client):
    state = state_for(down_target())
    state.exporter_metrics = False
    client = await aiohttp_client(create_app(state))
    text = await (await client.get("/metrics")).text()
    assert not any(line.startswith(("process_", "python_", "# HELP process_", "# HELP python_")) for line in text.splitlines())
    assert value(text, "inventory_exporter_build_info") == 1
    assert value(text, "inventory_exporter_targets") == 1
    assert value(text, "inventory_probe_success", target="shop", probe="port") == 0


async def test_by_default_exporter_metrics_are_there(aiohttp_client):
    client = await aiohttp_client(create_app(state_for(down_target())))
    text = await (await client.get("/metrics")).text()
    assert value(text, "process_resident_memory_bytes") > 0
    assert value(text, "python_info") == 1


@pytest.mark.parametrize("enabled", [(), ("host",), ("loopback", "dns"), ("host", "loopback", "dns")])
async def test_only_the_enabled_host_collectors_run(aiohttp_client, enabled):
    from exporter.probes import HOST_PROBES

    state = state_for(down_target())
    state.host_probes = {name: HOST_PROBES[name] for name in enabled}
    client = await aiohttp_client(create_app(state))
    response = await client.get("/metrics")
    assert response.status == 200
    text = await response.text()
    for name in HOST_PROBES:
        ran = value(text, "inventory_probe_success", target="", probe=name) is not None
        assert ran == (name in enabled), name
    assert (value(text, "inventory_memory_total_bytes") is not None) == ("host" in enabled)
    assert (value(text, "inventory_dns_lookup_success", name="localhost") is not None) == ("dns" in enabled)
    assert (value(text, "inventory_loopback_up") is not None) == ("loopback" in enabled)
    assert value(text, "inventory_probe_success", target="shop", probe="port") == 0, "targets are probed regardless"


async def landing_lang(client, params=None, accept_language=None) -> str:
    headers = {"Accept-Language": accept_language} if accept_language is not None else {}
    response = await client.get("/", params=params or {}, headers=headers)
    assert response.status == 200
    page = await response.text()
    return page.split('<html lang="', 1)[1].split('"', 1)[0]


@pytest.fixture
async def landing(aiohttp_client):
    state = state_for(down_target())
    state.host_probes = {}
    return await aiohttp_client(create_app(state))


@pytest.mark.parametrize("spelling", ["zh-CN", "zh-cn", "zh_CN", "zh", "ZH-cn"])
async def test_the_lang_parameter_takes_every_spelling_of_chinese(landing, spelling):
    assert await landing_lang(landing, {"lang": spelling}) == "zh-CN"


@pytest.mark.parametrize(
    "header, expected",
    [("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"), ("en-US,en;q=0.9", "en"), ("fr-FR, zh;q=0.5", "zh-CN"),
     ("fr-FR", "en"), ("", "en"), ("en;q=0.4, zh-TW;q=0.8", "zh-CN")],
)
async def test_without_lang_the_browsers_accept_language_decides(landing, header, expected):
    assert await landing_lang(landing, accept_language=header) == expected


async def test_the_lang_parameter_wins_over_accept_language(landing):
    assert await landing_lang(landing, {"lang": "en"}, "zh-CN,zh;q=0.9") == "en"
    assert await landing_lang(landing, {"lang": "zh"}, "en-US") == "zh-CN"


async def test_an_unknown_lang_parameter_falls_back_to_english(landing):
    assert await landing_lang(landing, {"lang": "fr"}, "zh-CN") == "en"
