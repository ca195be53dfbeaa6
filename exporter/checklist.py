"""The incident report's verification checklist ("验证清单"), judged from one target's metrics and the host's."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.detectors_functional import conditions_met, pages_render
from exporter.facts import THRESHOLDS, Facts

CHECKLIST = (
    # (id, english, chinese, metric test on the target's facts)
    ("app_listening", "App listening on its port", "应用在端口上正常启动", lambda f: f.get("inventory_app_port_listening")),
    ("health_endpoint_ok", "Health endpoint answers 2xx", "健康检查端点返回 200", lambda f: _all_up(f, ("api",), "/api/health")),
    ("endpoints_reachable", "All API endpoints reachable", "所有 API 端点可访问", lambda f: _all_up(f, ("api", "page"))),
    ("static_assets_load", "Static assets load", "静态资源正常加载", lambda f: _all_up(f, ("static",))),
    ("conditions_met", "Endpoints answer what their conditions expect (login, data)", "端点响应符合预期条件（登录、数据）",
     conditions_met),
    ("pages_render", "Pages render with all their scripts and stylesheets, of the current build",
     "页面完整渲染（脚本与样式表均可加载，且为当前构建）", pages_render),
    ("database_connects", "Database connection works", "数据库连接正常", lambda f: f.get("inventory_db_up")),
    ("pages_fast", "Pages load in under 3 s", "页面加载时间 < 3秒", lambda f: _all_below(f, ("page",), THRESHOLDS["page_seconds"])),
    ("api_fast", "API answers in under 500 ms", "API 响应时间 < 500ms", lambda f: _all_below(f, ("api",), THRESHOLDS["api_seconds"])),
    ("database_query_fast", "Database query under 100 ms", "数据库查询时间 < 100ms",
     lambda f: _below(f.get("inventory_db_query_seconds"), THRESHOLDS["db_query_seconds"])),
    ("memory_ok", "Memory use under 80 %", "内存使用率 < 80%",
     lambda f: _below(f.get("inventory_memory_usage_ratio"), THRESHOLDS["memory_ratio"])),
    ("cpu_ok", "CPU use under 50 %", "CPU 使用率 < 50%", lambda f: _below(f.get("inventory_cpu_usage_ratio"), THRESHOLDS["cpu_ratio"])),
)


def _all_up(f: Facts, kinds: tuple[str, ...], path: str | None = None) -> bool | None:
    rows = [v for l, v in f.all("inventory_http_up") if l.get("kind") in kinds and (path is None or l["path"] == path)]
    return all(rows) if rows else None


def _all_below(f: Facts, kinds: tuple[str, ...], limit: float) -> bool | None:
    rows = [v for l, v in f.all("inventory_http_response_seconds") if l.get("kind") in kinds]
    if not rows:
        return None if not [1 for l, _ in f.all("inventory_http_up") if l.get("kind") in kinds] else False
    return all(v <= limit for v in rows)


def _below(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    text: str
    ok: bool | None  # None: not measured for this target


def checklist(facts: Facts, host_facts: Facts, lang: str) -> list[ChecklistItem]:
    """Each item of CHECKLIST for the target of ``facts``: holds, fails, or None when not measured."""
    merged = Facts(facts.store + host_facts.store, None)
    items = []
    for item_id, en, zh, test in CHECKLIST:
        state = test(merged)  # a metric value (1.0/0.0), a bool, or None
        items.append(ChecklistItem(item_id, zh if lang == "zh-CN" else en, None if state is None else bool(state)))
    return items
