"""nginx error-log tailing: counts new upstream failures by class, survives rotation and truncation."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from collections import Counter

from exporter.probes.proxy_log import (
    LINE_LIMIT, RECENT_WINDOW, REASONS, Position, TailState, classify, probe_proxy_log, read_new,
)
from exporter.metrics import Samples
from tests.conftest import deadline, target

LINES = {
    "connection_refused": '2026/11/29 11:00:00 [error] 7#7: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: , request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:3001/", host: "x"',
    "timed_out": '2026/11/29 11:00:00 [error] 7#7: *2 upstream timed out (110: Connection timed out) while reading response header from upstream, client: 127.0.0.1',
    "prematurely_closed": '2026/11/29 11:00:00 [error] 7#7: *3 upstream prematurely closed connection while reading response header from upstream, client: 127.0.0.1',
    "no_live_upstreams": '2026/11/29 11:00:00 [error] 7#7: *4 no live upstreams while connecting to upstream, client: 127.0.0.1',
    "connection_reset": '2026/11/29 11:00:00 [error] 7#7: *5 recv() failed (104: Connection reset by peer) while reading response header from upstream, client: 127.0.0.1',
}


@pytest.mark.parametrize("reason, line", LINES.items())
def test_each_nginx_upstream_error_is_classified(reason, line):
    assert classify(line.encode()) == reason


def test_lines_that_are_not_upstream_errors_are_ignored():
    assert classify(b'2026/11/29 11:00:00 [notice] 7#7: signal process started') is None
    assert classify(b'2026/11/29 11:00:00 [error] 7#7: open() "/x/favicon.ico" failed (2: No such file or directory)') is None


def append(path: Path, *reasons: str) -> None:
    with open(path, "a") as handle:
        handle.writelines(LINES[r] + "\n" for r in reasons)


async def scrape_counts(t, ctx) -> tuple[dict[str, float], dict[str, float], bool]:
    out = Samples({"target": "t"})
    outcome = await probe_proxy_log(t, ctx, out, deadline())
    totals = {r: out.value("inventory_proxy_upstream_errors_total", reason=r) for r in REASONS}
    recent = {r: out.value("inventory_proxy_upstream_errors_recent", reason=r) for r in REASONS}
    return totals, recent, outcome.ok


async def test_history_before_start_does_not_count_but_new_errors_do(tmp_path: Path, ctx):
    log = tmp_path / "error.log"
    append(log, "connection_refused", "connection_refused")
    t = target(proxy_error_log=log)
    totals, _, ok = await scrape_counts(t, ctx)
    assert ok and totals["connection_refused"] == 0
    append(log, "connection_refused", "timed_out")
    totals, recent, _ = await scrape_counts(t, ctx)
    assert totals["connection_refused"] == 1 and totals["timed_out"] == 1
    assert recent["connection_refused"] == 1
    totals, _, _ = await scrape_counts(t, ctx)
    assert totals["connection_refused"] == 1, "a line is counted once"


def test_recent_window_sums_the_reads_of_the_last_five_minutes_and_forgets_older_ones():
    state = TailState()
    state.add_recent(0.0, Counter(connection_refused=2))
    state.add_recent(100.0, Counter(connection_refused=1, timed_out=1))
    for second in range(101, 400):
        state.add_recent(float(second), Counter())  # scrapes that found nothing
    assert len(state.recent) == 2, "reads without errors take no room"
    assert dict(state.recent_counts(RECENT_WINDOW - 1)) == {"connection_refused": 3, "timed_out": 1}
    assert state.recent_counts(RECENT_WINDOW + 1)["connection_refused"] == 1
    assert state.recent_counts(100.0 + RECENT_WINDOW + 1)["connection_refused"] == 0
    assert state.recent_counts(100.0 + RECENT_WINDOW + 1)["timed_out"] == 0
    assert not state.recent


async def test_rotation_and_truncation_are_followed(tmp_path: Path, ctx):
    log = tmp_path / "error.log"
    log.write_text("")
    t = target(proxy_error_log=log)
    await scrape_counts(t, ctx)
    append(log, "prematurely_closed")
    os.rename(log, tmp_path / "error.log.1")  # logrotate: move, then nginx reopens a new file
    append(log, "no_live_upstreams")
    totals, _, _ = await scrape_counts(t, ctx)
    assert totals["no_live_upstreams"] == 1
    log.write_text("")  # copytruncate
    append(log, "connection_reset")
    totals, _, _ = await scrape_counts(t, ctx)
    assert totals["connection_reset"] == 1 and totals["no_live_upstreams"] == 1


def reasons(dated: Counter) -> Counter:
    return Counter({reason: n for (_, reason), n in dated.items()})


def test_a_read_moves_nothing_so_one_dropped_at_its_deadline_is_read_again(tmp_path: Path):
    # The probe moves its position and counts a read's lines together, only when the read came back
    # in time: a read that outlived the deadline (a slow disk) must leave its lines for the next one.
    log = tmp_path / "error.log"
    append(log, "timed_out")
    seeded, start = read_new(log, Position())
    assert start.offset == log.stat().st_size and start.inode == log.stat().st_ino
    append(log, "connection_refused", "connection_refused")
    dropped, after = read_new(log, start)
    assert reasons(dropped) == Counter(connection_refused=2)
    again, after_again = read_new(log, start)
    assert reasons(again) == reasons(dropped) and after_again.offset == after.offset == log.stat().st_size
    nothing, _ = read_new(log, after)
    assert not nothing


async def test_a_half_written_line_waits_for_the_next_scrape(tmp_path: Path, ctx):
    log = tmp_path / "error.log"
    log.write_text("")
    t = target(proxy_error_log=log)
    await scrape_counts(t, ctx)
    line = LINES["connection_refused"]
    with open(log, "a") as handle:
        handle.write(line[:40])
    totals, _, _ = await scrape_counts(t, ctx)
    assert totals["connection_refused"] == 0
    with open(log, "a") as handle:
        handle.write(line[40:] + "\n")
    totals, _, _ = await scrape_counts(t, ctx)
    assert totals["connection_refused"] == 1


async def test_a_missing_log_fails_the_probe_but_keeps_the_counters(tmp_path: Path, ctx):
    t = target(proxy_error_log=tmp_path / "absent.log")
    totals, _, ok = await scrape_counts(t, ctx)
    assert not ok and totals["connection_refused"] == 0


async def test_the_log_is_never_written(tmp_path: Path, ctx):
    log = tmp_path / "error.log"
    append(log, "timed_out")
    before = (log.read_bytes(), log.stat().st_mtime_ns)
    t = target(proxy_error_log=log)
    await scrape_counts(t, ctx)
    await scrape_counts(t, ctx)
    assert (log.read_bytes(), log.stat().st_mtime_ns) == before


def stamped(reason: str, unix: float) -> str:
    """LINES[reason] as nginx would have written it at ``unix`` (local time, as nginx logs)."""
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(unix)) + LINES[reason][19:]


async def scrape_samples(t, ctx) -> Samples:
    out = Samples({"target": "t"})
    await probe_proxy_log(t, ctx, out, deadline())
    return out


async def test_start_up_seeds_the_recent_window_from_the_last_five_minutes_but_not_the_counters(tmp_path: Path, ctx):
    now = time.time()
    log = tmp_path / "error.log"
    log.write_text(
        stamped("connection_refused", now - 900) + "\n"  # older than the window: history only
        + stamped("connection_refused", now - 60) + "\n"
        + stamped("connection_refused", now - 30) + "\n"
        + stamped("timed_out", now - 10) + "\n"
    )
    out = await scrape_samples(target(proxy_error_log=log), ctx)
    assert out.value("inventory_proxy_upstream_errors_total", reason="connection_refused") == 0
    assert out.value("inventory_proxy_upstream_errors_recent", reason="connection_refused") == 2
    assert out.value("inventory_proxy_upstream_errors_recent", reason="timed_out") == 1
    assert out.value("inventory_proxy_upstream_errors_last_timestamp_seconds", reason="connection_refused") == int(now - 30)
    assert out.value("inventory_proxy_upstream_errors_last_timestamp_seconds", reason="timed_out") == int(now - 10)
    assert out.value("inventory_proxy_upstream_errors_last_timestamp_seconds", reason="no_live_upstreams") is None


async def test_each_line_is_dated_by_its_own_time_stamp_within_what_a_tail_can_have_seen(tmp_path: Path, ctx):
    log = tmp_path / "error.log"
    log.write_text("")
    t = target(proxy_error_log=log)
    await scrape_samples(t, ctx)
    before = time.time()
    with open(log, "a") as handle:
        handle.write(stamped("connection_refused", before + 3600) + "\n")  # a clock or time zone ahead of ours
        handle.write(stamped("timed_out", before - 7200) + "\n")  # ... or behind: cannot predate our last read
        handle.write("garbled [error] upstream timed out, no time stamp\n")
    out = await scrape_samples(t, ctx)
    after = time.time()
    refused = out.value("inventory_proxy_upstream_errors_last_timestamp_seconds", reason="connection_refused")
    timed_out = out.value("inventory_proxy_upstream_errors_last_timestamp_seconds", reason="timed_out")
    assert before - 2 <= refused <= after and before - 2 <= timed_out <= after
    assert out.value("inventory_proxy_upstream_errors_total", reason="timed_out") == 2


async def test_overlong_lines_are_skipped(tmp_path: Path, ctx):
    log = tmp_path / "error.log"
    log.write_text("")
    t = target(proxy_error_log=log)
    await scrape_samples(t, ctx)
    with open(log, "a") as handle:
        handle.write(LINES["connection_refused"] + " " * (LINE_LIMIT + 1) + "\n" + LINES["timed_out"] + "\n")
    out = await scrape_samples(t, ctx)
    assert out.value("inventory_proxy_upstream_errors_total", reason="connection_refused") == 0
    assert out.value("inventory_proxy_upstream_errors_total", reason="timed_out") == 1
