"""Parsed access-log lines into the counters, histograms and the recent window a scrape reads.

One pass over a batch of lines (:func:`tally`) makes a :class:`Batch`: one dictionary increment per
line, keyed by (second, kind, status, duration bucket, upstream bucket, route), plus the sums. The
batch is then folded into :class:`Totals` under the reader's lock (a few hundred keys, not the lines),
so a scrape that copies the totals never waits for a backlog to be parsed.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from exporter.accesslog.formats import LineFormat
from exporter.accesslog.routes import RouteTable
from exporter.accesslog.window import BUCKETS, RecentWindow, empty_buckets

UPSTREAM_ERRORS = frozenset((b"502", b"503", b"504"))
CODE_CLASSES = {ord("2"): "2xx", ord("3"): "3xx", ord("4"): "4xx", ord("5"): "5xx"}
KINDS = ("api", "page", "static")
MAX_CACHED_PATHS = 8192


@dataclass
class Batch:
    keys: Counter = field(default_factory=Counter)  # (second, kind, status, dur index, upstream index, route) -> n
    duration_sum: Counter = field(default_factory=Counter)  # kind -> seconds
    upstream_sum: Counter = field(default_factory=Counter)
    bytes: Counter = field(default_factory=Counter)  # kind -> bytes
    upstream_errors: Counter = field(default_factory=Counter)  # status -> n
    unparsable: int = 0
    lines: int = 0
    failing_since: float | None = None  # the current run of 5xx at the batch's end (with ``run_open``)
    run_open: bool | None = None  # None: no request in the batch; True: it ends in a 5xx run


def path_kind(path: bytes) -> str:
    """As exporter.probes.http classifies: /api/* api; /_next/static/* and files with an extension static; else page."""
    if path == b"/api" or path.startswith(b"/api/"):
        return "api"
    if path.startswith(b"/_next/static/") or b"." in path[path.rfind(b"/") + 1:]:
        return "static"
    return "page"


class Classifier:
    """The kind (and the route, when the target labels routes) of a request target, remembered."""

    def __init__(self, routes: RouteTable | None):
        self.routes = routes
        self.cache: dict[bytes, tuple[str, str]] = {}

    def __call__(self, request: bytes | None) -> tuple[str, str]:
        found = self.cache.get(request)  # type: ignore[arg-type]
        if found is not None:
            return found
        path = _path(request or b"")
        route = "" if self.routes is None else self.routes.route(path.decode("utf-8", "replace"))
        found = (path_kind(path), route)
        if len(self.cache) >= MAX_CACHED_PATHS:
            self.cache.clear()
        self.cache[request] = found  # type: ignore[index]
        return found


def _path(request: bytes) -> bytes:
    """``GET /a/b?c HTTP/1.1`` → ``/a/b``."""
    start = request.find(b" ") + 1
    end = request.find(b" ", start)
    path = request[start:] if end < 0 else request[start:end]
    query = path.find(b"?")
    return path if query < 0 else path[:query]


_STAMPS: dict[bytes, int] = {}


def line_second(local: bytes | None, iso: bytes | None, msec: bytes | None, fallback: int) -> int:
    """The second nginx logged the request: $msec, $time_iso8601 or $time_local (remembered), else ``fallback``."""
    if msec:
        try:
            return int(float(msec))
        except ValueError:
            return fallback
    stamp = local or iso
    if not stamp:
        return fallback
    second = _STAMPS.get(stamp)
    if second is None:
        second = _parse_stamp(stamp, local is not None)
        if second is None:
            return fallback
        if len(_STAMPS) > 4096:
            _STAMPS.clear()
        _STAMPS[stamp] = second
    return second


def _parse_stamp(stamp: bytes, local: bool) -> int | None:
    try:
        text = stamp.decode("ascii")
        if local:
            return int(datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z").timestamp())
        return int(datetime.fromisoformat(text).timestamp())
    except (ValueError, UnicodeDecodeError, OverflowError):
        return None


def _seconds(value: bytes | None) -> float | None:
    """A logged time; "0.003, 0.010" or "0.003 : 0.010" (several upstreams) gives the first; "-" None."""
    if not value or value == b"-":
        return None
    try:
        return float(value)
    except ValueError:
        first = value.replace(b":", b",").split(b",", 1)[0].strip()
        try:
            return float(first)
        except ValueError:
            return None


def _last_status(value: bytes) -> bytes:
    """The status of the last upstream tried ("502, 200" → 200)."""
    if b"," in value or b":" in value:
        return value.replace(b":", b",").rsplit(b",", 1)[-1].strip()
    return value


def tally(lines: list[bytes], fmt: LineFormat, classify: Classifier, now: float, batch: Batch | None = None) -> Batch:
    """Every line of ``lines`` (complete, without the newline) counted into a batch."""
    batch = batch or Batch()
    parse = fmt.parse
    keys, dsum, usum, sent, errors = batch.keys, batch.duration_sum, batch.upstream_sum, batch.bytes, batch.upstream_errors
    fallback = int(now)
    failing_since, run_open = batch.failing_since, batch.run_open
    unparsable = 0
    for line in lines:
        fields = parse(line)
        if fields is None or not fields[1]:
            unparsable += 1
            continue
        request, status, body, total_bytes, rt, urt, ustatus, local, iso, msec = fields
        kind, route = classify(request)
        second = line_second(local, iso, msec, fallback)
        duration = _seconds(rt)
        upstream = _seconds(urt)
        dur_index = None if duration is None else bisect_left(BUCKETS, duration)
        up_index = None if upstream is None else bisect_left(BUCKETS, upstream)
        keys[(second, kind, status, dur_index, up_index, route)] += 1
        if duration is not None:
            dsum[kind] += duration
        if upstream is not None:
            usum[kind] += upstream
        size = body or total_bytes
        if size and size != b"-":
            try:
                sent[kind] += int(size)
            except ValueError:
                pass
        if status[0] == 53:  # b"5"
            if not run_open:
                failing_since, run_open = float(second), True
            logged = _last_status(ustatus) if ustatus and ustatus != b"-" else status
            if logged in UPSTREAM_ERRORS:
                errors[logged.decode()] += 1
        else:
            run_open = False
        if ustatus and status[0] != 53 and ustatus in UPSTREAM_ERRORS:  # nginx answered otherwise (error_page)
            errors[ustatus.decode()] += 1
    batch.failing_since, batch.run_open = failing_since, run_open
    batch.unparsable += unparsable
    batch.lines += len(lines)
    return batch


def code_class(status: bytes) -> str:
    return CODE_CLASSES.get(status[0], "other") if len(status) == 3 and status.isdigit() else "other"


@dataclass
class Totals:
    """Everything since the reader started, and the recent window."""

    requests: Counter = field(default_factory=Counter)  # (kind, code_class, route) -> n
    durations: dict = field(default_factory=dict)  # kind -> [bucket counts], sum
    upstream: dict = field(default_factory=dict)
    bytes: Counter = field(default_factory=Counter)
    upstream_errors: Counter = field(default_factory=Counter)
    lines: int = 0
    unparsed: Counter = field(default_factory=lambda: Counter(too_long=0, unparsable=0))
    window: RecentWindow = field(default_factory=RecentWindow)
    failing_since: float | None = None

    def fold(self, batch: Batch, now: float, count_totals: bool = True) -> None:
        """Add ``batch``; ``count_totals`` False adds it to the recent window only (the start-up seed)."""
        per_second: dict[int, tuple[Counter, Counter, dict]] = {}
        for (second, kind, status, dur, up, route), n in batch.keys.items():
            cls = code_class(status)
            if count_totals:
                self.requests[(kind, cls, route)] += n
                if dur is not None:
                    _hist(self.durations, kind)[0][dur] += n
                if up is not None:
                    _hist(self.upstream, kind)[0][up] += n
            requests, failed, durations = per_second.setdefault(second, (Counter(), Counter(), {}))
            requests[(kind, cls)] += n
            if cls == "5xx":
                failed[status.decode("ascii", "replace")] += n
            if dur is not None:
                durations.setdefault(kind, empty_buckets())[dur] += n
        for second in sorted(per_second):
            self.window.add(second, now, *per_second[second])
        self.window.expire(now)
        if batch.run_open is not None:  # the batch began where the totals' run stood (new_batch)
            self.failing_since = batch.failing_since if batch.run_open else None
        if not count_totals:
            return
        for kind, seconds in batch.duration_sum.items():
            _hist(self.durations, kind)[1] += seconds
        for kind, seconds in batch.upstream_sum.items():
            _hist(self.upstream, kind)[1] += seconds
        self.bytes.update(batch.bytes)
        self.upstream_errors.update(batch.upstream_errors)
        self.lines += batch.lines
        self.unparsed["unparsable"] += batch.unparsable

    def copy(self) -> "Totals":
        return Totals(
            requests=Counter(self.requests),
            durations={k: [list(v[0]), v[1]] for k, v in self.durations.items()},
            upstream={k: [list(v[0]), v[1]] for k, v in self.upstream.items()},
            bytes=Counter(self.bytes), upstream_errors=Counter(self.upstream_errors), lines=self.lines,
            unparsed=Counter(self.unparsed),
            window=RecentWindow(requests=Counter(self.window.requests), failed=Counter(self.window.failed),
                                durations={k: list(v) for k, v in self.window.durations.items()}),
            failing_since=self.failing_since,
        )


def _hist(table: dict, kind: str) -> list:
    found = table.get(kind)
    if found is None:
        found = table[kind] = [empty_buckets(), 0.0]
    return found


def new_batch(totals: Totals) -> Batch:
    """A batch that continues the totals' current run of 5xx (so the run's start is not lost)."""
    open_run = totals.failing_since is not None
    return Batch(failing_since=totals.failing_since if open_run else None, run_open=True if open_run else None)

