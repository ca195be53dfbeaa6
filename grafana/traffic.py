"""The "Traffic" row of both dashboards: what users got, from nginx's access log (the access-log probe's
``inventory_requests_total`` and ``inventory_request_duration_seconds``) and the SLO recording rules of
alerting-rules/config.yml (error budget remaining).

``panels(b)`` takes ``b``, grafana/panels.py, the building blocks (query, ts, st, selectors, colours),
so this module adds panels without importing its importer.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import yaml

RULES_CONFIG = Path(__file__).resolve().parents[1] / "alerting-rules" / "config.yml"
AVAILABILITY_ALERTS = ("InventorySLOAvailabilityBurnFast", "InventorySLOAvailabilityBurnSlow",
                       "InventorySLOAvailabilityBudgetTicket")
LATENCY_ALERTS = ("InventorySLOLatencyBurnFast", "InventorySLOLatencyBurnSlow", "InventorySLOLatencyBudgetTicket")
QUANTILES = (("A", 0.5, "p50"), ("B", 0.95, "p95"), ("C", 0.99, "p99"))


def availability_budget() -> tuple[float, float]:
    """(error budget as a ratio, the fast page's burn rate) of the availability SLO in alerting-rules/config.yml."""
    config = yaml.safe_load(RULES_CONFIG.read_text(encoding="utf-8"))
    objective = Decimal(str(config["slos"]["availability"]["objective"]))
    fast = max(Decimal(str(a["burn_rate"])) for a in config["burn_rate_alerts"])
    return float((100 - objective) / 100), float(fast)


def requests_panel(b, w: int):
    return b.ts(
        "Requests by status class",
        "Requests per second nginx logged for the target (its access log, every user request, not the probes), "
        "by status class: 2xx, 3xx, 4xx, 5xx. Needs access_log in the target's config (or nginx discovery).",
        "reqps",
        [b.query(f"sum by ({b.BY}, code_class) (rate(inventory_requests_total{{{b.TGT}}}[$__rate_interval]))",
                 "{{target}} {{code_class}}")],
        AVAILABILITY_ALERTS[:2], w=w, h=8, min_=0,
    )


def error_ratio_panel(b, w: int):
    budget, fast = availability_budget()
    total = f"sum by ({b.BY}) (rate(inventory_requests_total{{{b.TGT}}}[$__rate_interval]))"
    errors = f'sum by ({b.BY}) (rate(inventory_requests_total{{{b.TGT}, code_class="5xx"}}[$__rate_interval]))'
    return b.ts(
        "Error ratio (5xx)",
        f"Share of logged requests answered 5xx (0 when none). Dashed lines: the availability SLO's error budget, "
        f"{budget:.1%} (yellow: sustained above it spends the budget faster than it lasts), and {fast:g}x that, "
        f"{budget * fast:.1%} (red: the fast page's burn rate).",
        "percentunit",
        [b.query(f"({errors} or on ({b.BY}) 0 * {total}) / {total}", "{{target}} 5xx")],
        AVAILABILITY_ALERTS[:2], w=w, h=8, min_=0, thresholds=((budget, b.YELLOW), (budget * fast, b.RED)),
    )


def latency_panel(b, w: int):
    api, page = b.THRESHOLDS["api_seconds"], b.THRESHOLDS["page_seconds"]
    buckets = f"sum by ({b.BY}, kind, le) (rate(inventory_request_duration_seconds_bucket{{{b.TGT}}}[$__rate_interval]))"
    return b.ts(
        "Request latency p50 / p95 / p99",
        f"Percentiles of $request_time of the logged requests by kind (api, page, static), from the histogram "
        f"(aggregates across instances). Dashed lines: the report's thresholds, API {api * 1000:.0f} ms (yellow) "
        f"and page {page:g} s (red); the latency SLO counts API requests over {api * 1000:.0f} ms.",
        "s",
        [b.query(f"histogram_quantile({q}, {buckets})", f"{{{{target}}}} {{{{kind}}}} {label}", ref)
         for ref, q, label in QUANTILES],
        LATENCY_ALERTS[:2] + ("InventoryApiSlow", "InventoryPageSlow"), w=w, h=8, min_=0,
        thresholds=((api, b.YELLOW), (page, b.RED)),
    )


def budget_panel(b, w: int):
    return b.st(
        "Error budget remaining",
        "Share of each SLO's error budget left over its window (alerting-rules/config.yml `slos`: availability "
        "99.5 %, API latency 99 % within 500 ms, 28 days by default), from the recording rule "
        "inventory:slo_error_budget_remaining:ratio. Negative: overspent. Red below 0, yellow below 25 %.",
        "percentunit",
        [b.query(f"min by ({b.BY}, slo) (inventory:slo_error_budget_remaining:ratio{{{b.TGT}}})",
                 "{{target}} {{slo}}", instant=True)],
        AVAILABILITY_ALERTS[2:] + LATENCY_ALERTS[2:], w=w, h=8,
        thresholds=((None, b.RED), (0, b.YELLOW), (0.25, b.GREEN)),
        colour_mode=b.cm.BigValueColorMode.VALUE,
    )


def panels(b, wide: bool = False) -> list:
    """The row's panels: requests, error ratio, latency percentiles, budget (two per line when ``wide``)."""
    w = 12 if wide else 6
    return [requests_panel(b, w), error_ratio_panel(b, w), latency_panel(b, w), budget_panel(b, w)]
