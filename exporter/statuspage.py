"""The status page's history: since when, heartbeat bars, latency sparklines and incidents, per target.

Plain HTML and inline SVG: no script, no external request (the page is served under a strict
Content-Security-Policy). Colour is never the only signal: a heartbeat cell's height and its
symbol say the severity too, and every cell's title gives time, root cause and failing checks.
"""

from __future__ import annotations

import html
import time
from typing import Iterable

from exporter.facts import THRESHOLDS
from exporter.history import CELL_SECONDS, DAY_SECONDS, RANK_SEVERITY, History, Incident, TargetHistory, is_down

HOUR_CELLS = 120  # the last hour's bar shows at most this many scrapes (the latest)
DAY_CELL_SECONDS = 900.0  # the 24 h bar: 96 cells of 15 minutes
LATENCY_LIMIT = {"api": THRESHOLDS["api_seconds"], "page": THRESHOLDS["page_seconds"]}
SYMBOL = {0: "✓", 1: "✓", 2: "!", 3: "✕", -1: "·"}

TEXT = {
    "en": {
        "down_since": "down since {at} ({for_})", "up_since": "up since {at} ({for_})",
        "outages": "{n} outage(s) in 24 h", "longest": "longest {d}", "uptime": "uptime {p} %",
        "no_history": "no history yet", "last_hour": "Last hour (each scrape)", "last_day": "Last 24 h (15-minute cells)",
        "latency": "Latency", "proxy": "Front proxy status", "incidents": "Incidents (24 h)",
        "start": "Start", "end": "End", "duration": "Duration", "cause": "Cause", "ongoing": "ongoing",
        "no_incidents": "No incident in the last 24 h.", "failing": "failing", "no_data": "no data",
        "ok": "ok", "info": "info", "warning": "warning", "critical": "critical", "threshold": "threshold",
        "legend": "✓ ok · ! warning · ✕ critical (also taller) · · no data",
        "generated": "Generated at {at}; refreshes every {n} s.",
        "s": "{n} s", "min": "{n} min", "h": "{h} h {m} min",
    },
    "zh-CN": {
        "down_since": "自 {at} 起故障（{for_}）", "up_since": "自 {at} 起正常（{for_}）",
        "outages": "24 小时内 {n} 次故障", "longest": "最长 {d}", "uptime": "可用率 {p} %",
        "no_history": "尚无历史记录", "last_hour": "最近一小时（每次采集）", "last_day": "最近 24 小时（每格 15 分钟）",
        "latency": "响应时间", "proxy": "前端代理状态码", "incidents": "故障记录（24 小时）",
        "start": "开始", "end": "结束", "duration": "持续", "cause": "根本原因", "ongoing": "进行中",
        "no_incidents": "最近 24 小时没有故障。", "failing": "未通过", "no_data": "无数据",
        "ok": "正常", "info": "提示", "warning": "警告", "critical": "严重", "threshold": "阈值",
        "legend": "✓ 正常 · ! 警告 · ✕ 严重（柱更高） · · 无数据",
        "generated": "生成于 {at}；每 {n} 秒自动刷新。",
        "s": "{n} 秒", "min": "{n} 分钟", "h": "{h} 小时 {m} 分钟",
    },
}

CSS = """
.hist{margin:.5em 0 1em}.since{font-weight:bold}
.hb{display:flex;align-items:flex-end;gap:1px;height:28px;margin:.2em 0 .6em;overflow:hidden}
.hb span{flex:1 1 0;min-width:0;max-width:10px;font-size:8px;line-height:8px;text-align:center;overflow:hidden;
color:#fff;border-radius:1px}
.hb .s0,.hb .s1{background:#2e7d32;height:40%}.hb .s2{background:#f9a825;height:70%;color:#000}
.hb .s3{background:#c62828;height:100%}.hb .sn{background:#9e9e9e;height:15%}
svg.spark{width:100%;max-width:32em;height:48px;display:block}
svg.spark polyline{fill:none;stroke:#1565c0;stroke-width:1.5}svg.spark line{stroke:#c62828;stroke-dasharray:4 3}
table.incidents{border-collapse:collapse;width:100%;font-size:.9em}
table.incidents td,table.incidents th{border-bottom:1px solid #ccc;padding:2px 4px;text-align:left}
"""


