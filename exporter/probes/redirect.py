"""Does the plain-http address send users to https? ``redirect_from`` is requested without following
redirects; it passes with a 301/302/307/308 whose Location is https:// on the same host (the host
asked for: ``proxy_host`` when set, else the URL's), as nginx's ``return 301 https://$host$request_uri;``.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urljoin, urlsplit

import aiohttp

from exporter.config import Target
from exporter.metrics import Samples
from exporter.probes.http import http_error_reason
from exporter.probing import Deadline, Outcome, ProbeContext

REDIRECT_STATUSES = (301, 302, 307, 308)


async def probe_redirect(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    url = target.redirect_from
    assert url
    host = urlsplit("//" + target.proxy_host).hostname if target.proxy_host else urlsplit(url).hostname
    try:
        status, location = await fetch_head(ctx.session, url, target.proxy_host, deadline)
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        out.add("inventory_http_redirect_success", 0, url=url)
        out.add("inventory_http_redirect_status_code", 0, url=url)
        return Outcome.fail(http_error_reason(exc), f"{url}: {exc!r}")
    ok = redirects_to_https(status, location, url, host or "")
    out.add("inventory_http_redirect_success", int(ok), url=url)
    out.add("inventory_http_redirect_status_code", status, url=url)
    if location:
        out.add("inventory_http_redirect_location_info", 1, url=url, location=location[:200])
    return Outcome.success()


async def fetch_head(session: aiohttp.ClientSession, url: str, host: str | None, deadline: Deadline):
    """GET ``url`` (the body is not read); (status, Location header or "")."""
    async with asyncio.timeout(deadline.remaining()):
        headers = {"Host": host} if host else None
        async with session.get(url, allow_redirects=False, headers=headers) as response:
            return response.status, response.headers.get("Location", "")


def redirects_to_https(status: int, location: str, url: str, host: str) -> bool:
    if status not in REDIRECT_STATUSES or not location:
        return False
    target = urlsplit(urljoin(url, location))
    return target.scheme == "https" and (target.hostname or "").lower() == host.lower().rstrip(".")
