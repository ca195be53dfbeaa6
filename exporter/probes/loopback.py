"""Does a datagram go round 127.0.0.1 (the report's ping of the loopback)?

One UDP endpoint on 127.0.0.1 is kept for the app's life (creating a socket per scrape cost more
than the round trip); each ping carries its own sequence number, so concurrent scrapes share it.
"""

from __future__ import annotations

import asyncio
import itertools
import time

from exporter.config import Config
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext, classify_os_error

PREFIX = b"inventory-exporter-loopback:"


class Pinger(asyncio.DatagramProtocol):
    """A UDP endpoint that sends datagrams to itself and matches each echo to its sender."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[bytes, asyncio.Future[None]] = {}
        self.sequence = itertools.count()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        future = self.waiting.pop(data, None)
        if future is not None and not future.done():
            future.set_result(None)

    def error_received(self, exc: Exception) -> None:
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(exc)
        self.waiting.clear()

    async def ping(self, timeout: float) -> float:
        assert self.transport is not None
        payload = PREFIX + str(next(self.sequence)).encode()
        future = self.waiting[payload] = asyncio.get_running_loop().create_future()
        started = time.perf_counter()
        try:
            self.transport.sendto(payload, self.transport.get_extra_info("sockname"))
            await asyncio.wait_for(future, timeout=timeout)
        finally:
            self.waiting.pop(payload, None)
        return time.perf_counter() - started

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def pinger(ctx: ProbeContext) -> Pinger:
    existing = ctx.resources.get("loopback")
    if existing is None or existing.transport is None or existing.transport.is_closing():
        _, existing = await asyncio.get_running_loop().create_datagram_endpoint(Pinger, local_addr=("127.0.0.1", 0))
        ctx.resources["loopback"] = existing
    return existing


async def probe_loopback(cfg: Config, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    try:
        rtt = await (await pinger(ctx)).ping(deadline.remaining())
    except (OSError, asyncio.TimeoutError) as exc:
        out.add("inventory_loopback_up", 0)
        return Outcome.fail(classify_os_error(exc), f"loopback: {exc!r}")
    out.add("inventory_loopback_up", 1)
    out.add("inventory_loopback_rtt_seconds", rtt)
    return Outcome.success()
