"""The last five minutes of requests, in one-second buckets, kept as running sums.

Each second holds requests by (kind, code class), 5xx responses by status and request-time bucket
counts by kind. The sums over the window are kept up to date as seconds arrive and expire, so a
scrape reads them without adding up 300 buckets.

p95 method: the request times' histogram over the window (the same buckets as
``inventory_request_duration_seconds``); the 95th percentile is found in its bucket and interpolated
linearly inside it, as Prometheus' ``histogram_quantile`` does (in the +Inf bucket: the highest
finite bound).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

WINDOW = 300.0
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0, 5.0, 10.0)


def empty_buckets() -> list[int]:
    return [0] * (len(BUCKETS) + 1)  # one per bound, and +Inf


@dataclass
class Second:
    requests: Counter = field(default_factory=Counter)  # (kind, code_class) -> n
    failed: Counter = field(default_factory=Counter)  # status text -> n
    durations: dict = field(default_factory=dict)  # kind -> bucket counts (not cumulative)


@dataclass
class RecentWindow:
    seconds: dict = field(default_factory=dict)  # unix second -> Second, in arrival order
    requests: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    durations: dict = field(default_factory=dict)

    def add(self, second: int, now: float, requests: Counter, failed: Counter, durations: dict) -> None:
        """Counts of one second; a second older than the window is history and not kept."""
        if second < now - WINDOW:
            return
        bucket = self.seconds.get(second)
        if bucket is None:
            bucket = self.seconds[second] = Second()
        bucket.requests.update(requests)
        self.requests.update(requests)
        bucket.failed.update(failed)
        self.failed.update(failed)
        for kind, counts in durations.items():
            _add_into(bucket.durations, kind, counts)
            _add_into(self.durations, kind, counts)

    def expire(self, now: float) -> None:
        cutoff = now - WINDOW
        stale = [second for second in self.seconds if second < cutoff]
        for second in stale:
            bucket = self.seconds.pop(second)
            self.requests.subtract(bucket.requests)
            self.failed.subtract(bucket.failed)
            for kind, counts in bucket.durations.items():
                _add_into(self.durations, kind, [-n for n in counts])
        if stale:
            self.requests = +self.requests  # drop the zeros
            self.failed = +self.failed
            self.durations = {kind: counts for kind, counts in self.durations.items() if any(counts)}


def _add_into(into: dict, kind: str, counts: list[int]) -> None:
    mine = into.get(kind)
    if mine is None:
        mine = into[kind] = empty_buckets()
    for index, n in enumerate(counts):
        mine[index] += n


def quantile(q: float, counts: list[int]) -> float | None:
    """The q-quantile of bucket counts (not cumulative), interpolated inside its bucket."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index, n in enumerate(counts):
        if n and seen + n >= rank:
            if index == len(BUCKETS):
                return BUCKETS[-1]
            lower = BUCKETS[index - 1] if index else 0.0
            return lower + (BUCKETS[index] - lower) * ((rank - seen) / n)
        seen += n
    return BUCKETS[-1]
