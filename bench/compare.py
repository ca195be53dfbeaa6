#!/usr/bin/env python3
"""Compare: the exporter against blackbox_exporter + node_exporter doing the same checks, side by side.

Starts, on 127.0.0.1 only and under a temporary directory: nginx (the app's endpoints, a proxy front
and a stub_status counter), a dnspython DNS responder, a socket that accepts and never answers,
blackbox_exporter (http_2xx, tcp_connect, dns), node_exporter (cpu, meminfo, filesystem, loadavg
only) and the exporter itself. Then, for each figure of issue 6's goals, it runs both sides
alternately (A B A B ...), and prints a Markdown table of medians, p99, throughput, CPU per probe,
RSS and the ratio ours/theirs. Installs nothing: a missing tool is named and the exit code is 2.
It prints; it does not pass or fail on speed.

    python bench/compare.py                 # the full run recorded in bench/README.md (about 6 minutes on 2 cores)
    python bench/compare.py --quick         # a smoke run (about 40 s; tests/test_bench.py runs it)
    python bench/compare.py > table.md      # progress goes to stderr, the table to stdout
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import importlib.util
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOOLS = {  # what we need: (names to look for, the Debian package that provides it)
    "blackbox_exporter": (("prometheus-blackbox-exporter", "blackbox_exporter"), "prometheus-blackbox-exporter"),
    "node_exporter": (("prometheus-node-exporter", "node_exporter"), "prometheus-node-exporter"),
    "nginx": (("nginx",), "nginx"),
    "wrk": (("wrk",), "wrk"),
}
PY_MODULES = {  # the exporter's own dependencies, and pytest for the shared test helpers
    "aiohttp": "aiohttp", "psutil": "psutil", "dns": "dnspython", "yaml": "PyYAML",
    "prometheus_client": "prometheus-client", "pytest": "pytest",
}
SCRAPE_HEADER = "X-Prometheus-Scrape-Timeout-Seconds"
HANGING_SCRAPES = 100
SCALE_SIZES = (1, 10, 100, 1000)
QUICK_SCALE_SIZES = (1, 10, 100)
SCALE_CONCURRENCY = 64  # the exporter's default max_concurrency; blackbox gets the same bound
WAIT = 20.0  # the longest we wait for anything to start or stop


def log(message: str) -> None:
    print(f"# {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def find_tool(names: tuple[str, ...]) -> str | None:
    for name in names:
        path = shutil.which(name) or next(
            (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}", f"/usr/local/bin/{name}") if os.path.exists(p)), None
        )
        if path:
            return path
    return None


def check_requirements() -> dict[str, str]:
    """Every tool's path; exit 2 naming whatever is missing (nothing is installed here)."""
    found, missing = {}, []
    for tool, (names, package) in TOOLS.items():
        path = find_tool(names)
        if path:
            found[tool] = path
        else:
            missing.append(f"{tool} (Debian package {package})")
    for module, package in PY_MODULES.items():
        if importlib.util.find_spec(module) is None:
            missing.append(f"Python module {module} (pip package {package})")
    if missing:
        print("bench/compare.py: missing: " + ", ".join(missing), file=sys.stderr)
        print("install them (e.g. apt-get install prometheus-blackbox-exporter prometheus-node-exporter nginx wrk); "
              "this script installs nothing", file=sys.stderr)
        sys.exit(2)
    return found


try:
    import aiohttp
    import psutil

    from tests.conftest import free_port, make_project  # fixtures double as bench helpers
    from tests.support.stack import nginx_conf
except ImportError:  # named by check_requirements(), which exits 2
    pass


# --- statistics ---------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p99(values: list[float]) -> float:
    """Nearest-rank 99th percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-99 * len(ordered) // 100) - 1))]


def ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else float("nan")


# --- processes ----------------------------------------------------------------


@dataclass
class Service:
    name: str
    proc: subprocess.Popen
    log_path: Path

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.proc.pid)

    def cpu(self) -> float:
        """User + system CPU seconds of the server process (all its threads, not its children)."""
        times = self.ps.cpu_times()
        return times.user + times.system

    def rss_mb(self) -> float:
        return self.ps.memory_info().rss / 1e6

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")


@dataclass
class Stack:
    tmp: Path
    services: list[Service] = field(default_factory=list)

    def spawn(self, name: str, args: list[str], cwd: Path | None = None) -> Service:
        """A process in a session of its own (so its whole group can be stopped), output to a file."""
        log_path = self.tmp / f"{name}.log"
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(
                args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        service = Service(name, proc, log_path)
        self.services.append(service)
        return service

    def stop_all(self) -> None:
        for service in reversed(self.services):
            stop_group(service.proc)
        self.services.clear()


def stop_group(proc: subprocess.Popen) -> None:
    """TERM the process group we started, then KILL it if it has not gone within a bounded wait."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        log(f"process {proc.pid} did not exit after SIGKILL")


