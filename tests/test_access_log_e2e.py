"""Point 5 of issue 14, on real traffic: a real nginx with a custom log_format serves a bounded load
from an aiohttp client (loopback only); mid-run the app is stopped (nginx answers 502) and the log is
rotated (renamed, then nginx reopens its logs on SIGUSR1, as ``nginx -s reopen`` does); the exporter's
counts must equal nginx's own record, the lines of both log files: no line lost or counted twice."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port
from tests.support.exporter_proc import Exporter, fetch
from tests.support.stack import PROXY_SERVER, Process, nginx_conf, require, start_app

FORMAT = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
          '"$http_user_agent" rt=$request_time uct="$upstream_connect_time" urt="$upstream_response_time" '
          'us=$upstream_status ua=$upstream_addr host=$host')
PATHS = ["/api/health", "/api/products", "/", "/favicon.ico", "/api/products/123"]
WORKERS = 4


def start_nginx(prefix: Path, port: int, app_port: int, access_log: Path) -> Process:
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    servers = f"    log_format timed '{FORMAT}';\n" + PROXY_SERVER.format(
        port=port, app_port=app_port, extra=f"access_log {access_log} timed;")
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, servers))
    binary = require("nginx")
    error_log = prefix / "error.log"
    check = __import__("subprocess").run([binary, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(error_log)],
                                         capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    return Process([binary, "-p", str(prefix), "-c", str(conf), "-e", str(error_log)], port)


async def load(url: str, seconds: float) -> int:
    """WORKERS clients requesting PATHS in turn for ``seconds``; the number of answers."""
    answered = 0

    async def worker(offset: int) -> None:
        nonlocal answered
        end = time.monotonic() + seconds
        index = offset
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < end:
                async with session.get(url + PATHS[index % len(PATHS)]) as response:
                    await response.read()
                answered += 1
                index += 1

    await asyncio.gather(*(worker(n) for n in range(WORKERS)))
    return answered


def metrics(exporter: Exporter) -> dict[tuple, float]:
    status, _, body = fetch(exporter.url + "/probe?target=shop")
    assert status == 200, body
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def total(found: dict[tuple, float], name: str, **labels: str) -> float:
    return sum(value for (sample, pairs), value in found.items()
               if sample == name and all(dict(pairs).get(k) == v for k, v in labels.items()))


def logged(*files: Path) -> list[tuple[str, str]]:
    """nginx's own record: (request, status) of every line of the log files."""
    lines = []
    for path in files:
        for line in path.read_text().splitlines():
            parts = line.split('"')
            lines.append((parts[1], parts[2].split()[0]))
    return lines


async def test_the_exporter_counts_every_line_nginx_wrote_across_an_outage_and_a_rotation(tmp_path):
    app_port, port, exporter_port = free_port(), free_port(), free_port()
    access_log = tmp_path / "access.log"
    app = start_app(tmp_path / "bin", app_port)
    nginx = start_nginx(tmp_path / "nginx", port, app_port, access_log)
    config = tmp_path / "config.yml"
    config.write_text(f"""
targets:
  - name: shop
    app_url: http://127.0.0.1:{app_port}
    endpoints: [/api/health]
    access_log: {access_log}
    access_log_format: '{FORMAT}'
dns: {{names: [localhost], include_hostname: false}}
""")
    exporter = Exporter([f"--config.file={config}", f"--web.listen-address=127.0.0.1:{exporter_port}"],
                        exporter_port, tmp_path / "exporter.log", tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        assert total(metrics(exporter), "inventory_access_log_lines_total") == 0  # the reader has started
        answered = await load(url, 1.5)
        app.stop()  # the outage: nginx answers 502
        answered += await load(url, 1.0)
        os.rename(access_log, tmp_path / "access.log.1")  # logrotate's rename ...
        answered += await load(url, 0.5)  # ... nginx still writes to the renamed file ...
        os.kill(nginx.proc.pid, signal.SIGUSR1)  # ... until it reopens its logs (nginx -s reopen)
        answered += await load(url, 1.0)
        app = start_app(tmp_path / "bin", app_port)
        answered += await load(url, 1.0)

        records = logged(tmp_path / "access.log.1", access_log)
        assert len(records) == answered and access_log.stat().st_size > 0  # both files got lines
        statuses = [status for _, status in records]
        for _ in range(100):  # the reader passes every second; bounded wait for the last lines
            found = metrics(exporter)
            if total(found, "inventory_access_log_lines_total") >= len(records):
                break
            await asyncio.sleep(0.1)
        assert total(found, "inventory_access_log_lines_total") == len(records)
        assert total(found, "inventory_access_log_unparsed_lines_total") == 0
        assert total(found, "inventory_requests_total") == len(records)
        assert total(found, "inventory_requests_total", code_class="5xx") == statuses.count("502") > 0
        assert total(found, "inventory_requests_total", code_class="2xx") == statuses.count("200") > 0
        assert total(found, "inventory_requests_total", code_class="4xx") == statuses.count("404") > 0
        assert total(found, "inventory_upstream_errors_total", status="502") == statuses.count("502")
        assert total(found, "inventory_requests_total", kind="static") == sum(
            request == "GET /favicon.ico HTTP/1.1" for request, _ in records) > 0
        assert total(found, "inventory_request_duration_seconds_count") == len(records)
        assert total(found, "inventory_requests_recent") == len(records)
        assert total(found, "inventory_requests_failed_recent", status="502") == statuses.count("502")
        assert total(found, "inventory_requests_failing_since_timestamp_seconds") == 0  # it recovered
    finally:
        exporter.stop()
        nginx.stop()
        app.stop()
