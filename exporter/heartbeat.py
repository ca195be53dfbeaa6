"""The status page's bars, sparklines and incident rows, formatted as the scrapes are recorded.

The scrape path calls :func:`note` after it records a target's point: the new scrape's heartbeat
cell, a quarter hour's cell when one ends, a minute's sparkline points when one ends and an
incident's row when one ends are formatted then, in every language the page speaks. A page load
only joins what is kept (C-speed ``str.join`` over shared pieces) and formats what is still
changing (the current quarter hour, the current minute, an ongoing incident): its cost does not
depend on how long the history is, on whether the page was loaded before, or on the language it was
last loaded in. A scrape pays a constant few formats, never a scan of the history.

Pieces repeat across cells and targets (a healthy cell's tooltip, a quarter hour's time range, a
scrape's time, a point of a sparkline): they are shared, not copied, which keeps what this adds to
the history's memory small (measured by bench/history.py).
"""

from __future__ import annotations

import bisect
import html
import time
from collections import deque
from itertools import chain, islice
from typing import Iterable

from exporter.facts import THRESHOLDS
from exporter.history import DAY_SECONDS, INCIDENT_LIMIT, RANK_SEVERITY, Incident, Point, TargetHistory, unpack_latencies
from exporter.pagetext import LANGS, SYMBOL, clock, day_clock, duration, memo, text

