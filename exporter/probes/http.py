"""Do the app's API endpoints and static assets answer, do they meet their conditions, and how fast?"""

from __future__ import annotations

import asyncio

import aiohttp

from exporter.config import Target
from exporter.endpoints import Endpoint
from exporter.httpclient import timed_request
from exporter.metrics import Samples
from exporter.probes.conditions import (
    MAX_CHECKED_BODY,
    Request,
    Result,
    SecretUnavailable,
    body_conditions,
    build_request,
    needs_thread,
    quick_conditions,
)
from exporter.probes.render import MAX_PAGE_BYTES, check_render
from exporter.probing import Deadline, Outcome, ProbeContext, classify_os_error


def path_kind(path: str, static: bool) -> str:
    """static for assets, api for /api/ routes, page for everything else (the report's 500 ms vs 3 s)."""
    if static:
        return "static"
    return "api" if path == "/api" or path.startswith("/api/") else "page"


async def probe_http(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    endpoints = target.http_endpoints()
    if len(endpoints) == 1:  # no task of its own for the common single endpoint
        outcomes = [await check_endpoint(target, ctx, out, deadline, *endpoints[0])]
    else:
        outcomes = await asyncio.gather(*(check_endpoint(target, ctx, out, deadline, e, s) for e, s in endpoints))
    failed = [o for o in outcomes if not o.ok]
    return failed[0] if failed else Outcome.success()


async def check_path(
    target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline, path: str, kind: str
) -> Outcome:
    """A plain GET of ``path`` (kept for callers that have a path, not an endpoint)."""
    return await check_endpoint(target, ctx, out, deadline, Endpoint(path), kind == "static")


async def check_endpoint(
    target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline, endpoint: Endpoint, static: bool
) -> Outcome:
    labels = {"path": endpoint.label, "kind": path_kind(endpoint.path, static)}
    try:
        request = await _request(ctx, deadline, endpoint)
    except SecretUnavailable as exc:
        report_conditions(out, endpoint.label, [Result("secrets", False, "secret_unavailable", str(exc))])
        return Outcome.fail("not_found", f"{endpoint.label}: {exc}")
    keep = _bytes_to_keep(endpoint, ctx)
    url = target.app_url.rstrip("/") + endpoint.path
    try:
        status, size, phases, body, charset = await timed_request(
            ctx.session, endpoint.method, url, deadline.remaining(), ctx.http_body_limit,
            headers=request.headers or None, data=request.data, keep=keep,
        )
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        out.add("inventory_http_up", 0, **labels)
        out.add("inventory_http_status_code", 0, **labels)
        return Outcome.fail(http_error_reason(exc), f"{endpoint.label}: {exc!r}")
    up = endpoint.passes_status(status)
    out.add("inventory_http_up", int(up), **labels)
    out.add("inventory_http_status_code", status, **labels)
    out.add("inventory_http_response_seconds", phases["total"], **labels)
    out.add("inventory_http_content_length_bytes", size, **labels)
    out.add("inventory_http_phase_seconds", phases["first_byte"], phase="first_byte", **labels)
    results = quick_conditions(endpoint, status, phases["total"])
    if _reads_body(endpoint):
        results += await ctx.blocking(deadline, body_conditions, endpoint, body, charset, request.secrets)
    report_conditions(out, endpoint.label, results)
    outcome = Outcome.success() if up else Outcome.fail("http_status", f"{endpoint.label}: status {status}")
    if endpoint.render and up:
        rendered = await check_render(target, ctx, out, deadline, endpoint, url, body[:MAX_PAGE_BYTES], charset)
        outcome = outcome if not outcome.ok else rendered
    failed = [r.condition for r in results if not r.ok]
    if outcome.ok and failed:
        return Outcome.fail("mismatch", f"{endpoint.label}: condition failed: {', '.join(failed)}")
    return outcome


async def _request(ctx: ProbeContext, deadline: Deadline, endpoint: Endpoint) -> Request:
    if not endpoint.headers and endpoint.body is None and endpoint.json_body is None:
        return Request()
    if needs_thread(endpoint):
        return await ctx.blocking(deadline, build_request, endpoint)
    return build_request(endpoint)


def _reads_body(endpoint: Endpoint) -> bool:
    expect = endpoint.expect
    return expect is not None and (expect.body_regex is not None or bool(expect.json))


def _bytes_to_keep(endpoint: Endpoint, ctx: ProbeContext) -> int:
    keep = MAX_CHECKED_BODY if _reads_body(endpoint) else 0
    if endpoint.render:
        keep = max(keep, MAX_PAGE_BYTES)
    return min(keep, ctx.http_body_limit)


def report_conditions(out: Samples, label: str, results: list[Result]) -> None:
    for result in results:
        out.add("inventory_http_condition_success", int(result.ok), path=label, condition=result.condition)
        if not result.ok:
            out.add("inventory_http_condition_failure_info", 1, path=label, condition=result.condition,
                    reason=result.reason, seen=result.seen)


def http_error_reason(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return classify_os_error(exc.os_error)
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return "timeout"
    if isinstance(exc, aiohttp.ClientError):
        return "connection_error"
    return classify_os_error(exc)
