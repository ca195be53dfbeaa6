"""Is the app writing its log, and how many errors and warnings are in its recent tail?"""

from __future__ import annotations

import functools
import os
import re
import time
from pathlib import Path

from exporter.config import Target
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext
from exporter.project import Project

TAIL_BYTES = 64 * 1024
LEVELS = {
    "error": re.compile(rb"\b(error|err|fatal|critical)\b|\xe2\xa8\xaf", re.I),
    "warn": re.compile(rb"\b(warn|warning)\b|\xe2\x9a\xa0", re.I),
}


def read_tail(path: Path) -> tuple[os.stat_result, dict[str, int]]:
    st = os.stat(path)
    return st, count_levels(str(path), st.st_ino, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def count_levels(path: str, inode: int, size: int, mtime_ns: int) -> dict[str, int]:
    """Error and warning lines in the last TAIL_BYTES; an unchanged file is not read again."""
    with open(path, "rb") as handle:
        st = os.fstat(handle.fileno())
        handle.seek(max(st.st_size - TAIL_BYTES, 0))
        tail = handle.read(TAIL_BYTES)
    lines = tail.splitlines()
    if st.st_size > TAIL_BYTES and lines:
        lines = lines[1:]  # the first line of a tail is usually cut
    return {level: sum(1 for line in lines if rx.search(line)) for level, rx in LEVELS.items()}


def log_path(target: Target, project: Project | None) -> Path:
    assert target.log_file is not None
    if target.log_file.is_absolute() or project is None:
        return target.log_file
    return project.inside(target.log_file)


async def probe_logs(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    try:
        project = ctx.project(target.project_dir) if target.project_dir is not None else None
        st, counts = await ctx.blocking(deadline, lambda: read_tail(log_path(target, project)))
    except OSError as exc:
        out.add("inventory_log_file_present", 0)
        reason = "permission_denied" if isinstance(exc, PermissionError) else "not_found"
        return Outcome.fail(reason, f"{target.log_file}: {exc.strerror or exc}")
    out.add("inventory_log_file_present", 1)
    out.add("inventory_log_age_seconds", max(time.time() - st.st_mtime, 0.0))
    out.add("inventory_log_size_bytes", st.st_size)
    for level, count in counts.items():
        out.add("inventory_log_lines", count, level=level)
    return Outcome.success()
