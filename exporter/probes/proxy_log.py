"""Upstream failures in nginx's error log, counted by class, each dated by its own time stamp.

The log is only read: tailed from where the previous scrape stopped, and reopened from the start
when it is rotated (new inode) or truncated (smaller than our offset, or rewritten under us). At
start-up the counters begin at zero (history does not count), but the last minutes already in the
file seed the "recent" window, so a one-shot ``diagnose`` sees what nginx just wrote.

Every line is evidence about the moment nginx wrote it. The diagnosis compares that moment with
the time the live probes last recovered (``exporter.recovery``): lines from before the recovery
are history, never a present cause.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from exporter.config import Target
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext
from exporter.safeopen import NotRegularFile, open_configured

READ_LIMIT = 4 << 20  # bytes read per scrape at most; the rest waits for the next scrape
SEED_BYTES = 1 << 20  # at start-up, the end of the file read for the recent window
LINE_LIMIT = 64 << 10  # longer lines are not nginx upstream errors: skipped unread
RECENT_WINDOW = 300.0
MARK_BYTES = 64


def _contains(*needles: bytes) -> Callable[[bytes], bool]:
    """True if the line holds each needle, in this order (literal searches: linear in the line)."""
    def test(line: bytes) -> bool:
        at = 0
        for needle in needles:
            at = line.find(needle, at)
            if at < 0:
                return False
            at += len(needle)
        return True

    return test


UPSTREAM_ERRORS: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("connection_refused", _contains(b"(111: Connection refused) while connecting to upstream")),
    ("timed_out", _contains(b"upstream timed out")),
    ("prematurely_closed", _contains(b"upstream prematurely closed connection")),
    ("no_live_upstreams", _contains(b"no live upstreams")),
    ("connection_reset", _contains(b"(104: Connection reset by peer)", b"upstream")),
    ("other", _contains(b"upstream")),
)
REASONS = tuple(reason for reason, _ in UPSTREAM_ERRORS)
Dated = Counter  # Counter[(unix second, reason)]: what one read found, by the second nginx wrote it


@dataclass(frozen=True)
class Position:
    """Where the previous read of the log stopped."""

    inode: int | None = None  # None: never read (the first read seeds the recent window)
    offset: int = 0
    mark: bytes = b""  # the bytes just before ``offset``, to tell a file that only grew from a rewritten one
    last_read: float | None = None  # wall time of the previous read


@dataclass
class TailState:
    position: Position = field(default_factory=Position)
    totals: Counter = field(default_factory=Counter)
    recent: deque = field(default_factory=deque)  # [unix second, Counter] in time order, one per second with errors
    window: Counter = field(default_factory=Counter)  # the sum of ``recent``, kept as seconds come and go
    last_line: dict[str, float] = field(default_factory=dict)  # reason -> unix time nginx wrote its last line
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def add(self, dated: Dated, count_totals: bool = True) -> None:
        for (second, reason), n in sorted(dated.items()):
            if count_totals:
                self.totals[reason] += n
            self.last_line[reason] = max(self.last_line.get(reason, 0.0), float(second))
            self.add_recent(float(second), Counter({reason: n}))

    def add_recent(self, second: float, counts: Counter) -> None:
        if not counts:  # seconds without errors take no room: the window stays small at any scrape rate
            return
        if self.recent and self.recent[-1][0] >= second:
            self.recent[-1][1].update(counts)  # late or same-second lines join the newest bucket
        else:
            self.recent.append([second, Counter(counts)])
        self.window.update(counts)

    def recent_counts(self, now: float) -> Counter:
        while self.recent and self.recent[0][0] < now - RECENT_WINDOW:
            self.window.subtract(self.recent.popleft()[1])
        return self.window


def classify(line: bytes) -> str | None:
    if b"[error]" not in line and b"[crit]" not in line and b"[warn]" not in line:
        return None
    for reason, matches in UPSTREAM_ERRORS:
        if matches(line):
            return reason
    return None


_STAMP_CACHE: dict[bytes, float] = {}


def line_time(line: bytes) -> float | None:
    """The Unix time of an nginx error-log line (``2026/12/02 00:19:47 [error] ...``, local time)."""
    stamp = line[:19]
    cached = _STAMP_CACHE.get(stamp)
    if cached is not None:
        return cached
    if len(stamp) != 19 or stamp[4:5] != b"/" or stamp[10:11] != b" ":
        return None
    try:
        value = datetime.strptime(stamp.decode("ascii"), "%Y/%m/%d %H:%M:%S").timestamp()
    except (ValueError, UnicodeDecodeError, OverflowError):
        return None
    if len(_STAMP_CACHE) > 1024:
        _STAMP_CACHE.clear()
    _STAMP_CACHE[stamp] = value
    return value


def classify_lines(chunk: bytes, earliest: float, latest: float, undated: float | None) -> Dated:
    """Upstream errors of the complete lines in ``chunk``, by the second they were written.

    A line's own time stamp is kept within [``earliest``, ``latest``] (nginx may log in another
    time zone than ours, or its clock may jump); a line without one is dated ``undated``, or
    skipped when that is None.
    """
    dated: Dated = Counter()
    for line in upstream_lines(chunk):
        reason = classify(line)
        if reason is None:
            continue
        written = line_time(line)
        if written is None:
            if undated is None:
                continue
            written = undated
        dated[(int(min(max(written, earliest), latest)), reason)] += 1
    return dated


def upstream_lines(chunk: bytes):
    """The lines of ``chunk`` (up to LINE_LIMIT long) that mention "upstream", as every class needs:
    found by searching for the word, so megabytes of other or blank lines cost one C search."""
    at = 0
    while (hit := chunk.find(b"upstream", at)) >= 0:
        start = chunk.rfind(b"\n", at, hit) + 1 or at
        end = chunk.find(b"\n", hit)
        end = len(chunk) if end == -1 else end
        if end - start <= LINE_LIMIT:
            yield chunk[start:end]
        at = end + 1


def read_new(path: Path, at: Position, now: float | None = None) -> tuple[Dated, Position]:
    """Upstream errors written since the read that stopped ``at``, and where this read stops.

    Nothing is changed here: the caller moves its position and counts the lines together, and only
    when the read came back before its deadline. A read that outlived it (a slow disk) is dropped
    whole, so its lines are read again next time, never skipped and never counted twice.

    The file is taken as new (read from its start) when its inode changed (rotated), it is
    shorter than our offset, or the bytes just before our offset are not the ones we saw there
    (truncated and written again past our offset: copytruncate). The first read (``at.inode`` is
    None) starts at the end, with the last minutes already there as the recent window.
    """
    now = time.time() if now is None else now
    fd, st = open_configured(path)  # never blocks; a FIFO or device is refused before any read
    with os.fdopen(fd, "rb") as handle:
        if at.inode is None:
            dated = _seed(handle, st.st_size, now)
            return dated, Position(st.st_ino, st.st_size, _mark_before(handle, st.st_size), now)
        offset = at.offset
        if st.st_ino != at.inode or st.st_size < offset or _mark_before(handle, offset) != at.mark:
            offset = 0
        handle.seek(offset)
        chunk = handle.read(READ_LIMIT)
        end = chunk.rfind(b"\n") + 1  # a half-written last line waits for the next scrape
        # Lines found now were not there at the previous read: written after it (give nginx's
        # second-resolution stamps one second of slack), and not after now.
        earliest = (at.last_read if at.last_read is not None else now) - 1.0
        dated = classify_lines(chunk[:end], earliest, now, undated=now)
        return dated, Position(st.st_ino, offset + end, _mark_before(handle, offset + end), now)


def _seed(handle, size: int, now: float) -> Dated:
    """The dated errors of the last RECENT_WINDOW seconds among the file's last SEED_BYTES."""
    start = max(size - SEED_BYTES, 0)
    handle.seek(start)
    chunk = handle.read(size - start)
    if start:
        chunk = chunk[chunk.find(b"\n") + 1:]  # the first line is cut
    chunk = chunk[: chunk.rfind(b"\n") + 1]
    dated = classify_lines(chunk, float("-inf"), now, undated=None)
    return Counter({key: n for key, n in dated.items() if key[0] >= now - RECENT_WINDOW})


