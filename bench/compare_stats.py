"""bench/compare.py: the statistics its figures report (median, nearest-rank p99, ours/theirs ratio)."""

from __future__ import annotations

import statistics


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p99(values: list[float]) -> float:
    """Nearest-rank 99th percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-99 * len(ordered) // 100) - 1))]


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else float("nan")
