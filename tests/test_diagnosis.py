"""Each decision rule, from probe results to one root cause, without any network."""

from __future__ import annotations

import pytest

from exporter.causetext import CAUSE_TEXT
from exporter.diagnosis import CAUSES, CHECKS, THRESHOLDS, diagnose_host, diagnose_target
from exporter.metrics import Samples


def probe_results(**state) -> list:
    """Samples as the probes would emit them for target "t", from a compact description."""
    out = Samples({"target": "t"})
    port = state.get("port", "node")  # "closed", "node" or a foreign process name
    out.add("inventory_app_port_listening", 0 if port == "closed" else 1, port="3001")
    if port == "closed":
        out.add("inventory_probe_failure_info", 1, probe="port", reason="connection_refused")
    else:
        out.add("inventory_app_port_owner_info", 1, port="3001", pid="42", process=port)
        out.add("inventory_app_port_conflict", int(port != "node"), port="3001")
    status = {"closed": 0, "hang": 0}.get(port, state.get("endpoint_status", 200))
    if state.get("endpoint_status") == "hang":
        status = 0
    for path in ("/api/health", "/api/products"):
        out.add("inventory_http_up", int(200 <= status < 400), path=path, kind="api")
        out.add("inventory_http_status_code", status, path=path, kind="api")
        if status:
            out.add("inventory_http_response_seconds", state.get("api_seconds", 0.01), path=path, kind="api")
    if "proxy" in state:
        proxy = state["proxy"]
        out.add("inventory_proxy_up", int(proxy != "down"))
        out.add("inventory_proxy_status_code", 0 if proxy == "down" else proxy)
    db = state.get("db", "up")
    out.add("inventory_db_file_exists", int(db != "missing"))
    out.add("inventory_db_up", int(db == "up"))
    if db == "up":
        out.add("inventory_db_query_seconds", state.get("db_seconds", 0.001))
    for reason, count in state.get("nginx_recent", {}).items():
        out.add("inventory_proxy_upstream_errors_recent", count, reason=reason)
    for reason, written in state.get("nginx_last_line", {}).items():
        out.add("inventory_proxy_upstream_errors_last_timestamp_seconds", written, reason=reason)
    if "up_since" in state:
        out.add("inventory_up_since_timestamp_seconds", state["up_since"])
    return out.store


@pytest.mark.parametrize(
    "state, cause",
    [
        ({}, "none"),
        ({"proxy": 200}, "none"),
        ({"port": "closed", "proxy": 502}, "app_not_listening"),
        ({"port": "closed"}, "app_not_listening"),
        ({"port": "python3", "proxy": 502}, "port_conflict"),
        ({"port": "java", "endpoint_status": 404}, "port_conflict"),
        ({"endpoint_status": "hang", "proxy": 504}, "app_unresponsive"),
        ({"proxy": 502, "nginx_recent": {"timed_out": 3}}, "app_unresponsive"),
        ({"endpoint_status": 500, "db": "locked", "proxy": 500}, "database_unavailable"),
        ({"endpoint_status": 500, "db": "missing"}, "database_unavailable"),
        ({"endpoint_status": 500}, "app_error"),
        ({"proxy": 502}, "proxy_upstream_misconfigured"),
        ({"proxy": 200, "nginx_recent": {"connection_refused": 2}}, "proxy_upstream_misconfigured"),
        ({"proxy": "down"}, "proxy_down"),
        ({"proxy": 200, "nginx_recent": {"prematurely_closed": 4}}, "upstream_keepalive_mismatch"),
        # a cascade: closed port beats the DB and the proxy
        ({"port": "closed", "proxy": 502, "db": "locked"}, "app_not_listening"),
    ],
)
def test_each_decision_rule_picks_one_root_cause(state, cause):
    assert cause in CAUSES
    assert diagnose_target(probe_results(**state), "t").cause == cause


@pytest.mark.parametrize(
    "state, check, severity",
    [
        ({"port": "closed", "proxy": 502}, "app_not_listening", "critical"),
        ({"port": "closed", "proxy": 502}, "proxy_bad_gateway", "critical"),
        ({"port": "nginx"}, "port_conflict", "critical"),
        ({"endpoint_status": 503}, "endpoint_failing", "critical"),
        ({"db": "missing"}, "database_missing", "critical"),
        ({"db": "locked"}, "database_unavailable", "critical"),
        ({"api_seconds": 0.75}, "api_slow", "warning"),
        ({"db_seconds": 0.25}, "db_query_slow", "warning"),
        ({"proxy": 200, "nginx_recent": {"prematurely_closed": 1}}, "proxy_upstream_errors", "warning"),
    ],
)
def test_findings_carry_the_reports_priority(state, check, severity):
    findings = {f.id: f for f in diagnose_target(probe_results(**state), "t").findings}
    assert check in findings
    assert findings[check].severity == severity == CHECKS[check].severity
    assert findings[check].evidence


