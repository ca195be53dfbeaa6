"""Real nginx configuration layouts under a temporary prefix (main file, conf.d, sites-available,
sites-enabled links, snippets), checked with the real nginx (``nginx -t``) and started for real."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from tests.support.stack import Process, require

MAIN = """\
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/main-error.log;
events {{ worker_connections {connections}; }}
http {{
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
{http}
    include conf.d/*.conf;
    include sites-enabled/*;
}}
"""


class Layout:
    """An nginx prefix: ``nginx.conf`` including ``conf.d/*.conf`` and ``sites-enabled/*``."""

    def __init__(self, prefix: Path, http: str = "", connections: int = 64):
        self.prefix = prefix
        for folder in ("conf.d", "sites-available", "sites-enabled", "snippets", "logs", "tmp"):
            (prefix / folder).mkdir(parents=True, exist_ok=True)
        self.main = self.write("nginx.conf", MAIN.format(prefix=prefix, connections=connections, http=textwrap.indent(textwrap.dedent(http), "    ")))

    def write(self, relative: str, text: str) -> Path:
        path = self.prefix / relative
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    def site(self, name: str, text: str, enabled: bool = True) -> Path:
        """A file in sites-available, enabled as Debian does: an absolute link in sites-enabled."""
        self.write(f"sites-available/{name}", text)
        link = self.prefix / "sites-enabled" / name
        if enabled:
            link.symlink_to(self.prefix / "sites-available" / name)
        return link

    def at(self, relative: str, text: str) -> str:
        """``path:line`` of the one line of ``relative`` that holds ``text`` (the path as nginx names it)."""
        path = self.prefix / relative
        lines = [n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line]
        assert len(lines) == 1, f"{text!r} is on lines {lines} of {path}"
        return f"{path}:{lines[0]}"

    def nginx_args(self) -> list[str]:
        return [require("nginx"), "-p", str(self.prefix), "-c", str(self.main), "-e", str(self.prefix / "logs/main-error.log")]

    def check(self) -> None:
        """The real nginx accepts the layout (``nginx -t``)."""
        result = subprocess.run([*self.nginx_args()[:1], "-t", *self.nginx_args()[1:]], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr

    def start(self, port: int) -> Process:
        """nginx in the foreground on this layout, once ``port`` accepts connections."""
        self.check()
        return Process(self.nginx_args(), port)
