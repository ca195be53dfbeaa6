"""A host with the incident staged for discovery: a real nginx with one linked site proxying to a
loopback port, a systemd unit running the project there (in a temporary unit directory), apps
named as Next names them, and the exporter pointed at them with --discovery.* flags only.
Used by tests/discovery and bench/discovery_cost.py."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import free_port, make_project
from tests.support.exporter_proc import Exporter
from tests.support.stack import LoggedServer, nginx_conf, require, start_app

TITLE = "next-server (v15.5.0)"
SITE = """
    server {{
        listen 127.0.0.1:{listen};
        server_name shop.test;
        error_log {prefix}/shop.error.log;
        root {project}/public;
        location / {{
            proxy_pass http://127.0.0.1:{app_port};
            proxy_connect_timeout 1s;
        }}
    }}"""


class Stage:
    """nginx with one linked site proxying to ``app_port``, a unit running the project there, the exporter."""

    def __init__(self, tmp: Path, app_port: int, unit_port: int | None = None, extra_includes: str = ""):
        self.tmp, self.app_port = tmp, app_port
        self.project = make_project(tmp / "srv" / "smart-inventory")
        (self.project / "public").mkdir(exist_ok=True)
        self.prefix = tmp / "nginx"
        for sub in ("tmp", "sites-available", "sites-enabled"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        self.listen = free_port()
        site = self.prefix / "sites-available" / "inventory"
        site.write_text(SITE.format(listen=self.listen, prefix=self.prefix, project=self.project, app_port=app_port))
        (self.prefix / "sites-enabled" / "inventory").symlink_to(site)
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(nginx_conf(self.prefix, f"    include {self.prefix}/sites-enabled/*;{extra_includes}"))
        self.units = tmp / "units"
        self.units.mkdir()
        (self.units / "inventory.service").write_text(
            f"[Service]\nWorkingDirectory={self.project}\nExecStart=/usr/bin/npm run start\n"
            f"Environment=PORT={unit_port or app_port}\n"
        )
        self.nginx = None
        self.running = []

    def start_nginx(self) -> None:
        self.nginx = LoggedServer("nginx", [require("nginx"), "-p", str(self.prefix), "-c", str(self.conf),
                                            "-e", str(self.prefix / "error.log")], self.prefix / "nginx.out", self.listen)

    def start_app(self, port: int):
        app = start_app(self.tmp / "bin", port, title=TITLE, cwd=self.project)
        self.running.append(app)
        return app

    def flags(self) -> list[str]:
        return [f"--discovery.nginx-config={self.conf}", f"--discovery.systemd-unit-path={self.units}"]

    def exporter(self, *extra: str) -> Exporter:
        port = free_port()
        args = [f"--web.listen-address=127.0.0.1:{port}", *self.flags(), *extra]
        return Exporter(args, port, self.tmp / f"exporter-{port}.log", self.tmp)

    def stop(self) -> None:
        for app in self.running:
            app.stop()
        if self.nginx is not None:
            self.nginx.stop()


