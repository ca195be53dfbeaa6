"""The status page's history: since when, heartbeat bars, latency sparklines and incidents, per target.

Plain HTML and inline SVG: no script, no external request (the page is served under a strict
Content-Security-Policy). Colour is never the only signal: a heartbeat cell's height and its
symbol say the severity too, and every cell's title gives time, root cause and failing checks.
"""

from __future__ import annotations

import html
import time
from collections import deque
from typing import Iterable

from exporter.facts import THRESHOLDS
from exporter.history import (
    CELL_SECONDS, DAY_SECONDS, RANK_SEVERITY, History, Incident, TargetHistory, is_down, unpack_latencies,
)

HOUR_CELLS = 120  # the last hour's bar shows at most this many scrapes (the latest)
DAY_CELL_SECONDS = 900.0  # the 24 h bar: 96 cells of 15 minutes (three 5-minute history cells each)
LATENCY_LIMIT = {"api": THRESHOLDS["api_seconds"], "page": THRESHOLDS["page_seconds"]}
# entities, not the characters: the HTML the page keeps between loads stays ASCII (1 byte a character)
SYMBOL = {0: "&#10003;", 1: "&#10003;", 2: "!", 3: "&#10005;", -1: "&#183;"}

TEXT = {
    "en": {
        "down_since": "down since {at} ({for_})", "up_since": "up since {at} ({for_})",
        "outages": "{n} outages in 24 h", "outage": "1 outage in 24 h", "longest": "longest {d}",
        "uptime": "uptime {p} %", "no_history": "no history yet", "last_hour": "Last hour (each scrape)",
        "last_day": "Last 24 h (15-minute cells)",
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
        "outages": "24 小时内 {n} 次故障", "outage": "24 小时内 1 次故障", "longest": "最长 {d}",
        "uptime": "可用率 {p} %", "no_history": "尚无历史记录", "last_hour": "最近一小时（每次采集）",
        "last_day": "最近 24 小时（每格 15 分钟）",
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
.hb i{font-style:normal;flex:1 1 0;min-width:0;max-width:10px;font-size:8px;line-height:8px;text-align:center;
overflow:hidden;color:#fff;border-radius:1px}
.hb .s0,.hb .s1{background:#2e7d32;height:40%}.hb .s2{background:#f9a825;height:70%;color:#000}
.hb .s3{background:#c62828;height:100%}.hb .sn{background:#9e9e9e;height:15%}
figure{margin:.4em 0}svg.spark{width:100%;max-width:32em;height:48px;display:block}
svg.spark polyline{fill:none;stroke:#1565c0;stroke-width:1.5;vector-effect:non-scaling-stroke}
svg.spark line{stroke:#c62828;stroke-dasharray:4 3;vector-effect:non-scaling-stroke}
@media (prefers-color-scheme: dark){svg.spark polyline{stroke:#90caf9}}
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
    """HH:MM:SS in the exporter's local time (cheap: the page formats thousands of these)."""
    t = int(at + time.localtime(at).tm_gmtoff) if _TZ_VARIES else int(at + _OFFSET)
    return f"{t // 3600 % 24:02d}:{t // 60 % 60:02d}:{t % 60:02d}"


_OFFSET = time.localtime().tm_gmtoff
_TZ_VARIES = time.daylight != 0  # daylight saving: ask for each time stamp


def day_clock(at: float) -> str:
    return f"{time.strftime('%m-%d', time.localtime(at))} {clock(at)}"


def summary(history: TargetHistory, now: float, lang: str) -> str:
    """"down since 21:04:13 (23 min), 3 outages in 24 h, longest 41 min, uptime 97.1 %"."""
    t = text(lang)
    if history.since is None or history.cause is None:
        return t["no_history"]
    sep = "，" if lang == "zh-CN" else ", "
    key = "down_since" if is_down(history.cause) else "up_since"
    parts = [t[key].format(at=clock(history.since), for_=duration(now - history.since, lang))]
    outages = history.outages(now)
    parts.append(t["outage"] if len(outages) == 1 else t["outages"].format(n=len(outages)))
    if outages:
        parts.append(t["longest"].format(d=duration(max(i.duration(now) for i in outages), lang)))
    uptime = history.uptime()
    if uptime is not None:
        parts.append(t["uptime"].format(p=f"{uptime * 100:.1f}"))
    return sep.join(parts)


def _cell(rank: int | None, title: str) -> str:
    if rank is None:
        return f'<i class="sn" title="{title}">&#183;</i>'
    return f'<i class="s{rank}" title="{title}">{SYMBOL[rank]}</i>'


def _title(at: str, cause: str, rank: int, failing: tuple, t: dict[str, str]) -> str:
    """The cell's tooltip: time, severity, root cause and failing checks (already HTML-safe: ids and
    causes are [a-z_] names, the rest is our own text)."""
    line = f"{at} {t[RANK_SEVERITY.get(rank) or 'ok']}, {t['cause']}: {cause}"
    return f"{line}, {t['failing']}: {', '.join(failing)}" if failing else line


def hour_bar(history: TargetHistory, lang: str) -> str:
    """One cell per scrape (the latest HOUR_CELLS). A point never changes, so its cell is rendered
    once and kept while the point is on the bar (history.rendered, per language)."""
    t = text(lang)
    points = list(history.raw)[-HOUR_CELLS:]
    before = history.rendered.get(("hour", lang), {})
    now_cells = {}
    for p in points:
        cell = before.get(p.at)
        if cell is None:
            cell = _cell(p.worst, _title(clock(p.at), p.cause, p.worst, p.failing, t))
        now_cells[p.at] = cell
    history.rendered[("hour", lang)] = now_cells
    cells = "".join(now_cells.values())
    return f'<div class="hb hour" role="group" aria-label="{html.escape(t["last_hour"])}">{cells}</div>'


def day_slots(history: TargetHistory, first: float, cells: Iterable) -> list[list]:
    """96 fifteen-minute slots from ``first``: [start, worst rank or None, cause, failing, scrapes, down]."""
    slots = [[first + i * DAY_CELL_SECONDS, None, "", (), 0, 0] for i in range(DAY_SLOTS)]
    for c in cells:
        index = int((c.start - first) // DAY_CELL_SECONDS)
        if 0 <= index < DAY_SLOTS:
            slot = slots[index]
            if slot[1] is None or c.worst > slot[1]:
                slot[1], slot[2], slot[3] = c.worst, c.cause, c.failing
            slot[4] += c.scrapes
            slot[5] += c.down
    return slots


DAY_SLOTS = int(DAY_SECONDS // DAY_CELL_SECONDS)


def _slot_cell(slot: list, t: dict[str, str]) -> str:
    start, worst, cause, failing, scrapes, down = slot
    at = f"{clock(start)}-{clock(start + DAY_CELL_SECONDS)}"
    if worst is None:
        return _cell(None, f"{at} {t['no_data']}")
    return _cell(worst, f"{_title(at, cause, worst, failing, t)} ({down}/{scrapes})")


def day_bar(history: TargetHistory, now: float, lang: str) -> str:
    """96 slots of 15 minutes. Cells only change at the end (the current 5 minutes), so the slots
    before the current one are rendered once per slot period and kept (history.rendered)."""
    t = text(lang)
    first = now - now % DAY_CELL_SECONDS - DAY_SECONDS + DAY_CELL_SECONDS
    key = ("day", lang)
    cached = history.rendered.get(key)
    if cached is None or cached[0] != first:
        slots = day_slots(history, first, history.cells)
        cached = history.rendered[key] = (first, "".join(_slot_cell(slot, t) for slot in slots[:-1]))
    last_start = first + (DAY_SLOTS - 1) * DAY_CELL_SECONDS
    recent = [c for c in reversed(history.cells) if c.start >= last_start]
    last = day_slots(history, last_start, recent)[0]
    return (f'<div class="hb day" role="group" aria-label="{html.escape(t["last_day"])}">'
            f'{cached[1]}{_slot_cell(last, t)}</div>')


BUCKET_SECONDS = 60.0  # a sparkline point: the highest value of a minute
SPARK_MINUTES = 60
SPARK_TOP = {"api": 2 * THRESHOLDS["api_seconds"], "page": 2 * THRESHOLDS["page_seconds"], "proxy": 600.0}
DEFAULT_TOP = 2.0  # seconds, for endpoints of other kinds (no threshold)
WIDTH, HEIGHT = 60, 48  # one unit of x per minute; y: 0 at the bottom, the series' top (clamped) at the top


def _minute_maxima(points: Iterable) -> dict[str, dict[int, float]]:
    """Per series ("kind path", or "proxy"), the highest value of each minute of ``points``."""
    out: dict[str, dict[int, float]] = {}
    for p in points:
        minute = int(p.at // BUCKET_SECONDS)
        for path, value in zip(p.paths, unpack_latencies(p.latencies)):
            found = out.setdefault(path, {})
            if value > found.get(minute, -1.0):
                found[minute] = value
        if p.proxy_status >= 0:
            found = out.setdefault("proxy", {})
            found[minute] = max(found.get(minute, -1.0), float(p.proxy_status))
    return out


def _top(series: str) -> float:
    return SPARK_TOP.get(series.split(" ", 1)[0], DEFAULT_TOP)


def _xy(series: str, base: int, minute: int, value: float) -> str:
    return f"{minute - base},{HEIGHT - min(value / _top(series), 1.0) * HEIGHT:.0f}"


def spark_points(history: TargetHistory, now: float) -> tuple[int, dict[str, list[str]]]:
    """The x origin and each series' "x,y" points over the last hour, a point a minute. A finished
    minute never changes: its point is computed once and kept (history.rendered["spark"]); only the
    new minutes' scrapes are read on each render."""
    current = int(now // BUCKET_SECONDS)
    cache = history.rendered.get("spark")
    if cache is None:
        cache = history.rendered["spark"] = {"done": None, "base": current - SPARK_MINUTES, "series": {}}
    done, base, kept = cache["done"], cache["base"], cache["series"]
    start = (done + 1) * BUCKET_SECONDS if done is not None else float("-inf")
    fresh = []
    for p in reversed(history.raw):
        if p.at < start:
            break
        fresh.append(p)
    fresh.reverse()
    finished = [p for p in fresh if p.at < current * BUCKET_SECONDS]
    for series, maxima in _minute_maxima(finished).items():
        points = kept.setdefault(series, deque())
        points.extend(_xy(series, base, m, v) for m, v in sorted(maxima.items()))
    cache["done"] = current - 1
    out: dict[str, list[str]] = {}
    for series, points in kept.items():
        while points and base + int(points[0].split(",", 1)[0]) < current - SPARK_MINUTES:
            points.popleft()  # "x,y" with x = minute - base
        out[series] = list(points)
    for series, maxima in _minute_maxima(fresh[len(finished):]).items():
        out.setdefault(series, []).extend(_xy(series, base, m, v) for m, v in sorted(maxima.items()))
    return current - SPARK_MINUTES - base, {k: v for k, v in out.items() if v}


def sparkline(origin: int, points: list[str], series: str, caption: str) -> str:
    """An inline SVG line over the last hour (a point a minute) with a dashed line at the threshold."""
    limit = LATENCY_LIMIT.get(series.split(" ", 1)[0], 500.0 if series == "proxy" else None)
    limit_line = ""
    if limit is not None:
        y = HEIGHT - limit / _top(series) * HEIGHT
        limit_line = f'<line x1="{origin}" x2="{origin + WIDTH}" y1="{y:.0f}" y2="{y:.0f}"/>'
    desc = html.escape(caption)
    if len(points) == 1:  # one minute so far: a short level line, so it shows
        x, y = points[0].split(",")
        points = [f"{int(x) - 1},{y}", points[0]]
    return (f'<figure><figcaption><small>{desc}</small></figcaption><svg class="spark" '
            f'viewBox="{origin} 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" role="img" aria-label="{desc}">'
            f'<title>{desc}</title>{limit_line}<polyline points="{" ".join(points)}"/></svg></figure>')


def _caption(series: str, latest: float | None, t: dict[str, str]) -> str:
    kind = series.split(" ", 1)[0]
    if series == "proxy":
        return f"{t['proxy']}: {latest:g} ({t['threshold']} 500)" if latest is not None else t["proxy"]
    limit = LATENCY_LIMIT.get(kind)
    now = f": {latest:g} s" if latest is not None else ""
    return f"{t['latency']} {series}{now}" + (f" ({t['threshold']} {limit:g} s)" if limit is not None else "")


def sparklines(history: TargetHistory, now: float, lang: str) -> str:
    t = text(lang)
    origin, series = spark_points(history, now)
    last = history.raw[-1] if history.raw else None
    latest = dict(zip(last.paths, unpack_latencies(last.latencies))) if last else {}
    if last is not None and last.proxy_status >= 0:
        latest["proxy"] = float(last.proxy_status)
    ordered = sorted(series, key=lambda name: (name == "proxy", name))
    return "".join(sparkline(origin, series[name], name, _caption(name, latest.get(name), t)) for name in ordered)


def _incident_row(incident: Incident, now: float, t: dict[str, str], lang: str) -> str:
    e = html.escape
    end = day_clock(incident.end) if incident.end is not None else t["ongoing"]
    return (f'<tr><td>{e(day_clock(incident.start))}</td><td>{e(end)}</td>'
            f'<td class="duration">{e(duration(incident.duration(now), lang))}</td>'
            f'<td><code>{e(incident.cause)}</code></td></tr>')


def incident_table(history: TargetHistory, now: float, lang: str) -> str:
    """Newest first. An ended incident's row never changes: rendered once and kept (history.rendered)."""
    t, e = text(lang), html.escape
    outages: list[Incident] = history.outages(now)
    if not outages:
        return f'<p class="incidents">{e(t["no_incidents"])}</p>'
    before = history.rendered.get(("incidents", lang), {})
    kept, rows = {}, []
    for incident in reversed(outages):
        if incident.end is None:
            rows.append(_incident_row(incident, now, t, lang))
            continue
        row = kept[incident.start] = before.get(incident.start) or _incident_row(incident, now, t, lang)
        rows.append(row)
    history.rendered[("incidents", lang)] = kept
    return (f'<table class="incidents"><caption>{e(t["incidents"])}</caption><thead><tr><th>{e(t["start"])}</th>'
            f'<th>{e(t["end"])}</th><th>{e(t["duration"])}</th><th>{e(t["cause"])}</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def render_target(name: str, history: TargetHistory, now: float, lang: str) -> str:
    t, e = text(lang), html.escape
    if history.rendered.get("lang") != lang:  # keep what was rendered for one language only (memory)
        spark = history.rendered.get("spark")
        history.rendered.clear()
        history.rendered.update({"lang": lang, "spark": spark} if spark else {"lang": lang})
    return (
        f'<div class="hist" id="history-{e(name)}"><p class="since">{e(summary(history, now, lang))}</p>'
        f'<p><small>{e(t["last_hour"])} · {e(t["legend"])}</small></p>{hour_bar(history, lang)}'
        f'<p><small>{e(t["last_day"])}</small></p>{day_bar(history, now, lang)}'
        f'{sparklines(history, now, lang)}{incident_table(history, now, lang)}</div>'
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
