"""What every probe shares: its outcome type, the scrape deadline, and the context it runs in."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import aiohttp

from exporter.procnet import PortOwners

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


@dataclass
class ProbeContext:
    """Shared for the app's life: the HTTP session, the thread pool for blocking work, caches."""

    session: aiohttp.ClientSession
    executor: ThreadPoolExecutor
    cache: dict[str, Any] = field(default_factory=dict)
    config: Any = None  # the current exporter.config.Config, swapped on reload
    http_body_limit: int = 1 << 20
    port_owners: PortOwners = field(default_factory=PortOwners)
    resources: dict[str, Any] = field(default_factory=dict)  # long-lived sockets with a close()

    def close(self) -> None:
        """Close what the probes kept open (the HTTP session is closed by its owner)."""
        self.port_owners.close()
        for resource in self.resources.values():
            resource.close()
        self.resources.clear()

    async def blocking(self, deadline: Deadline, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking ``fn`` in the probe thread pool, bounded by ``deadline``."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.executor, functools.partial(fn, *args))
        return await asyncio.wait_for(future, timeout=deadline.remaining())


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
