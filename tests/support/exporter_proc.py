"""The real exporter as a subprocess (``python -m exporter`` from this checkout), on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def fetch(url: str, headers: dict[str, str] | None = None, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` (loopback only): status, headers and the raw body (not decoded, not decompressed)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


EVERY_PAGE = ("/metrics", "/probe?target=shop", "/probe?target=shop&debug=true", "/", "/?lang=zh-CN", "/config")


def every_page(exporter: "Exporter", pages: tuple[str, ...] = EVERY_PAGE) -> dict[str, str]:
    """Each page's text, asked for with gzip (and decompressed): each must answer 200."""
    import gzip

    outputs = {}
    for page in pages:
        status, headers, body = fetch(exporter.url + page, headers={"Accept-Encoding": "gzip"})
        if headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        assert status == 200, (page, body[:300])
        outputs[page] = body.decode()
    return outputs


class Exporter:
    """``python -m exporter ARGS`` with its log in ``log``; ``url`` is the first listen address."""

    def __init__(self, args: list[str], port: int, log: Path, cwd: Path, env: dict[str, str] | None = None,
                 preexec_fn=None):
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", *args],
            cwd=cwd, stdout=self._log_file, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, preexec_fn=preexec_fn,
        )
        try:
            self.wait_ready()
        except AssertionError:
            self.stop()
            raise

    def wait_ready(self, within: float = 20.0) -> None:
        end = time.monotonic() + within
        while time.monotonic() < end:
            assert self.proc.poll() is None, f"exporter exited early:\n{self.text()}"
            try:
                if fetch(self.url + "/-/healthy", timeout=1.0)[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)  # polling a port that is not open yet; bounded by `within`
        raise AssertionError(f"{self.url} not ready within {within}s:\n{self.text()}")

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log_file.close()

    def __enter__(self) -> "Exporter":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
