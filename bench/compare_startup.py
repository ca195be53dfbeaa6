"""bench/compare.py: starting the monitored stack (nginx, the DNS responder, the hanging socket) and the
exporters side by side (blackbox_exporter, node_exporter, ours) on 127.0.0.1, under a temporary directory."""

from __future__ import annotations

import subprocess
import sys

from bench.compare_configs import config_full
from bench.compare_processes import Stack, free_udp_port, wait_dns, wait_http, wait_tcp
from bench.compare_settings import ROOT, WAIT
from bench.compare_world import World

try:
    from tests.conftest import free_port, make_project  # fixtures double as bench helpers
    from tests.support.stack import nginx_conf
except ImportError:  # named by check_requirements(), which exits 2
    pass


# The app (its API, favicon and page), the proxy in front of it, and stub_status to count requests.
NGINX_SERVERS = """
    server {{
        listen 127.0.0.1:{app_port} backlog=4096;
        location = /api/health {{ default_type application/json; return 200 '{{"status":"ok"}}'; }}
        location = /api/products {{ default_type application/json; return 200 '[{{"id":1,"name":"widget"}}]'; }}
        location = /favicon.ico {{ default_type image/x-icon; return 200 'ico'; }}
        location = / {{ default_type text/html; return 200 '<html><body>smart-inventory</body></html>'; }}
        location / {{ return 404; }}
    }}
    server {{
        listen 127.0.0.1:{proxy_port} backlog=4096;
        location / {{
            proxy_pass http://127.0.0.1:{app_port};
            proxy_connect_timeout 1s;
            proxy_read_timeout 2s;
        }}
    }}
    server {{
        listen 127.0.0.1:{status_port};
        location / {{ stub_status; }}
    }}"""

DNS_RESPONDER = """
import asyncio, sys
sys.path.insert(0, {root!r})
from tests.support.dns_server import Responder

class Quiet(Responder):
    def datagram_received(self, data, addr):
        super().datagram_received(data, addr)
        self.queries.clear()  # the test responder keeps every query; a bench must not grow

async def main():
    loop = asyncio.get_running_loop()
    transport, responder = await loop.create_datagram_endpoint(Quiet, local_addr=("127.0.0.1", {port}))
    responder.behaviour["localhost"] = "127.0.0.1"
    await asyncio.Event().wait()

asyncio.run(main())
"""

HANGING_SERVER = """
import asyncio

class Silent(asyncio.Protocol):
    def data_received(self, data):
        pass  # read the request, never answer; the connection closes when the client gives up

async def main():
    server = await asyncio.get_running_loop().create_server(Silent, "127.0.0.1", {port}, backlog=4096)
    await asyncio.Event().wait()

asyncio.run(main())
"""

BLACKBOX_CONF = """
modules:
  http_2xx:
    prober: http
    http:
      preferred_ip_protocol: ip4
  tcp_connect:
    prober: tcp
    tcp:
      preferred_ip_protocol: ip4
  dns:
    prober: dns
    dns:
      transport_protocol: udp
      preferred_ip_protocol: ip4
      query_name: localhost
      query_type: A
"""


def start_world(tools: dict[str, str], stack: Stack) -> World:
    """Start everything; what was started is in ``stack`` even when a later start fails."""
    tmp = stack.tmp
    project = make_project(tmp / "smart-inventory")
    (project / "dev.log").write_text(
        "".join(f" GET /api/products 200 in {5 + i % 7}ms\n" for i in range(500)) + " ✓ Ready in 2.1s\n"
    )
    world = World(tools=tools, stack=stack, project=project)
    world.app_port, world.proxy_port, world.status_port = free_port(), free_port(), free_port()
    world.dns_port, world.hang_port = free_udp_port(), free_port()
    world.ours_port, world.blackbox_port, world.node_port = free_port(), free_port(), free_port()

    prefix = tmp / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    world.nginx_error_log = prefix / "error.log"
    world.nginx_error_log.touch()
    conf = prefix / "nginx.conf"
    servers = NGINX_SERVERS.format(app_port=world.app_port, proxy_port=world.proxy_port, status_port=world.status_port)
    conf.write_text(nginx_conf(prefix, servers, worker_connections=4096))
    nginx_args = [tools["nginx"], "-p", str(prefix), "-c", str(conf), "-e", str(world.nginx_error_log)]
    check = subprocess.run(nginx_args + ["-t"], capture_output=True, text=True, timeout=WAIT)
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
    world.nginx = stack.spawn("nginx", nginx_args)
    for port in (world.app_port, world.proxy_port):
        wait_http(world.nginx, port, "/")

    responder = stack.spawn("dns-responder", [sys.executable, "-c", DNS_RESPONDER.format(root=str(ROOT), port=world.dns_port)])
    wait_dns(responder, world.dns_port)
    hanging = stack.spawn("hanging-server", [sys.executable, "-c", HANGING_SERVER.format(port=world.hang_port)])
    wait_tcp(hanging, world.hang_port)

    bb_conf = tmp / "blackbox.yml"
    bb_conf.write_text(BLACKBOX_CONF)
    world.blackbox = stack.spawn("blackbox_exporter", [
        tools["blackbox_exporter"], f"--config.file={bb_conf}", f"--web.listen-address=127.0.0.1:{world.blackbox_port}",
    ])
    world.node = stack.spawn("node_exporter", [
        tools["node_exporter"], f"--web.listen-address=127.0.0.1:{world.node_port}",
        "--collector.disable-defaults", "--collector.cpu", "--collector.meminfo",
        "--collector.filesystem", "--collector.loadavg",
    ])
    world.ours_config = tmp / "exporter.yml"
    world.ours_config.write_text(config_full(world))
    world.ours = stack.spawn("exporter", [
        sys.executable, "-m", "exporter", "--config.file", str(world.ours_config),
        "--web.listen-address", f"127.0.0.1:{world.ours_port}",
    ], cwd=ROOT)
    wait_http(world.blackbox, world.blackbox_port, "/-/healthy")
    wait_http(world.node, world.node_port, "/metrics")
    wait_http(world.ours, world.ours_port, "/-/ready")
    return world
