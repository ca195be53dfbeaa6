"""One background thread per access log: it reads, parses and counts; a scrape only copies the counts.

Each pass (every INTERVAL seconds, or at once while a backlog remains) reads at most PASS_BUDGET
bytes, tallies the lines in slices of SLICE lines without holding the lock, and folds each slice's
few hundred keys into the totals under the lock. A scrape takes the lock only to copy the totals,
so it never waits for parsing, and no file is ever read on the event loop.

:class:`Readers` keeps one reader per (target, log, format, route_label): started for every target
with an ``access_log`` when the app starts and whenever the config changes (readers of targets
that went away are stopped), and stopped with the app (``close``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from exporter.accesslog.aggregate import Classifier, Totals, new_batch, tally
from exporter.accesslog.formats import FormatError, LineFormat, compile_format
from exporter.accesslog.routes import RouteTable
from exporter.accesslog.tail import Tail
from exporter.safeopen import NotRegularFile

log = logging.getLogger("exporter.accesslog")

INTERVAL = 1.0
SLICE = 20_000
STOP_WAIT = 1.0  # at shutdown, per reader at most; on a config change a reader is only told to stop


@dataclass(frozen=True)
class ReaderKey:
    target: str
    path: Path
    format: str | None
    route_label: bool


class Reader:
    def __init__(self, key: ReaderKey, interval: float = INTERVAL):
        self.key, self.interval = key, interval
        self.error: tuple[str, str] | None = None  # (reason, detail) of the last pass, None when it read
        try:
            self.format: LineFormat | None = compile_format(key.format)
        except FormatError as exc:  # a discovered log_format this reader cannot split: said, never fatal
            self.format, self.error = None, ("parse_error", f"access_log_format of {key.path}: {exc}")
        self.classify = Classifier(RouteTable() if key.route_label else None)
        self.tail = Tail(key.path)
        self.totals = Totals()
        self.lock = threading.Lock()
        self.ready = threading.Event()  # set after the first pass (start-up seed read, or failed)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"access-log {key.target}", daemon=True)

    def start(self) -> None:
        if self.format is None:
            self.ready.set()
            return
        self.thread.start()

    def stop(self, wait: float = 0.0) -> None:
        """Tell the thread to end after its current pass (it closes the file); wait at most ``wait``."""
        self.stopping.set()
        if wait and self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(wait)

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                full = self.read_pass()
                self.ready.set()
                if not full:
                    self.stopping.wait(self.interval)
        finally:
            self.ready.set()
            self.tail.close()

    def read_pass(self, now: float | None = None) -> bool:
        """One bounded read; True when the budget was used up (more is waiting)."""
        try:
            if not self.tail.started:
                seed = self.tail.start()
                self._fold(seed, now, count_totals=False)
                self.error = None
                return False
            lines, too_long, used = self.tail.read()
        except NotRegularFile as exc:
            return self._failed("not_regular_file", exc)
        except PermissionError as exc:
            return self._failed("permission_denied", exc)
        except FileNotFoundError as exc:
            return self._failed("not_found", exc)
        except OSError as exc:
            return self._failed("internal_error", exc)
        self.error = None
        self._fold(lines, now, too_long=too_long)
        return used >= self.tail.budget

    def _failed(self, reason: str, exc: OSError) -> bool:
        self.error = (reason, f"{self.key.path}: {exc.strerror or exc}")
        return False

    def _fold(self, lines: list[bytes], now: float | None, count_totals: bool = True, too_long: int = 0) -> None:
        for start in range(0, max(len(lines), 1), SLICE):
            moment = time.time() if now is None else now
            with self.lock:
                batch = new_batch(self.totals)
            batch = tally(lines[start:start + SLICE], self.format, self.classify, moment, batch)
            with self.lock:
                self.totals.fold(batch, moment, count_totals)
        if too_long:
            with self.lock:
                self.totals.unparsed["too_long"] += too_long
                self.totals.lines += too_long

    def snapshot(self, now: float | None = None) -> Totals:
        with self.lock:
            self.totals.window.expire(time.time() if now is None else now)
            return self.totals.copy()


class Readers:
    """The readers of the current config; a resource of the probe context (closed with it)."""

    def __init__(self) -> None:
        self.readers: dict[str, Reader] = {}  # target name -> its reader
        self.lock = threading.Lock()

    def ensure(self, target) -> Reader:
        key = ReaderKey(target.name, target.access_log, target.access_log_format, target.route_label)
        with self.lock:
            reader = self.readers.get(target.name)
            if reader is not None and reader.key == key:
                return reader
            if reader is not None:
                reader.stop()
            reader = self.readers[target.name] = Reader(key)
            reader.start()
            return reader

    def sync(self, config) -> None:
        """Readers for exactly the targets of ``config`` that have an access log."""
        wanted = {t.name: t for t in config.targets if t.access_log is not None}
        with self.lock:
            gone = [name for name in self.readers if name not in wanted]
            for name in gone:
                self.readers.pop(name).stop()
        for target in wanted.values():
            self.ensure(target)

    def close(self) -> None:
        with self.lock:
            readers, self.readers = list(self.readers.values()), {}
        for reader in readers:
            reader.stopping.set()
        for reader in readers:
            reader.stop(STOP_WAIT)


def readers_of(ctx) -> Readers:
    """The context's readers, made on first use (the app makes them at start-up)."""
    found = ctx.resources.get("access_log")
    if found is None:
        found = ctx.resources["access_log"] = Readers()
    return found