def test_every_root_cause_says_what_it_means_in_both_languages():
    assert set(CAUSE_TEXT) == set(CAUSES)
    for en, zh in CAUSE_TEXT.values():
        assert en.isascii() and en.strip() and not zh.isascii()


def test_a_healthy_target_has_no_findings_and_cause_none():
    diagnosis = diagnose_target(probe_results(proxy=200), "t")
    assert diagnosis.findings == []
    assert diagnosis.cause == "none"
    assert "app_not_listening" in diagnosis.evaluated


def test_checks_whose_inputs_were_not_measured_are_not_evaluated():
    diagnosis = diagnose_target(probe_results(), "t")
    assert "proxy_bad_gateway" not in diagnosis.evaluated
    assert "webpack_cache_unwritable" not in diagnosis.evaluated


def test_evidence_names_the_foreign_process_and_pid():
    finding = next(f for f in diagnose_target(probe_results(port="python3"), "t").findings if f.id == "port_conflict")
    assert finding.evidence == {"port": "3001", "pid": "42", "process": "python3"}


@pytest.mark.parametrize(
    "metric, value, labels, check",
    [
        ("inventory_cpu_usage_ratio", THRESHOLDS["cpu_ratio"] + 0.01, {}, "cpu_high"),
        ("inventory_memory_usage_ratio", 0.85, {}, "memory_high"),
        ("inventory_disk_usage_ratio", 0.97, {"mountpoint": "/"}, "disk_nearly_full"),
        ("inventory_loopback_up", 0, {}, "loopback_down"),
        ("inventory_dns_lookup_success", 0, {"name": "vm", "resolver": "system"}, "dns_system_failing"),
        ("inventory_dns_lookup_success", 0, {"name": "localhost", "resolver": "127.0.0.1:53"}, "dns_server_failing"),
    ],
)
def test_host_checks_fire_past_the_reports_thresholds(metric, value, labels, check):
    out = Samples({"target": ""})
    out.add(metric, value, **labels)
    assert [f.id for f in diagnose_host(out.store).findings] == [check]


@pytest.mark.parametrize(
    "metric, value, labels",
    [
        ("inventory_cpu_usage_ratio", THRESHOLDS["cpu_ratio"], {}),
        ("inventory_memory_usage_ratio", 0.79, {}),
        ("inventory_disk_usage_ratio", 0.5, {"mountpoint": "/"}),
        ("inventory_dns_lookup_success", 1, {"name": "vm", "resolver": "system"}),
    ],
)
def test_host_checks_stay_quiet_at_or_below_the_thresholds(metric, value, labels):
    out = Samples({"target": ""})
    out.add(metric, value, **labels)
    diagnosis = diagnose_host(out.store)
    assert diagnosis.findings == [] and diagnosis.evaluated


RECOVERED_AT = 1_800_000_000.0


@pytest.mark.parametrize(
    "state, cause",
    [
        # the outage's refusals, written before the live probes recovered: history
        ({"proxy": 200, "up_since": RECOVERED_AT, "nginx_recent": {"connection_refused": 40},
          "nginx_last_line": {"connection_refused": RECOVERED_AT - 1}}, "none"),
        ({"proxy": 200, "up_since": RECOVERED_AT, "nginx_recent": {"timed_out": 3, "prematurely_closed": 2},
          "nginx_last_line": {"timed_out": RECOVERED_AT - 20, "prematurely_closed": RECOVERED_AT - 20}}, "none"),
        # errors that keep arriving while the front answers: an intermittent failure, still a cause
        ({"proxy": 200, "up_since": RECOVERED_AT, "nginx_recent": {"prematurely_closed": 5},
          "nginx_last_line": {"prematurely_closed": RECOVERED_AT + 30}}, "upstream_keepalive_mismatch"),
        ({"proxy": 200, "up_since": RECOVERED_AT, "nginx_recent": {"connection_refused": 5},
          "nginx_last_line": {"connection_refused": RECOVERED_AT + 30}}, "proxy_upstream_misconfigured"),
        # while the front fails, every recent line corroborates the live probes
        ({"port": "closed", "proxy": 502, "nginx_recent": {"connection_refused": 5},
          "nginx_last_line": {"connection_refused": RECOVERED_AT - 600}}, "app_not_listening"),
        ({"port": "node", "endpoint_status": "hang", "proxy": 504, "nginx_recent": {"timed_out": 1},
          "nginx_last_line": {"timed_out": RECOVERED_AT}}, "app_unresponsive"),
    ],
)
def test_log_lines_from_before_the_recovery_never_name_a_cause(state, cause):
    diagnosis = diagnose_target(probe_results(**state), "t")
    assert diagnosis.cause == cause
    if cause == "none":
        assert not [f.id for f in diagnosis.findings if f.severity in ("critical", "warning")]


