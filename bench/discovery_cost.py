#!/usr/bin/env python3
"""A scrape's cost with and without discovery (issue 13): the same target, written by hand in one
exporter and found by discovery in the other, scraped alternately; prints the CPU per scrape of
each and what one discovery run costs. Loopback only; everything runs under a temporary directory.

    python3 bench/discovery_cost.py              # 300 scrapes each
    python3 bench/discovery_cost.py --scrapes 30 # quick
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port  # noqa: E402
from tests.support.discovery_stage import Stage  # noqa: E402
from tests.support.exporter_proc import Exporter  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def scrape(url: str) -> str:
    request = urllib.request.Request(url, headers={"X-Prometheus-Scrape-Timeout-Seconds": "5"})
    with urllib.request.urlopen(request, timeout=10) as response:  # loopback only
        return response.read().decode()


def measure(exporter: Exporter, scrapes: int) -> float:
    """CPU milliseconds of the exporter per /metrics scrape."""
    for _ in range(5):
        scrape(exporter.url + "/metrics")  # warm up
    before = cpu_seconds(exporter.proc.pid)
    for _ in range(scrapes):
        scrape(exporter.url + "/metrics")
    return (cpu_seconds(exporter.proc.pid) - before) * 1000 / scrapes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scrapes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stage = Stage(Path(tmp), free_port())
        stage.start_nginx()
        stage.start_app(stage.app_port)
        pinned = Path(tmp) / "pinned.yml"
        discovered = subprocess.run([sys.executable, "-m", "exporter", "discover", *stage.flags()], capture_output=True,
                                    text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
        pinned.write_text(discovered + "dns:\n  include_hostname: false\n")
        by_hand = stage.exporter(f"--config.file={pinned}")
        found = stage.exporter("--discovery.interval=1s")  # discovery every second: 60x the default rate
        try:
            without, with_ = [], []
            for _ in range(args.rounds):  # alternately, so both see the same machine
                without.append(measure(by_hand, args.scrapes))
                with_.append(measure(found, args.scrapes))
            runs = [float(line.split()[-1]) for line in scrape(found.url + "/metrics").splitlines()
                    if line.startswith("inventory_discovery_duration_seconds ")]
        finally:
            by_hand.stop()
            found.stop()
            stage.stop()
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, {args.scrapes} scrapes x {args.rounds} rounds")
    print("| exporter | CPU per /metrics scrape (median of rounds) | rounds |")
    print("|---|---|---|")
    print(f"| target written by hand, discovery off | {statistics.median(without):.2f} ms | {', '.join(f'{v:.2f}' for v in without)} |")
    print(f"| same target found by discovery (every 1 s) | {statistics.median(with_):.2f} ms | {', '.join(f'{v:.2f}' for v in with_)} |")
    print(f"\none discovery run (processes, nginx, systemd, pm2): {runs[0] * 1000:.1f} ms" if runs else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
