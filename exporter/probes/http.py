"""Do the app's API endpoints and static assets answer, and how fast?"""

from __future__ import annotations

import asyncio

import aiohttp

from exporter.config import Target
from exporter.httpclient import timed_get
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext, classify_os_error


def path_kind(path: str, static: bool) -> str:
    """static for assets, api for /api/ routes, page for everything else (the report's 500 ms vs 3 s)."""
    if static:
        return "static"
    return "api" if path == "/api" or path.startswith("/api/") else "page"


async def probe_http(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    paths = [(p, path_kind(p, False)) for p in target.endpoints]
    paths += [(p, "static") for p in target.static_paths]
    if len(paths) == 1:  # no task of its own for the common single endpoint
        outcomes = [await check_path(target, ctx, out, deadline, *paths[0])]
    else:
        outcomes = await asyncio.gather(*(check_path(target, ctx, out, deadline, p, k) for p, k in paths))
    failed = [o for o in outcomes if not o.ok]
    return failed[0] if failed else Outcome.success()


async def check_path(
    target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline, path: str, kind: str
) -> Outcome:
    labels = {"path": path, "kind": kind}
    try:
        status, size, phases = await timed_get(
            ctx.session, target.app_url.rstrip("/") + path, deadline.remaining(), ctx.http_body_limit
        )
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        out.add("inventory_http_up", 0, **labels)
        out.add("inventory_http_status_code", 0, **labels)
        return Outcome.fail(http_error_reason(exc), f"{path}: {exc!r}")
    up = 200 <= status < 400
    out.add("inventory_http_up", int(up), **labels)
    out.add("inventory_http_status_code", status, **labels)
    out.add("inventory_http_response_seconds", phases["total"], **labels)
    out.add("inventory_http_content_length_bytes", size, **labels)
    out.add("inventory_http_phase_seconds", phases["first_byte"], phase="first_byte", **labels)
    return Outcome.success() if up else Outcome.fail("http_status", f"{path}: status {status}")


def http_error_reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return classify_os_error(exc.os_error)
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return "timeout"
    if isinstance(exc, aiohttp.ClientError):
        return "connection_error"
    return classify_os_error(exc)
