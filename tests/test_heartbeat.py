"""The page's cells, sparkline points and incident rows, formatted as the scrapes are recorded
(exporter.heartbeat): they must say exactly what the history says, whether they were formatted one
scrape at a time (the scrape path), all at once (a history loaded at start-up), or after a silence."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.heartbeat import (
    BASE, DAY_CELL_SECONDS, DAY_SLOTS, HEIGHT, HOUR_CELLS, SPARK_MINUTES, day_cells, hour_cells, incident_rows, note,
    spark_points, top,
)
from exporter.history import DAY_SECONDS, RANK_SEVERITY, SEVERITY_RANK, History, point_from_samples, unpack_latencies
from exporter.history_store import FILE_NAME, from_json, load, to_json
from exporter.pagetext import LANGS, SYMBOL, clock, day_clock, duration, text
from exporter.statuspage import render_target

T0 = 1_800_000_000.0
STATES = {  # cause, worst severity, failing checks, proxy status
    "up": ("none", None, (), 200),
    "slow": ("none", "warning", ("api_slow",), 200),
    "down": ("app_not_listening", "critical", ("app_not_listening", "proxy_bad_gateway"), 502),
    "db": ("database_unavailable", "critical", ("database_unavailable",), 500),
}


def point(at: float, state: str, latency: float):
    cause, worst, failing, proxy = STATES[state]
    samples = [("inventory_http_response_seconds", {"kind": "api", "path": "/api/health"}, latency),
               ("inventory_http_response_seconds", {"kind": "page", "path": "/"}, latency * 3),
               ("inventory_proxy_status_code", {}, float(proxy))]
    return point_from_samples(at, cause, worst, failing, samples)


scrapes = st.lists(st.tuples(st.integers(10, 600), st.sampled_from(sorted(STATES)), st.floats(0, 3)),
                   min_size=1, max_size=400)


def live_history(steps) -> tuple[History, float]:
    """Scrapes as the scrape path records them: the page's pieces formatted after each one."""
    history, at = History(), T0
    for gap, state, latency in steps:
        at += gap
        note(history.record("shop", point(at, state, latency)))
    return history, at


# --- what the history says, computed the plain way ---------------------------------------------


def expected_hour(h, lang: str) -> str:
    t = text(lang)
    cells = []
    for p in list(h.raw)[-HOUR_CELLS:]:
        title = f"{clock(p.at)} {t[RANK_SEVERITY[p.worst] or 'ok']}, {t['cause']}: {p.cause}"
        title += f", {t['failing']}: {', '.join(p.failing)}" if p.failing else ""
        cells.append(f'<i class="s{p.worst}" title="{title}">{SYMBOL[p.worst]}</i>')
    return "".join(cells)


def expected_day(h, now: float, lang: str) -> str:
    t = text(lang)
    first = now - now % DAY_CELL_SECONDS - DAY_SECONDS + DAY_CELL_SECONDS
    cells = []
    for i in range(DAY_SLOTS):
        start = first + i * DAY_CELL_SECONDS
        inside = [c for c in h.cells if start <= c.start < start + DAY_CELL_SECONDS]
        at = f"{clock(start)}-{clock(start + DAY_CELL_SECONDS)}"
        if not inside:
            cells.append(f'<i class="sn" title="{at} {t["no_data"]}">{SYMBOL[-1]}</i>')
            continue
        worst = max(inside, key=lambda c: c.worst)  # the first of the worst
        title = f"{at} {t[RANK_SEVERITY[worst.worst] or 'ok']}, {t['cause']}: {worst.cause}"
        title += f", {t['failing']}: {', '.join(worst.failing)}" if worst.failing else ""
        scraped, down = sum(c.scrapes for c in inside), sum(c.down for c in inside)
        cells.append(f'<i class="s{worst.worst}" title="{title} ({down}/{scraped})">{SYMBOL[worst.worst]}</i>')
    return "".join(cells)


