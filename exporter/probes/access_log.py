"""What users got, from nginx's access log: requests by kind and status class, latency histograms,
upstream errors, bytes, and the last five minutes (exporter.accesslog).

The reading happens in a background thread per log (exporter.accesslog.reader), started with the
app; the probe only copies its counts. In a one-shot run (``diagnose``) the first probe starts the
reader and waits for its first pass (the seed of the recent window), within the deadline.
"""

from __future__ import annotations

import time

from exporter.accesslog.aggregate import KINDS, Totals
from exporter.accesslog.reader import Reader, readers_of
from exporter.accesslog.window import BUCKETS, quantile
from exporter.config import Target
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext

CODE_CLASSES = ("2xx", "3xx", "4xx", "5xx")
UPSTREAM_STATUSES = ("502", "503", "504")
BOUNDS = BUCKETS + (float("inf"),)


async def probe_access_log(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    assert target.access_log is not None
    reader = readers_of(ctx).ensure(target)
    if reader.format is None:
        return outcome_of(reader)  # a log_format that cannot be split: no figure rather than zeros
    if not reader.ready.is_set():
        try:
            await ctx.blocking(deadline, reader.ready.wait, deadline.remaining())
        except TimeoutError:
            return Outcome.fail("timeout", "the access log's first read did not end within the deadline")
    emit(reader.snapshot(time.time()), out)
    return outcome_of(reader)


def outcome_of(reader: Reader) -> Outcome:
    if reader.error is None:
        return Outcome.success()
    reason, detail = reader.error
    return Outcome.fail(reason, detail)


def emit(totals: Totals, out: Samples) -> None:
    for (kind, code_class, route), n in sorted(totals.requests.items()):
        out.add("inventory_requests_total", n, kind=kind, code_class=code_class, route=route)
    for name, table in (("inventory_request_duration_seconds", totals.durations),
                        ("inventory_upstream_response_seconds", totals.upstream)):
        for kind in KINDS:
            if kind in table:
                counts, seconds = table[kind]
                out.add_histogram(name, zip(BOUNDS, _cumulative(counts)), seconds, kind=kind)
    for status in UPSTREAM_STATUSES:
        out.add("inventory_upstream_errors_total", totals.upstream_errors[status], status=status)
    for kind in KINDS:
        if kind in totals.bytes:
            out.add("inventory_response_bytes_total", totals.bytes[kind], kind=kind)
    out.add("inventory_access_log_lines_total", totals.lines)
    for reason in ("too_long", "unparsable"):
        out.add("inventory_access_log_unparsed_lines_total", totals.unparsed[reason], reason=reason)
    recent(totals, out)


def recent(totals: Totals, out: Samples) -> None:
    window = totals.window
    for (kind, code_class), n in sorted(window.requests.items()):
        out.add("inventory_requests_recent", n, kind=kind, code_class=code_class)
    for status, n in sorted(window.failed.items()):
        out.add("inventory_requests_failed_recent", n, status=status)
    if totals.failing_since is not None:
        out.add("inventory_requests_failing_since_timestamp_seconds", totals.failing_since)
    for kind in KINDS:
        p95 = quantile(0.95, window.durations.get(kind, []))
        if p95 is not None:
            out.add("inventory_request_duration_recent_p95_seconds", p95, kind=kind)


def _cumulative(counts: list[int]) -> list[int]:
    running, out = 0, []
    for n in counts:
        running += n
        out.append(running)
    return out
