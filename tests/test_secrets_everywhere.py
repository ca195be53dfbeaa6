"""One redaction layer: secrets planted in every shape, in the config, the project and the app log,
never appear in any output of a real exporter process (every page, every log record at debug level
in both formats, the reload error body, every ``diagnose`` format)."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port, make_project
from tests.support.exporter_proc import ROOT, Exporter, every_page
from tests.support.stack import start_app

SECRETS = {
    "userinfo_with_slash_at_colon": "Pa/ss@w:rd-1",
    "query_token": "tok-Q2-secret",
    "password_pair": "pw-P3/secret",
    "env_style": "env-E4-secret",
    "yaml_pair": "yaml-Y5-secret",
    "bearer": "bearer-B6-secret",
}


def write_good_config(path: Path, app_port: int, project: Path) -> Path:
    path.write_text(
        "targets:\n"
        "  - name: shop\n"
        f"    app_url: http://admin:{SECRETS['userinfo_with_slash_at_colon'].replace('/', '%2F').replace('@', '%40')}@127.0.0.1:{app_port}\n"
        f"    endpoints: [/api/health, \"/api/products?token={SECRETS['query_token']}\"]\n"
        f"    project_dir: {project}\n"
        "    log_file: dev.log\n"
        "dns:\n  names: [localhost]\n  include_hostname: false\n"
    )
    return path


def write_bad_config(path: Path) -> None:
    path.write_text(
        "targets:\n"
        "  - name: shop\n"
        f"    app_url: http://admin:{SECRETS['userinfo_with_slash_at_colon']}@127.0.0.1:notaport\n"
        f"    password: {SECRETS['yaml_pair']}\n"
        f"    headers: {{Authorization: 'Bearer {SECRETS['bearer']}'}}\n"
    )


def plant_in_project(project: Path) -> None:
    (project / "dev.log").write_text(
        f"Error: connect failed: DATABASE_URL=postgres://db:{SECRETS['userinfo_with_slash_at_colon']}@db/x\n"
        f"<w> [webpack.cache.PackFileCacheStrategy] Caching failed for pack: EACCES password={SECRETS['password_pair']}\n"
        f"prisma:error DB_PASSWORD={SECRETS['env_style']} Authorization: Bearer {SECRETS['bearer']}\n"
    )


def post(url: str) -> tuple[int, str]:
    request = urllib.request.Request(url, method="POST", data=b"")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # loopback only
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def leaked(text: str) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret in text or secret.replace("/", "%2F") in text]


@pytest.mark.parametrize("log_format", ["logfmt", "json"])
def test_no_output_shows_a_planted_secret(tmp_path: Path, log_format: str):
    project = make_project(tmp_path / "shop")
    plant_in_project(project)
    app_port, port = free_port(), free_port()
    app = start_app(tmp_path / "bin", app_port)
    config = write_good_config(tmp_path / "config.yml", app_port, project)
    exporter = Exporter([f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", "--log.level=debug",
                         f"--log.format={log_format}"], port, tmp_path / "exporter.log", tmp_path)
    outputs: dict[str, str] = {}
    try:
        outputs.update(every_page(exporter))
        assert 'path="/api/products?token=<secret>"' in outputs["/metrics"], "the label is there, masked"
        write_bad_config(config)
        status, outputs["reload"] = post(exporter.url + "/-/reload")
        assert status == 500 and "notaport" in outputs["reload"]
        for fmt in ("text", "markdown", "json"):
            write_good_config(config, app_port, project)
            result = subprocess.run(
                [sys.executable, "-m", "exporter", "diagnose", "--config.file", str(config), "--format", fmt],
                capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            outputs[f"diagnose {fmt}"] = result.stdout + result.stderr
    finally:
        exporter.stop()
        app.stop()
    outputs["log"] = exporter.text()
    assert "probe failed" in outputs["log"] or "msg" in outputs["log"]
    assert {name: leaked(text) for name, text in outputs.items() if leaked(text)} == {}
    # the planted secrets did reach these outputs, masked
    for name in ("reload", "diagnose text", "diagnose json", "/probe?target=shop&debug=true", "log"):
        assert "<secret>" in outputs[name], name
