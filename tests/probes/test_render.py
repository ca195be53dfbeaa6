"""render: true against a real aiohttp app serving HTML and its assets: missing and failing assets,
the bounds on what is fetched, and the page's build id against the project's .next/BUILD_ID."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from exporter.config import Target, parse_config
from exporter.detectors_functional import pages_render
from exporter.diagnosis import Facts, diagnose_target
from exporter.metrics import Samples
from exporter.probes.http import probe_http
from exporter.probes.render import MAX_ASSETS, parse_page
from tests.conftest import deadline
from tests.support.shop_app import BUILD_ID, Shop, shop_app


def page_target(url: str, project: Path | None) -> Target:
    lines = [f"targets:\n  - name: shop\n    app_url: {url}\n    endpoints:\n      - {{path: /, render: true}}\n"]
    if project is not None:
        lines.append(f"    project_dir: {project}\n")
    (target,) = parse_config("".join(lines)).targets
    return target


def project_with_build(tmp_path: Path, build_id: str) -> Path:
    (tmp_path / ".next").mkdir()
    (tmp_path / ".next" / "BUILD_ID").write_text(build_id)
    return tmp_path


async def run(target: Target, ctx) -> Samples:
    out = Samples({"target": target.name})
    await probe_http(target, ctx, out, deadline(10))
    return out


async def serve_shop(aiohttp_server, shop: Shop) -> str:
    server = await aiohttp_server(shop_app(shop))
    return f"http://127.0.0.1:{server.port}"


async def test_missing_and_failing_assets_and_a_stale_build_are_findings(aiohttp_server, ctx, tmp_path):
    shop = Shop(build_id="old-build-1", assets={"/_next/static/chunks/gone-1.js": 404, "/_next/static/css/boom.css": 500})
    url = await serve_shop(aiohttp_server, shop)
    out = await run(page_target(url, project_with_build(tmp_path, "new-build-2")), ctx)
    counts = {l["result"]: v for l, v in out.matching("inventory_page_assets", path="/")}
    assert counts == {"ok": 3.0, "missing": 1.0, "error": 1.0}
    failing = {l["asset"]: (l["result"], l["status"]) for l, _ in out.matching("inventory_page_asset_failure_info")}
    assert failing == {"/_next/static/chunks/gone-1.js": ("missing", "404"), "/_next/static/css/boom.css": ("error", "500")}
    (info,) = out.matching("inventory_page_build_id_info")
    assert (info[0]["page_build_id"], info[0]["project_build_id"]) == ("old-build-1", "new-build-2")
    assert out.value("inventory_page_build_stale", path="/") == 1
    assert out.value("inventory_http_up", path="/") == 1, "the page itself answers 200"
    diagnosis = diagnose_target(out.store, "shop")
    found = {f.id: f for f in diagnosis.findings}
    assert set(found) == {"page_assets_failing", "stale_build"}
    assert found["page_assets_failing"].evidence["failing"] == "2 of 5"
    assert "/_next/static/chunks/gone-1.js → 404" in found["page_assets_failing"].evidence["assets"]
    assert found["stale_build"].evidence == {"pages": "/", "page_build_id": "old-build-1", "project_build_id": "new-build-2"}
    assert found["stale_build"].severity == "warning"
    assert any("npm run build" in line for line in found["stale_build"].check.fix)
    assert pages_render(Facts(out.store, "shop")) is False


async def test_a_page_of_the_current_build_with_all_assets_is_clear(aiohttp_server, ctx, tmp_path):
    url = await serve_shop(aiohttp_server, Shop())
    out = await run(page_target(url, project_with_build(tmp_path, BUILD_ID)), ctx)
    assert out.value("inventory_page_build_stale", path="/") == 0
    diagnosis = diagnose_target(out.store, "shop")
    assert diagnosis.findings == [] and {"page_assets_failing", "stale_build"} <= set(diagnosis.evaluated)


async def test_without_a_project_the_build_is_shown_but_not_judged(aiohttp_server, ctx):
    url = await serve_shop(aiohttp_server, Shop())
    out = await run(page_target(url, None), ctx)
    (info,) = out.matching("inventory_page_build_id_info")
    assert info[0]["project_build_id"] == ""
    assert out.value("inventory_page_build_stale") is None
    assert "stale_build" not in diagnose_target(out.store, "shop").evaluated


async def test_assets_are_bounded_in_number_and_fetched_concurrently(aiohttp_server, ctx):
    hits: list[str] = []

    async def page(request: web.Request) -> web.Response:
        scripts = "".join(f'<script src="/s/{i}.js"></script>' for i in range(MAX_ASSETS + 20))
        return web.Response(text=f"<html><body>{scripts}</body></html>", content_type="text/html")

    async def script(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="x", content_type="application/javascript")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/s/{name}", script)
    server = await aiohttp_server(app)
    out = await run(page_target(f"http://127.0.0.1:{server.port}", None), ctx)
    assert len(hits) == MAX_ASSETS
    assert out.value("inventory_page_assets", result="ok") == MAX_ASSETS


async def test_an_asset_that_never_answers_is_cut_off_by_the_deadline(aiohttp_server, ctx):
    import asyncio
    import time

    async def page(request: web.Request) -> web.Response:
        return web.Response(text='<script src="/hang.js"></script><script src="/ok.js"></script>', content_type="text/html")

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(text="late")

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="x")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/hang.js", hang)
    app.router.add_get("/ok.js", ok)
    server = await aiohttp_server(app)
    target = page_target(f"http://127.0.0.1:{server.port}", None)
    out = Samples({"target": "shop"})
    start = time.monotonic()
    await probe_http(target, ctx, out, deadline(0.5))
    assert time.monotonic() - start < 3, "bounded by the deadline"
    failing = {l["asset"]: l["status"] for l, _ in out.matching("inventory_page_asset_failure_info")}
    assert failing == {"/hang.js": "TimeoutError"}
    assert out.value("inventory_page_assets", result="ok") == 1


@pytest.mark.parametrize(
    "html, assets, build_ids",
    [
        ('<script src="/a.js"></script><script src="https://cdn.example.com/b.js"></script>'
         '<link rel="preload stylesheet" href="c.css"><link rel="icon" href="/f.ico">', ["/a.js", "/p/c.css"], []),
        ('<script src="//other.example/x.js"></script><script src="http://127.0.0.1:1/y.js"></script>', [], []),
        ('<script id="__NEXT_DATA__" type="application/json">{"buildId":"abc_12"}</script>', [], ["abc_12"]),
        ('<script id="__NEXT_DATA__">{not json</script><script src="/_next/static/Zz9/_ssgManifest.js"></script>'
         '<script src="/_next/static/chunks/x.js"></script>', ["/_next/static/Zz9/_ssgManifest.js", "/_next/static/chunks/x.js"], ["Zz9"]),
        ('<scr<ipt src="/a.js"><<>>< /script>&#xZZ;<link rel=stylesheet href="/s.css"', [], []),
    ],
)
def test_parse_page(html, assets, build_ids):
    refs = parse_page(html, "http://127.0.0.1:3001/p/")
    assert [u.removeprefix("http://127.0.0.1:3001") for u in refs.assets] == assets
    assert refs.build_ids == build_ids
