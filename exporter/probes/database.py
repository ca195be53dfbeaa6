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
from exporter.project import DatabaseLocation, NotRegularFile, OutsideProject, Project, locate_database
from exporter.redact import redact
from exporter.safeopen import open_configured, read_fd


SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass
class Inspection:
    """What one visit to the database found, stage by stage (None: the stage was not reached)."""

    location: DatabaseLocation
    size: int | None = None
    stat_error: OSError | None = None  # not there, not readable, outside the project, not a regular file
    not_sqlite: bool = False  # a regular file without SQLite's header: never handed to SQLite
    tables: int | None = None
    query_error: sqlite3.Error | None = None
    query_seconds: float = 0.0


def open_database(target: Target, project: Project | None, path: Path) -> tuple[int, os.stat_result]:
    """Open the database file in one step, never blocking: below the project (no link or .. out of it)
    unless the target allows a path outside, then as the config names it. Regular files only."""
    if project is not None and not target.allow_outside_project:
        return project.handle.open_regular(os.path.abspath(path))
    return open_configured(path)


def inspect(target: Target, project: Project | None, budget: float) -> Inspection:
    """Locate, open, check and query the database in one trip to a worker thread."""
    found = Inspection(locate_database(project, target.database))
    if found.location.path is None:
        return found
    try:
        fd, st = open_database(target, project, found.location.path)
    except OSError as exc:
        found.stat_error = exc
        return found
    try:
        header = read_fd(fd, 20)
        if st.st_size and header[:16] != SQLITE_HEADER:
            found.not_sqlite = True  # /etc/shadow, a log, random bytes: its size is none of our business
            return found
        found.size = st.st_size
        started = time.perf_counter()
        try:
            found.tables = query_opened(fd, st, header, target.db_query, budget)
        except sqlite3.Error as exc:
            found.query_error = exc
        found.query_seconds = time.perf_counter() - started
    finally:
        os.close(fd)
    return found


def query_opened(fd: int, st: os.stat_result, header: bytes, query: str, budget: float) -> int:
    """Query the file we opened and checked, by the path the kernel has for it.

    SQLite opens by name, so the file it opens is checked against ours before and after: a file
    swapped in meanwhile (a link, another database) makes the answer void.
    """
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError as exc:
        raise sqlite3.OperationalError(f"unable to open database file: {exc.strerror}") from None
    if real.endswith(" (deleted)") or not _same_file(real, st):
        raise sqlite3.OperationalError("unable to open database file: it was replaced while it was opened")
    tables = query_readonly(Path(real), query, budget, wal=header[18:20] == b"\x02\x02")
    if not _same_file(real, st):
        raise sqlite3.OperationalError("the database file was replaced while it was read")
    return tables


def _same_file(path: str, st: os.stat_result) -> bool:
    try:
        now = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)


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
    if isinstance(found.stat_error, OutsideProject):
        out.add("inventory_db_up", 0)  # whether anything is there is not reported
        return Outcome.fail("permission_denied", f"{location.path}: outside the project (allow_outside_project is false)")
    if isinstance(found.stat_error, NotRegularFile) or found.not_sqlite:
        out.add("inventory_db_file_exists", 1)  # something is there: not "missing"; its size is not reported
        out.add("inventory_db_up", 0)
        if found.not_sqlite:
            return Outcome.fail("corrupt", f"{location.path}: file is not a database (no SQLite header)")
        return Outcome.fail("not_regular_file", f"{location.path}: {found.stat_error.strerror}")
    if found.stat_error is not None:
        out.add("inventory_db_file_exists", 0)
        out.add("inventory_db_up", 0)
        reason = "permission_denied" if isinstance(found.stat_error, PermissionError) else "not_found"
        return Outcome.fail(reason, f"{location.path}: {found.stat_error.strerror}")
    out.add("inventory_db_file_exists", 1)
    out.add("inventory_db_file_size_bytes", found.size)
    if found.query_error is not None:
        out.add("inventory_db_up", 0)
        detail = str(found.query_error)
        if detail in ("not authorized", "authorization denied"):
            detail += ": the check query may only read"
        return Outcome.fail(sqlite_reason(found.query_error), f"{location.path}: {detail}")
    out.add("inventory_db_up", 1)
    out.add("inventory_db_query_seconds", found.query_seconds)
    out.add("inventory_db_tables", found.tables)
    return Outcome.success()


QUERY_BUDGET_MAX = 2.0  # seconds: a database still locked after this is reported "locked" (20x the report's 100 ms)


def query_budget(deadline: Deadline) -> float:
    """The time SQLite gets (busy waits included): at most half of what is left and QUERY_BUDGET_MAX,
    so the answer ("locked", "interrupted") comes back well before the deadline even on a busy host."""
    return max(min(deadline.remaining() / 2, QUERY_BUDGET_MAX), 0.001)


def query_readonly(path: Path, query: str, timeout: float, wal: bool | None = None) -> int:
    """Run ``query`` on a read-only connection; return the number of tables.

    ``timeout`` bounds both the wait for a lock (then "database is locked") and the query
    itself (then "interrupted"), so the worker thread is free again when it has passed.
    ``wal``: the header says WAL mode (read from the file when None).
    """
    ends = time.monotonic() + max(timeout, 0.001)
    if (is_wal(path) if wal is None else wal) and not os.path.exists(f"{path}-wal"):
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


# What the check query may do: read. Everything else (ATTACH, which VACUUM INTO uses too; CREATE,
# INSERT, UPDATE, DELETE, DROP, ALTER, TRANSACTION, SAVEPOINT, writing pragmas) is denied when
# the statement is prepared, so nothing is written and no file can appear beside the database.
READ_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
READ_PRAGMAS = frozenset({
    "application_id", "compile_options", "database_list", "encoding", "foreign_key_check", "foreign_key_list",
    "freelist_count", "index_info", "index_list", "index_xinfo", "integrity_check", "journal_mode", "page_count",
    "page_size", "quick_check", "schema_version", "table_info", "table_list", "table_xinfo", "user_version",
})
DENIED_FUNCTIONS = frozenset({"load_extension"})


def read_only(action: int, arg1: str | None, arg2: str | None, database: str | None, source: str | None) -> int:
    """The SQLite authorizer of the check query (``Connection.set_authorizer``)."""
    if action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_DENY if (arg2 or "").lower() in DENIED_FUNCTIONS else sqlite3.SQLITE_OK
    if action in READ_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in READ_PRAGMAS:
        # a pragma with a value sets something, except the table-valued ones whose argument names a table
        setting = arg2 is not None and (arg1 or "").lower() in ("journal_mode", "user_version", "application_id",
                                                                "schema_version", "page_size")
        return sqlite3.SQLITE_DENY if setting else sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _query(uri: str, query: str, ends: float) -> int:
    conn = sqlite3.connect(uri, uri=True, timeout=max(ends - time.monotonic(), 0.001), isolation_level=None)
    try:
        conn.set_progress_handler(lambda: time.monotonic() > ends, 1000)
        conn.execute("PRAGMA query_only = ON")
        conn.set_authorizer(read_only)
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
    return header[:16] == SQLITE_HEADER and header[18:20] == b"\x02\x02"


def sqlite_reason(exc: sqlite3.Error) -> str:
    message = str(exc).lower()
    if "locked" in message or "busy" in message:
        return "locked"
    if "interrupted" in message:
        return "timeout"
    if "not a database" in message or "malformed" in message or "corrupt" in message:
        return "corrupt"
    if "not authorized" in message or "authorization denied" in message:
        return "query_error"
    if "unable to open" in message:
        return "permission_denied"
    return "query_error"
