"""The one HTTP client session the exporter keeps for its life, with per-phase timing."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import aiohttp

from exporter import __version__

USER_AGENT = f"inventory-exporter/{__version__}"


def make_session(limit: int = 256) -> aiohttp.ClientSession:
    """No proxies from the environment, no redirects followed by default, bounded pool."""
    trace = aiohttp.TraceConfig()
    trace.on_connection_create_start.append(_mark("connect_start"))
    trace.on_connection_create_end.append(_mark("connect_end"))
    trace.on_request_end.append(_mark("headers"))
    connector = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300, enable_cleanup_closed=False)
    return aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        trace_configs=[trace],
        headers={"User-Agent": USER_AGENT},
        auto_decompress=True,
    )


def _mark(name: str):
    async def record(session: Any, ctx: SimpleNamespace, params: Any) -> None:
        timings = ctx.trace_request_ctx
        if isinstance(timings, dict):
            timings[name] = time.perf_counter()

    return record


async def timed_get(
    session: aiohttp.ClientSession, url: str, timeout: float, body_limit: int
) -> tuple[int, int, dict[str, float]]:
    """GET ``url``; return (status, body bytes read, phase timings in seconds).

    The body is read up to ``body_limit`` bytes and the rest discarded with the connection,
    so an endless or huge body cannot grow memory.
    """
    marks: dict[str, float] = {"start": time.perf_counter()}
    async with session.get(
        url,
        allow_redirects=False,
        timeout=aiohttp.ClientTimeout(total=timeout),
        trace_request_ctx=marks,
    ) as response:
        size = await read_capped(response, body_limit)
        status = response.status
    end = time.perf_counter()
    phases = {"total": end - marks["start"]}
    if "connect_start" in marks and "connect_end" in marks:
        phases["connect"] = marks["connect_end"] - marks["connect_start"]
    if "headers" in marks:
        phases["first_byte"] = marks["headers"] - marks["start"]
    return status, size, phases


async def read_capped(response: aiohttp.ClientResponse, limit: int) -> int:
    """Read the body to its end or to ``limit`` bytes (then drop the connection); return bytes read."""
    size = 0
    while size < limit:
        chunk = await response.content.read(min(limit - size, 64 * 1024))
        if not chunk:
            return size
        size += len(chunk)
    if not response.content.at_eof():
        response.close()
    return size
