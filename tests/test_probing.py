"""ProbeContext.blocking: calls made in one turn of the loop share a trip to the probe threads."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from exporter.config import Config
from exporter.probing import Deadline, ProbeContext


class CountingExecutor(ThreadPoolExecutor):
    """A real thread pool that counts the jobs it is given."""

    def __init__(self, workers: int):
        super().__init__(max_workers=workers)
        self.jobs = 0

    def submit(self, *args, **kwargs):
        self.jobs += 1
        return super().submit(*args, **kwargs)


@pytest.fixture
async def pool():
    executor = CountingExecutor(2)
    yield executor
    executor.shutdown(wait=True)


def context(executor: ThreadPoolExecutor) -> ProbeContext:
    return ProbeContext(session=None, executor=executor, config=Config(targets=()))  # type: ignore[arg-type]


async def test_calls_made_in_one_turn_go_to_the_threads_together_and_each_gets_its_own_result(pool):
    ctx = context(pool)
    results = await asyncio.gather(*(ctx.blocking(Deadline(5), pow, n, 2) for n in range(8)))
    assert results == [n * n for n in range(8)]
    assert pool.jobs <= 2, f"8 calls in one turn took {pool.jobs} trips to the thread pool"


async def test_an_exception_reaches_its_caller_only(pool):
    ctx = context(pool)
    good, bad = await asyncio.gather(
        ctx.blocking(Deadline(5), str.upper, "ok"),
        ctx.blocking(Deadline(5), int, "not a number"),
        return_exceptions=True,
    )
    assert good == "OK"
    assert isinstance(bad, ValueError)


async def test_a_stuck_call_does_not_hold_up_the_calls_of_its_turn(pool):
    ctx = context(pool)
    gate = threading.Event()
    try:
        stuck = asyncio.ensure_future(ctx.blocking(Deadline(10), gate.wait, 10))
        started = time.monotonic()
        quick = await asyncio.wait_for(asyncio.gather(*(ctx.blocking(Deadline(10), abs, -n) for n in range(3))), 5)
        elapsed = time.monotonic() - started
        assert quick == [0, 1, 2]
        assert not stuck.done()
        assert elapsed < 1.0, f"the quick calls waited {elapsed:.2f}s behind the stuck one"
    finally:
        gate.set()
    assert await stuck is True


async def test_a_call_whose_deadline_passed_before_a_thread_was_free_never_runs():
    executor = ThreadPoolExecutor(max_workers=1)
    gate = threading.Event()
    busy = executor.submit(gate.wait, 10)
    ran: list[int] = []
    try:
        ctx = context(executor)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await ctx.blocking(Deadline(0.2), ran.append, 1)
        assert time.monotonic() - started < 1.0
    finally:
        gate.set()
        busy.result(timeout=5)
        executor.shutdown(wait=True)
    assert ran == [], "a call nobody waits for any more was run"


async def test_calls_of_later_turns_are_sent_again(pool):
    ctx = context(pool)
    assert await ctx.blocking(Deadline(5), len, "abc") == 3
    assert await ctx.blocking(Deadline(5), len, "abcd") == 4
    assert pool.jobs == 2


def test_a_scrape_reads_each_project_once_and_the_next_scrape_reads_it_again(tmp_path):
    executor = ThreadPoolExecutor(max_workers=1)
    try:
        app_ctx = context(executor)
        assert app_ctx.project(tmp_path) is not app_ctx.project(tmp_path), "outside a scrape nothing is kept"
        scrape = app_ctx.for_scrape()
        assert scrape.project(tmp_path) is scrape.project(tmp_path)
        assert scrape.project(tmp_path / "other") is not scrape.project(tmp_path)
        assert app_ctx.for_scrape().project(tmp_path) is not scrape.project(tmp_path)
        assert scrape.batches is app_ctx.batches and scrape.cache is app_ctx.cache
    finally:
        executor.shutdown(wait=True)


async def test_a_call_after_the_pool_was_shut_down_fails_at_once_instead_of_waiting_for_its_deadline():
    executor = ThreadPoolExecutor(max_workers=1)
    ctx = context(executor)
    executor.shutdown(wait=True)
    started = time.monotonic()
    with pytest.raises(RuntimeError):
        await ctx.blocking(Deadline(5), len, "abc")
    assert time.monotonic() - started < 1.0
