"""Since when the live probes pass: set at the first passing scrape, cleared by a failing one."""

from __future__ import annotations

from exporter.metrics import Samples
from exporter.recovery import live_probes_pass, track_recovery


def scrape_of(proxy: int | None = None, listening: int | None = 1, api_up: int = 1) -> Samples:
    out = Samples({"target": "t"})
    if proxy is not None:
        out.add("inventory_proxy_status_code", proxy)
    if listening is not None:
        out.add("inventory_app_port_listening", listening, port="3001")
    out.add("inventory_http_up", api_up, path="/api/health", kind="api")
    out.add("inventory_http_up", 0, path="/favicon.ico", kind="static")  # static assets are not "live"
    return out


def test_the_front_decides_when_there_is_one():
    assert live_probes_pass(scrape_of(proxy=200, listening=0)) is True  # nginx answers: users are served
    assert live_probes_pass(scrape_of(proxy=404)) is True
    assert live_probes_pass(scrape_of(proxy=502)) is False
    assert live_probes_pass(scrape_of(proxy=0)) is False


def test_without_a_front_the_port_and_endpoints_decide():
    assert live_probes_pass(scrape_of()) is True
    assert live_probes_pass(scrape_of(listening=0)) is False
    assert live_probes_pass(scrape_of(api_up=0)) is False
    assert live_probes_pass(scrape_of(listening=None)) is None


def test_up_since_is_the_start_of_the_first_passing_scrape_and_a_failure_clears_it(ctx):
    first = scrape_of(proxy=200)
    assert track_recovery("t", ctx, first, 100.0) == 100.0
    assert first.value("inventory_up_since_timestamp_seconds") == 100.0
    later = scrape_of(proxy=200)
    assert track_recovery("t", ctx, later, 115.0) == 100.0
    failing = scrape_of(proxy=502)
    assert track_recovery("t", ctx, failing, 130.0) is None
    assert failing.value("inventory_up_since_timestamp_seconds") is None
    assert track_recovery("t", ctx, scrape_of(proxy=200), 145.0) == 145.0
    assert track_recovery("other", ctx, scrape_of(proxy=200), 146.0) == 146.0, "kept per target"
