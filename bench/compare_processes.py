"""bench/compare.py: the processes it starts (each in a session of its own), stopping them, and waiting
until one answers over HTTP, DNS or TCP."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.compare_settings import WAIT, log

try:
    import psutil
except ImportError:  # named by check_requirements(), which exits 2
    pass


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