def expected_spark(h, now: float) -> dict[str, list[str]]:
    """Each series' highest value of each minute of the last hour, as "x,y" (the raw points hold the
    whole hour when scrapes are 10 s apart or more)."""
    first = int(now // 60) - SPARK_MINUTES + 1
    highest: dict[str, dict[int, float]] = {}
    for p in h.raw:
        minute = int(p.at // 60)
        if minute < first:
            continue
        values = dict(zip(p.paths, unpack_latencies(p.latencies)), proxy=float(p.proxy_status))
        for series, value in values.items():
            found = highest.setdefault(series, {})
            found[minute] = max(found.get(minute, -1.0), value)
    return {series: [f"{m - BASE},{HEIGHT - min(int(v * HEIGHT / top(series) + 0.5), HEIGHT)}"
                     for m, v in sorted(minutes.items())]
            for series, minutes in highest.items()}


def expected_incidents(h, now: float, lang: str) -> list[str]:
    rows = []
    for i in reversed(h.outages(now)):
        end = day_clock(i.end) if i.end is not None else text(lang)["ongoing"]
        rows.append(f'<tr><td>{day_clock(i.start)}</td><td>{end}</td><td class="duration">'
                    f'{duration(i.duration(now), lang)}</td><td><code>{i.cause}</code></td></tr>')
    return rows


# --- the properties --------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(steps=scrapes, silence=st.sampled_from([0, 90, 1800, 7200, 2 * DAY_SECONDS]))
def test_the_pieces_say_what_the_history_says_in_every_language(steps, silence):
    history, last = live_history(steps)
    h, now = history.targets["shop"], last + silence
    for lang in LANGS:
        assert hour_cells(h, lang) == expected_hour(h, lang)
        assert day_cells(h, now, lang) == expected_day(h, now, lang)
        assert incident_rows(h, now, lang) == expected_incidents(h, now, lang)
    origin, points = spark_points(h, now)
    assert origin == int(now // 60) - SPARK_MINUTES + 1 - BASE
    assert points == expected_spark(h, now)


@settings(max_examples=25, deadline=None)
@given(steps=scrapes)
def test_a_loaded_history_renders_the_same_page_as_the_live_one(steps):
    """Formatted once at start-up (note_all after load) or one scrape at a time: the same page."""
    history, last = live_history(steps)
    loaded = from_json(to_json(history))
    for lang in LANGS:
        for now in (last, last + 600):
            live = render_target("shop", history.targets["shop"], now, lang)
            assert render_target("shop", loaded.targets["shop"], now, lang) == live


def test_the_pieces_go_on_after_a_restart():
    """A loaded history keeps recording: its page equals the one of a history that never stopped."""
    steps = [(15, "up", 0.05)] * 100 + [(15, "down", 0.0)] * 20 + [(15, "up", 0.04)] * 30
    history, last = live_history(steps)
    loaded = from_json(to_json(live_history(steps[:120])[0]))
    at = T0 + 15 * 120
    for gap, state, latency in steps[120:]:
        at += gap
        note(loaded.record("shop", point(at, state, latency)))
    assert render_target("shop", loaded.targets["shop"], last, "zh-CN") == \
        render_target("shop", history.targets["shop"], last, "zh-CN")


def test_a_point_out_of_order_gets_no_cell():
    history, last = live_history([(15, "up", 0.05)] * 10)
    note(history.record("shop", point(last - 100, "down", 0.0)))  # a clock step back: not recorded
    h = history.targets["shop"]
    assert len(re.findall("<i ", hour_cells(h, "en"))) == len(h.raw) == 10
    assert 'class="s3"' not in hour_cells(h, "en")


def test_a_language_switch_finds_every_piece_formatted():
    history, last = live_history([(15, "up", 0.05)] * 40 + [(15, "down", 0.0)] * 8 + [(15, "up", 0.05)] * 4)
    h = history.targets["shop"]
    zh = hour_cells(h, "zh-CN")
    assert zh.count("严重") == 8 and "critical" not in zh
    assert len(h.page.hour["en"]) == len(h.page.hour["zh-CN"]) == len(h.raw)
    assert incident_rows(h, last, "zh-CN") == [row.replace("2 min", "2 分钟") for row in incident_rows(h, last, "en")]


def test_severity_ranks_have_symbols():
    assert set(SEVERITY_RANK.values()) <= set(SYMBOL)


def test_a_tampered_state_file_cannot_put_markup_on_the_page():
    """The state file is read back at start: whatever its causes and checks hold is text on the page."""
    history, last = live_history([(15, "up", 0.05)] * 4 + [(15, "down", 0.0)] * 4 + [(15, "up", 0.05)] * 2)
    data = to_json(history)
    for row in data["targets"]["shop"]["raw"] + data["targets"]["shop"]["cells"]:
        if row[1] != "none":
            row[1], row[3] = "<img src=x onerror=alert(1)>", ['"><script>x</script>']
    for incident in data["targets"]["shop"]["incidents"]:
        incident[1] = "<img src=x onerror=alert(1)>"
    page = render_target("shop", from_json(data).targets["shop"], last, "en")
    assert "<img" not in page and "<script" not in page
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") >= 5


def test_a_state_file_with_an_unknown_severity_is_refused(tmp_path):
    history, _ = live_history([(15, "down", 0.0)] * 3)
    data = to_json(history)
    data["targets"]["shop"]["raw"][0][2] = 9
    (tmp_path / FILE_NAME).write_text(json.dumps(data))
    assert load(tmp_path).targets == {}