HOUR_CELLS = 120  # the last hour's bar shows at most this many scrapes (the latest)
DAY_CELL_SECONDS = 900.0  # the 24 h bar: 96 cells of 15 minutes (three 5-minute history cells each)
DAY_SLOTS = int(DAY_SECONDS // DAY_CELL_SECONDS)
SPARK_MINUTES = 60  # a sparkline: the last hour, a point a minute, the current minute the last one
MINUTE_SECONDS = 60.0
SPARK_TOP = {"api": 2 * THRESHOLDS["api_seconds"], "page": 2 * THRESHOLDS["page_seconds"], "proxy": 600.0}
DEFAULT_TOP = 2.0  # seconds, for endpoints of other kinds (no threshold)
HEIGHT = 48  # a sparkline's y: 0 at the top (the series' top, clamped), HEIGHT at the bottom (0)
# a sparkline's x: minutes since BASE, one origin for every target (their points are shared), set a week
# before start so a loaded history's points have x > 0; SVG keeps integers exact to 2^24 (31 years)
BASE = int(time.time() // MINUTE_SECONDS) - 7 * 1440
XY_MEMO = 1024  # a sparkline point is shared by the targets of one minute: a minute's worth is enough


class Heartbeat:
    """What the page shows of one target, formatted: kept on its TargetHistory (``history.page``)."""

    def __init__(self) -> None:
        self.last_point = None  # the newest raw point with a cell
        self.hour_at: deque[float] = deque(maxlen=HOUR_CELLS)
        self.hour = {lang: deque(maxlen=HOUR_CELLS) for lang in LANGS}  # a cell: (its start, its time, the rest)
        self.next_slot: float | None = None  # the first quarter hour not yet formatted
        self.slot_starts: deque[float] = deque(maxlen=DAY_SLOTS)
        self.slots = {lang: deque(maxlen=DAY_SLOTS) for lang in LANGS}  # a tuple of pieces a quarter hour
        self.minute: int | None = None  # the minute the newest point is in, and its highest value of each series
        self.highest: dict[str, float] = {}
        self.spark: dict[str, deque[str]] = {}  # "x,y" a finished minute, by series
        self.ended: deque[tuple] = deque(maxlen=INCIDENT_LIMIT)  # (start, end, cells before the duration, after)


def note(history: TargetHistory) -> Heartbeat:
    """Format what the scrapes recorded since the last call (everything, the first time)."""
    beat = history.page
    if beat is None:
        beat = history.page = Heartbeat()
    _note_points(beat, history)
    _note_slots(beat, history.cells)
    _note_incidents(beat, history.incidents)
    return beat


def note_all(histories: Iterable[TargetHistory]) -> None:
    for history in histories:
        note(history)


# --- shared pieces ---------------------------------------------------------------------------


_TITLES: dict = {}
_SLOT_TIMES: dict = {}
_COUNTS: dict = {}
_NO_DATA: dict = {}
_XY: dict = {}
CELL_START = {rank: f'<i class="s{rank}" title="' for rank in SYMBOL}


def title(rank: int, cause: str, failing: tuple, lang: str) -> str:
    """A cell's tooltip after its time: severity, root cause and failing checks (escaped: a history
    loaded from a state file may hold anything)."""
    def make() -> str:
        t = text(lang)
        line = f" {t[RANK_SEVERITY.get(rank) or 'ok']}, {t['cause']}: {html.escape(cause)}"
        return f"{line}, {t['failing']}: {html.escape(', '.join(failing))}" if failing else line
    return memo(_TITLES, (rank, cause, failing, lang), make)


def _cell_rest(rank: int, cause: str, failing: tuple, lang: str) -> str:
    return memo(_TITLES, (rank, cause, failing, lang, "cell"),
                 lambda: f'{title(rank, cause, failing, lang)}">{SYMBOL[rank]}</i>')


def _slot_start(rank: int, start: float) -> str:
    return memo(_SLOT_TIMES, (rank, start),
                 lambda: f"{CELL_START[rank]}{clock(start)}-{clock(start + DAY_CELL_SECONDS)}")


def _slot_end(rank: int, down: int, scrapes: int) -> str:
    return memo(_COUNTS, (rank, down, scrapes), lambda: f' ({down}/{scrapes})">{SYMBOL[rank]}</i>')


def no_data_cell(start: float, lang: str) -> str:
    return memo(_NO_DATA, (start, lang), lambda: (
        f'<i class="sn" title="{clock(start)}-{clock(start + DAY_CELL_SECONDS)} {text(lang)["no_data"]}">'
        f'{SYMBOL[-1]}</i>'))


# --- the last hour: a cell a scrape ----------------------------------------------------------


def _note_points(beat: Heartbeat, history: TargetHistory) -> None:
    """Each new point: into its minute (the sparklines), and a cell (the hour bar's latest HOUR_CELLS)."""
    raw = history.raw
    new = []
    for point in reversed(raw):
        if point is beat.last_point:
            break
        new.append(point)
    new.reverse()
    for index, point in enumerate(new):
        _fold_minute(beat, point)
        if index < len(new) - HOUR_CELLS:
            continue  # a catch-up (a loaded history): only the latest have a cell on the bar
        at = clock(point.at)
        beat.hour_at.append(point.at)
        for lang in LANGS:
            beat.hour[lang].append((CELL_START[point.worst], at, _cell_rest(point.worst, point.cause, point.failing, lang)))
    if raw:
        beat.last_point = raw[-1]
        oldest = raw[0].at
        while beat.hour_at and beat.hour_at[0] < oldest:  # the history keeps an hour: so does the bar
            beat.hour_at.popleft()
            for cells in beat.hour.values():
                cells.popleft()


def hour_cells(history: TargetHistory, lang: str) -> str:
    return "".join(chain.from_iterable(note(history).hour[lang]))


# --- the last 24 h: a cell a quarter hour ----------------------------------------------------


def slot_of(at: float) -> float:
    return at - at % DAY_CELL_SECONDS


def fold_slot(cells: Iterable) -> tuple | None:
    """(worst rank, its cause, its failing checks, scrapes, down) of a quarter hour's 5-minute cells
    (in time order: the first of the worst names the cause); None without any."""
    worst, cause, failing, scrapes, down = None, "", (), 0, 0
    for c in cells:
        if worst is None or c.worst > worst:
            worst, cause, failing = c.worst, c.cause, c.failing
        scrapes += c.scrapes
        down += c.down
    return None if worst is None else (worst, cause, failing, scrapes, down)


def slot_pieces(start: float, folded: tuple | None, lang: str) -> tuple[str, ...]:
    if folded is None:
        return (no_data_cell(start, lang),)
    worst, cause, failing, scrapes, down = folded
    return (_slot_start(worst, start), title(worst, cause, failing, lang), _slot_end(worst, down, scrapes))


def _note_slots(beat: Heartbeat, cells: deque) -> None:
    """Format every quarter hour that ended (a later 5-minute cell exists), gaps as no-data cells."""
    if not cells:
        return
    current = slot_of(cells[-1].start)
    if beat.next_slot is None:
        beat.next_slot = slot_of(cells[0].start)
    if beat.next_slot >= current:
        return
    start = max(beat.next_slot, current - DAY_SLOTS * DAY_CELL_SECONDS)
    grouped: dict[float, list] = {}
    for c in reversed(cells):
        if c.start < start:
            break
        if c.start < current:
            grouped.setdefault(slot_of(c.start), []).insert(0, c)
    while start < current:
        folded = fold_slot(grouped.get(start, ()))
        beat.slot_starts.append(start)
        for lang in LANGS:
            beat.slots[lang].append(slot_pieces(start, folded, lang))
        start += DAY_CELL_SECONDS
    beat.next_slot = current


def day_cells(history: TargetHistory, now: float, lang: str) -> str:
    """DAY_SLOTS cells, the last one the quarter hour ``now`` is in: the ended ones as formatted by
    note, the ones after (the current one, or more after a silence) from the history's cells now."""
    beat = note(history)
    first = slot_of(now) - DAY_SECONDS + DAY_CELL_SECONDS
    last = first + (DAY_SLOTS - 1) * DAY_CELL_SECONDS
    starts, pieces = beat.slot_starts, beat.slots[lang]
    out: list[str] = []
    at = first
    skip = bisect.bisect_left(starts, first)
    if skip < len(starts) and starts[skip] <= last:
        while at < starts[skip]:
            out.append(no_data_cell(at, lang))
            at += DAY_CELL_SECONDS
        until = bisect.bisect_right(starts, last)
        out.extend(chain.from_iterable(islice(pieces, skip, until)))
        at = starts[until - 1] + DAY_CELL_SECONDS
    if at <= last:
        recent = _newest(history.cells, at)
        while at <= last:
            out.extend(slot_pieces(at, fold_slot(c for c in recent if slot_of(c.start) == at), lang))
            at += DAY_CELL_SECONDS
    return "".join(out)


def _newest(cells: deque, since: float) -> list:
    found = []
    for c in reversed(cells):
        if c.start < since:
            break
        found.append(c)
    found.reverse()
    return found


# --- sparklines: a point a minute over the last hour -----------------------------------------


def top(series: str) -> float:
    return SPARK_TOP.get(series.split(" ", 1)[0], DEFAULT_TOP)


def _minute_points(minute: int, highest: dict[str, float]) -> list[tuple[str, str]]:
    """(series, "x,y") of each series' highest value in ``minute``."""
    x = minute - BASE
    out = []
    for series, value in highest.items():
        y = HEIGHT - min(int(value * HEIGHT / top(series) + 0.5), HEIGHT)
        out.append((series, memo(_XY, x * (HEIGHT + 1) + y, lambda: f"{x},{y}", XY_MEMO)))
    return out


def _fold_minute(beat: Heartbeat, point: Point) -> None:
    """The point's latencies and proxy status into its minute; a minute that ended gets its points."""
    minute = int(point.at // MINUTE_SECONDS)
    if minute != beat.minute:
        if beat.minute is not None:
            for series, xy in _minute_points(beat.minute, beat.highest):
                beat.spark.setdefault(series, deque(maxlen=SPARK_MINUTES)).append(xy)
        beat.minute, beat.highest = minute, {}
    highest = beat.highest
    for series, value in zip(point.paths, unpack_latencies(point.latencies)):
        if value > highest.get(series, -1.0):
            highest[series] = value
    if point.proxy_status >= 0 and point.proxy_status > highest.get("proxy", -1.0):
        highest["proxy"] = float(point.proxy_status)


def spark_points(history: TargetHistory, now: float) -> tuple[int, dict[str, list[str]]]:
    """The viewBox's x origin and each series' "x,y" points over the hour before ``now``."""
    beat = note(history)
    first = int(now // MINUTE_SECONDS) - SPARK_MINUTES + 1  # its points are all within the hour the raw points keep
    oldest_x = first - BASE
    out: dict[str, list[str]] = {}
    for series, points in list(beat.spark.items()):
        while points and int(points[0].split(",", 1)[0]) < oldest_x:
            points.popleft()
        if not points:
            del beat.spark[series]
            continue
        out[series] = list(points)
    if beat.minute is not None and beat.minute >= first:
        for series, xy in _minute_points(beat.minute, beat.highest):
            out.setdefault(series, []).append(xy)
    return oldest_x, out


# --- incidents ------------------------------------------------------------------------------


def incident_row(incident: Incident, now: float, lang: str) -> str:
    return _row(*_row_pieces(incident, text(lang)["ongoing"]), incident.duration(now), lang)


def _row(before: str, after: str, seconds: float, lang: str) -> str:
    return f"{before}{html.escape(duration(seconds, lang))}{after}"


def _row_pieces(incident: Incident, ongoing: str) -> tuple[str, str]:
    """A row's cells before its duration and after it (the duration is the only part in words)."""
    e = html.escape
    end = day_clock(incident.end) if incident.end is not None else ongoing
    return (f'<tr><td>{e(day_clock(incident.start))}</td><td>{e(end)}</td><td class="duration">',
            f'</td><td><code>{e(incident.cause)}</code></td></tr>')


def _note_incidents(beat: Heartbeat, incidents: deque) -> None:
    done = beat.ended[-1][0] if beat.ended else None
    new = []
    for incident in reversed(incidents):
        if done is not None and incident.start <= done:
            break
        if incident.end is not None:
            new.append(incident)
    for incident in reversed(new):
        beat.ended.append((incident.start, incident.end, *_row_pieces(incident, "")))


def incident_rows(history: TargetHistory, now: float, lang: str) -> list[str]:
    """The incidents that lasted into the last 24 h, newest first."""
    beat = note(history)
    rows = []
    last = history.incidents[-1] if history.incidents else None
    if last is not None and last.end is None:
        rows.append(incident_row(last, now, lang))
    cutoff = now - DAY_SECONDS
    for start, end, before, after in reversed(beat.ended):
        if end < cutoff:
            break
        rows.append(_row(before, after, end - start, lang))
    return rows
