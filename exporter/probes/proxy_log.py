"""Upstream failures in nginx's error log, counted by class.

The log is only read: tailed from where the previous scrape stopped, starting at its end when
the exporter starts (so history does not count), and reopened from the start when it is
rotated (new inode) or truncated (smaller than our offset). Counts are kept per target for the
exporter's life, as counters, plus a short window of recent errors for the diagnosis.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from exporter.config import Target
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext

READ_LIMIT = 4 << 20  # bytes read per scrape at most; the rest waits for the next scrape
RECENT_WINDOW = 300.0
MARK_BYTES = 64
UPSTREAM_ERRORS: tuple[tuple[str, re.Pattern], ...] = (
    ("connection_refused", re.compile(rb"\(111: Connection refused\) while connecting to upstream")),
    ("timed_out", re.compile(rb"upstream timed out")),
    ("prematurely_closed", re.compile(rb"upstream prematurely closed connection")),
    ("no_live_upstreams", re.compile(rb"no live upstreams")),
    ("connection_reset", re.compile(rb"\(104: Connection reset by peer\).*upstream")),
    ("other", re.compile(rb"upstream")),
)
REASONS = tuple(reason for reason, _ in UPSTREAM_ERRORS)


@dataclass
class TailState:
    inode: int | None = None
    offset: int = 0
    mark: bytes = b""
    totals: Counter = field(default_factory=Counter)
    recent: deque = field(default_factory=deque)  # (monotonic time, Counter) of reads that found errors
    window: Counter = field(default_factory=Counter)  # the sum of ``recent``, kept as reads come and go
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def add_recent(self, now: float, counts: Counter) -> None:
        if counts:  # reads that found nothing take no room: the window stays small at any scrape rate
            self.recent.append((now, counts))
            self.window.update(counts)

    def recent_counts(self, now: float) -> Counter:
        while self.recent and self.recent[0][0] < now - RECENT_WINDOW:
            self.window.subtract(self.recent.popleft()[1])
        return self.window


def classify(line: bytes) -> str | None:
    if b"[error]" not in line and b"[crit]" not in line and b"[warn]" not in line:
        return None
    for reason, pattern in UPSTREAM_ERRORS:
        if pattern.search(line):
            return reason
    return None


def read_new(path: Path, state: TailState, first: bool) -> Counter:
    """Count upstream errors written since the last read; move ``state`` forward.

    The file is taken as new (read from its start) when its inode changed (rotated), it is
    shorter than our offset, or the bytes just before our offset are not the ones we saw there
    (truncated and written again past our offset: copytruncate).
    """
    counts: Counter = Counter()
    with open(path, "rb") as handle:
        st = os.fstat(handle.fileno())
        if first:
            state.inode, state.offset = st.st_ino, st.st_size
            state.mark = _mark_before(handle, st.st_size)
            return counts
        if st.st_ino != state.inode or st.st_size < state.offset or _mark_before(handle, state.offset) != state.mark:
            state.inode, state.offset = st.st_ino, 0
        handle.seek(state.offset)
        chunk = handle.read(READ_LIMIT)
        end = chunk.rfind(b"\n") + 1  # a half-written last line waits for the next scrape
        for line in chunk[:end].splitlines():
            reason = classify(line)
            if reason:
                counts[reason] += 1
        state.offset += end
        state.mark = _mark_before(handle, state.offset)
    return counts


def _mark_before(handle, offset: int) -> bytes:
    """The bytes just before ``offset``: what must still be there if the file only grew."""
    start = max(offset - MARK_BYTES, 0)
    handle.seek(start)
    return handle.read(offset - start)


async def probe_proxy_log(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    assert target.proxy_error_log is not None
    state = ctx.cache.setdefault(("proxy_log", target.name, str(target.proxy_error_log)), TailState())
    async with state.lock:
        first = state.inode is None
        try:
            counts = await ctx.blocking(deadline, read_new, target.proxy_error_log, state, first)
        except OSError as exc:
            outcome = Outcome.fail("permission_denied" if isinstance(exc, PermissionError) else "not_found", str(exc))
        else:
            outcome = Outcome.success()
            now = time.monotonic()
            state.totals.update(counts)
            state.add_recent(now, counts)
    recent = state.recent_counts(time.monotonic())
    for reason in REASONS:
        out.add("inventory_proxy_upstream_errors_total", state.totals[reason], reason=reason)
        out.add("inventory_proxy_upstream_errors_recent", recent[reason], reason=reason)
    return outcome
