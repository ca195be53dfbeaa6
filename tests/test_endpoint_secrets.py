"""Secrets an endpoint sends (from the environment and a file) never appear in any output of a real
exporter process, even when the app answers wrongly and echoes them back: /metrics, /probe (with
debug), the landing page in both languages, /config, every ``diagnose`` format, and the log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port
from tests.support.exporter_proc import ROOT, Exporter, every_page
from tests.support.stack import Process

HERE = Path(__file__).resolve().parent
PASSWORD = "env-Pw-4471-secret"  # the exporter's SHOP_PASSWORD: the app expects another, login fails
TOKEN = "env-Tok-8812-secret"
FILE_SECRET = "file-Key-5530-secret"


def write_config(path: Path, app_port: int, secret_file: Path) -> Path:
    path.write_text(
        "targets:\n"
        "  - name: shop\n"
        f"    app_url: http://127.0.0.1:{app_port}\n"
        "    endpoints:\n"
        "      - path: /api/auth/login\n"
        "        name: login\n"
        "        method: POST\n"
        "        json: {username: admin, password: '${env:SHOP_PASSWORD}'}\n"
        "        expect: {status: 200, json: {$.token: exists}}\n"
        "      - path: /api/echo\n"
        "        method: POST\n"
        "        headers:\n"
        "          Authorization: 'Bearer ${env:SHOP_TOKEN}'\n"
        f"          X-Api-Key: {{file: {secret_file}}}\n"
        "        body: 'user=admin&pw=${env:SHOP_PASSWORD}&key=${file:" + str(secret_file) + "}'\n"
        "        expect: {body_regex: '\"ok\"', json: {$.error: absent, $.auth: absent, $.got: absent}}\n"
        "dns:\n  names: [localhost]\n  include_hostname: false\n"
    )
    return path


def leaked(text: str) -> list[str]:
    return [s for s in (PASSWORD, TOKEN, FILE_SECRET) if s in text]


def test_no_output_shows_a_secret_an_endpoint_sends(tmp_path: Path):
    secret_file = tmp_path / "api_key"
    secret_file.write_text(FILE_SECRET + "\n")
    app_port, port = free_port(), free_port()
    app = Process([sys.executable, str(HERE / "support" / "shop_app.py"), str(app_port), "other-password", "x"], app_port)
    config = write_config(tmp_path / "config.yml", app_port, secret_file)
    env = {"SHOP_PASSWORD": PASSWORD, "SHOP_TOKEN": TOKEN}
    exporter = Exporter([f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=debug"],
                        port, tmp_path / "exporter.log", tmp_path, env=env)
    outputs: dict[str, str] = {}
    try:
        outputs.update(every_page(exporter))
        for fmt in ("text", "markdown", "json"):
            result = subprocess.run(
                [sys.executable, "-m", "exporter", "diagnose", "--config.file", str(config), "--format", fmt],
                capture_output=True, text=True, timeout=60, env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            )
            outputs[f"diagnose {fmt}"] = result.stdout + result.stderr
    finally:
        exporter.stop()
        app.stop()
    outputs["log"] = exporter.text()
    assert {name: leaked(text) for name, text in outputs.items() if leaked(text)} == {}
    metrics = outputs["/probe?target=shop"]
    # the conditions did fail, and what they saw is there, masked
    assert 'inventory_http_condition_success{condition="status",path="login",target="shop"} 0.0' in metrics
    assert 'reason="unexpected_status"' in metrics and 'seen="status 401"' in metrics
    echo_seen = [line for line in metrics.splitlines()
                 if line.startswith("inventory_http_condition_failure_info") and 'condition="json:$.got"' in line]
    assert echo_seen and 'user=admin&pw=<secret>&key=<secret>' in echo_seen[0], echo_seen
    assert "endpoint_condition_failed" in outputs["diagnose text"]
    checked = subprocess.run(["promtool", "check", "metrics"], input=metrics.encode(), capture_output=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "${env:SHOP_PASSWORD}" in outputs["/config"], "the config names where the secret is"
