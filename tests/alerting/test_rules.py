"""The shipped alerting bundle: generated rules, promtool checks and unit tests, Alertmanager routing,
and one alert (with a runbook section and unit tests) for every diagnosis check."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
import yaml

from exporter.diagnosis import CHECKS, THRESHOLDS
from tests.alerting.conftest import (
    ALERTMANAGER_FILE, GENERATOR, RULES_DIR, RULES_FILE, RUNBOOKS, UNIT_TESTS, load_generator, shipped_alerts,
)
from tests.support.stack import require

GEN = load_generator()
ALERTS = shipped_alerts()
CONFIG = GEN.load()


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, **kwargs)


def unit_test_cases() -> list[dict]:
    cases = []
    for path in UNIT_TESTS:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            cases.extend(group.get("alert_rule_test", []))
    return cases


# --- the generator and the rules file -----------------------------------------------------------


def test_the_committed_rules_file_is_exactly_what_the_generator_writes(tmp_path):
    out = tmp_path / "rules.yml"
    result = run([sys.executable, str(GENERATOR), "--out", str(out)])
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8") == RULES_FILE.read_text(encoding="utf-8"), (
        "alerting-rules/inventory.rules.yml is stale: run python alerting-rules/generate.py"
    )


DURATIONS = ("for", "keep_firing_for")


def test_for_scale_shortens_every_for_and_keep_firing_for_and_changes_nothing_else():
    fast = yaml.safe_load(GEN.render(CONFIG, 0.01))
    fast_alerts = {r["alert"]: r for g in fast["groups"] for r in g["rules"] if "alert" in r}
    assert fast_alerts.keys() == ALERTS.keys()
    for name, rule in ALERTS.items():
        scaled = fast_alerts[name]
        for key in DURATIONS:
            assert (key in scaled) == (key in rule)
            if key in rule:
                assert GEN.parse_duration(scaled[key]) == pytest.approx(GEN.parse_duration(rule[key]) * 0.01, abs=0.001)
        assert {k: v for k, v in scaled.items() if k not in DURATIONS} == {k: v for k, v in rule.items() if k not in DURATIONS}


def test_root_causes_that_inhibit_a_cascade_keep_firing_after_recovery():
    inhibitors = {"InventoryAppNotListening", "InventoryAppPortConflict", "InventoryAppUnresponsive"}
    for name in inhibitors:
        assert GEN.parse_duration(ALERTS[name]["keep_firing_for"]) >= 60


def test_the_config_thresholds_are_the_diagnosis_thresholds():
    assert {k: float(v) for k, v in CONFIG["thresholds"].items()} == THRESHOLDS


def test_promtool_check_rules_accepts_the_rules_file():
    result = run([require("promtool"), "check", "rules", str(RULES_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_pass_for_every_alert():
    assert UNIT_TESTS, "no alerting-rules/tests/*.test.yml"
    result = run([require("promtool"), "test", "rules", *map(str, UNIT_TESTS)], cwd=RULES_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(UNIT_TESTS)


def test_promtool_unit_tests_catch_for_durations_that_are_too_short(tmp_path):
    """The `for:` boundary cases are real: rules generated with halved `for:` must fail them."""
    (tmp_path / "tests").mkdir()
    for path in UNIT_TESTS:
        shutil.copy(path, tmp_path / "tests" / path.name)
    (tmp_path / "inventory.rules.yml").write_text(GEN.render(CONFIG, 0.5), encoding="utf-8")
    result = run([require("promtool"), "test", "rules", *(f"tests/{p.name}" for p in UNIT_TESTS)], cwd=tmp_path)
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr


# --- every alert is complete ----------------------------------------------------------------------


@pytest.mark.parametrize("check", list(CHECKS))
def test_every_diagnosis_check_has_an_alert_with_the_same_severity(check):
    matching = [r for r in ALERTS.values() if r["labels"].get("check") == check]
    assert len(matching) == 1, f"check {check} has {len(matching)} alerts"
    assert matching[0]["labels"]["severity"] == CHECKS[check].severity


def test_the_exporter_itself_being_down_or_absent_or_timing_out_has_alerts():
    exprs = {name: rule["expr"] for name, rule in ALERTS.items()}
    assert 'up{job=~"inventory.*"} == 0' in exprs["InventoryExporterDown"]
    assert "absent(inventory_exporter_build_info" in exprs["InventoryExporterAbsent"]
    assert 'reason="timeout"' in exprs["InventoryProbeTimeout"]


@pytest.mark.parametrize("name", list(ALERTS))
def test_every_alert_is_named_labelled_and_annotated(name):
    rule = ALERTS[name]
    assert re.fullmatch(r"Inventory(?:[A-Z][a-z0-9]*)+", name)
    assert rule["labels"]["severity"] in ("critical", "warning", "info")
    assert GEN.parse_duration(rule["for"]) > 0
    annotations = rule["annotations"]
    assert annotations["summary"].endswith(".")
    assert "{{ $labels.instance }}" in annotations["description"] or "absent" in rule["expr"]
    assert annotations["runbook_url"].endswith(f"docs/runbooks.md#{name.lower()}")
    assert annotations["dashboard_url"].startswith("https://")


def test_outages_wait_briefly_and_resource_pressure_waits_longer():
    assert GEN.parse_duration(ALERTS["InventoryAppNotListening"]["for"]) <= 60
    assert GEN.parse_duration(ALERTS["InventoryProxyBadGateway"]["for"]) <= 60
    for name in ("InventoryCpuHigh", "InventoryMemoryHigh", "InventoryDiskNearlyFull"):
        assert 600 <= GEN.parse_duration(ALERTS[name]["for"]) <= 900


@pytest.mark.parametrize("name", list(ALERTS))
def test_every_alert_has_a_runbook_section_with_commands_and_a_chinese_summary(name):
    text = RUNBOOKS.read_text(encoding="utf-8")
    match = re.search(rf"^## {name}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/runbooks.md has no '## {name}' section (anchor #{name.lower()})"
    section = match.group(1)
    for part in ("**Meaning**", "**Confirm**", "**Fix**", "```"):
        assert part in section, f"{name}: runbook section lacks {part}"
    assert re.search(r"[\u4e00-\u9fff]", section), f"{name}: runbook section lacks the Chinese summary"


@pytest.mark.parametrize("name", list(ALERTS))
def test_every_alert_has_a_firing_case_and_not_firing_cases_at_and_after_its_for_boundary(name):
    cases = [c for c in unit_test_cases() if c["alertname"] == name]
    for_seconds = GEN.parse_duration(ALERTS[name]["for"])
    firing = [c for c in cases if c["exp_alerts"]]
    quiet = [c for c in cases if not c["exp_alerts"]]
    assert firing, f"{name} has no firing unit test"
    assert any(GEN.parse_duration(c["eval_time"]) < for_seconds for c in quiet), f"{name}: no case before `for:` elapses"
    assert any(GEN.parse_duration(c["eval_time"]) >= for_seconds for c in quiet), f"{name}: no healthy case"
    for case in firing:
        for alert in case["exp_alerts"]:
            assert alert["exp_labels"]["severity"] == ALERTS[name]["labels"]["severity"]


# --- Alertmanager ----------------------------------------------------------------------------------


def test_amtool_accepts_the_alertmanager_config():
    result = run([require("amtool"), "check-config", str(ALERTMANAGER_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("severity, receiver", [("critical", "pager"), ("warning", "chat"), ("info", "null")])
def test_alertmanager_routes_each_severity_to_its_receiver(severity, receiver):
    result = run([require("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER_FILE}",
                  "alertname=InventoryAppNotListening", "target=shop", f"severity={severity}"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_alertmanager_groups_by_target_and_alertname():
    config = yaml.safe_load(ALERTMANAGER_FILE.read_text(encoding="utf-8"))
    assert config["route"]["group_by"] == ["target", "alertname"]


def test_every_alert_name_in_the_inhibit_rules_exists():
    text = ALERTMANAGER_FILE.read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    names = set()
    for rule in config["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            names.update(re.findall(r"Inventory\w+", matcher))
    assert names and names <= ALERTS.keys(), names - ALERTS.keys()


def test_app_not_listening_inhibits_endpoint_proxy_and_latency_alerts_of_the_same_target():
    config = yaml.safe_load(ALERTMANAGER_FILE.read_text(encoding="utf-8"))
    rule = next(r for r in config["inhibit_rules"] if r["source_matchers"] == ['alertname="InventoryAppNotListening"'])
    target = " ".join(rule["target_matchers"])
    for cascade in ("InventoryEndpointFailing", "InventoryProxyBadGateway", "InventoryProxyUpstreamRefused",
                    "InventoryApiSlow", "InventoryPageSlow"):
        assert cascade in target
    assert "target" in rule["equal"]