def wait_http(service: Service, port: int, path: str, within: float = WAIT) -> None:
    end = time.monotonic() + within
    while time.monotonic() < end:
        service.check_alive()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.05)  # polling a server that is starting; bounded by ``within``
    raise RuntimeError(f"{service.name} did not answer {path} on port {port} within {within}s:\n{service.tail()}")


# --- the monitored stack -------------------------------------------------------

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


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_dns(service: Service, port: int, within: float = WAIT) -> None:
    import dns.message
    import dns.query
    import dns.rdatatype

    end = time.monotonic() + within
    while time.monotonic() < end:
        service.check_alive()
        try:
            answer = dns.query.udp(dns.message.make_query("localhost", dns.rdatatype.A), "127.0.0.1", port=port, timeout=0.5)
            if answer.answer:
                return
        except Exception:  # not up yet (timeout, refused)
            pass
        time.sleep(0.05)  # bounded by ``within``
    raise RuntimeError(f"the DNS responder did not answer on port {port} within {within}s:\n{service.tail()}")


def wait_tcp(service: Service, port: int, within: float = WAIT) -> None:
    end = time.monotonic() + within
    while time.monotonic() < end:
        service.check_alive()
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)  # bounded by ``within``
    raise RuntimeError(f"{service.name} did not listen on port {port} within {within}s:\n{service.tail()}")


@dataclass
class World:
    """Everything started, with its ports."""

    tools: dict[str, str]
    stack: Stack
    project: Path
    app_port: int = 0
    proxy_port: int = 0
    status_port: int = 0
    dns_port: int = 0
    hang_port: int = 0
    nginx_error_log: Path | None = None
    nginx: Service | None = None
    ours: Service | None = None
    ours_port: int = 0
    ours_config: Path | None = None
    blackbox: Service | None = None
    blackbox_port: int = 0
    node: Service | None = None
    node_port: int = 0

    @property
    def app(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    def nginx_requests(self) -> int:
        """nginx's total request counter (stub_status); the read itself is one request."""
        conn = http.client.HTTPConnection("127.0.0.1", self.status_port, timeout=5)
        try:
            conn.request("GET", "/")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        return int(text.splitlines()[2].split()[2])

    def bb_path(self, module: str, target: str) -> str:
        return "/probe?" + urlencode({"module": module, "target": target})


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


# --- the exporter's configs ------------------------------------------------------


def dns_section(world: World) -> str:
    return f"""dns:
  names: [localhost]
  resolvers: ["127.0.0.1:{world.dns_port}"]
  include_hostname: false
  timeout: 2s
"""


def full_target(world: World) -> str:
    return f"""  - name: full
    app_url: {world.app}
    endpoints: [/api/health, /api/products]
    static_paths: [/favicon.ico]
    proxy_url: http://127.0.0.1:{world.proxy_port}/
    proxy_error_log: {world.nginx_error_log}
    project_dir: {world.project}
    log_file: dev.log
    app_process_names: [nginx]
"""


def config_full(world: World) -> str:
    """Figure 1: only the full target."""
    return "targets:\n" + full_target(world) + dns_section(world)


def config_probe(world: World) -> str:
    """Figures 2 and 3: the single-endpoint target and 100 distinct hanging targets (distinct names,
    so that concurrent scrapes of them cannot share one in-flight scrape)."""
    hanging = "".join(
        f"  - name: hang{i:03d}\n    app_url: http://127.0.0.1:{world.hang_port}\n    timeout: 10s\n"
        for i in range(HANGING_SCRAPES)
    )
    single = f"  - name: single\n    app_url: {world.app}\n    endpoints: [/api/health]\n    app_process_names: [nginx]\n"
    return "targets:\n" + full_target(world) + single + hanging + dns_section(world)


def config_scale(world: World, count: int) -> str:
    """Figure 4: ``count`` local healthy targets, one endpoint each, all on nginx."""
    targets = "".join(
        f"  - name: t{i:04d}\n    app_url: {world.app}\n    endpoints: [/api/health]\n    app_process_names: [nginx]\n"
        for i in range(count)
    )
    return "targets:\n" + targets + dns_section(world)


def reload_ours(world: World, text: str) -> None:
    world.ours_config.write_text(text)
    conn = http.client.HTTPConnection("127.0.0.1", world.ours_port, timeout=60)
    try:
        conn.request("POST", "/-/reload")
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"POST /-/reload answered {response.status}: {body}")


