"""The dashboards as code: generated JSON equals the committed JSON, every dashboard passes the lint
of grafana/dashboard-linter's conventions, the lint catches each violation, thresholds and colours are
the report's, runbook links and the alerts' dashboard link resolve, and the provisioning files agree."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from exporter.diagnosis import THRESHOLDS
from tests.grafana.conftest import (
    DASHBOARD_DIR, GENERATOR, PROVISIONING, ROOT, RULES_FILE, RUNBOOKS, committed_dashboards, load_generator,
    panel_queries, shipped_alert_names,
)
from tests.grafana.lint import RULES, lint

OVERVIEW = "inventory-overview.json"
DETAIL = "inventory-target.json"


def overview() -> dict:
    return copy.deepcopy(committed_dashboards()[OVERVIEW])


def panel(dashboard: dict, title: str) -> dict:
    return next(p for p in dashboard["panels"] if p.get("title") == title)


def rules_flagged(dashboard: dict) -> set[str]:
    return {rule for rule, _, _ in lint(dashboard, shipped_alert_names())}


# --- generated == committed ------------------------------------------------------------------------


def test_the_committed_json_is_exactly_what_grafana_dashboards_py_generates():
    generated = load_generator().render()
    committed = {p.name: p.read_text(encoding="utf-8") for p in DASHBOARD_DIR.glob("*.json")}
    assert set(committed) == set(generated), "run: python grafana/dashboards.py"
    stale = [name for name, text in generated.items() if committed[name] != text]
    assert stale == [], f"stale {stale}: run python grafana/dashboards.py"


def test_the_generator_runs_as_a_script_and_writes_the_same_files(tmp_path: Path):
    run = subprocess.run([sys.executable, str(GENERATOR), "--out", str(tmp_path)], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    written = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.glob("*.json")}
    assert written == {p.name: p.read_text(encoding="utf-8") for p in DASHBOARD_DIR.glob("*.json")}
    check = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr


def test_the_generator_check_mode_fails_on_a_stale_file(tmp_path: Path):
    load_generator().main(["--out", str(tmp_path)])
    (tmp_path / OVERVIEW).write_text("{}\n")
    check = subprocess.run([sys.executable, str(GENERATOR), "--check", "--out", str(tmp_path)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 1 and OVERVIEW in check.stderr


# --- lint ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(committed_dashboards()))
def test_every_committed_dashboard_passes_the_lint(name):
    assert lint(committed_dashboards()[name], shipped_alert_names()) == []


BAD_DASHBOARD = {
    "title": "Hand-edited",
    "uid": "",
    "templating": {"list": [
        {"name": "job", "type": "custom", "query": "inventory"},
        {"name": "instance", "type": "query", "datasource": {"uid": "P1809F7CD0C75ACF3"},
         "query": "label_values(up, instance)", "refresh": 1},
    ]},
    "panels": [
        {"id": 1, "type": "graph", "title": "Latency", "datasource": {"type": "prometheus", "uid": "P1809F7CD0C75ACF3"},
         "targets": [{"refId": "A", "expr": 'rate(inventory_proxy_upstream_errors_total{target="$target"}[5m])'}]},
        {"id": 1, "type": "stat", "title": "Errors", "description": "Upstream errors.",
         "fieldConfig": {"defaults": {"unit": "furlongs"}}, "datasource": {"uid": "${datasource}"},
         "links": [{"url": "https://wiki.example.com/runbooks#inventorynosuchalert"}],
         "targets": [{"refId": "A", "expr": 'inventory_proxy_upstream_errors_total{job=~"$job", instance=~"$cluster", target=~"$target"}'}]},
        {"id": 3, "type": "timeseries", "title": "Empty", "description": "No query.",
         "fieldConfig": {"defaults": {"unit": "s"}}, "datasource": {"uid": "${datasource}"}, "targets": []},
    ],
}


def test_a_deliberately_bad_dashboard_breaks_every_lint_rule():
    assert rules_flagged(BAD_DASHBOARD) == set(RULES)


def _set_expr(expr: str):
    def mutate(d: dict) -> None:
        panel(d, "Endpoint and proxy response time")["targets"][1]["expr"] = expr
    return mutate


SELECTOR = 'job=~"$job", instance=~"$instance", target=~"$target"'
BREAKAGES = {
    "uid": lambda d: d.update(uid="Inventory Overview (copy)"),
    "datasource-variable": lambda d: d["templating"]["list"].pop(0),
    "hardcoded-datasource": lambda d: panel(d, "nginx").update(datasource={"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}),
    "template-variables": lambda d: d["templating"]["list"][3].update(refresh=1),
    "panel-type": lambda d: panel(d, "Host disk used").update(type="graph"),
    "panel-title-description": lambda d: panel(d, "Database size").pop("description"),
    "panel-units": lambda d: panel(d, "Database size")["fieldConfig"]["defaults"].pop("unit"),
    "panel-runbook-link": lambda d: panel(d, "Database size").update(links=[]),
    "panel-targets": lambda d: panel(d, "Database size").update(targets=[]),
    "target-selectors": _set_expr('max by (target) (inventory_proxy_response_seconds{target=~"$target"})'),
    "target-rate-interval": _set_expr(f"sum(rate(inventory_proxy_upstream_errors_total{{{SELECTOR}}}[5m]))"),
    "target-counter-rate": _set_expr(f"sum(inventory_proxy_upstream_errors_total{{{SELECTOR}}})"),
    "variables-defined": _set_expr(f'inventory_proxy_response_seconds{{{SELECTOR}, cluster=~"$cluster"}}'),
}


@pytest.mark.parametrize("rule", RULES)
def test_the_lint_flags_one_broken_convention_in_an_otherwise_clean_dashboard(rule):
    dashboard = overview()
    assert rules_flagged(dashboard) == set()
    BREAKAGES[rule](dashboard)
    assert rules_flagged(dashboard) == {rule}


def test_the_lint_knows_a_metric_the_exporter_does_not_emit():
    dashboard = overview()
    _set_expr(f"inventory_proxy_latency_seconds{{{SELECTOR}}}")(dashboard)
    problems = lint(dashboard, shipped_alert_names())
    assert [(r, m) for r, _, m in problems] == [("target-selectors", "inventory_proxy_latency_seconds is not a metric the exporter emits")]


# --- what the panels show --------------------------------------------------------------------------


def thresholds(p: dict) -> list[float]:
    return [s["value"] for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"] if s["value"] is not None]


def test_the_reports_thresholds_are_drawn_on_the_latency_database_and_host_panels():
    d = committed_dashboards()[OVERVIEW]
    drawn = {title: (thresholds(panel(d, title)), panel(d, title)["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"])
             for title in ("Endpoint and proxy response time", "Database query time", "Host CPU and memory",
                           "Host disk used", "Host load per CPU")}
    assert drawn == {
        "Endpoint and proxy response time": ([THRESHOLDS["api_seconds"], THRESHOLDS["page_seconds"]], "dashed"),
        "Database query time": ([THRESHOLDS["db_query_seconds"]], "dashed"),
        "Host CPU and memory": ([0.5, 0.8], "dashed"),
        "Host disk used": ([0.5, 0.8], "dashed"),
        "Host load per CPU": ([0.5, 0.8], "dashed"),
    }
    assert (THRESHOLDS["api_seconds"], THRESHOLDS["page_seconds"], THRESHOLDS["db_query_seconds"]) == (0.5, 3.0, 0.1)


def test_findings_are_colour_coded_red_yellow_green_by_severity():
    d = committed_dashboards()[OVERVIEW]
    by_severity = panel(d, "Active findings by severity")
    colours = {o["matcher"]["options"]: o["properties"][0]["value"]["steps"][-1]["color"] for o in by_severity["fieldConfig"]["overrides"]}
    assert colours == {"🔴 critical": "red", "🟡 warning": "yellow", "🟢 info": "green"}
    table = panel(d, "Active findings")
    severity = next(o for o in table["fieldConfig"]["overrides"] if o["matcher"]["options"] == "severity")
    mapping = next(p["value"][0]["options"] for p in severity["properties"] if p["id"] == "mappings")
    assert {k: v["color"] for k, v in mapping.items()} == {"critical": "red", "warning": "yellow", "info": "green", "none": "green"}


def test_the_overview_answers_each_question_of_the_issue():
    titles = {p["title"] for p in committed_dashboards()[OVERVIEW]["panels"]}
    assert {"Root cause", "Active findings by severity", "Active findings", "App port", "Endpoints", "nginx",
            "Endpoint and proxy response time", "Database", "Database size", "Database query time",
            "Prisma versions", "Prisma drift", "Webpack cache and config", "Host CPU and memory", "Host disk used",
            "Host load per CPU", "DNS and loopback", "Firing alerts", "Alerts"} <= titles


def test_only_modern_panel_types_and_rate_queries_over_the_rate_interval_are_used():
    for dashboard in committed_dashboards().values():
        types = {p["type"] for p in dashboard["panels"]}
        assert "graph" not in types and "timeseries" in types
        rates = [t["expr"] for _, t in panel_queries(dashboard) if "rate(" in t["expr"]]
        assert rates and all("[$__rate_interval]" in e for e in rates)


# --- links and uids --------------------------------------------------------------------------------


def test_dashboard_uids_are_stable_and_the_overview_is_where_the_alerts_link():
    assert {d["uid"] for d in committed_dashboards().values()} == {"inventory", "inventory-target"}
    dashboard_urls = {r["annotations"].get("dashboard_url", "")
                      for g in yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["groups"]
                      for r in g["rules"] if "alert" in r}
    assert dashboard_urls and all("/d/inventory/" in url for url in dashboard_urls)


def github_anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the ## headings: lower case, punctuation dropped, spaces to hyphens."""
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#{1,6} (.+)$", markdown, flags=re.M)}


