#!/usr/bin/env python3
"""Issue 12, point 3: swap .env and package.json between a regular file and a link to a file outside
the project in a tight loop while scraping the real app; count the scrapes that show outside content.

    python bench/link_race.py                 # 60 s
    python bench/link_race.py --duration 10

Runs on 127.0.0.1 only, under a temporary directory removed at the end. Prints the counts; exits 1
if any scrape showed outside content.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from exporter.app import State, create_app  # noqa: E402
from exporter.config import Config, DnsConfig, Target  # noqa: E402
from tests.conftest import free_port, make_project  # noqa: E402
from tests.test_hostile_files import OUTSIDE_ENV, OUTSIDE_PACKAGE, LinkSwapper, shows_outside_content  # noqa: E402


async def race(base: Path, duration: float) -> tuple[int, int, int]:
    project = make_project(base / "p")
    outside = base / "outside"
    outside.mkdir()
    (outside / ".env").write_text(OUTSIDE_ENV)
    (outside / "package.json").write_text(OUTSIDE_PACKAGE)
    target = Target(name="shop", app_url=f"http://127.0.0.1:{free_port()}", project_dir=project, timeout=10.0,
                    env_vars=("DATABASE_URL", "PORT", "OUTSIDE_SECRET_VAR"))
    cfg = Config(targets=(target,), dns=DnsConfig(names=("localhost",), timeout=0.5))
    client = TestClient(TestServer(create_app(State(config=cfg, config_file=None, loader=lambda: cfg))))
    await client.start_server()
    scrapes = leaked = 0
    try:
        with LinkSwapper(project, outside) as swapper:
            ends = time.monotonic() + duration
            while time.monotonic() < ends:
                response = await client.get("/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "2"})
                scrapes += 1
                leaked += shows_outside_content(await response.text())
        return scrapes, leaked, swapper.swaps
    finally:
        await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="link-race-"))
    try:
        scrapes, leaked, swaps = asyncio.run(race(base, args.duration))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"{args.duration:.0f} s: {scrapes} scrapes, {swaps} swap rounds, {leaked} scrapes showed outside content")
    return 1 if leaked else 0


if __name__ == "__main__":
    sys.exit(main())
