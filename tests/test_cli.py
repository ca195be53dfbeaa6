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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from exporter.cli import tune_gc
from tests.conftest import free_port
from tests.support.exporter_proc import Exporter, fetch
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
    """The exporter with no config file, started in a directory that looks like a project (it is not
    one: the working directory belongs to nobody); discovery reads an empty nginx config and unit directory."""
    from tests.conftest import make_project

    make_project(tmp_path)
    (tmp_path / "nginx.conf").write_text("events {}\nhttp {}\n")
    (tmp_path / "units").mkdir()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", f"--web.listen-address=127.0.0.1:{port}",
         f"--discovery.nginx-config={tmp_path / 'nginx.conf'}", f"--discovery.systemd-unit-path={tmp_path / 'units'}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        wait_ready(proc, f"http://127.0.0.1:{port}/-/ready")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_embedded_default_probes_no_project_and_says_how_to_point_at_an_app(exporter_process):
    status, text = get(exporter_process + "/metrics")
    assert status == 200
    assert value(text, "inventory_discovery_targets") == value(text, "inventory_exporter_targets")
    assert 'target="smart-inventory"' not in text, "the working directory is not taken for a project"
    assert "inventory_db_" not in text and "inventory_prisma_" not in text
    assert value(text, "inventory_probe_success", probe="loopback") == 1
    assert value(text, "inventory_dns_lookup_success", name="localhost", resolver="system") == 1
    if value(text, "inventory_discovery_targets") == 0:  # nothing Next-like runs on this machine
        page = get(exporter_process + "/")[1]
        assert "No app found on this host" in page and "--config.file" in page


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


# --- the web interface as node_exporter/blackbox_exporter users expect it (real processes) ------------

def exporter_config(tmp_path: Path, app_url: str, name: str = "shop") -> Path:
    config = tmp_path / "config.yml"
    config.write_text(f"targets:\n  - name: {name}\n    app_url: {app_url}\ndns:\n  names: [localhost]\n  include_hostname: false\n")
    return config


def test_every_listen_address_is_listened_on_and_logged(tmp_path: Path):
    first, second = free_port(), free_port()
    config = exporter_config(tmp_path, f"http://127.0.0.1:{free_port()}")
    args = [f"--config.file={config}", f"--web.listen-address=127.0.0.1:{first}", f"--web.listen-address=127.0.0.1:{second}"]
    with Exporter(args, first, tmp_path / "exporter.log", tmp_path) as exporter:
        for port in (first, second):
            status, _, body = fetch(f"http://127.0.0.1:{port}/metrics")
            assert status == 200
            assert value(body.decode(), "inventory_probe_success", target="shop", probe="port") == 0
        log = exporter.text()
    for port in (first, second):
        assert f"msg=listening address=127.0.0.1:{port}" in log, log
    assert f"address=:{DEFAULT_PORT}" not in log, "a given address replaces the default"


DEFAULT_PORT = 9731


def test_the_default_listen_address_is_used_only_without_the_flag():
    from exporter.cli import build_parser

    assert build_parser().parse_args([]).listen == [f":{DEFAULT_PORT}"]
    assert build_parser().parse_args(["--web.listen-address=:1", "--web.listen-address=[::1]:2"]).listen == [":1", "[::1]:2"]
    assert build_parser().parse_args([]).listen == [f":{DEFAULT_PORT}"], "the default list is never appended to"


