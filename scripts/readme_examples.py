#!/usr/bin/env python3
"""Stage the incident on loopback and capture what a person sees, for the README.

    python3 scripts/readme_examples.py            # writes docs/landing-page.png, docs/landing-page.zh-CN.png,
                                                  #        docs/diagnose-example.txt

The stage (tests/support/discovery_stage.py): a smart-inventory project (database, Prisma, .env), a
systemd unit that runs it on APP_PORT, a real nginx site proxying to APP_PORT on which nothing
listens (every page answers 502: the incident), and the exporter with **no config file**, finding
all of it by discovery; then ``diagnose`` and a headless Chromium screenshot of ``/``. Everything runs
on 127.0.0.1 under a temporary directory and is stopped at the end. Needs what ``make test``
installs (nginx, chromium).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port  # noqa: E402  (the test suite's stand-ins)
from tests.support.discovery_stage import Stage  # noqa: E402
from tests.support.stack import LoggedServer, require  # noqa: E402

DOCS = ROOT / "docs"


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def get(url: str) -> None:
    with urllib.request.urlopen(url, timeout=10) as response:  # loopback only
        response.read()


def screenshot(url: str, out: Path, lang: str) -> None:
    chromium = require("chromium")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
             f"--lang={lang}", "--window-size=1000,820", f"--screenshot={out}", url],
            check=True, capture_output=True, timeout=120,
        )


def main() -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": os.environ.get("TZ", "UTC")}
    with tempfile.TemporaryDirectory() as tmp:
        stage_dir = Path("/tmp/stage")  # the paths the pictures show
        if stage_dir.is_symlink():
            stage_dir.unlink()
        if not stage_dir.exists():
            stage_dir.symlink_to(tmp)
        app_port = 3001 if port_is_free(3001) else free_port()  # the incident's port, where it is free
        stage = Stage(stage_dir, app_port)  # nginx proxying to it, a systemd unit naming the project; no app
        stage.start_nginx()
        port = 9731 if port_is_free(9731) else free_port()
        exporter = LoggedServer(  # no --config.file: everything below is discovered
            "exporter", [sys.executable, "-m", "exporter", f"--web.listen-address=127.0.0.1:{port}", *stage.flags()],
            stage_dir / "exporter.log", port=port, cwd=stage_dir,
        )
        try:
            for _ in range(3):  # a few scrapes: nginx logs the refused connections meanwhile
                get(f"http://127.0.0.1:{port}/metrics")
                time.sleep(0.5)
            report = subprocess.run(
                [sys.executable, "-m", "exporter", "diagnose", *stage.flags()],
                capture_output=True, text=True, timeout=60, env=env, cwd=stage_dir,
            )
            text = report.stdout
            (DOCS / "diagnose-example.txt").write_text(f"$ inventory-exporter diagnose   # exit code {report.returncode}\n{text}")
            screenshot(f"http://127.0.0.1:{port}/", DOCS / "landing-page.png", "en")
            screenshot(f"http://127.0.0.1:{port}/?lang=zh-CN", DOCS / "landing-page.zh-CN.png", "zh-CN")
        finally:
            exporter.stop()
            stage.stop()
            stage_dir.unlink()
    print("wrote", *(str(p.relative_to(ROOT)) for p in sorted(DOCS.glob("landing-page*.png"))), "docs/diagnose-example.txt")
    return 0


if __name__ == "__main__":
    shutil.which("nginx")
    sys.exit(main())
