"""Does the SQLite database exist, and does a read-only query succeed, and how fast?

The database is opened with ``mode=ro`` and ``query_only``: the exporter never creates,
locks for writing, or journals anything in the monitored project.

A WAL-mode database is the one exception to plain ``mode=ro``: SQLite cannot read it without
a ``-wal`` and ``-shm`` file, and a read-only connection creates them when they are missing (and
cannot remove them on close), which would leave files in the project. Their absence means that
no connection has the database open (every WAL connection keeps the ``-wal`` file until the last
one closes), so there is no lock to miss and nothing in a WAL to read: the file alone is the
whole database, and it is read with ``immutable=1``. When the ``-wal`` file exists (the app is
running), it is read with ``mode=ro`` through the existing files, so locks and uncheckpointed
commits are seen as any reader sees them.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from exporter.config import Target
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext
from exporter.project import DatabaseLocation, Project, locate_database
from exporter.redact import redact


@dataclass
class Inspection:
    """What one visit to the database found, stage by stage (None: the stage was not reached)."""

    location: DatabaseLocation
    size: int | None = None
    stat_error: OSError | None = None
    tables: int | None = None
    query_error: sqlite3.Error | None = None
    query_seconds: float = 0.0


def inspect(target: Target, project: Project | None, budget: float) -> Inspection:
    """Locate, stat and query the database in one trip to a worker thread."""
    found = Inspection(locate_database(project, target.database))
    if found.location.path is None:
        return found
    try:
        found.size = os.stat(found.location.path).st_size
    except OSError as exc:
        found.stat_error = exc
        return found
    started = time.perf_counter()
    try:
        found.tables = query_readonly(found.location.path, target.db_query, budget)
    except sqlite3.Error as exc:
        found.query_error = exc
    found.query_seconds = time.perf_counter() - started
    return found


async def probe_database(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    try:
        project = ctx.project(target.project_dir) if target.project_dir is not None else None
        found = await ctx.blocking(deadline, inspect, target, project, query_budget(deadline))
    except (TimeoutError, asyncio.TimeoutError):
        out.add("inventory_db_up", 0)
        return Outcome.fail("timeout", "the database did not answer within the deadline")
    location = found.location
    if location.path is None:
        out.add("inventory_db_file_exists", 0)
        out.add("inventory_db_up", 0)
        return Outcome.fail(location.reason, location.problem)
    out.add("inventory_db_info", 1, path=redact(str(location.path)), source=location.source)
    if found.stat_error is not None:
        out.add("inventory_db_file_exists", 0)
        out.add("inventory_db_up", 0)
        reason = "permission_denied" if isinstance(found.stat_error, PermissionError) else "not_found"
        return Outcome.fail(reason, f"{location.path}: {found.stat_error.strerror}")
    out.add("inventory_db_file_exists", 1)
    out.add("inventory_db_file_size_bytes", found.size)
    if found.query_error is not None:
        out.add("inventory_db_up", 0)
        return Outcome.fail(sqlite_reason(found.query_error), f"{location.path}: {found.query_error}")
    out.add("inventory_db_up", 1)
    out.add("inventory_db_query_seconds", found.query_seconds)
    out.add("inventory_db_tables", found.tables)
    return Outcome.success()


def query_budget(deadline: Deadline) -> float:
    """The time SQLite gets (busy waits included): what is left, less a margin to report the failure in."""
    remaining = deadline.remaining()
    return max(remaining - min(0.25, remaining / 5), 0.001)


def query_readonly(path: Path, query: str, timeout: float) -> int:
    """Run ``query`` on a read-only connection; return the number of tables.

    ``timeout`` bounds both the wait for a lock (then "database is locked") and the query
    itself (then "interrupted"), so the worker thread is free again when it has passed.
    """
    ends = time.monotonic() + max(timeout, 0.001)
    if is_wal(path) and not os.path.exists(f"{path}-wal"):
        try:
            tables = _query(f"file:{quote(str(path))}?immutable=1", query, ends)
        except sqlite3.Error:
            if not os.path.exists(f"{path}-wal"):
                raise
        else:
            if not os.path.exists(f"{path}-wal"):
                return tables
        # The app opened the database while it was being read: read it again as a reader among others.
    return _query(f"file:{quote(str(path))}?mode=ro", query, ends)


def _query(uri: str, query: str, ends: float) -> int:
    conn = sqlite3.connect(uri, uri=True, timeout=max(ends - time.monotonic(), 0.001), isolation_level=None)
    try:
        conn.set_progress_handler(lambda: time.monotonic() > ends, 1000)
        conn.execute("PRAGMA query_only = ON")
        conn.execute(query).fetchall()
        return conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    finally:
        conn.close()


def is_wal(path: Path) -> bool:
    """True if the database header says WAL mode (file format read and write versions 2)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(20)
    except OSError:
        return False
    return header[:16] == b"SQLite format 3\x00" and header[18:20] == b"\x02\x02"


def sqlite_reason(exc: sqlite3.Error) -> str:
    message = str(exc).lower()
    if "locked" in message or "busy" in message:
        return "locked"
    if "interrupted" in message:
        return "timeout"
    if "not a database" in message or "malformed" in message or "corrupt" in message:
        return "corrupt"
    if "unable to open" in message:
        return "permission_denied"
    return "query_error"