# --- clients ------------------------------------------------------------------


class Client:
    """A keep-alive HTTP/1.1 connection to one server, as Prometheus keeps one per target."""

    def __init__(self, port: int, timeout: float = 30.0):
        self.port, self.timeout = port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str, header: float | None = 10.0) -> tuple[int, str, float]:
        headers = {SCRAPE_HEADER: f"{header:g}"} if header is not None else {}
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            started = time.perf_counter()
            try:
                self.conn.request("GET", path, headers=headers)
                response = self.conn.getresponse()
                body = response.read()
                return response.status, body.decode(errors="replace"), time.perf_counter() - started
            except (http.client.HTTPException, ConnectionError):
                self.close()  # the server closed an idle keep-alive connection: retry once on a new one
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


FAILED_RE = re.compile(r"^inventory_probe_success\{[^}]*\} 0(\.0)?$")


def ours_failures(text: str) -> list[str]:
    """The exporter's failed probes in a scrape, as their sample lines."""
    return [line for line in text.splitlines() if FAILED_RE.match(line)]


def theirs_failed(text: str) -> bool:
    return re.search(r"^probe_success 1$", text, re.M) is None


# --- figure 1: one full scrape of one target -----------------------------------


@dataclass
class Figure:
    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def fmt(value: float, digits: int = 2) -> str:
    if value != value:  # NaN
        return "n/a"
    return f"{value:,.{digits}f}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def figure_full_scrape(world: World, rounds: int, per_round: int) -> Figure:
    log("figure 1: one full scrape of one target")
    ours_client, bb_client, node_client = Client(world.ours_port), Client(world.blackbox_port), Client(world.node_port)
    steps = [
        (bb_client, world.bb_path("tcp_connect", f"127.0.0.1:{world.app_port}")),
        (bb_client, world.bb_path("http_2xx", f"{world.app}/api/health")),
        (bb_client, world.bb_path("http_2xx", f"{world.app}/api/products")),
        (bb_client, world.bb_path("http_2xx", f"{world.app}/favicon.ico")),
        (bb_client, world.bb_path("http_2xx", f"http://127.0.0.1:{world.proxy_port}/")),
        (bb_client, world.bb_path("dns", f"127.0.0.1:{world.dns_port}")),
        (node_client, "/metrics"),
    ]
    notes = []
    _, text, _ = ours_client.get("/metrics")
    if ours_failures(text):
        notes.append("ours: failing probes in the full scrape: " + "; ".join(ours_failures(text)[:5]))
    for client, path in steps:
        _, text, _ = client.get(path)
        if client is bb_client and theirs_failed(text):
            notes.append(f"theirs: probe failed: {path}")
    for _ in range(3):  # warm-up, unmeasured
        ours_client.get("/metrics")
        for client, path in steps:
            client.get(path)

    ours_wall, theirs_wall, ours_cpu, theirs_cpu = [], [], [], []
    for _ in range(rounds):
        cpu0 = world.ours.cpu()
        for _ in range(per_round):
            ours_wall.append(ours_client.get("/metrics")[2])
        ours_cpu.append((world.ours.cpu() - cpu0) / per_round)

        cpu0 = world.blackbox.cpu() + world.node.cpu()
        for _ in range(per_round):
            theirs_wall.append(sum(client.get(path)[2] for client, path in steps))
        theirs_cpu.append((world.blackbox.cpu() + world.node.cpu() - cpu0) / per_round)
    for client in (ours_client, bb_client, node_client):
        client.close()

    ms = 1000.0
    wall_ratio = ratio(median(ours_wall), median(theirs_wall))
    cpu_ratio = ratio(median(ours_cpu), median(theirs_cpu))
    figure = Figure(
        "1. One full scrape of one target",
        ["figure", "ours", "theirs", "ratio ours/theirs", "goal"],
        notes=notes + [
            "ours: `/metrics` with only the full target (port, 3 HTTP paths, proxy, proxy log, database, Prisma, "
            "files, webpack cache, log, DNS `localhost` via the loopback responder, host); theirs: blackbox "
            "tcp_connect + 3× http_2xx + http_2xx on the proxy + dns, then one node_exporter scrape "
            "(cpu, meminfo, filesystem, loadavg), run one after the other and summed.",
            f"{plural(rounds, 'round')} × {per_round} scrapes per side, alternating; CPU = user+system of the exporter "
            "process vs blackbox_exporter + node_exporter.",
        ],
    )
    figure.rows = [
        ["wall time, median (ms)", fmt(median(ours_wall) * ms), fmt(median(theirs_wall) * ms), fmt(wall_ratio), f"< 1: {verdict(wall_ratio < 1)}"],
        ["wall time, p99 (ms)", fmt(p99(ours_wall) * ms), fmt(p99(theirs_wall) * ms), fmt(ratio(p99(ours_wall), p99(theirs_wall))), ""],
        ["CPU per scrape (ms)", fmt(median(ours_cpu) * ms), fmt(median(theirs_cpu) * ms), fmt(cpu_ratio), f"< 1: {verdict(cpu_ratio < 1)}"],
    ]
    return figure


