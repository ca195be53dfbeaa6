"""bench/compare.py, figure 3: hanging targets, and healthy scrapes beside them."""

from __future__ import annotations

import asyncio
import time

from bench.compare_settings import HANGING_SCRAPES, SCRAPE_HEADER, log
from bench.compare_stats import median, p99, ratio
from bench.compare_table import Figure, fmt, plural, verdict
from bench.compare_world import World

try:
    import aiohttp
except ImportError:  # named by check_requirements(), which exits 2
    pass


async def timed(session: aiohttp.ClientSession, url: str, header: float) -> tuple[float, int]:
    started = time.perf_counter()
    async with session.get(url, headers={SCRAPE_HEADER: f"{header:g}"}, timeout=aiohttp.ClientTimeout(total=30)) as response:
        await response.read()
        return time.perf_counter() - started, response.status


async def healthy_loop(session: aiohttp.ClientSession, url: str, until: float) -> list[float]:
    latencies = []
    while time.perf_counter() < until:
        latencies.append((await timed(session, url, 10))[0])
    return latencies


async def hanging_round(session: aiohttp.ClientSession, hang_urls: list[str], healthy_url: str, window: float) -> tuple[float, list[float]]:
    """Start the hanging scrapes at once; scrape the healthy URL one after the other beside them.
    Return when the last hanging scrape ended (seconds from the start) and the healthy latencies."""
    started = time.perf_counter()
    hangs = [asyncio.ensure_future(timed(session, url, 2)) for url in hang_urls]
    await asyncio.sleep(0.05)
    healthy = await healthy_loop(session, healthy_url, started + window)
    await asyncio.wait_for(asyncio.gather(*hangs), timeout=30)
    return max(h.result()[0] for h in hangs), healthy


async def figure_hanging_async(world: World, rounds: int) -> Figure:
    log("figure 3: hanging targets")
    ours_base, bb_base = f"http://127.0.0.1:{world.ours_port}", f"http://127.0.0.1:{world.blackbox_port}"
    hang = f"http://127.0.0.1:{world.hang_port}"
    sides = {
        "ours": {
            "one": f"{ours_base}/probe?target=hang000",
            "many": [f"{ours_base}/probe?target=hang{i:03d}" for i in range(HANGING_SCRAPES)],
            "healthy": f"{ours_base}/probe?target=single",
        },
        "theirs": {
            "one": bb_base + world.bb_path("http_2xx", f"{hang}/api/health"),
            "many": [bb_base + world.bb_path("http_2xx", f"{hang}/api/health/{i}") for i in range(HANGING_SCRAPES)],
            "healthy": bb_base + world.bb_path("http_2xx", f"{world.app}/api/health"),
        },
    }
    one = {"ours": [], "theirs": []}
    last = {"ours": [], "theirs": []}
    alone = {"ours": [], "theirs": []}
    beside = {"ours": [], "theirs": []}
    window = 1.3  # healthy scrapes run while the hanging ones (1.5 s) are in flight
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        for side in sides:  # warm-up
            await healthy_loop(session, sides[side]["healthy"], time.perf_counter() + 0.2)
        for r in range(rounds):
            log(f"  round {r + 1}/{rounds}")
            for side, urls in sides.items():
                one[side].append((await timed(session, urls["one"], 2))[0])
            for side, urls in sides.items():
                alone[side] += await healthy_loop(session, urls["healthy"], time.perf_counter() + window)
            for side, urls in sides.items():
                end, healthy = await hanging_round(session, urls["many"], urls["healthy"], window)
                last[side].append(end)
                beside[side] += healthy
    figure = Figure(
        "3. Hanging targets (`X-Prometheus-Scrape-Timeout-Seconds: 2`)",
        ["figure", "ours", "theirs", "ratio ours/theirs", "goal"],
    )
    ms = 1000.0
    one_ratio = ratio(max(one["ours"]), max(one["theirs"]))
    last_ratio = ratio(max(last["ours"]), max(last["theirs"]))
    drift = {side: ratio(median(beside[side]), median(alone[side])) for side in sides}
    figure.rows = [
        ["one hanging scrape ends after (s, worst round)", fmt(max(one["ours"]), 3), fmt(max(one["theirs"]), 3), fmt(one_ratio),
         f"ours ≤ 1.55 s: {verdict(max(one['ours']) <= 1.55)}"],
        [f"last of {HANGING_SCRAPES} concurrent hanging scrapes ends after (s, worst round)", fmt(max(last["ours"]), 3),
         fmt(max(last["theirs"]), 3), fmt(last_ratio), f"ours ≤ 1.6 s: {verdict(max(last['ours']) <= 1.6)}"],
        ["healthy scrape alone, median (ms)", fmt(median(alone["ours"]) * ms), fmt(median(alone["theirs"]) * ms),
         fmt(ratio(median(alone["ours"]), median(alone["theirs"]))), ""],
        ["healthy scrape beside them, median (ms)", fmt(median(beside["ours"]) * ms), fmt(median(beside["theirs"]) * ms),
         fmt(ratio(median(beside["ours"]), median(beside["theirs"]))), ""],
        ["healthy scrape beside them, p99 (ms)", fmt(p99(beside["ours"]) * ms), fmt(p99(beside["theirs"]) * ms),
         fmt(ratio(p99(beside["ours"]), p99(beside["theirs"]))), ""],
        ["healthy median beside / alone", fmt(drift["ours"]), fmt(drift["theirs"]), fmt(ratio(drift["ours"], drift["theirs"])),
         f"ours ≤ 1.5 (our reading of \"normal\"): {verdict(drift['ours'] <= 1.5)}"],
    ]
    figure.notes = [
        f"{plural(rounds, 'round')}, alternating. Ours: `/probe?target=hangNNN`, {HANGING_SCRAPES} distinct targets (so no "
        "scrape shares another's in-flight probe); theirs: blackbox `http_2xx` of the same hanging socket. "
        "The hanging socket accepts and never answers.",
        f"Healthy scrapes (ours `/probe?target=single`, theirs `http_2xx` of `/api/health`) run one after the other "
        f"for {window} s, alone and beside the {HANGING_SCRAPES} hanging scrapes. Times are seen by an aiohttp "
        "client in this script (its own overhead included on both sides).",
    ]
    return figure


def figure_hanging(world: World, rounds: int) -> Figure:
    return asyncio.run(figure_hanging_async(world, rounds))