def test_every_runbook_link_points_at_a_section_of_docs_runbooks_md():
    anchors = github_anchors(RUNBOOKS.read_text(encoding="utf-8"))
    links = {link["url"] for d in committed_dashboards().values() for p in d["panels"] for link in p.get("links", [])}
    targets = {url.split("#", 1)[1] for url in links if "docs/runbooks.md#" in url}
    assert targets and targets <= anchors, sorted(targets - anchors)
    assert targets <= {a.lower() for a in shipped_alert_names()}


# --- provisioning and packaging --------------------------------------------------------------------


def test_the_datasource_provisioning_points_at_prometheus_with_a_fixed_uid_the_dashboards_do_not_hard_code():
    doc = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text(encoding="utf-8"))
    [ds] = doc["datasources"]
    assert (doc["apiVersion"], ds["type"], ds["url"], ds["access"]) == (1, "prometheus", "http://prometheus:9090", "proxy")
    assert ds["uid"] and ds["isDefault"] is True
    for path in DASHBOARD_DIR.glob("*.json"):
        assert ds["uid"] not in path.read_text(encoding="utf-8")


def test_the_dashboard_provider_loads_the_files_from_the_documented_mount():
    doc = yaml.safe_load((PROVISIONING / "dashboards" / "inventory.yaml").read_text(encoding="utf-8"))
    [provider] = doc["providers"]
    assert (doc["apiVersion"], provider["type"]) == (1, "file")
    path = provider["options"]["path"]
    assert path.startswith("/var/lib/grafana/dashboards")
    docs = (ROOT / "docs" / "dashboards.md").read_text(encoding="utf-8")
    assert f"grafana/dashboards:{path}" in docs and "grafana/provisioning:/etc/grafana/provisioning" in docs


def test_grafana_foundation_sdk_is_a_dev_and_test_dependency():
    import tomllib

    groups = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    for group in ("dev", "test"):
        assert any(req.startswith("grafana-foundation-sdk") for req in groups[group]), group