# --- figure 2: /probe vs blackbox http_2xx under wrk -------------------------------

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_wrk(output: str) -> dict[str, float]:
    def number(pattern: str) -> float:
        match = re.search(pattern, output, re.M)
        if not match:
            raise RuntimeError(f"cannot read {pattern!r} from wrk's output:\n{output}")
        return float(match.group(1))

    latency = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M)
    if not latency:
        raise RuntimeError(f"no 99% latency in wrk's output:\n{output}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": number(r"^Requests/sec:\s+([\d.]+)"),
        "requests": number(r"^\s*(\d+) requests in"),
        "p99": float(latency.group(1)) * UNITS[latency.group(2)],
        "errors": (sum(int(g) for g in errors.groups()) if errors else 0) + (int(non2xx.group(1)) if non2xx else 0),
    }


def tcp_sockets() -> int:
    """TCP sockets in this network namespace (TIME_WAIT included): what a read of /proc/net/tcp walks."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, "rb") as handle:
                count += max(handle.read().count(b"\n") - 1, 0)
        except OSError:
            pass
    return count


def run_wrk(world: World, service: Service, port: int, path: str, connections: int, duration: int) -> dict[str, float]:
    sockets = tcp_sockets()
    url = f"http://127.0.0.1:{port}{path}"
    args = [world.tools["wrk"], "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s",
            "-H", f"{SCRAPE_HEADER}: 10", url]
    cpu0, nginx0 = service.cpu(), world.nginx_requests()
    done = subprocess.run(args, capture_output=True, text=True, timeout=duration + 30)
    cpu1, nginx1 = service.cpu(), world.nginx_requests()
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}")
    result = parse_wrk(done.stdout)
    result["cpu"] = (cpu1 - cpu0) / max(result["requests"], 1)
    result["upstream"] = (nginx1 - nginx0 - 1) / max(result["requests"], 1)  # minus our own stub_status read
    result["sockets"] = sockets
    return result


def figure_probe_throughput(world: World, rounds: int, duration: int, concurrencies: tuple[int, ...]) -> Figure:
    log("figure 2: /probe vs blackbox http_2xx with wrk")
    ours_path = "/probe?target=single"
    theirs_path = world.bb_path("http_2xx", f"{world.app}/api/health")
    notes = []
    ours_client, bb_client = Client(world.ours_port), Client(world.blackbox_port)
    _, text, _ = ours_client.get(ours_path)
    if ours_failures(text):
        notes.append("ours: failing probes: " + "; ".join(ours_failures(text)))
    _, text, _ = bb_client.get(theirs_path)
    if theirs_failed(text):
        notes.append("theirs: the http_2xx probe failed")
    ours_client.close()
    bb_client.close()
    figure = Figure(
        "2. `/probe` of a single-endpoint target vs blackbox `http_2xx` on the same URL",
        ["connections", "figure", "ours", "theirs", "ratio ours/theirs", "goal"],
    )
    sockets = [1 << 62, 0]
    for connections in concurrencies:
        runs: dict[str, list[dict[str, float]]] = {"ours": [], "theirs": []}
        for r in range(rounds):
            log(f"  wrk -c{connections} round {r + 1}/{rounds}")
            runs["ours"].append(run_wrk(world, world.ours, world.ours_port, ours_path, connections, duration))
            runs["theirs"].append(run_wrk(world, world.blackbox, world.blackbox_port, theirs_path, connections, duration))

        def med(side: str, key: str) -> float:
            return median([run[key] for run in runs[side]])

        rps, lat, cpu = (ratio(med("ours", k), med("theirs", k)) for k in ("rps", "p99", "cpu"))
        figure.rows += [
            [str(connections), "throughput (req/s)", fmt(med("ours", "rps"), 0), fmt(med("theirs", "rps"), 0), fmt(rps), f"≥ 1: {verdict(rps >= 1)}"],
            [str(connections), "p99 latency (ms)", fmt(med("ours", "p99") * 1e3), fmt(med("theirs", "p99") * 1e3), fmt(lat), f"≤ 1: {verdict(lat <= 1)}"],
            [str(connections), "CPU per probe (ms)", fmt(med("ours", "cpu") * 1e3, 3), fmt(med("theirs", "cpu") * 1e3, 3), fmt(cpu), f"≤ 1: {verdict(cpu <= 1)}"],
            [str(connections), "nginx requests per answered probe", fmt(med("ours", "upstream")), fmt(med("theirs", "upstream")), fmt(ratio(med("ours", "upstream"), med("theirs", "upstream"))), "(1 = no sharing)"],
        ]
        sockets[0] = min(sockets[0], *(run["sockets"] for side in runs for run in runs[side]))
        sockets[1] = max(sockets[1], *(run["sockets"] for side in runs for run in runs[side]))
        errors = {side: sum(run["errors"] for run in runs[side]) for side in runs}
        if any(errors.values()):
            notes.append(f"{connections} connections: wrk errors (socket errors + non-2xx): ours {errors['ours']}, theirs {errors['theirs']}")
    figure.notes = notes + [
        f"`wrk -t1 -cN -d{duration}s --latency` with `{SCRAPE_HEADER}: 10`, {plural(rounds, 'round')} per concurrency, "
        "alternating; medians of the rounds. CPU per probe = the server process's CPU during the run / requests answered.",
        "nginx requests per answered probe comes from nginx's stub_status: below 1 means concurrent identical "
        "`/probe` requests shared one in-flight probe (the exporter coalesces them), so the same throughput "
        "is less work than blackbox's one probe per request.",
        f"TCP sockets on the machine (TIME_WAIT included, as listed in /proc/net/tcp) before each run: "
        f"{sockets[0]:,}–{sockets[1]:,}. Blackbox opens a new connection per probe, so each of its runs leaves "
        "thousands of TIME_WAIT sockets behind for the next run of either side.",
    ]
    return figure


# --- figure 3: hanging targets ---------------------------------------------------


async def timed(session: aiohttp.ClientSession, url: str, header: float) -> tuple[float, int]:
    started = time.perf_counter()
    async with session.get(url, headers={SCRAPE_HEADER: f"{header:g}"}, timeout=aiohttp.ClientTimeout(total=30)) as response:
        await response.read()
        return time.perf_counter() - started, response.status


async def healthy_loop(session: aiohttp.ClientSession, url: str, until: float) -> list[float]:
    latencies = []
    while time.perf_counter() < until:
        latencies.append((await timed(session, url, 10))[0])
    return latencies


async def hanging_round(session: aiohttp.ClientSession, hang_urls: list[str], healthy_url: str, window: float) -> tuple[float, list[float]]:
    """Start the hanging scrapes at once; scrape the healthy URL one after the other beside them.
    Return when the last hanging scrape ended (seconds from the start) and the healthy latencies."""
    started = time.perf_counter()
    hangs = [asyncio.ensure_future(timed(session, url, 2)) for url in hang_urls]
    await asyncio.sleep(0.05)
    healthy = await healthy_loop(session, healthy_url, started + window)
    await asyncio.wait_for(asyncio.gather(*hangs), timeout=30)
    return max(h.result()[0] for h in hangs), healthy


async def figure_hanging_async(world: World, rounds: int) -> Figure:
    log("figure 3: hanging targets")
    ours_base, bb_base = f"http://127.0.0.1:{world.ours_port}", f"http://127.0.0.1:{world.blackbox_port}"
    hang = f"http://127.0.0.1:{world.hang_port}"
    sides = {
        "ours": {
            "one": f"{ours_base}/probe?target=hang000",
            "many": [f"{ours_base}/probe?target=hang{i:03d}" for i in range(HANGING_SCRAPES)],
            "healthy": f"{ours_base}/probe?target=single",
        },
        "theirs": {
            "one": bb_base + world.bb_path("http_2xx", f"{hang}/api/health"),
            "many": [bb_base + world.bb_path("http_2xx", f"{hang}/api/health/{i}") for i in range(HANGING_SCRAPES)],
            "healthy": bb_base + world.bb_path("http_2xx", f"{world.app}/api/health"),
        },
    }
    one = {"ours": [], "theirs": []}
    last = {"ours": [], "theirs": []}
    alone = {"ours": [], "theirs": []}
    beside = {"ours": [], "theirs": []}
    window = 1.3  # healthy scrapes run while the hanging ones (1.5 s) are in flight
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        for side in sides:  # warm-up
            await healthy_loop(session, sides[side]["healthy"], time.perf_counter() + 0.2)
        for r in range(rounds):
            log(f"  round {r + 1}/{rounds}")
            for side, urls in sides.items():
                one[side].append((await timed(session, urls["one"], 2))[0])
            for side, urls in sides.items():
                alone[side] += await healthy_loop(session, urls["healthy"], time.perf_counter() + window)
            for side, urls in sides.items():
                end, healthy = await hanging_round(session, urls["many"], urls["healthy"], window)
                last[side].append(end)
                beside[side] += healthy
    figure = Figure(
        "3. Hanging targets (`X-Prometheus-Scrape-Timeout-Seconds: 2`)",
        ["figure", "ours", "theirs", "ratio ours/theirs", "goal"],
    )
    ms = 1000.0
    one_ratio = ratio(max(one["ours"]), max(one["theirs"]))
    last_ratio = ratio(max(last["ours"]), max(last["theirs"]))
    drift = {side: ratio(median(beside[side]), median(alone[side])) for side in sides}
    figure.rows = [
        ["one hanging scrape ends after (s, worst round)", fmt(max(one["ours"]), 3), fmt(max(one["theirs"]), 3), fmt(one_ratio),
         f"ours ≤ 1.55 s: {verdict(max(one['ours']) <= 1.55)}"],
        [f"last of {HANGING_SCRAPES} concurrent hanging scrapes ends after (s, worst round)", fmt(max(last["ours"]), 3),
         fmt(max(last["theirs"]), 3), fmt(last_ratio), f"ours ≤ 1.6 s: {verdict(max(last['ours']) <= 1.6)}"],
        ["healthy scrape alone, median (ms)", fmt(median(alone["ours"]) * ms), fmt(median(alone["theirs"]) * ms),
         fmt(ratio(median(alone["ours"]), median(alone["theirs"]))), ""],
        ["healthy scrape beside them, median (ms)", fmt(median(beside["ours"]) * ms), fmt(median(beside["theirs"]) * ms),
         fmt(ratio(median(beside["ours"]), median(beside["theirs"]))), ""],
        ["healthy scrape beside them, p99 (ms)", fmt(p99(beside["ours"]) * ms), fmt(p99(beside["theirs"]) * ms),
         fmt(ratio(p99(beside["ours"]), p99(beside["theirs"]))), ""],
        ["healthy median beside / alone", fmt(drift["ours"]), fmt(drift["theirs"]), fmt(ratio(drift["ours"], drift["theirs"])),
         f"ours ≤ 1.5 (our reading of \"normal\"): {verdict(drift['ours'] <= 1.5)}"],
    ]
    figure.notes = [
        f"{plural(rounds, 'round')}, alternating. Ours: `/probe?target=hangNNN`, {HANGING_SCRAPES} distinct targets (so no "
        "scrape shares another's in-flight probe); theirs: blackbox `http_2xx` of the same hanging socket. "
        "The hanging socket accepts and never answers.",
        f"Healthy scrapes (ours `/probe?target=single`, theirs `http_2xx` of `/api/health`) run one after the other "
        f"for {window} s, alone and beside the {HANGING_SCRAPES} hanging scrapes. Times are seen by an aiohttp "
        "client in this script (its own overhead included on both sides).",
    ]
    return figure


def figure_hanging(world: World, rounds: int) -> Figure:
    return asyncio.run(figure_hanging_async(world, rounds))


# --- figure 4: scale ------------------------------------------------------------


class FdWatcher:
    """The exporter's peak open descriptors while a scrape runs (sampled every 5 ms)."""

    def __init__(self, service: Service):
        self.ps, self.peak, self.stop = service.ps, 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, self.ps.num_fds())
            except psutil.Error:
                return
            self.stop.wait(0.005)

    def __enter__(self) -> "FdWatcher":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


