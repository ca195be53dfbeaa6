#!/usr/bin/env python3
"""Stage the incident on loopback and capture what a person sees, for the README.

    python3 scripts/readme_examples.py            # writes docs/landing-page.png, docs/landing-page.zh-CN.png,
                                                  #        docs/diagnose-example.txt

The stage: a smart-inventory project (database, Prisma, .env), a real nginx in front of port
APP_PORT on which nothing listens (every page answers 502: the incident), the exporter scraping it
for a few rounds, then ``diagnose`` and a headless Chromium screenshot of ``/``. Everything runs
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

from tests.conftest import free_port, make_project  # noqa: E402  (the test suite's stand-ins)
from tests.support.stack import LoggedServer, Nginx, require  # noqa: E402

DOCS = ROOT / "docs"


def write_config(path: Path, app_port: int, proxy_port: int, project: Path, error_log: Path) -> Path:
    path.write_text(
        "targets:\n"
        "  - name: smart-inventory\n"
        f"    app_url: http://127.0.0.1:{app_port}\n"
        "    endpoints: [/api/health, /api/products]\n"
        "    static_paths: [/favicon.ico]\n"
        f"    proxy_url: http://127.0.0.1:{proxy_port}/\n"
        f"    proxy_error_log: {error_log}\n"
        f"    project_dir: {project}\n"
        "    log_file: dev.log\n"
        "dns:\n  names: [localhost]\n  include_hostname: false\n"
    )
    return path


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
        stage = Path("/tmp/stage")
        if stage.is_symlink():
            stage.unlink()
        if not stage.exists():
            stage.symlink_to(tmp)
        tmp_path = stage
        project = make_project(tmp_path / "smart-inventory")
        (project / "dev.log").write_text("> smart-inventory@0.1.0 dev\n> next dev -p 3001\n\n   ▲ Next.js 15.0.0\n")
        app_port = 3001 if port_is_free(3001) else free_port()  # the incident's port, where it is free
        proxy_port = 8080 if port_is_free(8080) else free_port()
        port = 9731 if port_is_free(9731) else free_port()
        nginx = Nginx(tmp_path / "nginx", proxy_port, app_port)
        config = write_config(tmp_path / "config.yml", app_port, proxy_port, project, nginx.error_log)
        exporter = LoggedServer(
            "exporter", [sys.executable, "-m", "exporter", "--config.file", str(config), f"--web.listen-address=127.0.0.1:{port}"],
            tmp_path / "exporter.log", port=port, cwd=tmp_path,
        )
        try:
            for _ in range(3):  # a few scrapes: nginx logs the refused connections meanwhile
                get(f"http://127.0.0.1:{port}/metrics")
                time.sleep(0.5)
            report = subprocess.run(
                [sys.executable, "-m", "exporter", "diagnose", "--config.file", str(config)],
                capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
            )
            text = report.stdout
            (DOCS / "diagnose-example.txt").write_text(f"$ inventory-exporter diagnose   # exit code {report.returncode}\n{text}")
            screenshot(f"http://127.0.0.1:{port}/", DOCS / "landing-page.png", "en")
            screenshot(f"http://127.0.0.1:{port}/?lang=zh-CN", DOCS / "landing-page.zh-CN.png", "zh-CN")
        finally:
            exporter.stop()
            nginx.stop()
            stage.unlink()
    print("wrote", *(str(p.relative_to(ROOT)) for p in sorted(DOCS.glob("landing-page*.png"))), "docs/diagnose-example.txt")
    return 0


if __name__ == "__main__":
    shutil.which("nginx")
    sys.exit(main())
