"""Shared paths and loaders for the Grafana bundle tests."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from tests.support.modules import load_script

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"
GENERATOR = GRAFANA / "dashboards.py"
DASHBOARD_DIR = GRAFANA / "dashboards"
PROVISIONING = GRAFANA / "provisioning"
RULES_FILE = ROOT / "alerting-rules" / "inventory.rules.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"


def load_generator():
    """grafana/dashboards.py as a module (grafana/ is not a Python package)."""
    return load_script(GENERATOR, "inventory_grafana_dashboards")


def committed_dashboards() -> dict[str, dict]:
    """File name -> dashboard, from the committed JSON."""
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARD_DIR.glob("*.json"))}


def shipped_alert_names() -> set[str]:
    """Alert names of the shipped Prometheus rules (what a runbook link may point at)."""
    doc = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    return {r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r}


def panel_queries(dashboard: dict):
    """(panel, target) for every query of every panel, rows included."""
    for panel in dashboard["panels"]:
        for inner in [panel] + list(panel.get("panels") or []):
            for target in inner.get("targets") or []:
                yield inner, target