def _mark_before(handle, offset: int) -> bytes:
    """The bytes just before ``offset``: what must still be there if the file only grew."""
    start = max(offset - MARK_BYTES, 0)
    handle.seek(start)
    return handle.read(offset - start)


async def probe_proxy_log(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    assert target.proxy_error_log is not None
    state = ctx.cache.setdefault(("proxy_log", target.name, str(target.proxy_error_log)), TailState())
    async with state.lock:
        first = state.position.inode is None
        try:
            dated, position = await ctx.blocking(deadline, read_new, target.proxy_error_log, state.position)
        except TimeoutError as exc:  # an OSError too, but not "not found"
            outcome = Outcome.fail("timeout", str(exc) or "the error log was not read within the deadline")
        except NotRegularFile as exc:
            outcome = Outcome.fail("not_regular_file", str(exc))
        except OSError as exc:
            outcome = Outcome.fail("permission_denied" if isinstance(exc, PermissionError) else "not_found", str(exc))
        else:
            outcome = Outcome.success()
            state.position = position
            state.add(dated, count_totals=not first)
    recent = state.recent_counts(time.time())
    for reason in REASONS:
        out.add("inventory_proxy_upstream_errors_total", state.totals[reason], reason=reason)
        out.add("inventory_proxy_upstream_errors_recent", recent[reason], reason=reason)
    for reason, written in state.last_line.items():
        out.add("inventory_proxy_upstream_errors_last_timestamp_seconds", written, reason=reason)
    return outcome