async def blackbox_many(world: World, count: int) -> float:
    """``count`` http_2xx probes of /api/health, ``SCALE_CONCURRENCY`` at a time, as Prometheus would send them."""
    url = f"http://127.0.0.1:{world.blackbox_port}" + world.bb_path("http_2xx", f"{world.app}/api/health")
    limit = asyncio.Semaphore(SCALE_CONCURRENCY)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> None:
            async with limit:
                async with session.get(url, headers={SCRAPE_HEADER: "10"}, timeout=aiohttp.ClientTimeout(total=30)) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        return time.perf_counter() - started


def figure_scale(world: World, rounds: int, sizes: tuple[int, ...]) -> Figure:
    log("figure 4: scale")
    figure = Figure(
        "4. Scale: `/metrics` with N configured targets vs N blackbox `http_2xx` probes",
        ["targets", "ours median (s)", "ours per target (ms)", "ours growth vs previous row", "ours CPU per scrape (ms)",
         "ours failed probes", "ours peak fds", "theirs median (s)", "theirs CPU (ms)", "ratio ours/theirs", "goal"],
    )
    client = Client(world.ours_port, timeout=60)
    previous: tuple[int, float] | None = None
    for count in sizes:
        log(f"  {count} targets")
        reload_ours(world, config_scale(world, count))
        client.get("/metrics", header=30)  # warm-up after the reload
        asyncio.run(blackbox_many(world, count))
        per_round = 3  # 3 scrapes a round: the growth between rows is a ratio of medians, noisy with fewer
        ours, theirs, ours_cpu, theirs_cpu, failed, peak = [], [], [], [], 0, 0
        for _ in range(rounds):
            cpu0 = world.ours.cpu()
            with FdWatcher(world.ours) as fds:
                for _ in range(per_round):
                    _, text, seconds = client.get("/metrics", header=30)
                    ours.append(seconds)
                    failed = max(failed, len(ours_failures(text)))
            ours_cpu.append((world.ours.cpu() - cpu0) / per_round)
            peak = max(peak, fds.peak)
            cpu0 = world.blackbox.cpu()
            for _ in range(per_round):
                theirs.append(asyncio.run(blackbox_many(world, count)))
            theirs_cpu.append((world.blackbox.cpu() - cpu0) / per_round)
        ours_median = median(ours)
        growth = "" if previous is None else f"{ours_median / previous[1]:.1f}× for {count // previous[0]}× targets"
        goal = ""
        if count == max(sizes) and count >= 1000:
            goal = f"< 2 s: {verdict(ours_median < 2.0)}"
        if previous is not None:
            linear = ours_median / previous[1] <= (count / previous[0]) * 1.1
            goal = (goal + "; " if goal else "") + f"≤ linear: {verdict(linear)}"
        figure.rows.append([
            str(count), fmt(ours_median, 3), fmt(ours_median / count * 1e3, 3), growth, fmt(median(ours_cpu) * 1e3, 1),
            str(failed), str(peak), fmt(median(theirs), 3), fmt(median(theirs_cpu) * 1e3, 1),
            fmt(ratio(ours_median, median(theirs))), goal,
        ])
        previous = (count, ours_median)
    client.close()
    figure.notes = [
        f"Each size: the config rewritten and `POST /-/reload`, one warm-up scrape, then {plural(rounds, 'round')} alternating "
        "ours (3 `/metrics` scrapes, host and DNS probes included, header 30 s) and theirs (3 × N blackbox probes sent "
        f"{SCALE_CONCURRENCY} at a time by this script's aiohttp client, as Prometheus would send N scrapes; "
        "the client's own CPU is not counted on either side).",
        "\"failed probes\" counts `inventory_probe_success 0` in a scrape: a deadline cutting healthy targets "
        "would show there. \"peak fds\" is the exporter's highest descriptor count seen while scraping.",
    ]
    return figure


