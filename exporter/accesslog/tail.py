"""Following an access log: from its end at start-up, across rotation, copytruncate and truncation.

As exporter.probes.proxy_log, the file is opened with ``open_configured`` (a FIFO or device is
refused before any read) and taken as rewritten when it is shorter than our offset or the bytes
just before our offset are no longer the ones we read there. Unlike the error log's tail, the
descriptor is kept open between reads, so a rotation by rename loses nothing: when the path names
another file, the old one is read to its end first, then kept a while (``DRAIN_SECONDS``) and read
again on each pass, because with ``logrotate``'s ``create`` the new file exists before nginx has
reopened its logs and nginx may still write a few lines to the old one. (A file renamed away before
any pass opened it cannot be found: rotations are hours apart, passes a second.)

Lines longer than LINE_LIMIT are skipped, counted as too long, and never held in memory whole.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from exporter.safeopen import open_configured

LINE_LIMIT = 64 << 10
PASS_BUDGET = 8 << 20  # bytes read per pass at most; the rest waits for the next pass
PIECE = 1 << 20
SEED_BYTES = 1 << 20
MARK_BYTES = 64
DRAIN_SECONDS = 10.0


class _Open:
    """One open log file and where we are in it."""

    def __init__(self, fd: int, st: os.stat_result, offset: int):
        self.fd, self.dev, self.ino, self.offset = fd, st.st_dev, st.st_ino, offset
        self.pending = b""
        self.skipping = False  # inside a line longer than LINE_LIMIT: drop up to the next newline
        self.mark = os.pread(fd, min(offset, MARK_BYTES), offset - min(offset, MARK_BYTES))

    def same_file(self, st: os.stat_result) -> bool:
        return (st.st_dev, st.st_ino) == (self.dev, self.ino)

    def rewritten(self) -> bool:
        """Truncated (shorter than our offset) or truncated and written again past it (copytruncate)."""
        if os.fstat(self.fd).st_size < self.offset:
            return True
        return bool(self.mark) and os.pread(self.fd, len(self.mark), self.offset - len(self.mark)) != self.mark

    def restart(self) -> None:
        self.offset, self.pending, self.skipping, self.mark = 0, b"", False, b""

    def read(self, budget: int, lines: list[bytes]) -> tuple[int, int, bool]:
        """Complete lines appended to ``lines``; (bytes read, lines too long, at end of file)."""
        used = too_long = 0
        while used < budget:
            chunk = os.pread(self.fd, min(PIECE, budget - used), self.offset)
            if not chunk:
                return used, too_long, True
            used += len(chunk)
            self.offset += len(chunk)
            self.mark = chunk[-MARK_BYTES:] if len(chunk) >= MARK_BYTES else (self.mark + chunk)[-MARK_BYTES:]
            too_long += self._split(chunk, lines)
        return used, too_long, False

    def _split(self, chunk: bytes, lines: list[bytes]) -> int:
        too_long = 0
        start = 0
        if self.skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                return 0
            self.skipping, start = False, newline + 1
        end = chunk.rfind(b"\n")
        if end < start:  # no complete line in this chunk
            self.pending += chunk[start:]
            if len(self.pending) > LINE_LIMIT:
                self.pending, self.skipping = b"", True
                too_long += 1
            return too_long
        data = self.pending + chunk[start:end] if self.pending else chunk[start:end]
        self.pending = chunk[end + 1:]
        if len(self.pending) > LINE_LIMIT:
            self.pending, self.skipping = b"", True
            too_long += 1
        found = data.split(b"\n")
        if len(data) > LINE_LIMIT and max(map(len, found)) > LINE_LIMIT:
            kept = [line for line in found if len(line) <= LINE_LIMIT]
            too_long += len(found) - len(kept)
            found = kept
        lines.extend(found)
        return too_long

    def rest(self, lines: list[bytes]) -> None:
        """The last line of a file that is done with, if it had no newline."""
        if self.pending and not self.skipping:
            lines.append(self.pending)
        self.pending = b""

    def close(self) -> None:
        os.close(self.fd)


class Tail:
    """The lines appended to ``path`` since the last :meth:`read`."""

    def __init__(self, path: Path, budget: int = PASS_BUDGET, clock=time.monotonic):
        self.path, self.budget, self.clock = path, budget, clock
        self.current: _Open | None = None
        self.old: list[tuple[_Open, float]] = []  # rotated away, read until their deadline
        self.started = False

    def start(self) -> list[bytes]:
        """Open at the end; the complete lines among the last SEED_BYTES (for the recent window only).
        A missing file is no error here: it is read from its start once it appears."""
        try:
            fd, st = open_configured(self.path)
        except FileNotFoundError:
            self.started = True  # read from its start when it appears
            raise
        self.started = True
        self.current = _Open(fd, st, st.st_size)
        start = max(st.st_size - SEED_BYTES, 0)
        tail = os.pread(fd, st.st_size - start, start)
        if start:
            tail = tail[tail.find(b"\n") + 1:]
        tail = tail[: tail.rfind(b"\n") + 1]
        return [line for line in tail.split(b"\n")[:-1] if len(line) <= LINE_LIMIT]

    def read(self) -> tuple[list[bytes], int, int]:
        """(complete lines, lines too long, bytes read), at most ``budget`` bytes this pass."""
        lines: list[bytes] = []
        left, too_long = self.budget, 0
        for entry in list(self.old):
            held, until = entry
            used, skipped, at_end = held.read(left, lines)
            left, too_long = left - used, too_long + skipped
            if at_end and self.clock() >= until:
                held.rest(lines)
                held.close()
                self.old.remove(entry)
        if self.current is not None and self.current.rewritten():
            self.current.restart()
        if self.current is not None:
            used, skipped, at_end = self.current.read(left, lines)
            left, too_long = left - used, too_long + skipped
            if not at_end or not self._rotated():
                return lines, too_long, self.budget - left
            self.old.append((self.current, self.clock() + DRAIN_SECONDS))
            self.current = None
        fd, st = open_configured(self.path)  # FileNotFoundError while the path is missing
        self.current = _Open(fd, st, 0)
        used, skipped, _ = self.current.read(left, lines)
        return lines, too_long + skipped, self.budget - left + used

    def _rotated(self) -> bool:
        """The path now names another file (renamed away and recreated)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False  # renamed, not yet recreated: the old file is still nginx's
        return not self.current.same_file(st)

    def close(self) -> None:
        for held, _ in self.old:
            held.close()
        self.old.clear()
        if self.current is not None:
            self.current.close()
            self.current = None