def test_sigterm_lets_the_scrape_in_flight_finish_then_exits_zero(tmp_path: Path):
    """A scrape of a hung app (4 s scrape timeout) is in flight when SIGTERM arrives: it still gets its
    whole 200 answer, the exporter logs its shutdown and exits 0."""
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    hung.settimeout(15)
    port = free_port()
    config = exporter_config(tmp_path, f"http://127.0.0.1:{hung.getsockname()[1]}", "hung")
    held = []
    with hung, Exporter([f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"], port,
                        tmp_path / "exporter.log", tmp_path) as exporter, ThreadPoolExecutor(1) as pool:
        scrape = pool.submit(fetch, exporter.url + "/probe?target=hung", {"X-Prometheus-Scrape-Timeout-Seconds": "4"}, 15)
        held.append(hung.accept()[0])  # the probe is talking to the hung app: the scrape is in flight
        exporter.proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + 10
        while "shutting down" not in exporter.text() and time.monotonic() < end:
            time.sleep(0.02)  # waiting for the exporter to log the signal; bounded
        assert not scrape.done(), "the shutdown began while the scrape (3.5 s deadline) was still running"
        status, headers, body = scrape.result(timeout=15)
        exit_code = exporter.proc.wait(timeout=15)
        for conn in held:
            conn.close()
        log = exporter.text()
    assert status == 200
    text = body.decode()
    assert int(headers["Content-Length"]) == len(body)
    assert value(text, "inventory_probe_failure_info", target="hung", probe="http", reason="timeout") == 1
    assert exit_code == 0, log
    assert "msg=\"shutting down: finishing the scrapes in flight\" signal=SIGTERM" in log, log
    assert "msg=stopped" in log, log
    assert "Traceback" not in log
    assert port_is_free(port)


def test_version_prints_version_and_revision(tmp_path: Path):
    from exporter import __version__

    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith(f"inventory-exporter {__version__} (revision: ")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30)
    if head.returncode == 0:  # a git checkout: its HEAD
        assert f"(revision: {head.stdout.strip()})" in result.stdout


def test_the_build_time_revision_reaches_version_and_build_info(tmp_path: Path):
    port = free_port()
    env = {"INVENTORY_EXPORTER_REVISION": "deadbeef42"}
    result = subprocess.run([sys.executable, "-m", "exporter", "--version"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    assert "(revision: deadbeef42)" in result.stdout
    config = exporter_config(tmp_path, f"http://127.0.0.1:{free_port()}")
    with Exporter([f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"], port,
                  tmp_path / "exporter.log", tmp_path, env=env) as exporter:
        text = fetch(exporter.url + "/metrics")[2].decode()
    assert value(text, "inventory_exporter_build_info", revision="deadbeef42") == 1


def test_telemetry_path_exporter_metrics_and_collector_flags(tmp_path: Path):
    port = free_port()
    config = exporter_config(tmp_path, f"http://127.0.0.1:{free_port()}")
    args = [f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", "--web.telemetry-path=/m",
            "--web.disable-exporter-metrics", "--no-collector.dns", "--no-collector.loopback"]
    with Exporter(args, port, tmp_path / "exporter.log", tmp_path) as exporter:
        assert fetch(exporter.url + "/metrics")[0] == 404
        status, _, body = fetch(exporter.url + "/m")
    text = body.decode()
    assert status == 200
    assert value(text, "inventory_probe_success", target="", probe="host") == 1
    assert value(text, "inventory_probe_success", target="", probe="dns") is None
    assert value(text, "inventory_probe_success", target="", probe="loopback") is None
    assert value(text, "inventory_exporter_build_info") == 1
    assert value(text, "process_resident_memory_bytes") is None and value(text, "python_info") is None


@pytest.mark.parametrize(
    "flag, message",
    [("--web.telemetry-path=metrics", "--web.telemetry-path 'metrics': expected a path starting with '/'"),
     ("--web.telemetry-path=/probe", "--web.telemetry-path '/probe': already used by another page"),
     ("--web.listen-address=localhost", "--web.listen-address 'localhost': expected [host]:port")],
)
def test_bad_web_flags_are_clear_errors(tmp_path: Path, flag: str, message: str):
    result = run_cli(flag, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("flag", ["--web.max-connections=0", "--web.max-connections=many", "--web.header-timeout=0",
                                  "--web.idle-timeout=-1", "--web.header-timeout=soon"])
def test_connection_flags_refuse_bad_values_with_usage_errors(flag, capsys):
    from exporter.cli import build_parser

    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([flag])
    assert exited.value.code == 2
    assert flag.split("=")[0] in capsys.readouterr().err


def test_connection_flags_have_their_defaults_and_take_seconds_with_a_unit():
    from exporter.cli import build_parser

    args = build_parser().parse_args([])
    assert (args.max_connections, args.header_timeout, args.idle_timeout) == (512, 10.0, 60.0)
    args = build_parser().parse_args(["--web.max-connections=64", "--web.header-timeout=5s", "--web.idle-timeout=30"])
    assert (args.max_connections, args.header_timeout, args.idle_timeout) == (64, 5.0, 30.0)
