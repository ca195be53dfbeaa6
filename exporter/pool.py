"""The probe threads, built so that calls stuck for good cannot use them up.

A blocking call can hang for good: a read on a dead NFS mount, a hung /proc file, a FIFO, a
SQLite open on a wedged file system. Python cannot interrupt a thread, so the pool writes the
thread off instead. When the caller of a call gives up at its deadline while the call is still
running (``ProbeContext.blocking`` tells the pool through :meth:`ProbePool.stuck_in`), the thread
counts as stuck and the pool starts another in its place, so later probes still run. At most
``spare`` threads are added that way; once every thread is stuck and no more may be added,
:meth:`ProbePool.submit` raises :class:`PoolExhausted`, a TimeoutError: the probe reports
``timeout`` at once instead of queueing behind threads that may never come back. A stuck thread
whose call returns at last goes back to work, or ends if the pool has its ``workers`` without it.

The threads are daemon threads that nobody joins at exit (ThreadPoolExecutor joins its threads
when the interpreter exits, so one read stuck for good would keep the process alive for good).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from concurrent.futures import Executor, Future
from typing import Any, Callable

from exporter.logs import fields

log = logging.getLogger("exporter.probe")

MAX_STUCK_THREADS = 8  # threads the pool may add in place of stuck ones


class PoolExhausted(TimeoutError):
    """Every probe thread is stuck in a call that outlived its deadline, and no more may be added."""


class ProbePool(Executor):
    """``workers`` daemon threads, plus up to ``spare`` more in place of threads stuck past a deadline."""

    def __init__(self, workers: int, spare: int = MAX_STUCK_THREADS, name: str = "probe"):
        self.workers, self.spare, self.name = workers, spare, name
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._jobs: deque = deque()
        self._threads: dict[int, threading.Thread] = {}
        self._idle = 0  # threads waiting for a job that no submit has woken yet
        self._busy: set[int] = set()  # threads inside a job
        self._stuck: set[int] = set()  # busy threads whose call outlived its caller's deadline
        self._starting = 0  # started threads that have not registered yet
        self._closed = False
        self._numbers = itertools.count()

    @property
    def stuck(self) -> int:
        """Threads stuck in a call past its caller's deadline (``inventory_exporter_stuck_threads``)."""
        return len(self._stuck)

    @property
    def threads(self) -> int:
        return len(self._threads) + self._starting

    def _healthy(self) -> int:
        return self.threads - len(self._stuck)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if self._healthy() <= 0 and self.threads >= self.workers + self.spare:
                raise PoolExhausted(
                    f"all {self.threads} probe threads are stuck in calls that outlived their deadline "
                    "(a hung file system, /proc read or database?)"
                )
            self._jobs.append((future, fn, args, kwargs))
            self._dispatch()
        return future

    def stuck_in(self, thread: int, what: object = None) -> None:
        """The caller of the call ``thread`` runs gave up at its deadline: replace the thread."""
        with self._lock:
            if thread not in self._busy or thread in self._stuck:
                return  # the call has returned meanwhile, or the thread is written off already
            self._stuck.add(thread)
            replaced = self._can_grow()
            if replaced:
                self._start()
            stuck, total = len(self._stuck), self.threads
        name = getattr(getattr(what, "func", what), "__name__", "") if what is not None else ""
        log.warning(
            "probe thread stuck in a call past its deadline" + ("; another takes its place" if replaced else ""),
            extra=fields(call=name, stuck_threads=stuck, threads=total, max_threads=self.workers + self.spare),
        )

    def _dispatch(self) -> None:
        """With the lock held: wake an idle thread for a new job, or start one if the pool is short."""
        if self._idle:
            self._idle -= 1
            self._ready.notify()
        elif self._can_grow():
            self._start()

    def _can_grow(self) -> bool:
        return self._healthy() < self.workers and self.threads < self.workers + self.spare

    def _start(self) -> None:
        self._starting += 1
        thread = threading.Thread(target=self._work, name=f"{self.name}_{next(self._numbers)}", daemon=True)
        thread.start()

    def _work(self) -> None:
        me = threading.get_ident()
        with self._lock:
            self._starting -= 1
            self._threads[me] = threading.current_thread()
            try:
                self._serve(me)
            finally:
                del self._threads[me]
                self._busy.discard(me)
                self._stuck.discard(me)

    def _serve(self, me: int) -> None:
        """With the lock held (released around each job): run jobs until retired or shut down."""
        while True:
            if self._jobs:
                future, fn, args, kwargs = self._jobs.popleft()
                self._busy.add(me)
                self._lock.release()
                try:
                    _run(future, fn, args, kwargs)
                    del future, fn, args, kwargs
                finally:
                    self._lock.acquire()
                self._busy.discard(me)
                if me in self._stuck:  # back at last
                    self._stuck.discard(me)
                    if self._healthy() > self.workers:
                        return  # another took its place: retire
                continue
            if self._closed:
                return
            self._idle += 1
            self._ready.wait()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            if cancel_futures:
                for future, *_ in self._jobs:
                    future.cancel()
                self._jobs.clear()
            self._idle = 0
            self._ready.notify_all()
            waiting = [t for ident, t in self._threads.items() if ident not in self._stuck]
        if wait:
            for thread in waiting:  # never the stuck ones: they may not come back
                if thread is not threading.current_thread():
                    thread.join()


def _run(future: Future, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn(*args, **kwargs)
    except BaseException as exc:  # handed to whoever waits on the future
        future.set_exception(exc)
    else:
        future.set_result(result)
