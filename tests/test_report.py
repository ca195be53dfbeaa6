"""The report: shaped like the incident report, in English and Chinese, with exit codes by severity."""

from __future__ import annotations

import json

import pytest

from exporter.config import Config, Target
from exporter.diagnosis import diagnose_host, diagnose_target
from exporter.report import build_report, render_html_body, render_json, render_markdown, render_text
from tests.test_diagnosis import probe_results


def report_for(**state):
    store = probe_results(**state)
    cfg = Config(targets=(Target(name="t", app_url="http://127.0.0.1:3001"),))
    return build_report(cfg, store, [diagnose_target(store, "t")], diagnose_host(store))


@pytest.mark.parametrize(
    "state, code", [({"port": "closed", "proxy": 502}, 2), ({"api_seconds": 0.9}, 1), ({}, 0)]
)
def test_exit_code_says_the_worst_severity(state, code):
    assert report_for(**state).exit_code() == code


def test_chinese_markdown_reads_like_the_incident_report():
    text = render_markdown(report_for(port="closed", proxy=502), "zh-CN")
    for phrase in ("智慧库存系统", "执行摘要", "根本原因", "🔴 高优先级问题", "应用未在预期端口上运行", "验证清单", "npm run dev"):
        assert phrase in text, phrase
    assert "ss -tln 'sport = :3001'" in text


def test_english_text_groups_findings_by_priority_with_fixes():
    text = render_text(report_for(port="closed", proxy=502, api_seconds=0.01), "en")
    assert "Root cause: app_not_listening" in text
    assert text.index("🔴 High priority") < text.index("$ cd . && npm run dev")
    assert "[ ] App listening on its port" in text


def test_json_report_carries_cause_findings_and_checklist():
    data = json.loads(render_json(report_for(port="python3"), "en"))
    target = data["targets"][0]
    assert target["cause"] == "port_conflict" and data["exit_code"] == 2
    finding = next(f for f in target["findings"] if f["check"] == "port_conflict")
    assert finding["evidence"]["process"] == "python3"
    assert any("fuser -k 3001/tcp" in command for command in finding["fix"])
    assert {"item": "App listening on its port", "ok": True} in [
        {"item": c["item"], "ok": bool(c["ok"])} for c in target["checklist"]
    ]


def test_html_escapes_everything_it_shows():
    store = probe_results(port="<script>alert(1)</script>")
    cfg = Config(targets=(Target(name="t"),))
    body = render_html_body(build_report(cfg, store, [diagnose_target(store, "t")], None))
    assert "<script>" not in body and "&lt;script&gt;" in body


NOT_MEASURED = {"en": "[–] not measured: Static assets load", "zh-CN": "[–] 未测量: 静态资源正常加载"}
HOLDS = {"en": "[x] App listening on its port", "zh-CN": "[x] 应用在端口上正常启动"}
FAILS = {"en": "[ ] Database connection works", "zh-CN": "[ ] 数据库连接正常"}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize("render", [render_text, render_markdown, render_html_body])
def test_the_checklist_says_not_measured_in_words_never_as_an_unchecked_box(render, lang):
    # the app answers, the database is locked, and no static path is configured: nothing measured them
    text = render(report_for(db="locked"), lang)
    assert NOT_MEASURED[lang] in text and HOLDS[lang] in text and FAILS[lang] in text
    static = "Static assets load" if lang == "en" else "静态资源正常加载"
    assert f"[ ] {static}" not in text and f"[-] {static}" not in text


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_json_checklist_is_true_false_or_null_never_a_metric_value(lang):
    data = json.loads(render_json(report_for(db="locked"), lang))
    checklist = {c["id"]: c["ok"] for c in data["targets"][0]["checklist"]}
    assert checklist["app_listening"] is True  # from inventory_app_port_listening 1.0
    assert checklist["database_connects"] is False  # from inventory_db_up 0.0
    assert checklist["static_assets_load"] is None  # no static path: not measured
    assert checklist["cpu_ok"] is None  # no host samples in this report
    assert all(type(ok) in (bool, type(None)) for ok in checklist.values())
    items = [c["item"] for c in data["targets"][0]["checklist"]]
    assert ("数据库连接正常" in items) == (lang == "zh-CN")


def test_json_target_has_status_worst_severity_and_counts():
    down = json.loads(render_json(report_for(port="closed", proxy=502)))
    target = down["targets"][0]
    assert (target["status"], target["worst_severity"], down["worst_severity"]) == ("down", "critical", "critical")
    assert target["finding_counts"]["critical"] == sum(f["severity"] == "critical" for f in target["findings"]) >= 1
    slow = json.loads(render_json(report_for(api_seconds=0.9)))["targets"][0]
    assert (slow["status"], slow["cause"], slow["worst_severity"]) == ("degraded", "none", "warning")
    healthy = json.loads(render_json(report_for()))
    assert (healthy["targets"][0]["status"], healthy["targets"][0]["worst_severity"], healthy["worst_severity"]) == ("ok", None, None)
    assert healthy["targets"][0]["finding_counts"] == {"critical": 0, "warning": 0, "info": 0}


def test_json_evidence_is_a_map_of_strings():
    data = json.loads(render_json(report_for(port="python3")))
    evidence = [f["evidence"] for f in data["targets"][0]["findings"]]
    assert evidence and all(isinstance(v, str) for e in evidence for v in e.values())
