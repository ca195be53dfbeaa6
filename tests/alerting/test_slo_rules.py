"""The SLO part of the alerting bundle (alerting-rules/slo_rules.py, config.yml `slos` and `burn_rate_alerts`):
defaults as the issue states them, every knob changes the generated rules (and promtool accepts them), bad
values are refused with the key and the reason, and the alerts are the SRE workbook's multiwindow pairs."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from tests.alerting.conftest import GENERATOR, load_generator, shipped_alerts
from tests.support.stack import require

GEN = load_generator()
CONFIG = GEN.load()
ALERTS = shipped_alerts()
SLO_ALERTS = {name: rule for name, rule in ALERTS.items() if name.startswith("InventorySLO")}


def rules_of(config: dict) -> dict[str, list[dict]]:
    return {g["name"]: g["rules"] for g in GEN.build(config)["groups"]}


def slo_group(config: dict) -> list[dict]:
    return rules_of(config)["inventory-slo"]


def exprs(config: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for rule in slo_group(config):
        out.setdefault(rule.get("record") or rule["alert"], []).append(rule["expr"])
    return out


def test_the_default_objectives_are_the_issues():
    slos = {s["name"]: s for s in GEN.slo_rules.slos(CONFIG)}
    assert {n: (str(s["objective"]), s["window"]) for n, s in slos.items()} == {
        "availability": ("99.5", "28d"), "latency": ("99", "28d")}
    assert (slos["latency"]["kind"], slos["latency"]["threshold"]) == ("api", CONFIG["thresholds"]["api_seconds"])


def test_the_alerts_are_the_workbooks_multiwindow_multi_burn_rate_pairs():
    found = {}
    for name, rule in SLO_ALERTS.items():
        long_, short = rule["expr"].split(" and ")
        found[name] = (long_.split(":ratio_rate")[1].split(" ")[0], short.split(":ratio_rate")[1].split(" ")[0],
                       long_.rsplit("> ", 1)[1], short.rsplit("> ", 1)[1], rule["labels"]["severity"], rule["for"])
    pairs = {"BurnFast": ("1h", "5m", "14.4", "14.4", "critical", "2m"),
             "BurnSlow": ("6h", "30m", "6", "6", "critical", "15m"),
             "BudgetTicket": ("3d", "6h", "1", "1", "warning", "1h")}
    assert found == {f"InventorySLO{slo}{suffix}": pair for slo in ("Availability", "Latency") for suffix, pair in pairs.items()}


def test_slo_alerts_carry_the_slo_label_and_no_diagnosis_check():
    for name, rule in SLO_ALERTS.items():
        assert rule["labels"]["slo"] in ("availability", "latency"), name
        assert "check" not in rule["labels"], name
        assert "Error budget remaining over 28d: {{ with" in rule["annotations"]["description"]
        assert '{{ printf "%.1f" $value }}x' in rule["annotations"]["description"]


def test_every_burn_window_and_the_slo_window_are_recorded_per_slo_with_the_budget():
    records = exprs(CONFIG)
    for slo in ("availability", "latency"):
        for window in ("5m", "30m", "1h", "6h", "3d", "28d"):
            assert f"inventory:slo_{slo}_errors:ratio_rate{window}" in records
    budget = records["inventory:slo_error_budget_remaining:ratio"]
    assert budget == ["1 - inventory:slo_availability_errors:ratio_rate28d / 0.005",
                      "1 - inventory:slo_latency_errors:ratio_rate28d / 0.01"]
    latency = records["inventory:slo_latency_errors:rate5m"][0]
    assert 'inventory_request_duration_seconds_bucket{kind="api", le="0.5"}[5m]' in latency
    assert 'inventory_request_duration_seconds_count{kind="api"}[5m]' in latency
    assert 'code_class="5xx"' in records["inventory:slo_availability_errors:rate5m"][0]


def test_objective_window_threshold_and_kind_are_configurable(tmp_path):
    config = copy.deepcopy(CONFIG)
    config["slos"]["availability"].update(objective=99.9, window="30d")
    config["slos"]["latency"].update(objective=95, kind="page", threshold_seconds=3)
    records = exprs(config)
    assert "inventory:slo_availability_errors:ratio_rate30d" in records
    assert "inventory:slo_availability_errors:ratio_rate28d" not in records
    assert "1 - inventory:slo_availability_errors:ratio_rate30d / 0.001" in records["inventory:slo_error_budget_remaining:ratio"]
    assert "1 - inventory:slo_latency_errors:ratio_rate28d / 0.05" in records["inventory:slo_error_budget_remaining:ratio"]
    # prometheus-client writes the 3 s bucket le="3.0": match either spelling
    assert 'kind="page", le=~"3|3\\\\.0"' in records["inventory:slo_latency_errors:rate5m"][0]
    alerts = {r["alert"]: r for r in slo_group(config) if "alert" in r}
    assert alerts["InventorySLOAvailabilityBurnFast"]["expr"].startswith(
        "inventory:slo_availability_errors:ratio_rate1h / 0.001 > 14.4")
    path = tmp_path / "rules.yml"
    path.write_text(GEN.render(config), encoding="utf-8")
    check = subprocess.run([require("promtool"), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_bucket_spelling_matches_what_the_exposition_writes():
    matcher = GEN.slo_rules.le_matcher
    assert (matcher(0.5), matcher(0.005), matcher(10)) == ('le="0.5"', 'le="0.005"', 'le=~"10|10\\\\.0"')


def test_burn_rate_alerts_are_configurable():
    config = copy.deepcopy(CONFIG)
    config["burn_rate_alerts"] = [{"suffix": "Page", "severity": "critical", "long_window": "2h", "short_window": "10m",
                                   "burn_rate": 10, "for": "5m"}]
    rules = slo_group(config)
    names = [r["alert"] for r in rules if "alert" in r]
    assert names == ["InventorySLOAvailabilityPage", "InventorySLOLatencyPage"]
    assert {"inventory:slo_availability_errors:ratio_rate2h", "inventory:slo_availability_errors:ratio_rate10m"} <= \
        {r.get("record") for r in rules}


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c["slos"]["latency"].update(threshold_seconds=0.3),
     "slos.latency.threshold_seconds: 0.3 must be a bucket of inventory_request_duration_seconds"),
    (lambda c: c["slos"]["availability"].update(objective=100), "slos.availability.objective: 100 must be a percentage"),
    (lambda c: c["slos"]["availability"].update(objective="high"), "slos.availability.objective: 'high' is not a number"),
    (lambda c: c["slos"]["availability"].update(window="4 weeks"), "slos.availability.window: '4 weeks' is not a Prometheus duration"),
    (lambda c: c["slos"]["latency"].update(kind="images"), "slos.latency.kind: 'images' must be one of api, page, static"),
    (lambda c: c["slos"]["availability"].update(sli="uptime"), "slos.availability.sli: 'uptime' must be one of availability, latency"),
    (lambda c: c["burn_rate_alerts"][0].update(burn_rate=0), "burn_rate_alerts[0].burn_rate: 0 must be a positive number"),
    (lambda c: c["burn_rate_alerts"][1].update(severity="page"), "burn_rate_alerts[1].severity: 'page' must be critical"),
])
def test_a_bad_slo_setting_is_refused_naming_the_file_the_key_and_the_reason(tmp_path, edit, message):
    config = copy.deepcopy(CONFIG)
    edit(config)
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = subprocess.run([sys.executable, str(GENERATOR), "--config", str(path), "--out", str(tmp_path / "out.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.yml").exists()
