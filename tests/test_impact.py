"""The impact on users, from the access log's five-minute window: counts, status, since when."""

from __future__ import annotations

import time

import pytest

from exporter.diagnosis import diagnose_target
from exporter.impact import impact_dict, impact_text
from exporter.metrics import Samples
from exporter.report import build_report, render_json, render_text
from exporter.config import Config, Target
from tests.test_diagnosis import probe_results

SINCE = 1_800_000_000.0


def traffic(samples: Samples, ok: int = 0, failed: dict[str, int] | None = None, since: float | None = None,
            p95: dict[str, float] | None = None, kind: str = "api") -> list:
    failed = failed or {}
    samples.add("inventory_requests_recent", ok, kind=kind, code_class="2xx")
    samples.add("inventory_requests_recent", sum(failed.values()), kind=kind, code_class="5xx")
    for status, count in failed.items():
        samples.add("inventory_requests_failed_recent", count, status=status)
    if since is not None:
        samples.add("inventory_requests_failing_since_timestamp_seconds", since)
    for k, value in (p95 or {}).items():
        samples.add("inventory_request_duration_recent_p95_seconds", value, kind=k)
    return samples.store


def facts(**state) -> list:
    out = Samples({"target": "t"})
    out.store.extend(probe_results(**state.pop("probes", {})))
    return traffic(out, **state)


def test_the_root_cause_line_says_how_many_requests_failed_and_since_when():
    diagnosis = diagnose_target(facts(probes={"port": "closed", "proxy": 502}, failed={"502": 1204}, since=SINCE), "t")
    assert diagnosis.cause == "app_not_listening"
    clock = time.strftime("%H:%M", time.localtime(SINCE))
    assert impact_text(diagnosis.impact, "en") == f"1,204 user requests answered 502 since {clock} (100 % of 1,204)"
    assert impact_text(diagnosis.impact, "zh-CN") == f"自 {clock} 以来，1,204 个用户请求返回 502（占 100 %）"
    assert impact_dict(diagnosis.impact) == {"failed_requests": 1204, "requests": 1204, "failed_ratio": 1.0,
                                             "statuses": {"502": 1204}, "failing_since_unix_seconds": SINCE}


def test_mixed_statuses_and_a_partial_failure():
    diagnosis = diagnose_target(facts(ok=900, failed={"504": 60, "502": 40}), "t")
    assert impact_text(diagnosis.impact, "en") == "100 user requests answered 504/502 in the last 5 minutes (10 % of 1,000)"


def test_no_failure_no_sentence_and_no_access_log_no_impact():
    assert impact_text(diagnose_target(facts(ok=50), "t").impact, "en") is None
    assert diagnose_target(probe_results(), "t").impact is None


def test_the_report_carries_the_impact_in_text_and_json():
    import json

    store = facts(probes={"port": "closed", "proxy": 502}, failed={"502": 30}, since=SINCE)
    diagnosis = diagnose_target(store, "t")
    report = build_report(Config(targets=(Target(name="t"),)), store, [diagnosis], None)
    assert "30 user requests answered 502 since" in render_text(report)
    assert json.loads(render_json(report))["targets"][0]["impact"]["failed_requests"] == 30


@pytest.mark.parametrize(
    "kind, p95, count, active",
    [
        ("api", 0.8, 100, True),
        ("api", 0.8, 5, False),  # a handful of slow requests is not an incident
        ("api", 0.3, 100, False),
        ("page", 4.0, 100, True),
        ("page", 2.0, 100, False),
    ],
)
def test_slow_traffic_needs_a_slow_p95_over_enough_real_requests(kind, p95, count, active):
    store = facts(ok=count, p95={kind: p95}, kind=kind)
    diagnosis = diagnose_target(store, "t")
    check = f"{kind}_slow_traffic"
    assert check in diagnosis.evaluated
    found = [f for f in diagnosis.findings if f.id == check]
    assert bool(found) == active
    if found:
        assert found[0].evidence["requests_5m"] == str(count) and found[0].severity == "warning"


def test_without_an_access_log_the_traffic_checks_are_not_evaluated():
    diagnosis = diagnose_target(probe_results(), "t")
    assert "api_slow_traffic" not in diagnosis.evaluated and "page_slow_traffic" not in diagnosis.evaluated
