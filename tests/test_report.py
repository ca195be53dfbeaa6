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
