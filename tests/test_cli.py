"""The real exporter process: default config on a machine where nothing listens on 3001 (the incident)."""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from exporter.cli import tune_gc
from tests.conftest import free_port
from tests.test_app import value

ROOT = Path(__file__).resolve().parent.parent


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # loopback only
        return response.status, response.read().decode()


def wait_ready(proc: subprocess.Popen, url: str, within: float = 15.0) -> None:
    end = time.monotonic() + within
    while time.monotonic() < end:
        assert proc.poll() is None, f"exporter exited early: {proc.stderr.read() if proc.stderr else ''}"
        try:
            if get(url, timeout=1.0)[0] == 200:
                return
        except OSError:
            time.sleep(0.05)  # polling a port that is not open yet; bounded by `within`
    raise AssertionError(f"{url} not ready within {within}s")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture
def exporter_process(tmp_path: Path):
    assert port_is_free(3001), "this test needs port 3001 free: it reproduces the incident"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", f"--web.listen-address=127.0.0.1:{port}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        wait_ready(proc, f"http://127.0.0.1:{port}/-/ready")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_default_config_reports_the_incident_when_nothing_listens_on_3001(exporter_process):
    status, text = get(exporter_process + "/metrics")
    assert status == 200
    assert value(text, "inventory_app_port_listening", target="smart-inventory", port="3001") == 0
    assert value(text, "inventory_http_up", target="smart-inventory", path="/api/health") == 0
    assert value(text, "inventory_probe_failure_info", target="smart-inventory", probe="port", reason="connection_refused") == 1
    assert value(text, "inventory_probe_success", probe="loopback") == 1
    assert value(text, "inventory_dns_lookup_success", name="localhost", resolver="system") == 1


def test_config_check_accepts_a_good_file_and_exits_zero(tmp_path: Path):
    (tmp_path / "ok.yml").write_text("targets:\n  - name: shop\n    app_url: http://127.0.0.1:3001\n")
    result = run_cli("--config.file", "ok.yml", "--config.check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_config_check_names_file_line_key_and_reason_and_exits_nonzero(tmp_path: Path):
    (tmp_path / "bad.yml").write_text("targets:\n  - name: shop\n    timout: 5s\n    app_url: ftp://x\n")
    result = run_cli("--config.file", "bad.yml", "--config.check", cwd=tmp_path)
    assert result.returncode == 1
    assert "bad.yml:3: targets[0].timout: unknown key (did you mean 'timeout'?)" in result.stderr
    assert "bad.yml:4: targets[0].app_url" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_config_file_is_a_clear_error(tmp_path: Path):
    result = run_cli("--config.file", "nope.yml", cwd=tmp_path)
    assert result.returncode == 1
    assert "nope.yml: cannot read" in result.stderr


def test_a_busy_listen_address_is_a_clear_error(tmp_path: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        result = run_cli(f"--web.listen-address=127.0.0.1:{sock.getsockname()[1]}", cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot listen" in result.stderr


def test_sighup_reloads_the_config_file(tmp_path: Path):
    config = tmp_path / "config.yml"
    config.write_text("targets:\n  - name: first\ndns:\n  include_hostname: false\n")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--config.file", str(config), f"--web.listen-address=127.0.0.1:{port}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, base + "/-/ready")
        assert value(get(base + "/metrics")[1], "inventory_probe_success", target="first", probe="port") is not None
        config.write_text("targets:\n  - name: second\ndns:\n  include_hostname: false\n")
        proc.send_signal(signal.SIGHUP)
        end = time.monotonic() + 10
        text = ""
        while time.monotonic() < end:
            text = get(base + "/metrics")[1]
            if value(text, "inventory_probe_success", target="second", probe="port") is not None:
                break
        assert value(text, "inventory_probe_success", target="second", probe="port") is not None
        assert value(text, "inventory_probe_success", target="first", probe="port") is None
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_tune_gc_freezes_what_start_up_built_and_collects_young_objects_less_often():
    before = gc.get_threshold()
    try:
        survivor = [object()]  # built "at start-up"
        tune_gc(12_345)
        assert gc.get_threshold() == (12_345, before[1], before[2])
        assert gc.get_freeze_count() > 0
        assert all(obj is not survivor for obj in gc.get_objects()), "a frozen object is not walked any more"
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
