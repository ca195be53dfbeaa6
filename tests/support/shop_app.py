"""A stand-in for the inventory app's functional surface (the report's verification list), aiohttp.

Run in-process with :func:`shop_app` or as ``python shop_app.py PORT [PASSWORD TOKEN]``. Endpoints:

  POST /api/auth/login            {"username", "password"} → 200 {"token", "user"} or 401 {"error"}
  GET  /api/products              needs ``Authorization: Bearer <token>`` → {"products": [...], "total"}
  GET  /api/orders                {"orders": [...], "total"}
  GET  /api/customers             {"customers": [...]}
  GET  /api/inventory/statistics  {"totalProducts", "lowStock", "totalValue"}; in ``broken`` it answers
                                  200 {"error": "PrismaClientInitializationError: ..."} (the app's own
                                  error handler swallowing the failure)
  GET  /api/health                {"status": "ok"}
  POST /api/echo                  200 {"error", "got": <request body>, "auth": <Authorization>} (a careless app)
  GET  /                          HTML referencing Next-style scripts and a stylesheet, build ``build_id``
  GET  /_next/static/...          the assets in ``assets`` (path → status), 404 for any other
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, field

from aiohttp import web

BUILD_ID = "b1d-2026-deploy"


@dataclass
class Shop:
    password: str = "pw-shop-secret"
    token: str = "tok-shop-secret"
    broken: set[str] = field(default_factory=set)  # endpoints answering 200 {"error": ...}
    build_id: str = BUILD_ID
    assets: dict[str, int] = field(default_factory=dict)  # extra asset paths and their status
    delay: dict[str, float] = field(default_factory=dict)  # endpoint name → seconds before answering
    seen_auth: list[str] = field(default_factory=list)  # Authorization headers received (for tests)
    seen_bodies: list[bytes] = field(default_factory=list)

    def page_assets(self) -> dict[str, int]:
        base = {
            f"/_next/static/{self.build_id}/_buildManifest.js": 200,
            "/_next/static/chunks/main-abc123.js": 200,
            "/_next/static/css/app-def456.css": 200,
        }
        return {**base, **self.assets}


def page_html(shop: Shop) -> str:
    scripts = "".join(f'<script src="{p}" defer></script>' for p in shop.page_assets() if p.endswith(".js"))
    styles = "".join(f'<link rel="stylesheet" href="{p}">' for p in shop.page_assets() if p.endswith(".css"))
    next_data = json.dumps({"props": {}, "page": "/", "buildId": shop.build_id})
    return (
        f"<!DOCTYPE html><html><head><title>智慧库存</title>{styles}"
        '<link rel="stylesheet" href="https://cdn.example.com/font.css">'  # another origin: never fetched
        '<script src="https://cdn.example.com/analytics.js"></script>'
        f"</head><body><div id=\"__next\">库存</div>"
        f'<script id="__NEXT_DATA__" type="application/json">{next_data}</script>{scripts}</body></html>'
    )


def shop_app(shop: Shop) -> web.Application:
    async def login(request: web.Request) -> web.Response:
        body = await request.read()
        shop.seen_bodies.append(body)
        try:
            data = json.loads(body)
        except ValueError:
            return web.json_response({"error": "expected JSON"}, status=400)
        if data.get("username") == "admin" and data.get("password") == shop.password:
            return web.json_response({"token": shop.token, "user": {"name": "admin", "role": "manager"}})
        return web.json_response({"error": "invalid credentials"}, status=401)

    def guarded(name: str, payload: dict, auth: bool = False):
        async def handler(request: web.Request) -> web.Response:
            shop.seen_auth.append(request.headers.get("Authorization", ""))
            await asyncio.sleep(shop.delay.get(name, 0))
            if auth and request.headers.get("Authorization") != f"Bearer {shop.token}":
                return web.json_response({"error": "unauthorized"}, status=401)
            if name in shop.broken:
                return web.json_response({"error": "PrismaClientInitializationError: Can't reach database server"})
            return web.json_response(payload)

        return handler

    async def echo(request: web.Request) -> web.Response:  # a careless app echoing what it got
        body = (await request.read()).decode("utf-8", "replace")
        return web.json_response({"error": "bad request", "got": body, "auth": request.headers.get("Authorization", "")})

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=page_html(shop), content_type="text/html")

    async def asset(request: web.Request) -> web.Response:
        status = shop.page_assets().get(request.path, 404)
        if status != 200:
            return web.Response(status=status, text="no")
        kind = "text/css" if request.path.endswith(".css") else "application/javascript"
        return web.Response(text="/* asset */", content_type=kind)

    app = web.Application()
    app.router.add_post("/api/auth/login", login)
    app.router.add_get("/api/products", guarded("products", {
        "products": [{"id": 1, "name": "widget", "stock": 12}, {"id": 2, "name": "gadget", "stock": 0}], "total": 2,
    }, auth=True))
    app.router.add_get("/api/orders", guarded("orders", {"orders": [{"id": 101, "status": "shipped"}], "total": 1}))
    app.router.add_get("/api/customers", guarded("customers", {"customers": [{"id": 7, "name": "ACME"}]}))
    app.router.add_get("/api/inventory/statistics", guarded("statistics", {
        "totalProducts": 2, "lowStock": 1, "totalValue": 1234.5,
    }))
    app.router.add_get("/api/health", guarded("health", {"status": "ok"}))
    app.router.add_post("/api/echo", echo)
    app.router.add_get("/", page)
    app.router.add_get("/_next/{tail:.*}", asset)
    return app


async def serve(port: int, password: str, token: str) -> None:
    shop = Shop(password=password, token=token)
    runner = web.AppRunner(shop_app(shop))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), *(sys.argv[2:4] or [Shop.password, Shop.token])))
