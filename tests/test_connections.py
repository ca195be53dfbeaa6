"""Connections cannot crowd out scrapes or probes: a real exporter limited to 1,024 descriptors
(as the systemd default gives it) under 1,008 idle connections still answers an authenticated
scrape, and no probe fails for lack of descriptors."""

from __future__ import annotations

import base64
import resource
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.support.exporter_proc import Exporter, fetch
from tests.support.stack import start_app
from tests.test_app import samples, value
from tests.test_webconfig import PASSWORD, htpasswd_hash

IDLE_CONNECTIONS = 1008
EXPORTER_NOFILE = 1024


def limit_descriptors() -> None:
    """In the exporter's child, before exec: soft and hard RLIMIT_NOFILE of 1,024."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (EXPORTER_NOFILE, EXPORTER_NOFILE))


@pytest.fixture
def room_for_idle_sockets():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, IDLE_CONNECTIONS + 512)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= IDLE_CONNECTIONS + 64, "the test needs room for its sockets"
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_idle(port: int, count: int) -> list[socket.socket]:
    held = []
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(5)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue  # a full backlog: the exporter refused it, which is also fine
        held.append(sock)
    return held


def test_idle_connections_do_not_starve_an_authenticated_scrape_or_the_probes(tmp_path: Path, room_for_idle_sockets):
    app_port, port = free_port(), free_port()
    (tmp_path / "web.yml").write_text(f"basic_auth_users:\n  prometheus: '{htpasswd_hash(PASSWORD)}'\n")
    config = tmp_path / "config.yml"
    config.write_text(
        f"targets:\n  - name: shop\n    app_url: http://127.0.0.1:{app_port}\n    endpoints: [/api/health, /api/products]\n"
        "dns:\n  names: [localhost]\n  include_hostname: false\n"
    )
    auth = {"Authorization": "Basic " + base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()}
    args = [f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", f"--web.config.file={tmp_path / 'web.yml'}"]
    app = start_app(tmp_path / "bin", app_port)
    held: list[socket.socket] = []
    try:
        with Exporter(args, port, tmp_path / "exporter.log", tmp_path, preexec_fn=limit_descriptors) as exporter:
            held = open_idle(port, IDLE_CONNECTIONS)
            time.sleep(0.5)  # let the exporter accept what the kernel queued (bounded)
            started = time.monotonic()
            status, _, body = fetch(exporter.url + "/metrics", auth, timeout=20)
            took = time.monotonic() - started
            text = body.decode(errors="replace")
            assert status == 200, (status, text[:500], exporter.text()[-2000:])
            results = {labels: v for (name, labels), v in samples(text).items() if name == "inventory_probe_success"}
            assert results and all(v == 1 for v in results.values()), [l for l, v in results.items() if v != 1]
            assert value(text, "inventory_probe_success", target="shop", probe="port") == 1
            assert "Too many open files" not in text and "EMFILE" not in text
            assert "Too many open files" not in exporter.text()
            assert took < 15, f"the scrape took {took:.1f}s"
    finally:
        for sock in held:
            sock.close()
        app.stop()
