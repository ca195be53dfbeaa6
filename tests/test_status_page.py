"""The status page in real headless Chromium during a staged incident: the real exporter app,
the stand-in app stopped for a known number of scrapes and started again. Chromium is driven over
the DevTools protocol (aiohttp's websocket client): no console error or CSP violation, no horizontal
scrolling at 390 px, the red heartbeat cells where the outage was, the incident with its duration,
and screenshots at 1280 and 390 px in English and Chinese (test-artifacts/status-page-*.png)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path

import aiohttp

from exporter.app import State, create_app
from exporter.landing import PAGE_CSP
from exporter.config import load_config
from exporter.pagetext import duration
from tests.conftest import free_port, make_project
from tests.support.stack import require, start_app

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
UP_BEFORE, DOWN, UP_AFTER = 3, 4, 3


class DevTools:
    """One Chromium page over the DevTools protocol: commands, and the errors it reports."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse):
        self.ws, self.next_id, self.errors, self.events = ws, 0, [], asyncio.Queue()
        self.replies: dict[int, asyncio.Future] = {}
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data:
                self.replies.pop(data["id"]).set_result(data)
                continue
            method, params = data.get("method"), data.get("params", {})
            if method == "Runtime.exceptionThrown":
                self.errors.append(params["exceptionDetails"].get("text", "exception"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                self.errors.append(str(params.get("args")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                self.errors.append(params["entry"].get("text", ""))
            self.events.put_nowait(method)

    async def call(self, method: str, **params) -> dict:
        self.next_id += 1
        reply = self.replies[self.next_id] = asyncio.get_running_loop().create_future()
        await self.ws.send_str(json.dumps({"id": self.next_id, "method": method, "params": params}))
        data = await asyncio.wait_for(reply, timeout=30)
        assert "error" not in data, f"{method}: {data['error']}"
        return data["result"]

    async def evaluate(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def load(self, url: str, width: int) -> None:
        await self.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1,
                        mobile=width < 600)
        while not self.events.empty():
            self.events.get_nowait()
        await self.call("Page.navigate", url=url)
        while await asyncio.wait_for(self.events.get(), timeout=30) != "Page.loadEventFired":
            pass

    async def screenshot(self, path: Path, width: int) -> None:
        height = await self.evaluate("document.documentElement.scrollHeight")
        await self.call("Emulation.setDeviceMetricsOverride", width=width, height=min(int(height), 6000),
                        deviceScaleFactor=1, mobile=width < 600)
        shot = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))


async def chromium_page(tmp_path: Path, session: aiohttp.ClientSession):
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        require("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--remote-debugging-port={port}", "--remote-debugging-address=127.0.0.1",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    for _ in range(300):  # up to 30 s for the DevTools endpoint
        try:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                pages = [t for t in await response.json() if t["type"] == "page"]
            if pages:
                break
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError("chromium's DevTools endpoint did not come up")
    ws = await session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=64 << 20)
    tools = DevTools(ws)
    for domain in ("Page", "Runtime", "Log"):
        await tools.call(f"{domain}.enable")
    return proc, tools


def values(text: str, name: str) -> dict[str, float]:
    return {labels: float(value) for labels, value in re.findall(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.M)}


async def metric(session: aiohttp.ClientSession, base: str, name: str, seen: list | None = None) -> dict[str, float]:
    """One scrape (a second after the last: the outage lasts seconds, not milliseconds); ``seen`` gets
    the scrape's root cause and active findings, for the message of a failed assertion."""
    await asyncio.sleep(1.0)
    async with session.get(f"{base}/metrics") as response:
        text = await response.text()
    if seen is not None:
        causes = [k for k, v in values(text, "inventory_root_cause_info").items() if v == 1]
        active = sorted(re.findall(r'^inventory_finding\{[^}]*check="([^"]+)"[^}]*\} 1(?:\.0)?$', text, re.M))
        failed = re.findall(r'^inventory_probe_failure_info\{([^}]*)\} 1', text, re.M)
        seen.append(f"{causes} {active} {failed}")
    return values(text, name)


async def test_the_status_page_shows_a_staged_outage_in_chromium(aiohttp_server, tmp_path: Path):
    app_port = free_port()
    project = make_project(tmp_path / "project")
    config_file = tmp_path / "config.yml"
    config_file.write_text(
        f"targets:\n  - name: shop\n    app_url: http://127.0.0.1:{app_port}\n    project_dir: {project}\n"
        "    endpoints: [/api/health, /api/products]\ndns:\n  include_hostname: false\n", encoding="utf-8")
    cfg = load_config(config_file)
    server = await aiohttp_server(create_app(State(config=cfg, config_file=None, loader=lambda: cfg)), host="127.0.0.1")
    base = str(server.make_url("")).rstrip("/")
    app = start_app(tmp_path / "bin", app_port)
    proc = None
    try:
        async with aiohttp.ClientSession() as session:
            since, seen = {}, []
            for _ in range(UP_BEFORE):
                since.update(await metric(session, base, "inventory_root_cause_since_timestamp_seconds", seen))
            app.stop()
            for _ in range(DOWN):
                since.update(await metric(session, base, "inventory_root_cause_since_timestamp_seconds", seen))
            app = start_app(tmp_path / "bin", app_port)
            for _ in range(UP_AFTER):
                now = await metric(session, base, "inventory_root_cause_since_timestamp_seconds", seen)
            changes = await metric(session, base, "inventory_target_state_changes_total", seen)
            assert changes == {'target="shop"': 2.0}, "\n".join(seen)
            down_since = since['cause="app_not_listening",target="shop"']
            up_again = now['cause="none",target="shop"']
            outage = duration(up_again - down_since, "en")

            async with session.get(f"{base}/?lang=zh-CN") as response:
                assert response.headers["Content-Security-Policy"] == PAGE_CSP
                page = await response.text()
            assert '<meta http-equiv="refresh" content="30">' in page and "prefers-color-scheme: dark" in page
            assert "生成于" in page and "指标" in page and "<script" not in page and "http://" not in page.split("<body>")[0]

            proc, tools = await chromium_page(tmp_path, session)
            ARTIFACTS.mkdir(exist_ok=True)
            for lang, width in (("en", 390), ("en", 1280), ("zh-CN", 390), ("zh-CN", 1280)):
                await tools.load(f"{base}/?lang={lang}", width)
                assert await tools.evaluate("document.documentElement.scrollWidth") <= width
                cells = await tools.evaluate(
                    "Array.from(document.querySelectorAll('#history-shop .hour i')).map(c => c.className)")
                # one cell a scrape: UP_BEFORE healthy, DOWN critical, then healthy (the page's own scrapes too)
                assert cells[UP_BEFORE:UP_BEFORE + DOWN] == ["s3"] * DOWN, cells
                assert "s3" not in cells[:UP_BEFORE] + cells[UP_BEFORE + DOWN:], cells
                assert len(cells) >= UP_BEFORE + DOWN + UP_AFTER
                title = await tools.evaluate(f"document.querySelectorAll('#history-shop .hour i')[{UP_BEFORE}].title")
                assert "app_not_listening" in title and ("critical" in title or "严重" in title)
                rows = await tools.evaluate(
                    "Array.from(document.querySelectorAll('#history-shop table.incidents tbody tr'))"
                    ".map(r => Array.from(r.cells).map(c => c.textContent))")
                assert len(rows) == 1 and rows[0][3] == "app_not_listening", rows
                assert rows[0][2] == duration(up_again - down_since, lang), (rows, outage)
                since_line = await tools.evaluate("document.querySelector('#history-shop .since').textContent")
                assert ("up since" if lang == "en" else "起正常") in since_line
                assert ("1 outage in 24 h" if lang == "en" else "24 小时内 1 次故障") in since_line
                assert await tools.evaluate("document.querySelectorAll('#history-shop svg.spark').length") == 2
                await tools.screenshot(ARTIFACTS / f"status-page-{lang}-{width}.png", width)
            await tools.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}])
            await tools.load(f"{base}/", 390)
            assert await tools.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(18, 18, 18)"
            assert tools.errors == [], tools.errors
            await tools.ws.close()
    finally:
        app.stop()
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
