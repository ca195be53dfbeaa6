"""The status page's history: since when, heartbeat bars, latency sparklines and incidents, per target.

Plain HTML and inline SVG: no script, no external request (the page is served under a strict
Content-Security-Policy). Colour is never the only signal: a heartbeat cell's height and its
symbol say the severity too, and every cell's title gives time, root cause and failing checks.
The cells, points and rows are formatted as the scrapes are recorded (exporter.heartbeat): a
render joins them, whatever the history's length or the language last asked for.
"""

from __future__ import annotations

import html
import time
from typing import Iterable

from exporter.facts import THRESHOLDS
from exporter.heartbeat import HEIGHT, SPARK_MINUTES, day_cells, hour_cells, incident_rows, spark_points, top
from exporter.history import History, TargetHistory, is_down, unpack_latencies
from exporter.pagetext import clock, duration, text

LATENCY_LIMIT = {"api": THRESHOLDS["api_seconds"], "page": THRESHOLDS["page_seconds"]}
WIDTH = SPARK_MINUTES - 1  # x: the first minute at the left edge, the current one at the right

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


def hour_bar(history: TargetHistory, lang: str) -> str:
    """One cell per scrape (the latest HOUR_CELLS)."""
    label = html.escape(text(lang)["last_hour"])
    return f'<div class="hb hour" role="group" aria-label="{label}">{hour_cells(history, lang)}</div>'


def day_bar(history: TargetHistory, now: float, lang: str) -> str:
    """96 cells of 15 minutes, the last one the quarter hour ``now`` is in."""
    label = html.escape(text(lang)["last_day"])
    return f'<div class="hb day" role="group" aria-label="{label}">{day_cells(history, now, lang)}</div>'


def sparkline(origin: int, points: list[str], series: str, caption: str) -> str:
    """An inline SVG line over the last hour (a point a minute) with a dashed line at the threshold."""
    limit = LATENCY_LIMIT.get(series.split(" ", 1)[0], 500.0 if series == "proxy" else None)
    limit_line = ""
    if limit is not None:
        y = HEIGHT - limit / top(series) * HEIGHT
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


def incident_table(history: TargetHistory, now: float, lang: str) -> str:
    """The incidents of the last 24 h, newest first."""
    t, e = text(lang), html.escape
    rows = incident_rows(history, now, lang)
    if not rows:
        return f'<p class="incidents">{e(t["no_incidents"])}</p>'
    return (f'<table class="incidents"><caption>{e(t["incidents"])}</caption><thead><tr><th>{e(t["start"])}</th>'
            f'<th>{e(t["end"])}</th><th>{e(t["duration"])}</th><th>{e(t["cause"])}</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def render_target(name: str, history: TargetHistory, now: float, lang: str) -> str:
    t, e = text(lang), html.escape
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


__all__ = ["CSS", "render_history", "generated_line", "summary", "history_text"]
