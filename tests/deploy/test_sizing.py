"""The sizing figures of deploy/ha/README.md, measured: a real exporter watching a real app behind real
nginx (the alerting end-to-end fixture, a "full" target: app, proxy, endpoint, error log, DNS) is
scraped on /probe?target=shop and /metrics, and its series counted with the Prometheus text parser.
The README's numbers must stay within 25% of what a scrape says today."""

from __future__ import annotations

import re

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.alerting.test_alerting_e2e import monitored  # noqa: F401

from .conftest import DEPLOY

README = DEPLOY / "ha" / "README.md"
SCRAPE_INTERVAL = 15
SYNTHETIC = 5  # up, scrape_duration_seconds, scrape_samples_scraped, scrape_samples_post_metric_relabeling, scrape_series_added


async def series(url: str) -> list:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        async with http.get(url) as response:
            assert response.status == 200, await response.text()
            text = await response.text()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def stated(name: str) -> int:
    match = re.search(rf"<!-- {name} -->\s*\**([\d,]+)", README.read_text(encoding="utf-8"))
    assert match, f"{README} states no {name}"
    return int(match.group(1).replace(",", ""))


async def test_the_readme_sizing_is_what_a_real_scrape_of_a_full_target_gives(monitored):  # noqa: F811
    base = f"http://127.0.0.1:{monitored['exporter_port']}"
    probe = await series(f"{base}/probe?target=shop")
    metrics = await series(f"{base}/metrics")
    per_target = len(probe) + SYNTHETIC
    host = len([s for s in metrics if "target" not in s.labels])
    samples_per_100 = 100 * per_target / SCRAPE_INTERVAL
    print(f"\n/metrics: {len(metrics)} series, {len(metrics) - host} of them per-target")
    print(f"series per target (/probe + synthetic): {per_target}; host series per exporter: {host}; "
          f"samples/s per 100 targets at {SCRAPE_INTERVAL}s: {samples_per_100:.0f}")
    assert len(probe) > 20 and all(s.labels.get("target") == "shop" for s in probe if "target" in s.labels)
    for name, measured in (("series-per-target", per_target), ("host-series", host),
                           ("samples-per-second-per-100", samples_per_100)):
        assert abs(stated(name) - measured) <= 0.25 * measured, f"README {name}={stated(name)}, measured {measured:.0f}"
