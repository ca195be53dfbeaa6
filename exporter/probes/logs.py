"""Is the app writing its log, how many errors and warnings are in its recent tail, and does it show
webpack's cache failing (the report's "webpack cache operation failed")?

Every test on a line is linear in its length (literal searches, regexes without nested
repetition), and only the last TAIL_BYTES of the file are read.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from exporter.config import Target
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext
from exporter.project import NotRegularFile, Project
from exporter.redact import redact
from exporter.safeopen import open_configured, read_fd

TAIL_BYTES = 64 * 1024
QUOTE_CHARS = 200
ANSI = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")
LEVELS = {
    # webpack's infrastructure log marks its lines <e> (error) and <w> (warning)
    "error": re.compile(rb"\b(error|err|fatal|critical)\b|\xe2\xa8\xaf|^\s*(?:\x1b\[[0-9;]*m)*<e>", re.I),
    "warn": re.compile(rb"\b(warn|warning)\b|\xe2\x9a\xa0|^\s*(?:\x1b\[[0-9;]*m)*<w>", re.I),
}


@dataclass(frozen=True)
class LogTail:
    levels: dict[str, int]
    webpack_cache_failures: int = 0
    last_webpack_cache_failure: str = ""  # the line as the log has it, redacted and truncated


def webpack_cache_failure(line: bytes) -> bool:
    """Next.js/webpack lines that say the cache could not be written or read back."""
    strategy = line.find(b"PackFileCacheStrategy")
    if strategy >= 0 and line.find(b"failed", strategy) >= 0:
        return True
    denied = line.find(b"EACCES")
    return denied >= 0 and line.find(b".next/cache/webpack", denied) >= 0


def quote(line: bytes) -> str:
    text = redact(ANSI.sub(b"", line).decode("utf-8", "replace").strip())
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


def read_tail(target: Target, project: Project | None) -> tuple[os.stat_result, LogTail]:
    """Open the log in one step (inside the project for a relative path), refuse anything but a
    regular file, and count its tail (an unchanged file is not read again)."""
    fd, st = open_log(target, project)
    try:
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        tail = _TAILS.get(key)
        if tail is None:
            tail = count_levels(read_fd(fd, TAIL_BYTES, max(st.st_size - TAIL_BYTES, 0)), cut=st.st_size > TAIL_BYTES)
            if len(_TAILS) >= 64:
                _TAILS.clear()
            _TAILS[key] = tail
        return st, tail
    finally:
        os.close(fd)


_TAILS: dict[tuple, LogTail] = {}


def count_levels(tail: bytes, cut: bool = False) -> LogTail:
    """Error, warning and webpack-cache failure lines in ``tail`` (its first line dropped if ``cut``)."""
    lines = tail.splitlines()
    if cut and lines:
        lines = lines[1:]  # the first line of a tail is usually cut
    levels = {level: sum(1 for line in lines if rx.search(line)) for level, rx in LEVELS.items()}
    failures = [line for line in lines if webpack_cache_failure(line)]
    return LogTail(levels, len(failures), quote(failures[-1]) if failures else "")


def open_log(target: Target, project: Project | None) -> tuple[int, os.stat_result]:
    assert target.log_file is not None
    if target.log_file.is_absolute() or project is None:
        return open_configured(target.log_file)
    return project.handle.open_regular(target.log_file)


async def probe_logs(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    try:
        project = ctx.project(target.project_dir) if target.project_dir is not None else None
        st, tail = await ctx.blocking(deadline, read_tail, target, project)
    except TimeoutError:
        raise  # not looked at in time is not missing: the probe fails with reason timeout
    except NotRegularFile as exc:
        out.add("inventory_log_file_present", 1)  # something is there, but it is never read: not "missing"
        return Outcome.fail("not_regular_file", f"{target.log_file}: {exc.strerror}")
    except OSError as exc:
        out.add("inventory_log_file_present", 0)
        reason = "permission_denied" if isinstance(exc, PermissionError) else "not_found"
        return Outcome.fail(reason, f"{target.log_file}: {exc.strerror or exc}")
    out.add("inventory_log_file_present", 1)
    out.add("inventory_log_age_seconds", max(time.time() - st.st_mtime, 0.0))
    out.add("inventory_log_size_bytes", st.st_size)
    for level, count in tail.levels.items():
        out.add("inventory_log_lines", count, level=level)
    out.add("inventory_log_webpack_cache_failures", tail.webpack_cache_failures)
    if tail.last_webpack_cache_failure:
        out.add("inventory_log_last_webpack_cache_failure_info", 1, line=tail.last_webpack_cache_failure)
    return Outcome.success()
