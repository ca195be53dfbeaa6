#!/usr/bin/env python3
"""The status page's cost (issue 16): the memory of a full 24 h history for 100 targets (tracemalloc),
the time to render the page's history for all of them, and a scrape's recording cost with an empty
and with a full history (it must not grow). Pure in-process: no server, no network.

    python3 bench/history.py                # 100 targets, a scrape every 5 s for 24 h
    python3 bench/history.py --targets 10   # quick
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporter.history import DAY_SECONDS, History, point_from_samples  # noqa: E402
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


def fill(targets: int, interval: float, end: float) -> History:
    history = History()
    names = [f"target-{n:03d}" for n in range(targets)]
    at, i = end - DAY_SECONDS, 0
    while at <= end:
        point = scrape_point(i, at)
        for name in names:
            history.record(name, point_from_samples(point.at, point.cause, "critical" if point.worst == 3 else None,
                                                    point.failing, samples(i, point.worst == 3)))
        at += interval
        i += 1
    return history


def record_cost(history: History, name: str, start: float, interval: float, n: int = 2000) -> float:
    """Median CPU microseconds of building and recording one scrape's point."""
    times = []
    for i in range(n):
        at = start + i * interval
        began = time.process_time_ns()
        history.record(name, scrape_point(i, at))
        times.append(time.process_time_ns() - began)
    return statistics.median(times) / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between scrapes (default 5)")
    args = parser.parse_args()
    end = time.time()

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    history = fill(args.targets, args.interval, end)
    gc.collect()
    memory_mb = (tracemalloc.get_traced_memory()[0] - before) / 1e6
    names = list(history.targets)
    for lang in ("en", "zh-CN"):  # what the page keeps between loads (history.rendered: the last language)
        render_history(history, names, end, lang)
    gc.collect()
    cached_mb = (tracemalloc.get_traced_memory()[0] - before) / 1e6
    tracemalloc.stop()

    for one in history.targets.values():
        one.rendered.clear()
    began = time.perf_counter()
    html = render_history(history, names, end, "en")
    cold = (time.perf_counter() - began) * 1000
    renders, at = [], end
    for lang in ("en",) * 10 + ("zh-CN",) * 10:  # the steady state: a scrape of every target, then a page load
        at += args.interval
        for name in names:
            history.record(name, scrape_point(int(at), at))
        began = time.perf_counter()
        html = render_history(history, names, at, lang)
        renders.append((time.perf_counter() - began) * 1000)
    page_kb = sum(len(v) for v in html.values()) / 1000

    empty = record_cost(History(), "fresh", end, args.interval)
    full = record_cost(history, names[0], at + args.interval, args.interval)
    one = history.targets[names[1]]
    print(f"targets: {args.targets}, a scrape every {args.interval:g} s for 24 h "
          f"({len(one.raw)} raw points, {len(one.cells)} 5-minute cells, {len(one.incidents)} incidents a target)")
    print(f"memory of the history (tracemalloc): {memory_mb:.1f} MB, {cached_mb:.1f} MB with what the page keeps "
          f"between loads (bound {MEMORY_BOUND_MB:g} MB for 100 targets)")
    print(f"render of every target's history block, a scrape of each between page loads: median "
          f"{statistics.median(renders):.1f} ms, max {max(renders):.1f} ms (goal < {RENDER_BOUND_MS:g} ms); "
          f"the first render (nothing kept yet, or the other language) {cold:.1f} ms; {page_kb:.0f} kB of HTML")
    print(f"recording one scrape: {empty:.1f} µs CPU with an empty history, {full:.1f} µs with a full one")
    ok = (cached_mb <= MEMORY_BOUND_MB * args.targets / 100 and full <= max(3 * empty, empty + 20))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
