"""What each target looked like over the last 24 hours: a bounded in-memory history of scrapes.

Every scrape of a target is recorded as a :class:`Point` (time, root cause, worst severity, the
failing checks, each endpoint's latency and the front proxy's status). The last hour is kept at
scrape resolution (at most RAW_LIMIT points: a scrape every 10 s or slower keeps the whole hour,
faster scraping keeps the last RAW_LIMIT scrapes); every point is also folded, as it is recorded,
into its 5-minute :class:`Cell`, kept for 24 h (at most CELL_LIMIT). Runs of the same root cause
are kept as :class:`Incident` s (at most INCIDENT_LIMIT), which give "down since" and the outages.

Memory bound (measured by bench/history.py with tracemalloc): at most 20 MB for 100 targets with a
full 24 h history, the status page's formatted cells (exporter.heartbeat) included (17 MB measured,
about 170 KB a target). Strings (causes, check ids, endpoint names) are
interned, a point shares its endpoint names and failing checks with the one before when they are
the same, and latencies are packed (0.1 ms units, 4 bytes each). Recording is O(1) amortised: it
never scans the history.
"""

from __future__ import annotations

import struct
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple

RAW_SECONDS = 3600.0
RAW_LIMIT = 360  # one point every 10 s for an hour; faster scrapes keep a shorter hour
CELL_SECONDS = 300.0
DAY_SECONDS = 86400.0
CELL_LIMIT = int(DAY_SECONDS // CELL_SECONDS)  # 288
INCIDENT_LIMIT = 200
SEVERITY_RANK = {None: 0, "info": 1, "warning": 2, "critical": 3}
RANK_SEVERITY = {rank: severity for severity, rank in SEVERITY_RANK.items()}
HEALTHY = ("none", "not_checked")  # not_checked: the probes timed out, nothing known to be down


def _intern(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sys.intern(v) for v in values)


class Point(NamedTuple):
    """One scrape of one target."""

    at: float
    cause: str
    worst: int  # SEVERITY_RANK of the worst finding
    failing: tuple[str, ...]  # the ids of the active findings
    paths: tuple[str, ...]  # "kind path" of each endpoint, aligned with latencies
    latencies: bytes  # packed: pack_latencies / unpack_latencies
    proxy_status: int  # -1 without a front proxy, 0 no answer


class Cell(NamedTuple):
    """Five minutes of points folded into one: the worst of them and how many were down."""

    start: float
    cause: str  # the cause of the worst point
    worst: int
    failing: tuple[str, ...]  # the failing checks of the worst point
    scrapes: int
    down: int  # scrapes whose cause was a failure (is_down)
    paths: tuple[str, ...]
    latencies: bytes  # the highest of each endpoint, packed
    proxy_status: int  # the worst (highest) status seen


@dataclass
class Incident:
    start: float
    cause: str
    end: float | None = None  # None while it lasts

    def duration(self, now: float) -> float:
        return (self.end if self.end is not None else now) - self.start


def is_down(cause: str) -> bool:
    return cause not in HEALTHY


@dataclass
class TargetHistory:
    raw: deque = field(default_factory=lambda: deque(maxlen=RAW_LIMIT))
    cells: deque = field(default_factory=lambda: deque(maxlen=CELL_LIMIT))
    incidents: deque = field(default_factory=lambda: deque(maxlen=INCIDENT_LIMIT))
    cause: str | None = None
    since: float | None = None  # when the current cause began
    changes: int = 0  # how often the cause changed
    day_scrapes: int = 0  # the scrapes the cells hold, and how many of them were down (uptime, O(1))
    day_down: int = 0
    page: object = None  # the status page's formatted cells, kept as the scrapes are recorded (exporter.heartbeat)

    def record(self, point: Point) -> None:
        last = self.raw[-1] if self.raw else None
        if last is not None:
            if point.at < last.at:
                return  # a clock step back: keep the history in order
            point = _sharing(point, last)
        self._note_cause(point)
        self._fold(point)
        self.raw.append(point)
        while self.raw[0].at < point.at - RAW_SECONDS:
            self.raw.popleft()
        while self.cells and self.cells[0].start < point.at - DAY_SECONDS:
            self._drop_cell()
        while self.incidents and self.incidents[0].end is not None and self.incidents[0].end < point.at - DAY_SECONDS:
            self.incidents.popleft()

    def _note_cause(self, point: Point) -> None:
        if point.cause == self.cause:
            return
        if self.cause is not None:
            self.changes += 1
        if self.incidents and self.incidents[-1].end is None:
            self.incidents[-1].end = point.at
        if is_down(point.cause):
            self.incidents.append(Incident(point.at, point.cause))
        self.cause, self.since = point.cause, point.at

    def _fold(self, point: Point) -> None:
        """Fold the point into its 5-minute cell: the worst point of the cell names its cause."""
        start = point.at - point.at % CELL_SECONDS
        down = int(is_down(point.cause))
        self.day_scrapes += 1
        self.day_down += down
        last = self.cells[-1] if self.cells else None
        if last is None or last.start != start:
            if len(self.cells) == CELL_LIMIT:
                self._drop_cell()  # not the deque's silent drop: the day's totals follow
            self.cells.append(Cell(start, point.cause, point.worst, point.failing, 1, down, point.paths,
                                   point.latencies, point.proxy_status))
            return
        worse = point.worst > last.worst or (down and not last.down)
        self.cells[-1] = last._replace(
            cause=point.cause if worse else last.cause, worst=max(last.worst, point.worst),
            failing=point.failing if worse else last.failing, scrapes=last.scrapes + 1, down=last.down + down,
            latencies=_highest(last.paths, last.latencies, point), proxy_status=max(last.proxy_status, point.proxy_status),
        )

    def _drop_cell(self) -> None:
        gone = self.cells.popleft()
        self.day_scrapes -= gone.scrapes
        self.day_down -= gone.down

    # --- what the page and diagnose say ------------------------------------------------------

    def outages(self, now: float) -> list[Incident]:
        return [i for i in self.incidents if i.end is None or i.end >= now - DAY_SECONDS]

    def uptime(self) -> float | None:
        """The share of the last 24 h's scrapes not down (is_down); None without any."""
        return 1 - self.day_down / self.day_scrapes if self.day_scrapes else None


class History:
    """Every target's history, by target name."""

    def __init__(self) -> None:
        self.targets: dict[str, TargetHistory] = {}

    def of(self, target: str) -> TargetHistory:
        found = self.targets.get(target)
        if found is None:
            found = self.targets[sys.intern(target)] = TargetHistory()
        return found

    def record(self, target: str, point: Point) -> TargetHistory:
        history = self.of(target)
        history.record(point)
        return history

    def keep_only(self, names: Iterable[str]) -> None:
        """Forget targets no longer configured."""
        wanted = set(names)
        for name in [n for n in self.targets if n not in wanted]:
            del self.targets[name]


def point_from_samples(at: float, cause: str, worst: str | None, failing: Iterable[str], samples: list) -> Point:
    """A Point from one scrape of one target: its diagnosis and its samples."""
    paths, latencies, proxy = [], [], -1
    for name, labels, value in samples:
        if name == "inventory_http_response_seconds":
            paths.append(f"{labels.get('kind', '')} {labels.get('path', '')}")
            latencies.append(float(value))
        elif name == "inventory_proxy_status_code":
            proxy = int(value)
    return Point(at, sys.intern(cause), SEVERITY_RANK.get(worst, 0), _intern(sorted(failing)), _intern(paths),
                 pack_latencies(latencies), proxy)


def pack_latencies(seconds: Iterable[float]) -> bytes:
    """Latencies in 0.1 ms units, 4 bytes each (up to 429,496 s)."""
    values = [min(max(int(round(s * 10000)), 0), 0xFFFFFFFF) for s in seconds]
    return struct.pack(f"<{len(values)}I", *values)


def unpack_latencies(packed: bytes) -> list[float]:
    return [v / 10000 for v in struct.unpack(f"<{len(packed) // 4}I", packed)]


def _highest(paths: tuple[str, ...], latencies: bytes, point: Point) -> bytes:
    """The higher of ``latencies`` and the point's, endpoint by endpoint (``latencies`` itself when the
    point measured other endpoints, or nothing higher)."""
    if point.paths != paths or point.latencies == latencies:
        return latencies
    highest = pack_latencies(map(max, unpack_latencies(latencies), unpack_latencies(point.latencies)))
    return latencies if highest == latencies else highest


def _sharing(point: Point, last: Point) -> Point:
    """``point`` with the endpoint names and failing checks of ``last`` when they are equal (stored once)."""
    if point.paths == last.paths and point.failing == last.failing:
        return point._replace(paths=last.paths, failing=last.failing)
    if point.paths == last.paths:
        return point._replace(paths=last.paths)
    if point.failing == last.failing:
        return point._replace(failing=last.failing)
    return point


def history_of(cache: dict) -> History:
    """The app's history, kept in the probe context's cache (which lives as long as the app)."""
    found = cache.get("history")
    if found is None:
        found = cache["history"] = History()
    return found


def now() -> float:
    return time.time()


def record_diagnosis(cache: dict, diagnosis, out, at: float) -> TargetHistory:
    """Record one target's scrape (its Diagnosis and Samples ``out``) and add the since-when samples."""
    failing = [f.id for f in diagnosis.findings]
    point = point_from_samples(at, diagnosis.cause, diagnosis.worst(), failing, out.store)
    history = history_of(cache).record(diagnosis.target, point)
    out.add("inventory_root_cause_since_timestamp_seconds", history.since, cause=history.cause)
    out.add("inventory_target_state_changes_total", history.changes)
    return history
