"""The Traffic row (grafana/traffic.py): on both dashboards, every query valid PromQL (promtool parses it,
expanded as Grafana expands it), the report's and the SLO's lines drawn, the budget from the shipped
recording rule, and the lint knowing histograms, recording rules and the access-log metric contract."""

from __future__ import annotations

import copy
import subprocess

import pytest
import yaml

from exporter.diagnosis import THRESHOLDS
from exporter.metrics import METRICS
from tests.grafana.conftest import committed_dashboards, shipped_alert_names
from tests.grafana.lint import lint, recorded_names
from tests.support.stack import require

ROW = "Traffic (nginx access log) and SLOs"
TITLES = ["Requests by status class", "Error ratio (5xx)", "Request latency p50 / p95 / p99", "Error budget remaining"]
GRAFANA_VALUES = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s", "$job": ".+", "$instance": ".+",
                  "$target": ".+"}


def traffic_panels(dashboard: dict) -> list[dict]:
    panels, inside = [], False
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            inside = panel["title"] == ROW
        elif inside:
            panels.append(panel)
    return panels


def expand(expr: str) -> str:
    for name in sorted(GRAFANA_VALUES, key=len, reverse=True):
        expr = expr.replace(name, GRAFANA_VALUES[name])
    return expr


@pytest.mark.parametrize("name", sorted(committed_dashboards()))
def test_both_dashboards_have_the_traffic_row_with_its_four_panels(name):
    assert [p["title"] for p in traffic_panels(committed_dashboards()[name])] == TITLES


def test_every_traffic_query_is_valid_promql(tmp_path):
    rules = [{"record": f"traffic:query:{i}", "expr": expand(t["expr"])}
             for d in committed_dashboards().values() for p in traffic_panels(d) for i, t in enumerate(p["targets"])]
    assert len(rules) == 2 * 6
    path = tmp_path / "traffic-queries.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "traffic", "rules": rules}]}), encoding="utf-8")
    result = subprocess.run([require("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def thresholds(panel: dict) -> list[float]:
    return [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"] if s["value"] is not None]


def test_latency_is_drawn_against_the_reports_thresholds_and_errors_against_the_budget():
    panels = {p["title"]: p for p in traffic_panels(committed_dashboards()["inventory-overview.json"])}
    latency = panels["Request latency p50 / p95 / p99"]
    assert thresholds(latency) == [THRESHOLDS["api_seconds"], THRESHOLDS["page_seconds"]]
    assert [t["expr"].split(",")[0] for t in latency["targets"]] == [
        "histogram_quantile(0.5", "histogram_quantile(0.95", "histogram_quantile(0.99"]
    assert thresholds(panels["Error ratio (5xx)"]) == pytest.approx([0.005, 0.005 * 14.4])
    budget = panels["Error budget remaining"]
    assert "inventory:slo_error_budget_remaining:ratio" in budget["targets"][0]["expr"]
    assert "inventory:slo_error_budget_remaining:ratio" in recorded_names()
    assert {link["url"].rsplit("#", 1)[1] for p in panels.values() for link in p["links"]} >= {
        "inventorysloavailabilityburnfast", "inventorysloavailabilitybudgetticket", "inventorysloLatencyburnfast".lower()}


def _broken(expr_from: str, expr_to: str) -> set[tuple[str, str]]:
    dashboard = copy.deepcopy(committed_dashboards()["inventory-overview.json"])
    for panel in traffic_panels(dashboard):
        for target in panel["targets"]:
            target["expr"] = target["expr"].replace(expr_from, expr_to)
    return {(rule, message) for rule, _, message in lint(dashboard, shipped_alert_names())}


def test_the_lint_knows_histogram_series_and_recording_rules():
    assert _broken("inventory:slo_error_budget_remaining:ratio", "inventory:slo_budget:ratio") == {
        ("target-selectors", "inventory:slo_budget:ratio is not recorded by the shipped rules")}
    unfiltered = _broken('inventory:slo_error_budget_remaining:ratio{job=~"$job", ', "inventory:slo_error_budget_remaining:ratio{")
    assert unfiltered == {("target-selectors", 'inventory:slo_error_budget_remaining:ratio is not filtered by job=~"$job"')}
    outside_rate = _broken("rate(inventory_request_duration_seconds_bucket", "abs(inventory_request_duration_seconds_bucket")
    assert ("target-counter-rate", "counter inventory_request_duration_seconds_bucket used outside rate()/increase()") in outside_rate
    assert _broken("inventory_request_duration_seconds_bucket", "inventory_request_duration_bucket") >= {
        ("target-selectors", "inventory_request_duration_bucket is not a metric the exporter emits")}
