"""A stand-in for the Next.js app: run as ``node fake_app.py PORT [--hang]`` (python under the name node).

Serves /api/health, /api/products, /favicon.ico and the page / with the same-origin stylesheet and
build manifest script a Next.js page references (build id BUILD_ID, what ``render: true`` fetches);
with --hang it accepts connections and never answers.
"""

import asyncio
import socket
import sys

from aiohttp import web

BUILD_ID = "fake-app-build"  # as .next/BUILD_ID of a project built by `next build`
STYLESHEET = "/_next/static/css/app.css"
MANIFEST = f"/_next/static/{BUILD_ID}/_buildManifest.js"


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def products(request: web.Request) -> web.Response:
    return web.json_response([{"id": 1, "name": "widget"}])


async def favicon(request: web.Request) -> web.Response:
    return web.Response(body=b"\x00\x00\x01\x00", content_type="image/x-icon")


async def page(request: web.Request) -> web.Response:
    head = f'<link rel="stylesheet" href="{STYLESHEET}"><script src="{MANIFEST}" defer></script>'
    return web.Response(text=f"<html><head>{head}</head><body>智慧库存</body></html>", content_type="text/html")


async def stylesheet(request: web.Request) -> web.Response:
    return web.Response(text="body { margin: 0 }", content_type="text/css")


async def manifest(request: web.Request) -> web.Response:
    return web.Response(text="self.__BUILD_MANIFEST = {};", content_type="application/javascript")


async def serve(port: int) -> None:
    app = web.Application()
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/products", products)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/", page)
    app.router.add_get(STYLESHEET, stylesheet)
    app.router.add_get(MANIFEST, manifest)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


def hang(port: int) -> None:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(128)
    held = []
    while True:
        conn, _ = server.accept()
        held.append(conn)  # never answer, never close


if __name__ == "__main__":
    port = int(sys.argv[1])
    if "--title" in sys.argv:  # as Next's process.title: ps shows "next-server (v15.5.0)"
        from next_like import set_title  # beside this file

        set_title(sys.argv[sys.argv.index("--title") + 1])
    if "--hang" in sys.argv:
        hang(port)
    else:
        asyncio.run(serve(port))