def test_a_log_finding_says_when_its_last_line_was_written():
    import time

    state = {"proxy": 502, "nginx_recent": {"connection_refused": 5}, "nginx_last_line": {"connection_refused": RECOVERED_AT}}
    finding = next(f for f in diagnose_target(probe_results(**state), "t").findings if f.id == "proxy_upstream_refused")
    assert finding.severity == "critical"
    assert finding.evidence["last_line"] == time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(RECOVERED_AT))
    assert finding.evidence["last_5m"] == "connection_refused=5"


@pytest.mark.parametrize(
    "writable, failures, expected",
    [
        (1, 0, None),
        (0, 0, {"unwritable_dirs": "2"}),
        (1, 3, {"log_lines": "3", "last_line": "<w> [webpack.cache.PackFileCacheStrategy] Caching failed for pack",
                "log_last_written": "42 s ago"}),
        (None, 1, {"log_lines": "1", "last_line": "<w> [webpack.cache.PackFileCacheStrategy] Caching failed for pack",
                   "log_last_written": "42 s ago"}),
    ],
)
def test_webpack_cache_finding_from_permissions_or_from_the_app_log(writable, failures, expected):
    out = Samples({"target": "t"})
    out.store.extend(probe_results())
    if writable is not None:
        out.add("inventory_webpack_cache_writable", writable)
        out.add("inventory_webpack_cache_unwritable_paths", 0 if writable else 2)
    out.add("inventory_log_webpack_cache_failures", failures)
    out.add("inventory_log_age_seconds", 42.2)
    if failures:
        out.add("inventory_log_last_webpack_cache_failure_info", 1,
                line="<w> [webpack.cache.PackFileCacheStrategy] Caching failed for pack")
    finding = next((f for f in diagnose_target(out.store, "t").findings if f.id == "webpack_cache_unwritable"), None)
    assert (finding.evidence if finding else None) == expected
    if finding:
        assert finding.severity == "warning"


@pytest.mark.parametrize(
    "probe, samples, check",
    [
        ("logs", [("inventory_log_file_present", 0, {})], "log_missing"),
        ("database", [("inventory_db_file_exists", 0, {})], "database_missing"),
        ("files", [("inventory_config_file_present", 0, {"file": "package.json"})], "config_file_missing"),
        ("files", [("inventory_env_var_present", 0, {"name": "PORT"})], "env_var_missing"),
        ("prisma", [("inventory_prisma_client_generated", 0, {})], "prisma_client_not_generated"),
    ],
)
def test_a_probe_that_timed_out_never_reports_something_missing(probe, samples, check):
    """Whatever absence samples a timed-out probe left, the check is not judged at all."""
    out = Samples({"target": "t"})
    for name, value, labels in samples:
        out.add(name, value, **labels)
    assert check in {f.id for f in diagnose_target(list(out.store), "t").findings}, "absent when looked at: a finding"
    out.add("inventory_probe_failure_info", 1, probe=probe, reason="timeout")
    diagnosis = diagnose_target(out.store, "t")
    assert check not in {f.id for f in diagnosis.findings}
    assert check not in diagnosis.evaluated, "not looked at in time is neither missing nor present"


def test_a_target_whose_probes_timed_out_is_not_checked_never_none():
    healthy = probe_results(proxy=200)
    stuck = healthy + [("inventory_probe_failure_info", {"target": "t", "probe": "database", "reason": "timeout"}, 1.0)]
    assert diagnose_target(healthy, "t").cause == "none"
    assert diagnose_target(stuck, "t").cause == "not_checked"
    closed = probe_results(port="closed") + stuck[-1:]
    assert diagnose_target(closed, "t").cause == "app_not_listening", "a cause found live still wins"
