"""Does the nginx front answer, and is it a 502/504 bad gateway?"""

from __future__ import annotations

import asyncio

import aiohttp

from exporter.config import Target
from exporter.httpclient import timed_get
from exporter.metrics import Samples
from exporter.probes.http import http_error_reason
from exporter.probes.tls import any_tls
from exporter.probing import Deadline, Outcome, ProbeContext


async def probe_proxy(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    assert target.proxy_url
    try:
        status, _, phases = await timed_get(
            ctx.session, target.proxy_url, deadline.remaining(), ctx.http_body_limit, target.proxy_host,
            tls=any_tls(),  # does nginx answer? Its certificate and protocol are the tls probe's findings
        )
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        out.add("inventory_proxy_up", 0)
        out.add("inventory_proxy_status_code", 0)
        return Outcome.fail(http_error_reason(exc), f"{target.proxy_url}: {exc!r}")
    out.add("inventory_proxy_up", 1)
    out.add("inventory_proxy_status_code", status)
    out.add("inventory_proxy_response_seconds", phases["total"])
    if status >= 500:
        return Outcome.fail("http_status", f"{target.proxy_url}: status {status}")
    return Outcome.success()
