"""Full render of a page (``render: true``): does every same-origin script and stylesheet it
references load, and was the page built by the build now in the project's ``.next``?

The HTML (at most ``MAX_PAGE_BYTES``) is parsed with the standard library's ``html.parser`` in
the probe threads; at most ``MAX_ASSETS`` assets are fetched, concurrently, reading at most
``MAX_ASSET_BYTES`` in all, under the scrape's deadline. Assets on other origins (CDNs) are
not fetched. The page's Next.js build id comes from its ``/_next/static/<buildId>/`` manifest
paths or ``__NEXT_DATA__``'s ``buildId``; the project's from ``.next/BUILD_ID``.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import aiohttp

from exporter.config import Target
from exporter.endpoints import Endpoint
from exporter.httpclient import read_capped
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext

MAX_PAGE_BYTES = 1 << 20
MAX_ASSETS = 50
MAX_ASSET_BYTES = 5 << 20
MAX_LISTED_FAILURES = 10  # failing assets named in inventory_page_asset_failure_info
ASSETS_AT_ONCE = 8
BUILD_ID_FILE = ".next/BUILD_ID"
# /_next/static/<buildId>/_buildManifest.js (and _ssgManifest.js): chunks/, css/, media/ are not build ids
_MANIFEST = re.compile(r"/_next/static/([A-Za-z0-9_-]{1,64})/_(?:build|ssg)Manifest\.js")
_BUILD_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEV_BUILD_ID = "development"  # `next dev` serves this id; there is no build to compare with


@dataclass
class PageRefs:
    assets: list[str] = field(default_factory=list)  # same-origin URLs, in page order, bounded
    build_ids: list[str] = field(default_factory=list)
    skipped: int = 0  # same-origin assets past MAX_ASSETS


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.refs: list[str] = []
        self.next_data: list[str] = []
        self._in_next_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): v or "" for k, v in attrs}
        if tag == "script" and values.get("src"):
            self.refs.append(values["src"])
        elif tag == "link" and "stylesheet" in values.get("rel", "").lower().split() and values.get("href"):
            self.refs.append(values["href"])
        self._in_next_data = tag == "script" and values.get("id") == "__NEXT_DATA__"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_next_data = False

    def handle_data(self, data: str) -> None:
        if self._in_next_data:
            self.next_data.append(data)


def parse_page(html: str, page_url: str) -> PageRefs:
    """The same-origin scripts and stylesheets of ``html`` and its build ids (blocking: probe threads)."""
    parser = _Refs()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # html.parser gives up on some broken markup: keep what it read
        pass
    origin = _origin(page_url)
    refs = PageRefs()
    for ref in dict.fromkeys(parser.refs):
        url = urljoin(page_url, ref.strip())
        if _origin(url) != origin:
            continue
        if len(refs.assets) >= MAX_ASSETS:
            refs.skipped += 1
            continue
        refs.assets.append(url)
    ids = [m[1] for url in refs.assets for m in [_MANIFEST.search(urlsplit(url).path)] if m]
    ids += _next_data_build_id("".join(parser.next_data))
    refs.build_ids = list(dict.fromkeys(ids))
    return refs


def _next_data_build_id(text: str) -> list[str]:
    if not text.strip():
        return []
    try:
        build_id = json.loads(text).get("buildId")
    except (ValueError, AttributeError, RecursionError):
        return []
    return [build_id] if isinstance(build_id, str) and _BUILD_ID.match(build_id) else []


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    return parts.scheme, (parts.hostname or ""), port


def asset_label(url: str) -> str:
    parts = urlsplit(url)
    label = parts.path + (f"?{parts.query}" if parts.query else "")
    return label if len(label) <= 200 else label[:199] + "…"


async def check_render(
    target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline, endpoint: Endpoint,
    page_url: str, html: bytes, charset: str,
) -> Outcome:
    try:
        text = html.decode(charset, "replace")
    except LookupError:
        text = html.decode("utf-8", "replace")
    refs = await ctx.blocking(deadline, parse_page, text, page_url)
    results = await fetch_assets(ctx, deadline, refs.assets)
    label = endpoint.label
    counts = {"ok": 0, "missing": 0, "error": 0}
    for _, result, _ in results:
        counts[result] += 1
    for result, count in counts.items():
        out.add("inventory_page_assets", count, path=label, result=result)
    failing = [(url, result, status) for url, result, status in results if result != "ok"]
    for url, result, status in failing[:MAX_LISTED_FAILURES]:
        out.add("inventory_page_asset_failure_info", 1, path=label, asset=asset_label(url), result=result,
                status=status)
    await report_build(target, ctx, out, deadline, label, refs.build_ids)
    if failing:
        return Outcome.fail("http_status", f"{label}: {len(failing)} of {len(results)} assets fail")
    return Outcome.success()


async def fetch_assets(ctx: ProbeContext, deadline: Deadline, urls: list[str]) -> list[tuple[str, str, str]]:
    """(url, ok/missing/error, status or error class) for each asset, fetched a few at a time."""
    budget = [MAX_ASSET_BYTES]
    gate = asyncio.Semaphore(ASSETS_AT_ONCE)

    async def one(url: str) -> tuple[str, str, str]:
        async with gate:
            try:
                async with asyncio.timeout(deadline.remaining()):
                    async with ctx.session.get(url, allow_redirects=False) as response:
                        budget[0] -= await read_capped(response, max(budget[0], 0))
                        status = response.status
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                return url, "error", type(exc).__name__
        if 200 <= status < 400:
            return url, "ok", str(status)
        return url, "missing" if status in (404, 410) else "error", str(status)

    return list(await asyncio.gather(*(one(url) for url in urls)))


async def report_build(
    target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline, label: str, page_ids: list[str]
) -> None:
    """inventory_page_build_id_info, and inventory_page_build_stale when both ids are known."""
    if not page_ids:
        return
    project_id = ""
    if target.project_dir is not None:
        project_id = await ctx.blocking(deadline, read_build_id, ctx.project(target.project_dir))
    page_id = page_ids[0]
    out.add("inventory_page_build_id_info", 1, path=label, page_build_id=page_id, project_build_id=project_id)
    if project_id and page_id != DEV_BUILD_ID:
        out.add("inventory_page_build_stale", int(project_id not in page_ids), path=label)


def read_build_id(project) -> str:
    """The project's ``.next/BUILD_ID`` ("" when it cannot be read or is not an id)."""
    try:
        text = project.read_text(BUILD_ID_FILE, 256).strip()
    except OSError:
        return ""
    return text if _BUILD_ID.match(text) else ""
