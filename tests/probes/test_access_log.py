"""The access-log probe: what users got, counted from nginx's lines by a background reader."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from exporter.accesslog.aggregate import Totals, path_kind
from exporter.accesslog.reader import Reader, ReaderKey, readers_of
from exporter.accesslog.tail import LINE_LIMIT
from exporter.accesslog.window import BUCKETS, quantile
from exporter.metrics import HistogramValue, Samples
from exporter.probes.access_log import emit, probe_access_log
from tests.conftest import deadline, target

FORMAT = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
          '"$http_user_agent" rt=$request_time urt="$upstream_response_time" us=$upstream_status')


def line(path: str = "/api/products/1", status: int = 200, rt: str = "0.020", urt: str = "0.018", us: str = "200",
         when: float | None = None, size: int = 100) -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z", time.localtime(time.time() if when is None else when))
    return (f'127.0.0.1 - - [{stamp}] "GET {path} HTTP/1.1" {status} {size} "-" "curl/8" '
            f'rt={rt} urt="{urt}" us={us}\n')


def append(path: Path, *lines: str) -> None:
    with open(path, "a") as handle:
        handle.writelines(lines)


def reader_for(log: Path, route_label: bool = False) -> Reader:
    reader = Reader(ReaderKey("t", log, FORMAT, route_label))
    reader.read_pass()  # the start-up pass, in the test's thread
    return reader


def samples(reader: Reader) -> Samples:
    out = Samples({"target": "t"})
    emit(reader.snapshot(), out)
    return out


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "access.log"
    path.write_text(line(status=200) * 3)  # history: not counted
    return path


@pytest.mark.parametrize("path, kind", [("/api/x", "api"), ("/api", "api"), ("/_next/static/a/b", "static"),
                                        ("/favicon.ico", "static"), ("/products/1", "page"), ("/", "page")])
def test_paths_are_classified_as_the_http_probe_does(path, kind):
    assert path_kind(path.encode()) == kind


def test_requests_are_counted_by_kind_class_and_histograms(log):
    reader = reader_for(log)
    append(log, line(rt="0.050", urt="0.040"), line("/", 200, rt="2.9", urt="2.8"),
           line("/favicon.ico", 404, rt="0.001", urt="-", us="-"), line(status=502, rt="0.004", urt="0.004", us="502"),
           line(status=504, rt="1.001", urt="1.000, 0.001", us="504, 504"))
    reader.read_pass()
    out = samples(reader)
    assert out.value("inventory_access_log_lines_total") == 5
    assert out.value("inventory_requests_total", kind="api", code_class="2xx", route="") == 1
    assert out.value("inventory_requests_total", kind="api", code_class="5xx") == 2
    assert out.value("inventory_requests_total", kind="static", code_class="4xx") == 1
    assert out.value("inventory_upstream_errors_total", status="502") == 1
    assert out.value("inventory_upstream_errors_total", status="504") == 1
    assert out.value("inventory_upstream_errors_total", status="503") == 0
    api = out.value("inventory_request_duration_seconds", kind="api")
    assert isinstance(api, HistogramValue) and api.count == 3 and api.sum == pytest.approx(1.055)
    assert dict(api.buckets)[0.005] == 1 and dict(api.buckets)[0.05] == 2 and dict(api.buckets)[float("inf")] == 3
    page_upstream = out.value("inventory_upstream_response_seconds", kind="page")
    assert dict(page_upstream.buckets)[2.5] == 0 and dict(page_upstream.buckets)[3.0] == 1
    assert out.value("inventory_upstream_response_seconds", kind="static") is None  # "-" skipped
    assert out.value("inventory_response_bytes_total", kind="api") == 300
    assert out.value("inventory_requests_failed_recent", status="502") == 1
    assert out.value("inventory_requests_recent", kind="api", code_class="5xx") == 2
    assert out.value("inventory_requests_failing_since_timestamp_seconds") is not None
    reader.tail.close()


def test_the_failing_run_starts_at_its_first_5xx_and_ends_with_a_success(log):
    reader = reader_for(log)
    now = time.time()
    append(log, line(status=200, when=now - 60), line(status=502, when=now - 50), line(status=502, when=now - 40))
    reader.read_pass()
    append(log, line(status=503, when=now - 30))
    reader.read_pass()
    since = samples(reader).value("inventory_requests_failing_since_timestamp_seconds")
    assert since == int(now - 50)
    append(log, line(status=200, when=now - 20))
    reader.read_pass()
    assert samples(reader).value("inventory_requests_failing_since_timestamp_seconds") is None
    reader.tail.close()


def test_the_recent_window_keeps_five_minutes_by_the_logged_time(log):
    reader = reader_for(log)
    now = time.time()
    append(log, line(status=502, when=now - 400), line(status=502, when=now - 100), line(status=200, when=now - 10))
    reader.read_pass()
    out = samples(reader)
    assert out.value("inventory_requests_failed_recent", status="502") == 1
    assert out.value("inventory_requests_total", kind="api", code_class="5xx") == 2  # the total counts every line
    reader.tail.close()


def test_the_start_up_seed_fills_the_window_not_the_totals(tmp_path):
    log = tmp_path / "access.log"
    now = time.time()
    append(log, line(status=502, when=now - 1000), line(status=502, when=now - 30), line(status=502, when=now - 20))
    reader = reader_for(log)
    out = samples(reader)
    assert out.value("inventory_requests_failed_recent", status="502") == 2
    assert out.value("inventory_requests_total", kind="api", code_class="5xx") is None
    assert out.value("inventory_access_log_lines_total") == 0
    assert out.value("inventory_requests_failing_since_timestamp_seconds") == int(now - 1000)
    reader.tail.close()


def test_p95_over_the_window_interpolates_inside_its_bucket(log):
    reader = reader_for(log)
    append(log, *(line(rt="0.020") for _ in range(90)), *(line(rt="0.400") for _ in range(10)))
    reader.read_pass()
    p95 = samples(reader).value("inventory_request_duration_recent_p95_seconds", kind="api")
    assert 0.25 < p95 <= 0.5  # the 95th of 100 lies among the ten in (0.25, 0.5]
    assert quantile(0.95, [0] * (len(BUCKETS) + 1)) is None
    assert quantile(0.5, [0] * len(BUCKETS) + [4]) == BUCKETS[-1]
    reader.tail.close()


def test_unparsable_and_too_long_lines_are_counted_never_fatal(log):
    reader = reader_for(log)
    append(log, "not an access log line\n", "x" * (LINE_LIMIT + 10) + "\n", line())
    reader.read_pass()
    out = samples(reader)
    assert out.value("inventory_access_log_unparsed_lines_total", reason="unparsable") == 1
    assert out.value("inventory_access_log_unparsed_lines_total", reason="too_long") == 1
    assert out.value("inventory_access_log_lines_total") == 3
    assert out.value("inventory_requests_total", kind="api", code_class="2xx") == 1
    reader.tail.close()


def test_routes_only_when_enabled_and_capped(log):
    reader = reader_for(log, route_label=True)
    append(log, line("/api/products/1"), line("/api/products/2?x=1"), *(line(f"/p{n}") for n in range(150)))
    reader.read_pass()
    out = samples(reader)
    assert out.value("inventory_requests_total", route="/api/products/:id") == 2
    routes = {labels["route"] for labels, _ in out.matching("inventory_requests_total")}
    assert len(routes) == 101 and "other" in routes
    reader.tail.close()


async def test_the_probe_reads_through_a_background_reader_and_never_on_the_loop(ctx, log):
    t = target(access_log=log, access_log_format=FORMAT)
    out = Samples({"target": "t"})
    assert (await probe_access_log(t, ctx, out, deadline())).ok
    assert out.value("inventory_access_log_lines_total") == 0
    append(log, line(status=502), line(status=200))
    for _ in range(100):  # the reader passes every second; bounded wait
        out = Samples({"target": "t"})
        await probe_access_log(t, ctx, out, deadline())
        if out.value("inventory_access_log_lines_total") == 2:
            break
        await asyncio.sleep(0.1)
    assert out.value("inventory_requests_total", kind="api", code_class="5xx") == 1
    reader = readers_of(ctx).readers["t"]
    assert reader.thread.is_alive()
    ctx.close()
    assert not reader.thread.is_alive()


async def test_a_missing_log_fails_the_probe_with_not_found(ctx, tmp_path):
    t = target(access_log=tmp_path / "nope.log")
    out = Samples({"target": "t"})
    outcome = await probe_access_log(t, ctx, out, deadline())
    assert not outcome.ok and outcome.reason == "not_found" and "nope.log" in outcome.detail


async def test_sync_follows_the_config(ctx, tmp_path, log):
    from exporter.config import Config

    readers = readers_of(ctx)
    one = target(name="one", access_log=log)
    readers.sync(Config(targets=(one, target(name="two"))))
    assert set(readers.readers) == {"one"}
    first = readers.readers["one"]
    readers.sync(Config(targets=(one,)))
    assert readers.readers["one"] is first  # unchanged: kept
    readers.sync(Config(targets=(target(name="one", access_log=log, route_label=True),)))
    assert readers.readers["one"] is not first and first.stopping.is_set()
    first.thread.join(10)
    assert not first.thread.is_alive()
    readers.sync(Config(targets=()))
    assert readers.readers == {}


async def test_a_log_format_that_cannot_be_split_fails_the_probe_and_nothing_else(ctx, log):
    from exporter.config import Config

    t = target(access_log=log, access_log_format="$status$request")  # as discovery could bring it
    readers_of(ctx).sync(Config(targets=(t,)))
    out = Samples({"target": "t"})
    outcome = await probe_access_log(t, ctx, out, deadline())
    assert not outcome.ok and outcome.reason == "parse_error" and "follow each other" in outcome.detail
    assert out.value("inventory_access_log_lines_total") is None


def test_a_scrape_reads_the_counts_while_a_backlog_is_still_being_parsed(tmp_path):
    """The reader folds slices as it goes: a snapshot in the middle of a backlog sees part of it
    (the scrape did not wait for the backlog), and at the end, all of it."""
    log = tmp_path / "access.log"
    log.write_text("")
    reader = Reader(ReaderKey("t", log, FORMAT, False), interval=0.05)
    reader.read_pass()
    total = 150_000  # several passes of PASS_BUDGET
    append(log, *([line()] * total))
    reader.start()
    seen = set()
    try:
        while True:
            lines = reader.snapshot().lines
            seen.add(lines)
            if lines == total:
                break
            assert reader.thread.is_alive()
    finally:
        reader.stop(10)
    assert any(0 < lines < total for lines in seen), sorted(seen)[:10]
