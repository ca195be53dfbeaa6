"""bench/compare.py, figure 4: `/metrics` with N configured targets vs N blackbox `http_2xx` probes."""

from __future__ import annotations

import asyncio
import threading
import time

from bench.compare_clients import Client, ours_failures
from bench.compare_configs import config_scale, reload_ours
from bench.compare_processes import Service
from bench.compare_settings import SCALE_CONCURRENCY, SCRAPE_HEADER, log
from bench.compare_stats import median, ratio
from bench.compare_table import Figure, fmt, plural, verdict
from bench.compare_world import World

try:
    import aiohttp
    import psutil
except ImportError:  # named by check_requirements(), which exits 2
    pass


class FdWatcher:
    """The exporter's peak open descriptors while a scrape runs (sampled every 5 ms)."""

    def __init__(self, service: Service):
        self.ps, self.peak, self.stop = service.ps, 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, self.ps.num_fds())
            except psutil.Error:
                return
            self.stop.wait(0.005)

    def __enter__(self) -> "FdWatcher":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


async def blackbox_many(world: World, count: int) -> float:
    """``count`` http_2xx probes of /api/health, ``SCALE_CONCURRENCY`` at a time, as Prometheus would send them."""
    url = f"http://127.0.0.1:{world.blackbox_port}" + world.bb_path("http_2xx", f"{world.app}/api/health")
    limit = asyncio.Semaphore(SCALE_CONCURRENCY)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> None:
            async with limit:
                async with session.get(url, headers={SCRAPE_HEADER: "10"}, timeout=aiohttp.ClientTimeout(total=30)) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        return time.perf_counter() - started


def figure_scale(world: World, rounds: int, sizes: tuple[int, ...]) -> Figure:
    log("figure 4: scale")
    figure = Figure(
        "4. Scale: `/metrics` with N configured targets vs N blackbox `http_2xx` probes",
        ["targets", "ours median (s)", "ours per target (ms)", "ours growth vs previous row", "ours CPU per scrape (ms)",
         "ours failed probes", "ours peak fds", "theirs median (s)", "theirs CPU (ms)", "ratio ours/theirs", "goal"],
    )
    client = Client(world.ours_port, timeout=60)
    previous: tuple[int, float] | None = None
    for count in sizes:
        log(f"  {count} targets")
        reload_ours(world, config_scale(world, count))
        client.get("/metrics", header=30)  # warm-up after the reload
        asyncio.run(blackbox_many(world, count))
        per_round = 3  # 3 scrapes a round: the growth between rows is a ratio of medians, noisy with fewer
        ours, theirs, ours_cpu, theirs_cpu, failed, peak = [], [], [], [], 0, 0
        for _ in range(rounds):
            cpu0 = world.ours.cpu()
            with FdWatcher(world.ours) as fds:
                for _ in range(per_round):
                    _, text, seconds = client.get("/metrics", header=30)
                    ours.append(seconds)
                    failed = max(failed, len(ours_failures(text)))
            ours_cpu.append((world.ours.cpu() - cpu0) / per_round)
            peak = max(peak, fds.peak)
            cpu0 = world.blackbox.cpu()
            for _ in range(per_round):
                theirs.append(asyncio.run(blackbox_many(world, count)))
            theirs_cpu.append((world.blackbox.cpu() - cpu0) / per_round)
        ours_median = median(ours)
        growth = "" if previous is None else f"{ours_median / previous[1]:.1f}× for {count // previous[0]}× targets"
        goal = ""
        if count == max(sizes) and count >= 1000:
            goal = f"< 2 s: {verdict(ours_median < 2.0)}"
        if previous is not None:
            linear = ours_median / previous[1] <= (count / previous[0]) * 1.1
            goal = (goal + "; " if goal else "") + f"≤ linear: {verdict(linear)}"
        figure.rows.append([
            str(count), fmt(ours_median, 3), fmt(ours_median / count * 1e3, 3), growth, fmt(median(ours_cpu) * 1e3, 1),
            str(failed), str(peak), fmt(median(theirs), 3), fmt(median(theirs_cpu) * 1e3, 1),
            fmt(ratio(ours_median, median(theirs))), goal,
        ])
        previous = (count, ours_median)
    client.close()
    figure.notes = [
        f"Each size: the config rewritten and `POST /-/reload`, one warm-up scrape, then {plural(rounds, 'round')} alternating "
        "ours (3 `/metrics` scrapes, host and DNS probes included, header 30 s) and theirs (3 × N blackbox probes sent "
        f"{SCALE_CONCURRENCY} at a time by this script's aiohttp client, as Prometheus would send N scrapes; "
        "the client's own CPU is not counted on either side).",
        "\"failed probes\" counts `inventory_probe_success 0` in a scrape: a deadline cutting healthy targets "
        "would show there. \"peak fds\" is the exporter's highest descriptor count seen while scraping.",
    ]
    return figure
