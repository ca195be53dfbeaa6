"""Serving the app on every ``--web.listen-address``, and stopping cleanly on SIGTERM/SIGINT.

On a stop signal the listening sockets close at once (no new scrapes), scrapes in flight run to
their end (each is bounded by its own deadline; ``grace``, at most STOP_GRACE, caps the wait), then
the app's resources close and the process exits 0. Nothing stuck may hold the exit: probe threads
stuck in a call are daemon threads nobody waits for, and a watchdog ends the process STOP_SECONDS
after the signal whatever still runs (a scrape past the grace, a resolver thread asyncio would join).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import ssl
import sys
import threading

from aiohttp import web

from exporter.logs import fields
from exporter.web.connections import DEFAULT_IDLE_TIMEOUT, ConnectionGate, GuardedSite

log = logging.getLogger("exporter")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STOP_SECONDS = 4.5  # after a stop signal the process is gone within this, whatever is stuck
STOP_GRACE = 4.0  # of which scrapes in flight get at most this to finish


def split_listen(address: str) -> tuple[str | None, int]:
    """``[host]:port`` → (host or None for every interface, port); a ValueError names the flag."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"--web.listen-address {address!r}: expected [host]:port")
    return (host.strip("[]") or None), int(port)


async def _wait_for_stop_signal() -> str:
    loop = asyncio.get_running_loop()
    received: asyncio.Future[str] = loop.create_future()

    def on_signal(signum: signal.Signals) -> None:
        if not received.done():
            received.set_result(signum.name)

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await received
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


async def serve(app: web.Application, addresses: list[str], ssl_context: ssl.SSLContext | None, grace: float,
                gate: ConnectionGate | None = None, idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> int:
    """Listen on each address; return 0 after a clean stop, 1 when an address cannot be listened on.

    Connections go through ``gate`` (a cap, eviction of idle ones, a deadline for the first request);
    keep-alive connections idle for ``idle_timeout`` seconds are closed."""
    gate = gate or ConnectionGate()
    app.middlewares.append(gate.middleware)  # innermost: it sees only requests that passed authentication
    grace = min(grace, STOP_GRACE)
    # aiohttp waits up to shutdown_timeout for a request in flight, then (having cancelled it) up to
    # shutdown_timeout again for its handler: half each keeps the whole wait within ``grace``.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=grace / 2,
                           keepalive_timeout=idle_timeout)
    await runner.setup()
    try:
        for address in addresses:
            host, port = split_listen(address)
            site = GuardedSite(runner, host, port, ssl_context=ssl_context, gate=gate)
            try:
                await site.start()
            except OSError as exc:
                log.error("cannot listen", extra=fields(address=address, error=exc))
                return 1
            log.info("listening", extra=fields(address=address, tls=ssl_context is not None, max_connections=gate.limit))
        name = await _wait_for_stop_signal()
        exit_after(STOP_SECONDS)
        log.info("shutting down: finishing the scrapes in flight", extra=fields(signal=name, grace_seconds=grace))
    finally:
        await runner.cleanup()
    log.info("stopped")
    return 0


def exit_after(seconds: float) -> threading.Timer:
    """A watchdog: end the process ``seconds`` from now (exit code 0, it was asked to stop) if it still runs."""
    timer = threading.Timer(seconds, _exit_now, args=(seconds,))
    timer.daemon = True
    timer.name = "stop-watchdog"
    timer.start()
    return timer


def _exit_now(seconds: float) -> None:
    last = threading.Timer(0.25, os._exit, args=(0,))  # in case the log's stream is what is stuck
    last.daemon = True
    last.start()
    log.warning("still stopping after the stop signal: exiting now, leaving stuck work behind",
                extra=fields(seconds=seconds))
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)
