"""Real parts of the monitored stack for end-to-end tests: the app (as a process named node),
a foreign listener, and nginx in front, all on 127.0.0.1 under a temporary prefix."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def require(tool: str) -> str:
    """The path of a required tool; its absence is a failure, never a skip."""
    path = shutil.which(tool) or next((p for p in (f"/usr/sbin/{tool}", f"/usr/bin/{tool}") if os.path.exists(p)), None)
    assert path, f"{tool} is required for this test: run ./scripts/install-test-deps.sh (make test does)"
    return path


def wait_for_port(port: int, open_: bool = True, within: float = 10.0) -> None:
    end = time.monotonic() + within
    while time.monotonic() < end:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            is_open = sock.connect_ex(("127.0.0.1", port)) == 0
        if is_open == open_:
            return
        time.sleep(0.02)  # polling a port that another process is opening or closing; bounded
    raise AssertionError(f"port {port} did not become {'open' if open_ else 'closed'} within {within}s")


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate, then kill if it does not go within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Process:
    def __init__(self, args: list[str], port: int | None = None, cwd: Path | None = None):
        self.port = port
        self.proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if port is not None:
            try:
                wait_for_port(port)
            except AssertionError:
                self.stop()
                raise

    def stop(self) -> None:
        stop_process(self.proc)
        if self.port is not None:
            wait_for_port(self.port, open_=False)


def node_named_python(bin_dir: Path) -> str:
    """A link to this Python named ``node``, so the process looks like the Next.js server to psutil."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    link = bin_dir / "node"
    if not link.exists():
        link.symlink_to(sys.executable)
    return str(link)


def start_app(bin_dir: Path, port: int, hang: bool = False, title: str | None = None, cwd: Path | None = None) -> Process:
    """The stand-in app on ``port``; ``title`` renames it as Next does (``next-server (v15.5.0)``)."""
    args = [node_named_python(bin_dir), str(HERE / "fake_app.py"), str(port)] + (["--hang"] if hang else [])
    return Process(args + (["--title", title] if title else []), port, cwd=cwd)


def start_foreign_listener(port: int) -> Process:
    code = (
        "import socket,sys,signal;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);"
        f"s.bind(('127.0.0.1',{port}));s.listen(8);signal.pause()"
    )
    return Process([sys.executable, "-c", code], port)


def nginx_conf(prefix: Path, servers: str, worker_connections: int = 256, http_extra: str = "") -> str:
    """A foreground, single-process nginx kept under ``prefix`` (pid, logs, temp files) serving ``servers``."""
    return f"""
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log error;
events {{ worker_connections {worker_connections}; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    {http_extra}
{servers}
}}
"""


PROXY_SERVER = """
    upstream app {{ server 127.0.0.1:{app_port}; }}
    server {{
        listen 127.0.0.1:{port};
        {extra}
        location / {{
            proxy_pass http://app;
            proxy_connect_timeout 1s;
            proxy_read_timeout 1s;
        }}
    }}"""


class Nginx(Process):
    def __init__(self, prefix: Path, port: int, app_port: int, extra: str = "", http_extra: str = ""):
        self.prefix = prefix
        (prefix / "tmp").mkdir(parents=True, exist_ok=True)
        self.error_log = prefix / "error.log"
        self.error_log.touch()
        conf = prefix / "nginx.conf"
        conf.write_text(nginx_conf(prefix, PROXY_SERVER.format(port=port, app_port=app_port, extra=extra), http_extra=http_extra))
        binary = require("nginx")
        check = subprocess.run([binary, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(self.error_log)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        super().__init__([binary, "-p", str(prefix), "-c", str(conf), "-e", str(self.error_log)], port)


class LoggedServer:
    """A real server process (Prometheus, Alertmanager, the exporter...) logging to a file, never to
    a pipe nobody reads; waits for its port when given one; stopped at teardown."""

    def __init__(self, name: str, args: list[str], log: Path, port: int | None = None, cwd: Path | None = None):
        self.name, self.log = name, log
        self.out = log.open("wb")
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=subprocess.STDOUT, cwd=cwd)
        if port is not None:
            try:
                wait_for_port(port, within=30.0)
            except AssertionError:
                self.stop()
                raise AssertionError(f"{name} did not listen on {port}" + self.tail())

    def tail(self) -> str:
        return f"\n--- {self.name} log ---\n" + "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def stop(self) -> None:
        stop_process(self.proc)
        self.out.close()
