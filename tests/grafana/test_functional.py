"""The functional row (grafana/functional.py) on both dashboards, and what its queries compute on series
the live test's healthy app never produces: a failing condition with its reason, an expiring certificate
on one of two URLs, a missing asset, a stale build. promtool evaluates the committed queries (expanded as
Grafana expands them) over input series."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from exporter.diagnosis import THRESHOLDS
from tests.grafana.conftest import committed_dashboards
from tests.support.stack import require

ROW = "Does the app work: https front, conditions, page render"
TITLES = ["Certificate days left", "Certificate trust", "Failing conditions", "Page assets not loading", "Stale build"]
ALERTS = {"Certificate days left": {"inventorytlscertexpired", "inventorytlscertexpiring"},
          "Certificate trust": {"inventorytlscertinvalid", "inventorytlscertexpired"},
          "Failing conditions": {"inventoryendpointconditionfailed"},
          "Page assets not loading": {"inventorypageassetsfailing"},
          "Stale build": {"inventorystalebuild"}}
GRAFANA_VALUES = {"$job": ".+", "$instance": ".+", "$target": ".+"}
SHOP = 'job="inventory", instance="127.0.0.1:9", target="shop"'
DOWN = 'job="inventory", instance="127.0.0.1:9", target="down"'


def row_panels(dashboard: dict) -> dict[str, dict]:
    panels, inside = {}, False
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            inside = panel["title"] == ROW
        elif inside:
            panels[panel["title"]] = panel
    return panels


def expr(title: str, ref: str = "A") -> str:
    panel = row_panels(committed_dashboards()["inventory-overview.json"])[title]
    text = next(t["expr"] for t in panel["targets"] if t["refId"] == ref)
    for name, value in GRAFANA_VALUES.items():
        text = text.replace(name, value)
    return text


@pytest.mark.parametrize("name", sorted(committed_dashboards()))
def test_both_dashboards_have_the_functional_row_linking_its_alerts(name):
    panels = row_panels(committed_dashboards()[name])
    assert list(panels) == TITLES
    for title, anchors in ALERTS.items():
        assert {link["url"].rsplit("#", 1)[1] for link in panels[title]["links"]} == anchors


def test_certificate_days_left_are_coloured_at_the_diagnosis_thresholds():
    panel = row_panels(committed_dashboards()["inventory-overview.json"])["Certificate days left"]
    steps = [(s["value"], s["color"]) for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert steps == [(None, "red"), (THRESHOLDS["cert_critical_days"], "yellow"), (THRESHOLDS["cert_warning_days"], "green")]
    assert (THRESHOLDS["cert_critical_days"], THRESHOLDS["cert_warning_days"]) == (3, 14)


def promtool(tmp_path, series: dict[str, str], tests: list[dict]) -> None:
    doc = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "promql_expr_test": tests,
    }]}
    path = tmp_path / "functional.test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    run = subprocess.run([require("promtool"), "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_queries_compute_days_left_failing_conditions_assets_and_build_over_real_series(tmp_path):
    day = 86400
    series = {
        # shop: two https URLs, the sooner expires 10 days after the epoch; one condition fails, one holds
        f'inventory_tls_cert_not_after_timestamp_seconds{{{SHOP}, url="https://a:443"}}': f"{10 * day}x3",
        f'inventory_tls_cert_not_after_timestamp_seconds{{{SHOP}, url="https://b:443"}}': f"{90 * day}x3",
        f'inventory_http_condition_success{{{SHOP}, path="/api/orders", condition="json:$.orders"}}': "0x3",
        f'inventory_http_condition_success{{{SHOP}, path="/api/health", condition="status"}}': "1x3",
        f'inventory_http_condition_failure_info{{{SHOP}, path="/api/orders", condition="json:$.orders", '
        f'reason="missing", seen="{{\\"error\\": \\"db locked\\"}}"}}': "1x3",
        f'inventory_page_assets{{{SHOP}, path="/", result="ok"}}': "3x3",
        f'inventory_page_assets{{{SHOP}, path="/", result="missing"}}': "1x3",
        f'inventory_page_assets{{{SHOP}, path="/", result="error"}}': "0x3",
        f'inventory_page_build_stale{{{SHOP}, path="/"}}': "1x3",
        # down: the app gives no page, only the http probe's own series is left
        f'inventory_probe_success{{{SHOP}, probe="http"}}': "1x3",
        f'inventory_probe_success{{{DOWN}, probe="http"}}': "0x3",
    }
    promtool(tmp_path, series, [
        {"expr": expr("Certificate days left"), "eval_time": "1m",
         "exp_samples": [{"labels": f"{{{SHOP}}}", "value": 10 - 60 / day}]},
        {"expr": expr("Failing conditions"), "eval_time": "1m",
         "exp_samples": [{"labels": f'{{{SHOP}, path="/api/orders", condition="json:$.orders", reason="missing", '
                                    f'seen="{{\\"error\\": \\"db locked\\"}}"}}', "value": 1}]},
        {"expr": expr("Page assets not loading"), "eval_time": "1m",
         "exp_samples": [{"labels": f'{{{SHOP}, path="/", result="missing"}}', "value": 1},
                         {"labels": f'{{{SHOP}, path="/", result="error"}}', "value": 0},
                         {"labels": f'{{{DOWN}, path="(page not fetched)"}}', "value": -1}]},
        {"expr": expr("Stale build"), "eval_time": "1m",
         "exp_samples": [{"labels": f'{{{SHOP}, path="/"}}', "value": 1},
                         {"labels": f'{{{DOWN}, path="(page not fetched)"}}', "value": -1}]},
    ])


def test_failing_conditions_read_none_when_every_condition_holds(tmp_path):
    series = {f'inventory_http_condition_success{{{SHOP}, path="/api/health", condition="status"}}': "1x3"}
    promtool(tmp_path, series, [{"expr": expr("Failing conditions"), "eval_time": "1m", "exp_samples": [
        {"labels": '{path="none", condition="none", reason="none"}', "value": 0}]}])