def text(lang: str) -> dict[str, str]:
    return TEXT.get(lang, TEXT["en"])


def duration(seconds: float, lang: str) -> str:
    t = text(lang)
    seconds = max(0, int(seconds))
    if seconds < 60:
        return t["s"].format(n=seconds)
    if seconds < 3600:
        return t["min"].format(n=seconds // 60)
    return t["h"].format(h=seconds // 3600, m=seconds % 3600 // 60)


def clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def day_clock(at: float) -> str:
    return time.strftime("%m-%d %H:%M:%S", time.localtime(at))


def summary(history: TargetHistory, now: float, lang: str) -> str:
    """"down since 21:04:13 (23 min), 3 outages in 24 h, longest 41 min, uptime 97.1 %"."""
    t = text(lang)
    if history.since is None or history.cause is None:
        return t["no_history"]
    sep = "，" if lang == "zh-CN" else ", "
    key = "down_since" if is_down(history.cause) else "up_since"
    parts = [t[key].format(at=clock(history.since), for_=duration(now - history.since, lang))]
    outages = history.outages(now)
    parts.append(t["outages"].format(n=len(outages)))
    if outages:
        parts.append(t["longest"].format(d=duration(max(i.duration(now) for i in outages), lang)))
    uptime = history.uptime()
    if uptime is not None:
        parts.append(t["uptime"].format(p=f"{uptime * 100:.1f}"))
    return sep.join(parts)


def _cell(rank: int | None, title: str) -> str:
    cls = "sn" if rank is None else f"s{rank}"
    return f'<span class="{cls}" title="{html.escape(title)}" aria-label="{html.escape(title)}">{SYMBOL[-1 if rank is None else rank]}</span>'


def _title(at: str, cause: str, rank: int, failing: Iterable[str], lang: str, extra: str = "") -> str:
    t = text(lang)
    severity = t[RANK_SEVERITY.get(rank) or "ok"]
    checks = ", ".join(failing) or "-"
    return f"{at}{extra} · {severity} · {t['cause']}: {cause} · {t['failing']}: {checks}"


def hour_bar(history: TargetHistory, lang: str) -> str:
    points = list(history.raw)[-HOUR_CELLS:]
    cells = [_cell(p.worst, _title(clock(p.at), p.cause, p.worst, p.failing, lang))
             for p in points]
    return f'<div class="hb hour" role="img" aria-label="{html.escape(text(lang)["last_hour"])}">{"".join(cells)}</div>'


def day_slots(history: TargetHistory, now: float) -> list[tuple[float, int | None, str, tuple, int, int]]:
    """96 fifteen-minute slots, oldest first: (start, worst rank or None, cause, failing, scrapes, down)."""
    first = now - now % DAY_CELL_SECONDS - DAY_SECONDS + DAY_CELL_SECONDS
    slots: list[list] = [[first + i * DAY_CELL_SECONDS, None, "", (), 0, 0] for i in range(int(DAY_SECONDS // DAY_CELL_SECONDS))]
    rows = [(c.start, c.worst, c.cause, c.failing, c.scrapes, c.down) for c in history.cells]
    rows += [(p.at, p.worst, p.cause, p.failing, 1, int(is_down(p.cause))) for p in history.raw]
    for at, worst, cause, failing, scrapes, down in rows:
        index = int((at - first) // DAY_CELL_SECONDS)
        if not 0 <= index < len(slots):
            continue
        slot = slots[index]
        if slot[1] is None or worst > slot[1]:
            slot[1], slot[2], slot[3] = worst, cause, failing
        slot[4] += scrapes
        slot[5] += down
    return [tuple(s) for s in slots]


def day_bar(history: TargetHistory, now: float, lang: str) -> str:
    t = text(lang)
    cells = []
    for start, worst, cause, failing, scrapes, down in day_slots(history, now):
        if worst is None:
            cells.append(_cell(None, f"{day_clock(start)} · {t['no_data']}"))
        else:
            cells.append(_cell(worst, _title(day_clock(start), cause, worst, failing, lang, f" (+15 min, {down}/{scrapes})")))
    return f'<div class="hb day" role="img" aria-label="{html.escape(t["last_day"])}">{"".join(cells)}</div>'


def sparkline(values: list[tuple[float, float]], limit: float | None, label: str, unit: str) -> str:
    """An inline SVG line of (time, value) with a dashed line at ``limit``."""
    width, height = 320, 48
    if not values:
        return ""
    t0, t1 = values[0][0], max(values[-1][0], values[0][0] + 1)
    top = max([v for _, v in values] + [limit or 0]) * 1.1 or 1.0
    points = " ".join(f"{(at - t0) / (t1 - t0) * width:.1f},{height - v / top * height:.1f}" for at, v in values)
    latest = values[-1][1]
    desc = html.escape(f"{label}: {latest:g} {unit}" + (f" (limit {limit:g} {unit})" if limit is not None else ""))
    limit_line = ""
    if limit is not None:
        y = height - limit / top * height
        limit_line = f'<line x1="0" x2="{width}" y1="{y:.1f}" y2="{y:.1f}"/>'
    return (f'<figure><figcaption><small>{desc}</small></figcaption><svg class="spark" viewBox="0 0 {width} {height}" '
            f'preserveAspectRatio="none" role="img" aria-label="{desc}"><title>{desc}</title>'
            f'{limit_line}<polyline points="{points}"/></svg></figure>')


def sparklines(history: TargetHistory, lang: str) -> str:
    t = text(lang)
    series: dict[str, list[tuple[float, float]]] = {}
    proxy: list[tuple[float, float]] = []
    for p in history.raw:
        for path, seconds in zip(p.paths, p.latencies):
            series.setdefault(path, []).append((p.at, seconds))
        if p.proxy_status >= 0:
            proxy.append((p.at, float(p.proxy_status)))
    parts = [sparkline(values, LATENCY_LIMIT.get(path.split(" ", 1)[0]), f"{t['latency']} {path}", "s")
             for path, values in series.items()]
    if proxy:
        parts.append(sparkline(proxy, 500.0, t["proxy"], ""))
    return "".join(parts)


def incident_table(history: TargetHistory, now: float, lang: str) -> str:
    t, e = text(lang), html.escape
    outages: list[Incident] = history.outages(now)
    if not outages:
        return f'<p class="incidents">{e(t["no_incidents"])}</p>'
    rows = "".join(
        f'<tr><td>{e(day_clock(i.start))}</td><td>{e(day_clock(i.end) if i.end is not None else t["ongoing"])}</td>'
        f'<td class="duration">{e(duration(i.duration(now), lang))}</td><td><code>{e(i.cause)}</code></td></tr>'
        for i in reversed(outages)
    )
    return (f'<table class="incidents"><caption>{e(t["incidents"])}</caption><thead><tr><th>{e(t["start"])}</th>'
            f'<th>{e(t["end"])}</th><th>{e(t["duration"])}</th><th>{e(t["cause"])}</th></tr></thead>'
            f'<tbody>{rows}</tbody></table>')


def render_target(name: str, history: TargetHistory, now: float, lang: str) -> str:
    t, e = text(lang), html.escape
    return (
        f'<div class="hist" id="history-{e(name)}"><p class="since">{e(summary(history, now, lang))}</p>'
        f'<p><small>{e(t["last_hour"])} · {e(t["legend"])}</small></p>{hour_bar(history, lang)}'
        f'<p><small>{e(t["last_day"])}</small></p>{day_bar(history, now, lang)}'
        f'{sparklines(history, lang)}{incident_table(history, now, lang)}</div>'
    )


def render_history(history: History, names: Iterable[str], now: float, lang: str) -> dict[str, str]:
    """The history block of each named target, by name (empty for a target without history)."""
    return {name: render_target(name, history.targets[name], now, lang) for name in names if name in history.targets}


def generated_line(now: float, refresh: int, lang: str) -> str:
    at = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(now))
    return f'<p class="generated"><small>{html.escape(text(lang)["generated"].format(at=at, n=refresh))}</small></p>'


def history_text(history: TargetHistory | None, now: float, lang: str) -> str:
    """The one-line since-when for ``diagnose``."""
    return summary(history, now, lang) if history is not None else ""


__all__ = ["CSS", "render_history", "generated_line", "summary", "history_text", "CELL_SECONDS"]
