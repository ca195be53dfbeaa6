#!/usr/bin/env python3
"""Soak: scrape the real exporter at a high rate for a long time against healthy and broken targets.

Prints, every interval, the exporter's RSS and open file descriptors and the count of error
responses, then a summary. Installs nothing; sends traffic only to 127.0.0.1.

    python bench/soak.py --duration 1200     # the 20-minute soak recorded in the README
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port, make_project  # noqa: E402  (fixtures double as bench helpers)
from tests.support.stack import start_app  # noqa: E402


def silent_listener() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock, sock.getsockname()[1]


def write_config(tmp: Path, healthy_port: int, hung_port: int) -> Path:
    project = make_project(tmp / "project")
    refused = free_port()
    config = tmp / "config.yml"
    config.write_text(f"""
targets:
  - name: healthy
    app_url: http://127.0.0.1:{healthy_port}
    endpoints: [/api/health, /api/products]
    static_paths: [/favicon.ico]
    project_dir: {project}
  - name: hung
    app_url: http://127.0.0.1:{hung_port}
    timeout: 10s
  - name: down
    app_url: http://127.0.0.1:{refused}
    proxy_url: http://127.0.0.1:{free_port()}/
    project_dir: {tmp / 'missing-project'}
dns:
  include_hostname: false
""")
    return config


async def scraper(session: aiohttp.ClientSession, url: str, stop: float, counts: dict) -> None:
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": "2"}
    while time.monotonic() < stop:
        try:
            async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as response:
                await response.read()
                counts["ok" if response.status == 200 else "errors"] += 1
        except (aiohttp.ClientError, asyncio.TimeoutError):
            counts["errors"] += 1


async def soak(duration: float, interval: float, concurrency: int) -> int:
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        app_port, (hung_sock, hung_port) = free_port(), silent_listener()
        app = start_app(tmp / "bin", app_port)
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", f"--config.file={write_config(tmp, app_port, hung_port)}",
             f"--web.listen-address=127.0.0.1:{port}"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            return await run(proc, port, duration, interval, concurrency)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            app.stop()
            hung_sock.close()


async def run(proc: subprocess.Popen, port: int, duration: float, interval: float, concurrency: int) -> int:
    exporter = psutil.Process(proc.pid)
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(base + "/-/ready") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
        counts = {"ok": 0, "errors": 0}
        stop = time.monotonic() + duration
        urls = [base + "/metrics"] * (concurrency // 2) + [base + "/probe?target=healthy"] * (concurrency - concurrency // 2)
        tasks = [asyncio.create_task(scraper(session, url, stop, counts)) for url in urls]
        started, rows = time.monotonic(), []
        print(f"{'t (s)':>7} {'scrapes':>8} {'errors':>7} {'rss (MB)':>9} {'fds':>5}")
        while time.monotonic() < stop:
            await asyncio.sleep(min(interval, max(stop - time.monotonic(), 0)))
            rss, fds = exporter.memory_info().rss / 1e6, exporter.num_fds()
            rows.append((time.monotonic() - started, rss, fds))
            print(f"{rows[-1][0]:7.0f} {counts['ok']:8d} {counts['errors']:7d} {rss:9.1f} {fds:5d}", flush=True)
        await asyncio.gather(*tasks)
    warm = [r for r in rows if r[0] >= min(120.0, duration / 4)] or rows
    rss_values, fd_values = [r[1] for r in warm], [r[2] for r in warm]
    print(f"\nsoak {duration:.0f}s, {concurrency} concurrent scrapers: {counts['ok']} scrapes, {counts['errors']} errors, "
          f"{counts['ok'] / duration:.1f} scrapes/s")
    print(f"after warm-up: RSS {min(rss_values):.1f}-{max(rss_values):.1f} MB (spread {max(rss_values) - min(rss_values):.1f} MB), "
          f"fds {min(fd_values)}-{max(fd_values)}")
    return 1 if counts["errors"] else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1200.0, help="seconds (default 1200 = 20 min)")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    return asyncio.run(soak(args.duration, args.interval, args.concurrency))


if __name__ == "__main__":
    sys.exit(main())
