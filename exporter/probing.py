"""What every probe shares: its outcome type, the scrape deadline, and the context it runs in."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import threading
import time
from collections import deque
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import aiohttp

from exporter.cpu import CpuMeter
from exporter.pool import ProbePool
from exporter.procnet import PortOwners
from exporter.project import Project

log = logging.getLogger("exporter.probe")

# Threads for blocking probe work (file reads, SQLite, psutil). Few on purpose: the work is short,
# and more threads only fight over the GIL (a full scrape cost 40 % more CPU with 8 than with 2).
PROBE_THREADS = 2

# Reasons a probe may give for failing; a bounded set so label cardinality stays small.
REASONS = (
    "connection_refused",
    "timeout",
    "http_status",
    "not_found",
    "permission_denied",
    "parse_error",
    "locked",
    "corrupt",
    "mismatch",
    "conflict",
    "dns_error",
    "unsupported",
    "query_error",
    "connection_error",
    "internal_error",
    "not_regular_file",
)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    reason: str | None = None
    detail: str = ""

    @staticmethod
    def success() -> "Outcome":
        return Outcome(True)

    @staticmethod
    def fail(reason: str, detail: str = "") -> "Outcome":
        assert reason in REASONS, reason
        return Outcome(False, reason, detail)


class Deadline:
    """An absolute point on the monotonic clock; every await gets what is left of it."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.at = clock() + max(seconds, 0.0)

    def remaining(self) -> float:
        return max(self.at - self.clock(), 0.0)

    def capped(self, seconds: float) -> "Deadline":
        """A deadline no later than this one and no more than ``seconds`` from now."""
        child = Deadline(0, self.clock)
        child.at = min(self.at, self.clock() + seconds)
        return child

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0


class Batches:
    """Sends the blocking calls made in one turn of the event loop to the probe threads together.

    A scrape starts all its probes in one turn, and their first blocking calls (file reads, the
    SQLite query, psutil) would each wake a thread and then the loop again: about 150 µs of CPU
    per trip here, more than most of the calls themselves. Instead one thread takes the turn's
    calls one after another and hands each result back as soon as it has it. If a call holds
    that thread for more than ``HELP_AFTER`` seconds (a locked database, a slow disk), a second
    thread takes the calls still waiting, so one stuck call does not hold up the others.
    A call whose caller stopped waiting (deadline) is skipped if it has not started; one still
    running then is stuck, and ``ProbeContext.blocking`` has the pool replace its thread (pool.py).
    """

    HELP_AFTER = 0.002

    def __init__(self, executor: Executor):
        self.executor = executor
        self._turn: deque | None = None

    def run(self, fn: Callable[[], Any]) -> "Call":
        loop = asyncio.get_running_loop()
        call = Call(fn, loop.create_future())
        if self._turn is None:
            self._turn = deque()
            loop.call_soon(self._send, loop)
        self._turn.append(call)
        return call

    def _send(self, loop: asyncio.AbstractEventLoop) -> None:
        calls, self._turn = self._turn, None
        assert calls is not None
        try:
            self.executor.submit(_take_calls, loop, calls)
        except (RuntimeError, TimeoutError) as exc:  # shut down (the app is stopping), or every thread stuck
            for call in calls:
                _settle(call.future, None, exc)
            return
        if len(calls) > 1:
            loop.call_later(self.HELP_AFTER, self._help, calls)

    def _help(self, calls: deque) -> None:
        if calls:
            try:
                self.executor.submit(_take_calls, asyncio.get_running_loop(), calls)
            except (RuntimeError, TimeoutError):
                pass  # shut down, or every thread stuck, meanwhile; the first job finishes the calls


class Call:
    """One blocking call on its way through the probe threads; ``thread`` is set while it runs."""

    __slots__ = ("fn", "future", "thread")

    def __init__(self, fn: Callable[[], Any], future: asyncio.Future):
        self.fn = fn
        self.future = future
        self.thread: int | None = None


def _take_calls(loop: asyncio.AbstractEventLoop, calls: deque) -> None:
    """In a probe thread: run queued calls until none is left (another thread may take some too)."""
    me = threading.get_ident()
    while True:
        try:
            call = calls.popleft()
        except IndexError:
            return
        future = call.future
        if future.cancelled():
            continue
        call.thread = me
        try:
            result, error = call.fn(), None
        except BaseException as exc:  # handed to the caller, as run_in_executor does
            result, error = None, exc
        call.thread = None
        try:
            loop.call_soon_threadsafe(_settle, future, result, error)
        except RuntimeError:  # the loop was closed while the call ran
            return


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


@dataclass
class ProbeContext:
    """Shared for the app's life: the HTTP session, the thread pool for blocking work, caches.

    ``for_scrape()`` gives one scrape its own copy, sharing all of that, with its own record of
    the project directories the scrape has read (so five probes of a project read it once).
    """

    session: aiohttp.ClientSession
    executor: Executor  # a ProbePool in the app; any Executor works (without the stuck-thread replacement)
    cache: dict[str, Any] = field(default_factory=dict)
    config: Any = None  # the current exporter.config.Config, swapped on reload
    http_body_limit: int = 1 << 20
    port_owners: PortOwners = field(default_factory=PortOwners)
    cpu: CpuMeter = field(default_factory=CpuMeter)  # primed when the context is made (start-up)
    resources: dict[str, Any] = field(default_factory=dict)  # long-lived sockets with a close()
    batches: Batches | None = None
    projects: dict[Path, Project] | None = None  # this scrape's reads; None outside a scrape

    def __post_init__(self) -> None:
        if self.batches is None or self.batches.executor is not self.executor:
            self.batches = Batches(self.executor)

    def for_scrape(self) -> "ProbeContext":
        return dataclasses.replace(self, projects={})

    def project(self, directory: Path) -> Project:
        """This scrape's reading of ``directory`` (a fresh one each call outside a scrape)."""
        if self.projects is None:
            return Project(directory)
        found = self.projects.get(directory)
        if found is None:
            found = self.projects[directory] = Project(directory)
        return found

    def close(self) -> None:
        """Close what the probes kept open (the HTTP session is closed by its owner)."""
        self.port_owners.close()
        for resource in self.resources.values():
            resource.close()
        self.resources.clear()

    async def blocking(self, deadline: Deadline, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking ``fn`` in the probe threads (with the other calls of this turn), bounded by ``deadline``."""
        assert self.batches is not None
        call = self.batches.run(functools.partial(fn, *args))
        try:
            async with asyncio.timeout(deadline.remaining()):
                return await call.future
        except TimeoutError:
            call.future.cancel()
            thread = call.thread
            if thread is not None and isinstance(self.executor, ProbePool):
                self.executor.stuck_in(thread, call.fn)  # still inside the call: let the pool replace it
            raise


ProbeFn = Callable[..., Awaitable[Outcome]]


def classify_os_error(exc: BaseException) -> str:
    """Map an exception to a bounded failure reason."""
    import errno

    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, FileNotFoundError):
        return "not_found"
    if isinstance(exc, PermissionError):
        return "permission_denied"
    if isinstance(exc, OSError) and exc.errno == errno.ECONNREFUSED:
        return "connection_refused"
    if isinstance(exc, (ConnectionError, OSError)):
        return "connection_error"
    return "internal_error"
