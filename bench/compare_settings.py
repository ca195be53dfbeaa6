"""bench/compare.py: the figures' fixed sizes and bounds, the repository root, and the progress log (stderr)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRAPE_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
HANGING_SCRAPES = 100
SCALE_SIZES = (1, 10, 100, 1000)
QUICK_SCALE_SIZES = (1, 10, 100)
SCALE_CONCURRENCY = 64  # the exporter's default max_concurrency; blackbox gets the same bound
WAIT = 20.0  # the longest we wait for anything to start or stop


def log(message: str) -> None:
    print(f"# {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)
