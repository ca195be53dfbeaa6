"""bench/compare.py: everything it started (the monitored stack and the exporters side by side), with the
ports on 127.0.0.1."""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench.compare_processes import Service, Stack


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
