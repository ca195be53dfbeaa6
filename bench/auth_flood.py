"""Password checks under a flood, against a real exporter on 127.0.0.1 (real bcrypt, cost 10).

    PYTHONPATH=$PWD python3 bench/auth_flood.py [--clients 32] [--duration 10] [--abandoned 1000]

Prints:
- the median (and p90) latency of good-credential /metrics scrapes, alone and while ``--clients``
  clients send bad passwords as fast as they can;
- how many bad-password checks ran and the exporter's CPU seconds for ``--abandoned`` requests
  whose clients hung up right after sending them (they should cost next to nothing).
Every loop is bounded by ``--duration`` or a count; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import bcrypt
import psutil

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "good-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def start_exporter(tmp: Path, port: int) -> subprocess.Popen:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    (tmp / "web.yml").write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    (tmp / "config.yml").write_text(
        f"targets:\n  - name: shop\n    app_url: http://127.0.0.1:{free_port()}\n"
        "dns:\n  names: [localhost]\n  include_hostname: false\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", f"--config.file={tmp / 'config.yml'}", f"--web.config.file={tmp / 'web.yml'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"],
        cwd=tmp, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=1)
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the exporter did not start")


async def request(port: int, authorization: str, path: str = "/metrics") -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n".encode())
        status = await asyncio.wait_for(reader.readline(), 60)
        await asyncio.wait_for(reader.read(), 60)
        return int(status.split()[1]) if status else 0
    finally:
        writer.close()


async def good_scrapes(port: int, until: float) -> list[float]:
    latencies = []
    while time.monotonic() < until:
        started = time.monotonic()
        status = await request(port, basic("prometheus", PASSWORD))
        assert status == 200, status
        latencies.append(time.monotonic() - started)
        await asyncio.sleep(0.2)
    return latencies


async def flooder(port: int, until: float, counter: list[int]) -> None:
    while time.monotonic() < until:
        await request(port, basic("prometheus", f"wrong-{counter[0]}"), "/-/ready")
        counter[0] += 1


async def measure(port: int, clients: int, duration: float) -> tuple[list[float], int]:
    until = time.monotonic() + duration
    counter = [0]
    floods = [asyncio.create_task(flooder(port, until, counter)) for _ in range(clients)]
    latencies = await good_scrapes(port, until)
    await asyncio.gather(*floods)
    return latencies, counter[0]


async def abandon(port: int, count: int) -> None:
    for i in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /-/ready HTTP/1.1\r\nHost: x\r\nAuthorization: {basic('prometheus', f'gone-{i}')}\r\n\r\n".encode())
        await writer.drain()
        writer.close()


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def settle(proc: psutil.Process, quiet: float = 2.0, within: float = 180.0) -> float:
    """CPU seconds once the process has been idle for ``quiet`` seconds (bounded by ``within``)."""
    end = time.monotonic() + within
    last = cpu_seconds(proc)
    while time.monotonic() < end:
        time.sleep(quiet)
        now = cpu_seconds(proc)
        if now - last < 0.05 * quiet:
            return now
        last = now
    return last


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"median {statistics.median(ordered) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms over {len(ordered)} scrapes"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--abandoned", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start_exporter(Path(tmp), port)
        try:
            process = psutil.Process(proc.pid)
            quiet, _ = asyncio.run(measure(port, 0, args.duration / 2))
            print(f"good scrapes alone:             {summary(quiet)}")
            flooded, bad = asyncio.run(measure(port, args.clients, args.duration))
            print(f"good scrapes, {args.clients} flooding clients: {summary(flooded)}; {bad} bad-password requests answered")
            before = settle(process)
            started = time.monotonic()
            asyncio.run(abandon(port, args.abandoned))
            after = settle(process)
            print(f"{args.abandoned} abandoned bad-password requests: {after - before:.1f} CPU-seconds in the exporter, "
                  f"{time.monotonic() - started:.1f} s until it was idle again")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
