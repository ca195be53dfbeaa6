"""A stand-in for the Next.js app: run as ``node fake_app.py PORT [--hang]`` (python under the name node).

Serves /api/health, /api/products and /favicon.ico; with --hang it accepts connections and never answers.
"""

import asyncio
import socket
import sys

from aiohttp import web


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def products(request: web.Request) -> web.Response:
    return web.json_response([{"id": 1, "name": "widget"}])


async def favicon(request: web.Request) -> web.Response:
    return web.Response(body=b"\x00\x00\x01\x00", content_type="image/x-icon")


async def page(request: web.Request) -> web.Response:
    return web.Response(text="<html><body>智慧库存</body></html>", content_type="text/html")


async def serve(port: int) -> None:
    app = web.Application()
    app.router.add_get("/api/health", health)
    app.router.add_get("/api/products", products)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/", page)
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
