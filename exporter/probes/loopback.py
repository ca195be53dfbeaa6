"""Does a datagram go round 127.0.0.1 (the report's ping of the loopback)?"""

from __future__ import annotations

import asyncio
import time

from exporter.config import Config
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext, classify_os_error

PAYLOAD = b"inventory-exporter-loopback"


class _Echo(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if not self.received.done():
            self.received.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.received.done():
            self.received.set_exception(exc)


async def probe_loopback(cfg: Config, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    loop = asyncio.get_running_loop()
    transport = None
    try:
        transport, echo = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", 0))
        started = time.perf_counter()
        transport.sendto(PAYLOAD, transport.get_extra_info("sockname"))
        data = await asyncio.wait_for(echo.received, timeout=deadline.remaining())
        rtt = time.perf_counter() - started
    except (OSError, asyncio.TimeoutError) as exc:
        out.add("inventory_loopback_up", 0)
        return Outcome.fail(classify_os_error(exc), f"loopback: {exc!r}")
    finally:
        if transport is not None:
            transport.close()
    ok = data == PAYLOAD
    out.add("inventory_loopback_up", int(ok))
    if ok:
        out.add("inventory_loopback_rtt_seconds", rtt)
    return Outcome.success() if ok else Outcome.fail("connection_error", "loopback payload differed")
