"""The / page in real headless Chromium: the live root cause is on screen, no JavaScript needed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from exporter.app import State, create_app
from exporter.config import Config, DnsConfig, Target
from tests.conftest import free_port, make_project
from tests.support.stack import require

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-javascript", "--window-size=1280,1600",
)


async def chromium(tmp_path: Path, *args: str) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        require("chromium"), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode == 0, stderr.decode(errors="replace")[-2000:]
    return stdout


async def test_the_landing_page_shows_the_root_cause_of_a_broken_stack(aiohttp_server, tmp_path: Path):
    target = Target(
        name="smart-inventory",
        app_url=f"http://127.0.0.1:{free_port()}",
        proxy_url=f"http://127.0.0.1:{free_port()}/",
        project_dir=make_project(tmp_path / "project"),
        timeout=2.0,
    )
    cfg = Config(targets=(target,), dns=DnsConfig(names=("localhost",)))
    server = await aiohttp_server(create_app(State(config=cfg, config_file=None, loader=lambda: cfg)), host="127.0.0.1")
    url = str(server.make_url("/"))

    dom = (await chromium(tmp_path, "--dump-dom", url)).decode()
    assert "Root cause:" in dom and "app_not_listening" in dom
    assert "The app is not running on its port" in dom
    assert "npm run dev" in dom

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "landing-page-broken-stack.png"
    shot.unlink(missing_ok=True)
    await chromium(tmp_path, f"--screenshot={shot}", url)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
