"""The status page's words and times: its text in English and Chinese, durations and clock times.

Clock times are formatted by the thousand on every page (a cell per scrape, a cell per quarter of an
hour, for every target) and are mostly the same few, so they are remembered (bounded).
"""

from __future__ import annotations

import time

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


def memo(table: dict, key, make, size: int = 8192):
    """``table[key]``, made by ``make()`` the first time; the table starts again when it holds ``size``."""
    found = table.get(key)
    if found is None:
        if len(table) >= size:
            table.clear()
        found = table[key] = make()
    return found


def clock(at: float) -> str:
    """HH:MM:SS in the exporter's local time. The page formats thousands of these, mostly the same few
    (one scrape's time for every target, the 15-minute boundaries): remembered, bounded."""
    second = int(at)
    return memo(_CLOCKS, second, lambda: _hms(second + time.localtime(second).tm_gmtoff), CLOCK_MEMO)


def _hms(t: int) -> str:
    return f"{t // 3600 % 24:02d}:{t // 60 % 60:02d}:{t % 60:02d}"


def day_clock(at: float) -> str:
    """MM-DD HH:MM:SS in the exporter's local time."""
    second = int(at)
    return memo(_DAY_CLOCKS, second, lambda: f"{time.strftime('%m-%d', time.localtime(second))} {clock(second)}",
                CLOCK_MEMO)


CLOCK_MEMO = 2048  # time stamps repeat across targets within a scrape, not for long
_CLOCKS: dict[int, str] = {}
_DAY_CLOCKS: dict[int, str] = {}


LANGS = tuple(TEXT)
