"""The probe pool under calls that block for real: a FIFO nobody opens for writing (plain blocking
``open()``), and a socket pair nobody writes to. Both are started through ``ProbeContext.blocking``
by test-only functions, as a probe would; no sleeps stand in for a stuck call.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from exporter.config import Target
from exporter.metrics import Samples
from exporter.pool import PoolExhausted, ProbePool
from exporter.probes.database import probe_database
from exporter.probes.files import probe_files
from exporter.probing import Deadline, ProbeContext
from tests.conftest import make_project


def read_fifo(path: Path) -> bytes:
    """Blocks in open() until someone opens the FIFO for writing: a call stuck for real."""
    with open(path, "rb") as handle:
        return handle.read()


def release_fifo(path: Path) -> None:
    """Open the FIFO for writing (it succeeds at once: a reader waits), so the stuck open returns."""
    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    os.write(fd, b"late")
    os.close(fd)


def fifos(tmp_path: Path, count: int) -> list[Path]:
    paths = [tmp_path / f"stuck-{n}.fifo" for n in range(count)]
    for path in paths:
        os.mkfifo(path)
    return paths


def context(pool) -> ProbeContext:
    return ProbeContext(session=None, executor=pool, config=None)  # type: ignore[arg-type]


def wait_until(predicate, within: float = 10.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)  # polling the pool's counters; bounded by `within`
    return predicate()


async def stick(ctx: ProbeContext, fn, *args) -> None:
    """A blocking call whose caller gives up after 0.3 s while the call stays stuck."""
    with pytest.raises(TimeoutError):
        await ctx.blocking(Deadline(0.3), fn, *args)


async def test_after_two_calls_stuck_on_fifos_real_sqlite_and_file_reads_still_succeed(tmp_path: Path):
    pool = ProbePool(2)
    ctx = context(pool)
    stuck = fifos(tmp_path, 2)
    project = make_project(tmp_path / "project")
    try:
        await asyncio.gather(*(stick(ctx, read_fifo, path) for path in stuck))
        assert pool.stuck == 2, "both threads are inside open() past their callers' deadline"
        assert pool.threads == 4, "each stuck thread was replaced"

        target = Target(name="t", app_url="http://127.0.0.1:9", project_dir=project)
        out = Samples({"target": "t"})
        db, files = await asyncio.gather(
            probe_database(target, ctx, out, Deadline(5)), probe_files(target, ctx, out, Deadline(5))
        )
        assert db.ok and files.ok, (db, files)
        assert out.value("inventory_db_up") == 1 and out.value("inventory_db_tables") == 1
        assert out.value("inventory_config_file_present", file=".env") == 1
    finally:
        for path in stuck:
            release_fifo(path)
    assert wait_until(lambda: pool.stuck == 0 and pool.threads == 2), (pool.stuck, pool.threads)
    assert await ctx.blocking(Deadline(5), len, "reused") == 6, "the pool works on after the stuck threads retired"
    pool.shutdown(wait=True)


async def test_past_the_spare_threads_blocking_calls_fail_at_once_with_a_clear_timeout():
    pool = ProbePool(1, spare=1)
    ctx = context(pool)
    with ExitStack() as stack:
        pairs = [stack.enter_context(_pair()) for _ in range(2)]
        for reader, _ in pairs:
            await stick(ctx, reader.recv, 1)  # one at a time: each sticks the thread then free
        assert (pool.stuck, pool.threads) == (2, 2)
        started = time.monotonic()
        with pytest.raises(PoolExhausted, match="all 2 probe threads are stuck") as raised:
            await ctx.blocking(Deadline(10), len, "never queued")
        assert time.monotonic() - started < 1.0, "failed at once, not at its 10 s deadline"
        assert isinstance(raised.value, TimeoutError), "probes read it as reason timeout"
        for _, writer in pairs:
            writer.send(b"x")
        assert wait_until(lambda: pool.stuck == 0), pool.stuck
    assert await ctx.blocking(Deadline(5), abs, -3) == 3
    pool.shutdown(wait=True)


async def test_a_call_whose_deadline_passed_while_every_thread_was_stuck_never_runs(tmp_path: Path):
    pool = ProbePool(1, spare=0)
    ctx = context(pool)
    [fifo] = fifos(tmp_path, 1)
    ran: list[int] = []
    try:
        first = asyncio.ensure_future(ctx.blocking(Deadline(0.5), read_fifo, fifo))
        await asyncio.sleep(0.05)  # the first call is inside open() now
        with pytest.raises(TimeoutError):
            await ctx.blocking(Deadline(0.2), ran.append, 1)
        with pytest.raises(TimeoutError):
            await first
    finally:
        release_fifo(fifo)
    assert wait_until(lambda: pool.stuck == 0)
    assert await ctx.blocking(Deadline(5), len, "ab") == 2
    assert ran == [], "a call nobody waited for any more was run"
    pool.shutdown(wait=True)


async def test_a_call_after_shutdown_fails_at_once():
    pool = ProbePool(2)
    ctx = context(pool)
    pool.shutdown(wait=True)
    started = time.monotonic()
    with pytest.raises(RuntimeError):
        await ctx.blocking(Deadline(5), len, "abc")
    assert time.monotonic() - started < 1.0


EXIT_SCRIPT = """
import os, sys, time
from concurrent.futures import ThreadPoolExecutor
from exporter.pool import ProbePool
fifo = sys.argv[2]
pool = ProbePool(2) if sys.argv[1] == "probe-pool" else ThreadPoolExecutor(2)
pool.submit(lambda: open(fifo, "rb").read())
time.sleep(0.2)  # the thread is inside open() now
pool.shutdown(wait=False, cancel_futures=True)
print("main done", flush=True)
"""


@pytest.mark.parametrize("kind", ["probe-pool", "thread-pool-executor"])
def test_a_thread_stuck_for_good_keeps_the_process_alive_only_with_a_thread_pool_executor(tmp_path: Path, kind):
    """The contrast shows the test can fail: ThreadPoolExecutor joins its stuck thread at exit."""
    [fifo] = fifos(tmp_path, 1)
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(EXIT_SCRIPT), kind, str(fifo)],
                            stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        code = proc.wait(timeout=10 if kind == "probe-pool" else 3)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        if proc.poll() is None:
            release_fifo(fifo)  # let the joined thread return; the process then exits
            proc.wait(timeout=10)
        output = proc.stdout.read()
        proc.stdout.close()
    assert b"main done" in output
    if kind == "probe-pool":
        assert code == 0, "the daemon probe thread stuck in open() did not hold the exit"
    else:
        assert code is None, "ThreadPoolExecutor's exit join waited on the stuck thread"


class _pair:
    def __enter__(self) -> tuple[socket.socket, socket.socket]:
        self.sockets = socket.socketpair()
        return self.sockets

    def __exit__(self, *exc) -> None:
        for sock in self.sockets:
            sock.close()
