"""Does a datagram go round 127.0.0.1 (the report's ping of the loopback)?"""

from __future__ import annotations

import asyncio
import socket
import time

from exporter.config import Config
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext, classify_os_error


async def probe_loopback(cfg: Config, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    loop = asyncio.get_running_loop()
    payload = b"inventory-exporter-loopback"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        try:
            sock.bind(("127.0.0.1", 0))
            started = time.perf_counter()
            await loop.sock_sendto(sock, payload, sock.getsockname())
            data, _ = await asyncio.wait_for(loop.sock_recvfrom(sock, 64), timeout=deadline.remaining())
        except (OSError, asyncio.TimeoutError) as exc:
            out.add("inventory_loopback_up", 0)
            return Outcome.fail(classify_os_error(exc), f"loopback: {exc!r}")
        rtt = time.perf_counter() - started
    ok = data == payload
    out.add("inventory_loopback_up", int(ok))
    if ok:
        out.add("inventory_loopback_rtt_seconds", rtt)
    return Outcome.success() if ok else Outcome.fail("connection_error", "loopback payload differed")
