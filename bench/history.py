#!/usr/bin/env python3
"""The status page's cost (issue 16): the memory of a full 24 h history for 100 targets (tracemalloc),
the time to render the page's history for all of them (the first page after a day of scrapes, a
language switch, the steady state, and the first page after a restart that loaded the history), and
a scrape's recording cost (the point and the page's cells, as the scrape path does) with an hour
and with a full day of history (it must not grow). Pure in-process: no server, no network.

    python3 bench/history.py                # 100 targets, a scrape every 5 s for 24 h
    python3 bench/history.py --targets 10   # quick
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporter.heartbeat import note, note_all  # noqa: E402
from exporter.history import DAY_SECONDS, History, point_from_samples  # noqa: E402
from exporter.history_store import from_json, snapshot, to_json  # noqa: E402
from exporter.statuspage import render_history  # noqa: E402

ENDPOINTS = (("api", "/api/health"), ("api", "/api/products"), ("page", "/"), ("page", "/login"))
MEMORY_BOUND_MB = 20.0
RENDER_BOUND_MS = 50.0


def samples(i: int, down: bool) -> list:
    """One scrape's samples of a target: four endpoints and the front proxy."""
    rows = [("inventory_http_response_seconds", {"kind": k, "path": p}, 0.01 + (i % 97) / 1000) for k, p in ENDPOINTS]
    rows.append(("inventory_proxy_status_code", {}, 502.0 if down else 200.0))
    return rows


def scrape_point(i: int, at: float):
    """Down for 2 minutes at the top of every hour (24 outages a day), otherwise healthy."""
    down = at % 3600 < 120
    cause = "app_not_listening" if down else "none"
    failing = ("app_not_listening", "proxy_bad_gateway") if down else ()
    return point_from_samples(at, cause, "critical" if down else None, failing, samples(i, down))


def record(history: History, name: str, point) -> None:
    """What the scrape path does with a target's point: record it, then format the page's new cells."""
    note(history.record(name, point))


def fill(targets: int, interval: float, end: float) -> History:
    """A day of scrapes of every target, each target scraped at its own time within the interval
    (as Prometheus spreads /probe scrapes): no two targets share a time stamp."""
    history = History()
    names = [f"target-{n:03d}" for n in range(targets)]
    at, i = end - DAY_SECONDS, 0
    while at <= end:
        point = scrape_point(i, at)
        for n, name in enumerate(names):
            record(history, name, point._replace(at=at + n * interval / targets))
        at += interval
        i += 1
    return history


def record_cost(history: History, name: str, start: float, interval: float, n: int = 500, rounds: int = 3) -> float:
    """CPU microseconds of building and recording one scrape's point (the page's cells included): the
    lowest of ``rounds`` medians of ``n`` scrapes each."""
    medians = []
    for r in range(rounds):
        times = []
        for i in range(n):
            at = start + (r * n + i) * interval
            began = time.process_time_ns()
            record(history, name, scrape_point(i, at))
            times.append(time.process_time_ns() - began)
        medians.append(statistics.median(times) / 1000)
    return min(medians)


def an_hour_of_history(end: float, interval: float) -> History:
    history = History()
    for i in range(int(3600 / interval)):
        record(history, "fresh", scrape_point(i, end - 3600 + i * interval))
    return history


def timed(fn, *args) -> tuple[float, object]:
    """Milliseconds of ``fn(*args)`` with the collector paused (as timeit does): a full collection of
    the whole process can land in any call, and is measured on its own (full_collection)."""
    gc.disable()
    try:
        began = time.perf_counter()
        result = fn(*args)
        return (time.perf_counter() - began) * 1000, result
    finally:
        gc.enable()


def full_collection() -> tuple[float, int]:
    """Milliseconds of a full collection, and the objects it walks."""
    began = time.perf_counter()
    gc.collect()
    return (time.perf_counter() - began) * 1000, len(gc.get_objects())


def traced_memory(targets: int, interval: float, end: float) -> float:
    """MB that a history filled the same way holds (tracemalloc), the page's formatted cells included."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    history = fill(targets, interval, end)
    gc.collect()
    memory = (tracemalloc.get_traced_memory()[0] - before) / 1e6
    tracemalloc.stop()
    del history
    return memory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between scrapes (default 5)")
    args = parser.parse_args()
    end = time.time()

    history = fill(args.targets, args.interval, end)  # timed first: tracemalloc would slow what follows it
    names = list(history.targets)

    first, html = timed(render_history, history, names, end, "en")  # no page loaded during the day
    switch, _ = timed(render_history, history, names, end, "zh-CN")
    renders, at = [], end
    for lang in ("en", "zh-CN") * 10:  # the steady state: a scrape of every target, then a page load
        at += args.interval
        for n, name in enumerate(names):
            record(history, name, scrape_point(int(at), at + n * args.interval / len(names)))
        took, html = timed(render_history, history, names, at, lang)
        renders.append(took)
    page_kb = sum(len(v.encode()) for v in html.values()) / 1000

    copy_ms, copied = timed(snapshot, history)
    saved = json.loads(json.dumps(to_json(copied)))
    load_ms, loaded = timed(from_json, saved)
    format_ms, _ = timed(note_all, loaded.targets.values())
    restart, _ = timed(render_history, loaded, names, at, "en")

    del saved, loaded, copied  # the bench's own copies: not the exporter's
    collection, tracked = full_collection()
    memory_mb = traced_memory(args.targets, args.interval, end)
    hour = record_cost(an_hour_of_history(end, args.interval), "fresh", end + args.interval, args.interval)
    full = record_cost(history, names[0], at + args.interval, args.interval)
    one = history.targets[names[1]]
    worst = max(first, switch, restart, *renders)
    print(f"targets: {args.targets}, a scrape every {args.interval:g} s for 24 h "
          f"({len(one.raw)} raw points, {len(one.cells)} 5-minute cells, {len(one.incidents)} incidents a target)")
    print(f"memory of the history (tracemalloc): {memory_mb:.1f} MB, the page's formatted cells included "
          f"(bound {MEMORY_BOUND_MB:g} MB for 100 targets)")
    print(f"render of every target's history block: the first page after a day of scrapes {first:.1f} ms, "
          f"a language switch {switch:.1f} ms, a scrape of each between page loads: median "
          f"{statistics.median(renders):.1f} ms, max {max(renders):.1f} ms; the first page after a restart "
          f"{restart:.1f} ms (goal < {RENDER_BOUND_MS:g} ms for every one); {page_kb:.0f} kB of HTML")
    print(f"restart: loading the saved history {load_ms:.0f} ms and formatting its cells {format_ms:.0f} ms "
          f"(once, before serving); saving copies the history on the loop in {copy_ms:.1f} ms (the JSON is "
          f"written in a thread)")
    print(f"a full collection of the process (CPython's, whenever enough objects were made): {collection:.0f} ms "
          f"over {tracked} tracked objects")
    print(f"recording one scrape: {hour:.1f} µs CPU with an hour of history, {full:.1f} µs with a full day")
    ok = (memory_mb <= MEMORY_BOUND_MB * args.targets / 100 and full <= max(2 * hour, hour + 20)
          and worst < RENDER_BOUND_MS * max(args.targets, 100) / 100)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
