"""The one HTTP client session the exporter keeps for its life, with per-phase timing."""

from __future__ import annotations

import asyncio
import ssl
import time

import aiohttp

from exporter import __version__

USER_AGENT = f"inventory-exporter/{__version__}"


def make_session(limit: int = 256) -> aiohttp.ClientSession:
    """No proxies from the environment, no redirects followed by default, bounded pool.

    No trace hooks: they cost about a tenth of a /probe's CPU. The time to the response headers
    is measured around the request itself; the connect time is the port probe's.
    """
    connector = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300, enable_cleanup_closed=False)
    return aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
        auto_decompress=True,
        timeout=aiohttp.ClientTimeout(),  # no timers of aiohttp's own: each request is bounded by its deadline
    )


async def timed_get(
    session: aiohttp.ClientSession, url: str, timeout: float, body_limit: int, host: str | None = None,
    tls: ssl.SSLContext | bool = True,
) -> tuple[int, int, dict[str, float]]:
    """GET ``url`` within ``timeout`` seconds (TimeoutError after); return (status, body bytes
    read, phase timings in seconds: first_byte, total). ``host`` is sent as the Host header (nginx
    picks the server block by it). ``tls`` is aiohttp's ``ssl``: True verifies an https URL's
    certificate, or a context of the caller's (the proxy probe's accepts any certificate and protocol:
    their soundness is the tls probe's to judge).

    The body is read up to ``body_limit`` bytes and the rest discarded with the connection,
    so an endless or huge body cannot grow memory. (The bound is asyncio's: aiohttp treats a
    total timeout of 0 as "no timeout" and rounds timeouts of 5 s and more up to a whole second.)
    """
    start = time.perf_counter()
    async with asyncio.timeout(timeout):
        async with session.get(url, allow_redirects=False, headers={"Host": host} if host else None,
                               ssl=tls) as response:
            first_byte = time.perf_counter() - start
            size = await read_capped(response, body_limit)
            status = response.status
    return status, size, {"first_byte": first_byte, "total": time.perf_counter() - start}


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


async def timed_request(
    session: aiohttp.ClientSession, method: str, url: str, timeout: float, body_limit: int,
    headers: dict[str, str] | None = None, data: bytes | None = None, keep: int = 0,
) -> tuple[int, int, dict[str, float], bytes, str]:
    """Like :func:`timed_get` for any method, with request headers and body; also returns the first
    ``keep`` bytes of the response body (for conditions and page rendering) and its charset."""
    start = time.perf_counter()
    async with asyncio.timeout(timeout):
        async with session.request(method, url, allow_redirects=False, headers=headers, data=data) as response:
            first_byte = time.perf_counter() - start
            size, kept = await read_keeping(response, body_limit, keep)
            status = response.status
            charset = response.charset or "utf-8"
    return status, size, {"first_byte": first_byte, "total": time.perf_counter() - start}, kept, charset


async def read_keeping(response: aiohttp.ClientResponse, limit: int, keep: int) -> tuple[int, bytes]:
    """:func:`read_capped` that keeps the first ``keep`` bytes it reads."""
    size, kept = 0, bytearray()
    while size < limit:
        chunk = await response.content.read(min(limit - size, 64 * 1024))
        if not chunk:
            return size, bytes(kept)
        if len(kept) < keep:
            kept += chunk[: keep - len(kept)]
        size += len(chunk)
    if not response.content.at_eof():
        response.close()
    return size, bytes(kept)
