"""The app log probe on real log files: present, missing, age, size, error and warning lines."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from exporter.probes.logs import TAIL_BYTES, probe_logs
from tests.conftest import deadline, target
from tests.support.project_state import tree_state

NEXT_DEV_LOG = """\
> smart-inventory@0.1.0 dev
> next dev -p 3001

   \u25b2 Next.js 15.0.0
   - Local:        http://localhost:3001
 \u2713 Ready in 2.1s
 \u26a0 Port 3000 is in use, trying 3001 instead.
 \u2713 Compiled /api/health in 512ms
 GET /api/health 200 in 31ms
 \u2a2f Error: EACCES: permission denied, open '.next/cache/webpack/client-development/0.pack'
prisma:error Invalid `prisma.product.findMany()` invocation: Error code 14: Unable to open the database file
[webpack.cache.PackFileCacheStrategy] Caching failed for pack: Error: EACCES
Warning: Prisma version mismatch
 GET / 500 in 120ms
"""


async def test_a_log_file_reports_presence_size_age_and_level_counts(project, ctx, out):
    log = project / "dev.log"
    log.write_text(NEXT_DEV_LOG, encoding="utf-8")
    outcome = await probe_logs(target(project_dir=project, log_file=Path("dev.log")), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (True, None)
    assert out.value("inventory_log_file_present") == 1
    assert out.value("inventory_log_size_bytes") == len(NEXT_DEV_LOG.encode()) == log.stat().st_size
    assert 0 <= out.value("inventory_log_age_seconds") < 60
    assert out.value("inventory_log_lines", level="error") == 3  # the \u2a2f line, prisma:error, Error: EACCES
    assert out.value("inventory_log_lines", level="warn") == 2  # \u26a0 and Warning:


@pytest.mark.parametrize(
    "line, error, warn",
    [
        (" GET /api/health 200 in 31ms", 0, 0),
        ("Error: connect ECONNREFUSED 127.0.0.1:5432", 1, 0),
        ("ERROR something broke", 1, 0),
        ("npm ERR! code ELIFECYCLE", 1, 0),
        ("FATAL: out of memory", 1, 0),
        ("critical: disk full", 1, 0),
        (" \u2a2f unhandledRejection: boom", 1, 0),
        ("[WARN] deprecated option", 0, 1),
        ("warning: something", 0, 1),
        (" \u26a0 Port 3000 is in use", 0, 1),
        ("warning: retrying after error", 1, 1),
        ("0 errors, 0 warnings", 0, 0),
        ("terror and forewarned", 0, 0),
        ("ErrorBoundary rendered", 0, 0),
    ],
)
async def test_a_line_counts_by_its_level_words(tmp_path, ctx, out, line, error, warn):
    log = tmp_path / "app.log"
    log.write_text(f"{line}\n", encoding="utf-8")
    assert (await probe_logs(target(log_file=log), ctx, out, deadline())).ok
    assert out.value("inventory_log_lines", level="error") == error
    assert out.value("inventory_log_lines", level="warn") == warn


async def test_crlf_lines_and_invalid_utf8_are_counted_line_by_line(tmp_path, ctx, out):
    log = tmp_path / "app.log"
    log.write_bytes(b"error one\r\n\xff\xfe garbage\r\nwarn two\r\nerror three")
    assert (await probe_logs(target(log_file=log), ctx, out, deadline())).ok
    assert out.value("inventory_log_lines", level="error") == 2
    assert out.value("inventory_log_lines", level="warn") == 1


async def test_an_empty_log_is_present_with_no_lines(tmp_path, ctx, out):
    log = tmp_path / "app.log"
    log.write_bytes(b"")
    assert (await probe_logs(target(log_file=log), ctx, out, deadline())).ok
    assert out.value("inventory_log_size_bytes") == 0
    assert out.value("inventory_log_lines", level="error") == 0
    assert out.value("inventory_log_lines", level="warn") == 0


@pytest.mark.parametrize("age", [0, 120, 86400])
async def test_the_log_age_is_the_time_since_its_last_write(tmp_path, ctx, out, age):
    log = tmp_path / "app.log"
    log.write_text("ready\n")
    written = time.time() - age
    os.utime(log, (written, written))
    assert (await probe_logs(target(log_file=log), ctx, out, deadline())).ok
    assert age <= out.value("inventory_log_age_seconds") < age + 5


async def test_a_log_written_in_the_future_has_age_zero(tmp_path, ctx, out):
    log = tmp_path / "app.log"
    log.write_text("clock skew\n")
    future = time.time() + 3600
    os.utime(log, (future, future))
    assert (await probe_logs(target(log_file=log), ctx, out, deadline())).ok
    assert out.value("inventory_log_age_seconds") == 0


async def test_only_the_recent_tail_of_a_large_log_is_counted(tmp_path, ctx, out):
    log = tmp_path / "app.log"
    old_errors = b"error: old and forgotten\n" * 10_000  # about 250 KiB, all before the tail
    recent = b"info: fine\n" * 7_000 + b"warn: recent\n" * 3  # the last 80 KiB, more than the tail holds
    log.write_bytes(old_errors + recent)
    assert len(recent) > TAIL_BYTES
    assert (await probe_logs(target(log_file=log), ctx, out, deadline())).ok
    assert out.value("inventory_log_size_bytes") == len(old_errors) + len(recent)
    assert out.value("inventory_log_lines", level="error") == 0
    assert out.value("inventory_log_lines", level="warn") == 3


async def test_the_line_cut_by_the_start_of_the_tail_is_not_counted(tmp_path, ctx, out):
    log = tmp_path / "app.log"
    tail_lines = b"warn: kept\n" * 10
    long_line = b"q" * TAIL_BYTES + b" error: cut\n"  # starts before the tail, ends inside it
    log.write_bytes(long_line + tail_lines)
    assert (await probe_logs(target(log_file=log), ctx, out, deadline())).ok
    assert out.value("inventory_log_lines", level="error") == 0
    assert out.value("inventory_log_lines", level="warn") == 10


async def test_a_relative_log_file_is_read_inside_the_project(project, ctx, out):
    (project / "logs").mkdir()
    (project / "logs/next.log").write_text("error: one\n")
    outcome = await probe_logs(target(project_dir=project, log_file=Path("logs/next.log")), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_log_lines", level="error") == 1


@pytest.mark.parametrize("log_file", ["../outside.log", "logs/linked.log"])
async def test_a_relative_log_file_that_leaves_the_project_is_refused(project, tmp_path, ctx, out, log_file):
    (tmp_path / "outside.log").write_text("error: not ours\n")
    (project / "logs").mkdir()
    (project / "logs/linked.log").symlink_to(tmp_path / "outside.log")
    outcome = await probe_logs(target(project_dir=project, log_file=Path(log_file)), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "permission_denied")
    assert out.value("inventory_log_file_present") == 0
    assert out.value("inventory_log_lines", level="error") is None


async def test_an_absolute_log_file_may_be_anywhere(project, tmp_path, ctx, out):
    log = tmp_path / "var-log" / "app.log"
    log.parent.mkdir()
    log.write_text("warn: elsewhere\n")
    outcome = await probe_logs(target(project_dir=project, log_file=log), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_log_lines", level="warn") == 1


@pytest.mark.parametrize("with_project", [True, False])
async def test_a_missing_log_file_is_not_found(project, tmp_path, ctx, out, with_project):
    log_file = Path("missing.log") if with_project else tmp_path / "missing.log"
    t = target(project_dir=project if with_project else None, log_file=log_file)
    outcome = await probe_logs(t, ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "not_found")
    assert "No such file" in outcome.detail
    assert out.value("inventory_log_file_present") == 0
    assert out.value("inventory_log_size_bytes") is None
    assert out.value("inventory_log_age_seconds") is None
    assert not (project / "missing.log").exists() and not (tmp_path / "missing.log").exists()


async def test_reading_the_log_changes_nothing_in_the_project(project, ctx, out):
    (project / "dev.log").write_text(NEXT_DEV_LOG, encoding="utf-8")
    before = tree_state(project)
    assert (await probe_logs(target(project_dir=project, log_file=Path("dev.log")), ctx, out, deadline())).ok
    assert tree_state(project) == before


WEBPACK_LOG = (
    " \u2713 Compiled /api/health in 512ms\n"
    "<w> [webpack.cache.PackFileCacheStrategy] Caching failed for pack: Error: EACCES: permission denied, "
    "open '/srv/shop/.next/cache/webpack/client-development/0.pack.gz_'\n"
    "\x1b[33m<w>\x1b[39m [webpack.cache.PackFileCacheStrategy] Restoring pack failed from /srv/shop/.next/cache/webpack/server-development.pack\n"
    "<e> [webpack.cache.PackFileCacheStrategy] Caching failed for pack: Error: EACCES: permission denied, "
    "mkdir '/srv/shop/.next/cache/webpack/server-development' DATABASE_URL=postgres://admin:hunter2@db/x " + "x" * 400 + "\n"
    " GET /api/health 200 in 31ms\n"
)


async def test_webpack_warnings_count_and_cache_failures_are_evidence_with_the_last_line_quoted(project, ctx, out):
    (project / "dev.log").write_text(WEBPACK_LOG, encoding="utf-8")
    outcome = await probe_logs(target(project_dir=project, log_file=Path("dev.log")), ctx, out, deadline())
    assert outcome.ok
    assert out.value("inventory_log_lines", level="warn") == 2  # the two <w> lines, coloured or not
    assert out.value("inventory_log_lines", level="error") == 2  # <e>, and the first <w> line says "Error:"
    assert out.value("inventory_log_webpack_cache_failures") == 3
    (labels, _), = out.matching("inventory_log_last_webpack_cache_failure_info")
    quoted = labels["line"]
    assert quoted.startswith("<e> [webpack.cache.PackFileCacheStrategy] Caching failed for pack")
    assert "hunter2" not in quoted, "redacted"
    assert len(quoted) <= 200 and quoted.endswith("…"), "truncated"


@pytest.mark.parametrize(
    "line, failure",
    [
        (" \u2a2f Error: EACCES: permission denied, open '.next/cache/webpack/client-development/0.pack'", True),
        ("[webpack.cache.PackFileCacheStrategy] Caching failed for pack: Error: ENOSPC", True),
        ("[webpack.cache.PackFileCacheStrategy] Serialization of 'x' is slow", False),
        ("Error: EACCES: permission denied, open '/srv/shop/db/custom.db'", False),
        ("failed PackFileCacheStrategy", False),
    ],
)
async def test_which_lines_say_the_webpack_cache_failed(project, ctx, out, line, failure):
    (project / "dev.log").write_text(line + "\n", encoding="utf-8")
    await probe_logs(target(project_dir=project, log_file=Path("dev.log")), ctx, out, deadline())
    assert out.value("inventory_log_webpack_cache_failures") == int(failure)
    assert (out.value("inventory_log_last_webpack_cache_failure_info") is not None) == failure


async def test_a_clean_log_has_no_webpack_cache_failures(project, ctx, out):
    (project / "dev.log").write_text(" GET / 200 in 5ms\n", encoding="utf-8")
    await probe_logs(target(project_dir=project, log_file=Path("dev.log")), ctx, out, deadline())
    assert out.value("inventory_log_webpack_cache_failures") == 0
    assert out.value("inventory_log_last_webpack_cache_failure_info") is None
