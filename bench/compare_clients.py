"""bench/compare.py: a keep-alive HTTP client, and reading failed probes from either side's answers."""

from __future__ import annotations

import http.client
import re
import time

from bench.compare_settings import SCRAPE_HEADER


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
