"""Does the SQLite database exist, and does a read-only query succeed, and how fast?

The database is opened with ``mode=ro`` and ``query_only``: the exporter never creates,
locks for writing, or journals anything in the monitored project.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

from exporter.config import Target
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext
from exporter.project import locate_database


async def probe_database(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    location = await ctx.blocking(deadline, locate_database, target.project_dir, target.database)
    if location.path is None:
        out.add("inventory_db_file_exists", 0)
        out.add("inventory_db_up", 0)
        reason = "unsupported" if "provider" in location.problem else "not_found"
        return Outcome.fail(reason, location.problem)
    out.add("inventory_db_info", 1, path=str(location.path), source=location.source)
    try:
        size = (await ctx.blocking(deadline, os.stat, location.path)).st_size
    except OSError as exc:
        out.add("inventory_db_file_exists", 0)
        out.add("inventory_db_up", 0)
        reason = "permission_denied" if isinstance(exc, PermissionError) else "not_found"
        return Outcome.fail(reason, f"{location.path}: {exc.strerror}")
    out.add("inventory_db_file_exists", 1)
    out.add("inventory_db_file_size_bytes", size)
    started = time.perf_counter()
    try:
        tables = await ctx.blocking(deadline, query_readonly, location.path, target.db_query, deadline.remaining())
    except sqlite3.Error as exc:
        out.add("inventory_db_up", 0)
        return Outcome.fail(sqlite_reason(exc), f"{location.path}: {exc}")
    out.add("inventory_db_up", 1)
    out.add("inventory_db_query_seconds", time.perf_counter() - started)
    out.add("inventory_db_tables", tables)
    return Outcome.success()


def query_readonly(path: Path, query: str, timeout: float) -> int:
    """Run ``query`` on a read-only connection; return the number of tables."""
    uri = f"file:{quote(str(path))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=max(timeout, 0.001), isolation_level=None)
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute(query).fetchall()
        return conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    finally:
        conn.close()


def sqlite_reason(exc: sqlite3.Error) -> str:
    message = str(exc).lower()
    if "locked" in message or "busy" in message:
        return "locked"
    if "not a database" in message or "malformed" in message or "corrupt" in message:
        return "corrupt"
    if "unable to open" in message:
        return "permission_denied"
    return "query_error"
