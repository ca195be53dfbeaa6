"""The diagnosis as a report shaped like the incident report: summary, root cause, findings by
priority with evidence and fixes, and a verification checklist. Text, Markdown, JSON or HTML;
English or Simplified Chinese.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from exporter.config import Config, Target
from exporter.causetext import CAUSE_TEXT
from exporter.diagnosis import SEVERITIES, Diagnosis, Facts, Finding
from exporter.checklist import checklist
from exporter.fixcontext import Blank, fix_context
from exporter.lang import LANGS  # noqa: F401  (the report's languages, re-exported)
from exporter.impact import impact_dict, impact_text
from exporter.origins import LABELS, error_lines, nothing_found_lines, origin_dict, origin_text
from exporter.redact import redact

PRIORITY = {
    "en": {"critical": "🔴 High priority", "warning": "🟡 Medium priority", "info": "🟢 Low priority"},
    "zh-CN": {"critical": "🔴 高优先级问题", "warning": "🟡 中优先级问题", "info": "🟢 低优先级问题"},
}
WORDS = {
    "en": {
        "title": "Smart inventory: diagnosis report",
        "generated": "Generated",
        "summary": "Summary",
        "target": "Target",
        "cause": "Root cause",
        "findings": "Findings",
        "evidence": "Evidence",
        "fix": "Fix",
        "host": "Host",
        "no_findings": "No findings.",
        "checklist": "Verification checklist",
        "status_ok": "✅ healthy",
        "status_down": "❌ down",
        "status_degraded": "🟡 degraded",
        "status_unknown": "❔ not fully checked",
        "not_measured": "not measured",
    },
    "zh-CN": {
        "title": "智慧库存系统 - 诊断报告",
        "generated": "诊断时间",
        "summary": "执行摘要",
        "target": "目标",
        "cause": "根本原因",
        "findings": "发现的问题",
        "evidence": "证据",
        "fix": "修复命令",
        "host": "主机",
        "no_findings": "未发现问题。",
        "checklist": "验证清单",
        "status_ok": "✅ 正常",
        "status_down": "❌ 故障",
        "status_degraded": "🟡 部分异常",
        "status_unknown": "❔ 未能完整检查",
        "not_measured": "未测量",
    },
}
@dataclass
class Report:
    generated: float
    targets: list[tuple[Target, Diagnosis, Facts]]
    host: Diagnosis | None
    host_facts: Facts
    discovery_errors: list = field(default_factory=list)  # what discovery could not read (exporter.discovery.model)

    def exit_code(self) -> int:
        severities = {f.severity for _, d, _ in self.targets for f in d.findings}
        if self.host:
            severities |= {f.severity for f in self.host.findings}
        if "critical" in severities:
            return 2
        unchecked = any(d.cause == "not_checked" for _, d, _ in self.targets)
        return 1 if "warning" in severities or unchecked else 0


def build_report(
    config: Config, store: list, diagnoses: list[Diagnosis], host: Diagnosis | None, discovery_errors: list = (),
) -> Report:
    by_name = {t.name: t for t in config.targets}
    grouped: dict[str, list] = {}
    for row in store:
        grouped.setdefault(row[1].get("target", ""), []).append(row)
    rows = [(by_name[d.target], d, Facts(grouped.get(d.target, []), d.target)) for d in diagnoses if d.target in by_name]
    return Report(time.time(), rows, host, Facts(grouped.get("", []), ""), list(discovery_errors))


def _impact_suffix(diagnosis: Diagnosis, lang: str) -> str:
    """``: 1,204 user requests answered 502 since 21:04 (100 % of 1,204)`` after the cause, when users saw failures."""
    text = impact_text(diagnosis.impact, lang)
    return f"{'：' if lang == 'zh-CN' else ': '}{text}" if text else ""


def _preamble(report: Report, lang: str) -> list[str]:
    """What discovery could not read, and what to do when there is no target at all."""
    return error_lines(report.discovery_errors, lang) + ([] if report.targets else nothing_found_lines(lang))


def _status(diagnosis: Diagnosis, words: dict[str, str]) -> str:
    return words[f"status_{_state(diagnosis)}"]


def _title(finding: Finding, lang: str) -> str:
    return finding.check.title_zh if lang == "zh-CN" else finding.check.title


def _fixes(finding: Finding, context: dict[str, str]) -> list[str]:
    return [command.format_map(context) for command in finding.check.fix]


def _evidence(finding: Finding) -> str:
    return ", ".join(f"{k}={v}" for k, v in finding.evidence.items())


def _cause_text(cause: str, lang: str) -> str:
    en, zh = CAUSE_TEXT[cause]
    return zh if lang == "zh-CN" else en


def _mark(state: bool | None, lang: str) -> str:
    """[x] holds, [ ] fails, [–] not measured for this target (in words: never an unchecked box)."""
    if state is None:
        return f"[–] {WORDS[lang]['not_measured']}:"
    return "[x]" if state else "[ ]"


def _checklist_lines(report: Report, facts: Facts, lang: str) -> list[str]:
    return [f"{_mark(item.ok, lang)} {item.text}" for item in checklist(facts, report.host_facts, lang)]


def _state(diagnosis: Diagnosis) -> str:
    """ok, degraded (findings but no root cause), down (a root cause) or unknown (probes timed out)."""
    if diagnosis.cause == "not_checked":
        return "unknown"
    if diagnosis.cause != "none":
        return "down"
    return "degraded" if diagnosis.findings else "ok"


def _grouped(findings: list[Finding]) -> list[tuple[str, list[Finding]]]:
    return [(s, [f for f in findings if f.severity == s]) for s in SEVERITIES if any(f.severity == s for f in findings)]


def render_markdown(report: Report, lang: str = "en", heading: str = "#") -> str:
    w = WORDS[lang]
    lines = [f"{heading} {w['title']}", "", f"**{w['generated']}**: {time.strftime('%Y-%m-%d %H:%M:%S %z', time.localtime(report.generated))}", ""]
    lines += [f"{heading}# 📋 {w['summary']}", ""]
    lines += [f"> {line}" for line in _preamble(report, lang)] + ([""] if _preamble(report, lang) else [])
    for target, diagnosis, _ in report.targets:
        lines.append(f"- **{target.name}** ({target.app_url}): {_status(diagnosis, w)}: `{diagnosis.cause}`: "
                     f"{_cause_text(diagnosis.cause, lang)}{_impact_suffix(diagnosis, lang)}")
    if report.host:
        count = len(report.host.findings)
        lines.append(f"- **{w['host']}**: " + (f"{count} 个问题" if lang == "zh-CN" else f"{count} finding(s)"))
    for target, diagnosis, facts in report.targets:
        context = fix_context(target, facts)
        lines += ["", f"{heading}# 🎯 {w['target']}: {target.name}", "", f"**{w['cause']}**: `{diagnosis.cause}`: {_cause_text(diagnosis.cause, lang)}{_impact_suffix(diagnosis, lang)}", "",
                  f"*{LABELS[lang]['from']}*: {origin_text(target, lang)}", ""]
        lines += _markdown_findings(diagnosis.findings, context, lang, heading)
        lines += ["", f"{heading}## 📋 {w['checklist']}", ""]
        lines += [f"- {line}" for line in _checklist_lines(report, facts, lang)]
    if report.host:
        context = fix_context(report.targets[0][0], report.targets[0][2]) if report.targets else Blank()
        lines += ["", f"{heading}# 🖥️ {w['host']}", ""]
        lines += _markdown_findings(report.host.findings, context, lang, heading)
    return redact("\n".join(lines) + "\n")


def _markdown_findings(findings: list[Finding], context: dict[str, str], lang: str, heading: str) -> list[str]:
    w = WORDS[lang]
    if not findings:
        return [w["no_findings"]]
    lines: list[str] = []
    for severity, group in _grouped(findings):
        lines += [f"{heading}## {PRIORITY[lang][severity]}", ""]
        for index, finding in enumerate(group, 1):
            lines += [f"{index}. **{_title(finding, lang)}** (`{finding.id}`)", f"   - {w['evidence']}: {_evidence(finding)}"]
            lines += [f"   - {w['fix']}:", "     ```bash"] + [f"     {c}" for c in _fixes(finding, context)] + ["     ```"]
        lines.append("")
    return lines


def render_text(report: Report, lang: str = "en") -> str:
    w = WORDS[lang]
    out = [w["title"], "=" * 40, f"{w['generated']}: {time.strftime('%Y-%m-%d %H:%M:%S %z', time.localtime(report.generated))}", ""]
    out += _preamble(report, lang) + ([""] if _preamble(report, lang) else [])
    for target, diagnosis, facts in report.targets:
        context = fix_context(target, facts)
        out += [f"{w['target']}: {target.name} ({target.app_url})  {_status(diagnosis, w)}",
                f"  {w['cause']}: {diagnosis.cause}: {_cause_text(diagnosis.cause, lang)}{_impact_suffix(diagnosis, lang)}",
                f"  {LABELS[lang]['from']}: {origin_text(target, lang)}"]
        out += _text_findings(diagnosis.findings, context, lang)
        out += [f"  {w['checklist']}:"] + [f"    {line}" for line in _checklist_lines(report, facts, lang)]
        out.append("")
    if report.host:
        context = fix_context(report.targets[0][0], report.targets[0][2]) if report.targets else Blank()
        out += [f"{w['host']}:"] + _text_findings(report.host.findings, context, lang)
    return redact("\n".join(out) + "\n")


def _text_findings(findings: list[Finding], context: dict[str, str], lang: str) -> list[str]:
    w = WORDS[lang]
    if not findings:
        return [f"  {w['no_findings']}"]
    out = []
    for severity, group in _grouped(findings):
        out.append(f"  {PRIORITY[lang][severity]}")
        for finding in group:
            out += [f"    - {_title(finding, lang)} [{finding.id}]", f"      {w['evidence']}: {_evidence(finding)}"]
            out += [f"      $ {c}" for c in _fixes(finding, context)]
    return out


def _worst(findings: list[Finding]) -> str | None:
    return next((s for s in SEVERITIES if any(f.severity == s for f in findings)), None)


def _finding_dict(f: Finding, context: dict[str, str], lang: str) -> dict[str, Any]:
    return {
        "check": f.id,
        "severity": f.severity,
        "title": _title(f, lang),
        "evidence": {str(k): str(v) for k, v in f.evidence.items()},
        "fix": _fixes(f, context),
    }


def _target_dict(report: Report, target: Target, diagnosis: Diagnosis, facts: Facts, lang: str) -> dict[str, Any]:
    context = fix_context(target, facts)
    return {
        "target": target.name,
        "app_url": target.app_url,
        "status": _state(diagnosis),
        "cause": diagnosis.cause,
        "cause_text": _cause_text(diagnosis.cause, lang),
        "worst_severity": _worst(diagnosis.findings),
        "finding_counts": {s: sum(f.severity == s for f in diagnosis.findings) for s in SEVERITIES},
        "findings": [_finding_dict(f, context, lang) for f in diagnosis.findings],
        "checklist": [{"id": i.id, "item": i.text, "ok": i.ok} for i in checklist(facts, report.host_facts, lang)],
        "origin": origin_dict(target),
        "impact": impact_dict(diagnosis.impact),
    }


def report_dict(report: Report, lang: str = "en") -> dict[str, Any]:
    """The report as typed JSON (docs/diagnose.schema.json): booleans are booleans, not measured is null."""
    host_context = fix_context(report.targets[0][0], report.targets[0][2]) if report.targets else Blank()
    host_findings = report.host.findings if report.host else []
    every = [f for _, d, _ in report.targets for f in d.findings] + host_findings
    generated = datetime.fromtimestamp(report.generated).astimezone()
    return {
        "generated": generated.isoformat(timespec="seconds"),
        "generated_unix_seconds": round(report.generated, 3),
        "lang": lang,
        "exit_code": report.exit_code(),
        "worst_severity": _worst(every),
        "targets": [_target_dict(report, t, d, f, lang) for t, d, f in report.targets],
        "host": [_finding_dict(f, host_context, lang) for f in host_findings],
        "discovery_errors": [{"source": e.source, "reason": e.reason, "detail": e.detail} for e in report.discovery_errors],
    }


def render_json(report: Report, lang: str = "en") -> str:
    return redact(json.dumps(report_dict(report, lang), ensure_ascii=False, indent=2) + "\n")


SEVERITY_COLOUR = {"critical": "#c62828", "warning": "#f9a825", "info": "#2e7d32"}


def render_html_body(report: Report, lang: str = "en", history: Mapping[str, str] = {}) -> str:
    """The live diagnosis for the landing page: plain HTML, readable without JavaScript; ``history``
    is each target's status-page block (exporter.statuspage), placed under its cause."""
    w, e = WORDS[lang], html.escape
    parts = [f'<p class="discovery">{e(line)}</p>' for line in _preamble(report, lang)]
    for target, diagnosis, facts in report.targets:
        context = fix_context(target, facts)
        colour = {"none": "#2e7d32", "not_checked": "#757575"}.get(diagnosis.cause, "#c62828")
        parts.append(
            f'<section class="target" id="target-{e(target.name)}"><h2>{e(w["target"])}: {e(target.name)} '
            f'<small>{e(target.app_url)}</small> {e(_status(diagnosis, w))}</h2>'
            f'<p class="cause" style="border-left:6px solid {colour};padding-left:8px">'
            f'<strong>{e(w["cause"])}:</strong> <code>{e(diagnosis.cause)}</code>: {e(_cause_text(diagnosis.cause, lang))}'
            f'{e(_impact_suffix(diagnosis, lang))}</p>'
            f'<p class="origin"><small>{e(LABELS[lang]["from"])}: {e(origin_text(target, lang))}</small></p>'
            + history.get(target.name, "")
            + _html_findings(diagnosis.findings, context, lang)
            + f'<details><summary>{e(w["checklist"])}</summary><ul>'
            + "".join(f"<li>{e(line)}</li>" for line in _checklist_lines(report, facts, lang))
            + "</ul></details></section>"
        )
    if report.host:
        context = fix_context(report.targets[0][0], report.targets[0][2]) if report.targets else Blank()
        parts.append(f'<section class="host"><h2>{e(w["host"])}</h2>{_html_findings(report.host.findings, context, lang)}</section>')
    return redact("\n".join(parts))


def _html_findings(findings: list[Finding], context: dict[str, str], lang: str) -> str:
    w, e = WORDS[lang], html.escape
    if not findings:
        return f"<p>{e(w['no_findings'])}</p>"
    parts = []
    for severity, group in _grouped(findings):
        parts.append(f'<h3 style="color:{SEVERITY_COLOUR[severity]}">{e(PRIORITY[lang][severity])}</h3><ol>')
        for f in group:
            fixes = "\n".join(e(c) for c in _fixes(f, context))
            parts.append(
                f'<li class="finding {e(f.severity)}"><strong>{e(_title(f, lang))}</strong> <code>{e(f.id)}</code>'
                f'<br>{e(w["evidence"])}: {e(_evidence(f))}<pre>{fixes}</pre></li>'
            )
        parts.append("</ol>")
    return "".join(parts)