# --- figure 5: memory -----------------------------------------------------------


def figure_memory(samples: dict[str, dict[str, float]]) -> Figure:
    figure = Figure("5. Memory (RSS, MB)", ["when", "ours", "blackbox_exporter", "node_exporter", "ratio ours/blackbox", "goal"])
    for when, rss in samples.items():
        r = ratio(rss["ours"], rss["blackbox"])
        goal = f"≤ 2: {verdict(r <= 2)}" if when.startswith("after load") else ""
        figure.rows.append([when, fmt(rss["ours"], 1), fmt(rss["blackbox"], 1), fmt(rss["node"], 1), fmt(r), goal])
    figure.notes = ["\"after load\" is measured after figures 1–3; \"end\" after figure 4's largest configuration."]
    return figure


def rss(world: World) -> dict[str, float]:
    return {"ours": world.ours.rss_mb(), "blackbox": world.blackbox.rss_mb(), "node": world.node.rss_mb()}


# --- output ---------------------------------------------------------------------


def tool_version(path: str) -> str:
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = re.search(r"version (\S+)", done.stdout + done.stderr)
    return match.group(1) if match else "unknown"


def markdown(figures: list[Figure], world: World, args: argparse.Namespace, elapsed: float) -> str:
    nginx = subprocess.run([world.tools["nginx"], "-v"], capture_output=True, text=True, timeout=10).stderr.strip()
    lines = [
        "## Benchmark: inventory-exporter vs blackbox_exporter + node_exporter",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} cores (nproc) · "
        f"blackbox_exporter {tool_version(world.tools['blackbox_exporter'])} · "
        f"node_exporter {tool_version(world.tools['node_exporter'])} · {nginx.replace('nginx version: ', '')} · "
        f"Python {platform.python_version()} · `python bench/compare.py"
        f"{' --quick' if args.quick else ''} --rounds {args.rounds} --duration {args.duration:g}` "
        f"({elapsed:.0f} s). Ratio = ours/theirs; below 1 is better for times, CPU and memory, above 1 for throughput.",
    ]
    for figure in figures:
        lines += ["", f"### {figure.title}", "", "| " + " | ".join(figure.header) + " |",
                  "|" + "|".join("---" for _ in figure.header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in figure.rows]
        if figure.notes:
            lines.append("")
            lines += [f"- {note}" for note in figure.notes]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds per figure (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="a fast smoke run: 1 round, 1 s wrk runs, fewer scrapes, scale up to 100 targets")
    args = parser.parse_args()
    tools = check_requirements()
    if args.quick:
        args.rounds, args.duration = 1, 1.0
    rounds, duration = max(1, args.rounds), max(1, round(args.duration))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally below stops everything

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="compare-") as tmpdir:
        stack = Stack(Path(tmpdir))
        try:
            log("starting nginx, the DNS responder, the hanging socket, blackbox_exporter, node_exporter, the exporter")
            world = start_world(tools, stack)
            time.sleep(0.5)  # let start-up settle before the idle RSS
            memory = {"idle": rss(world)}
            figures = [figure_full_scrape(world, rounds, 10 if args.quick else 50)]
            reload_ours(world, config_probe(world))
            figures.append(figure_probe_throughput(world, rounds, duration, (1, 10, 50)))
            figures.append(figure_hanging(world, rounds))
            memory["after load (figures 1–3)"] = rss(world)
            figures.append(figure_scale(world, rounds, QUICK_SCALE_SIZES if args.quick else SCALE_SIZES))
            memory["end (after figure 4)"] = rss(world)
            figures.append(figure_memory(memory))
            for service in world.stack.services:
                service.check_alive()
            print(markdown(figures, world, args, time.monotonic() - started), flush=True)
        finally:
            log("stopping everything")
            stack.stop_all()
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
