"""Host CPU busy ratio from /proc/stat deltas, kept by the exporter itself.

``psutil.cpu_percent(None)`` keeps its "previous reading" per calling thread: primed in one
thread and read in another, the first reading is 0.0. Here the readings (``psutil.cpu_times``,
the whole host's /proc/stat line) are kept in one place, primed when the meter is made (at
start-up), and a ratio is always taken over at least ``MIN_INTERVAL`` seconds: a reading asked for
sooner waits for the rest of that interval (bounded by the caller's deadline), so the first scrape
after start-up and a one-shot ``diagnose`` both measure a real interval.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable, NamedTuple

import psutil

MIN_INTERVAL = 0.25  # seconds: /proc/stat counts in 10 ms ticks, shorter intervals are mostly noise
KEEP = 16  # readings kept, so concurrent scrapers do not shrink each other's interval to nothing


class Reading(NamedTuple):
    at: float  # monotonic seconds
    busy: float  # CPU seconds not idle, summed over CPUs
    total: float


def read_times() -> Reading:
    t = psutil.cpu_times()
    # guest time is already counted in user/nice (as psutil.cpu_percent does); iowait is idle
    total = sum(t) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
    idle = t.idle + getattr(t, "iowait", 0.0)
    return Reading(time.monotonic(), total - idle, total)


class CpuMeter:
    def __init__(self, reader: Callable[[], Reading] = read_times):
        self.reader = reader
        self.readings: deque[Reading] = deque(maxlen=KEEP)
        self.readings.append(reader())

    def wait_needed(self) -> float:
        """Seconds until the oldest kept reading is MIN_INTERVAL old (0 when it already is)."""
        return max(self.readings[0].at + MIN_INTERVAL - time.monotonic(), 0.0)

    def ratio(self) -> float | None:
        """Busy ratio (0-1) since the newest kept reading at least MIN_INTERVAL old (else the oldest)."""
        now = self.reader()
        base = self.readings[0]
        for reading in self.readings:
            if now.at - reading.at >= MIN_INTERVAL:
                base = reading
        if now.at - self.readings[-1].at >= MIN_INTERVAL / 4:
            self.readings.append(now)  # keep a spread of readings, not one per concurrent scrape
        elapsed = now.total - base.total
        if elapsed <= 0:
            return None
        return min(max((now.busy - base.busy) / elapsed, 0.0), 1.0)
