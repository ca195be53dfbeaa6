"""Host CPU from /proc/stat deltas: right on the first scrape, in ``diagnose``, from any thread.

Two busy processes keep both cores of the test machine busy (each stops by itself after a minute).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from exporter.cpu import MIN_INTERVAL, CpuMeter
from tests.conftest import free_port
from tests.support.stack import stop_process
from tests.test_app import value
from tests.test_cli import get, wait_ready

ROOT = Path(__file__).resolve().parent.parent
BUSY = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end:\n    pass\n"


@pytest.fixture
def busy_host():
    """One spinning process per core."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(os.cpu_count() or 2)]
    time.sleep(0.3)  # let the scheduler put them on the cores before anything is measured
    yield procs
    for proc in procs:
        stop_process(proc)


def test_a_reading_in_another_thread_than_the_priming_one_sees_the_busy_host(busy_host):
    meter = CpuMeter()  # primed here, in the test's thread
    time.sleep(MIN_INTERVAL)
    seen: list = []
    worker = threading.Thread(target=lambda: seen.append(meter.ratio()))
    worker.start()
    worker.join()
    assert seen[0] is not None and seen[0] >= 0.9


def test_back_to_back_readings_each_measure_a_full_interval(busy_host):
    meter = CpuMeter()
    time.sleep(MIN_INTERVAL)
    first, second = meter.ratio(), meter.ratio()  # two scrapers at once: the second must not measure nothing
    assert first is not None and first >= 0.9
    assert second is not None and second >= 0.9


def test_the_meter_asks_for_the_rest_of_its_first_interval():
    meter = CpuMeter()
    assert 0 < meter.wait_needed() <= MIN_INTERVAL
    time.sleep(MIN_INTERVAL)
    assert meter.wait_needed() == 0


def test_the_first_scrape_of_a_fresh_exporter_sees_a_busy_host(tmp_path: Path, busy_host):
    port = free_port()
    config = tmp_path / "config.yml"
    config.write_text(f"targets:\n  - name: shop\n    app_url: http://127.0.0.1:{free_port()}\ndns:\n  include_hostname: false\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", f"--web.listen-address=127.0.0.1:{port}", "--config.file", str(config)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        wait_ready(proc, f"http://127.0.0.1:{port}/-/healthy")
        status, text = get(f"http://127.0.0.1:{port}/metrics", timeout=10)  # the first scrape
    finally:
        stop_process(proc)
    assert status == 200
    assert value(text, "inventory_cpu_usage_ratio") >= 0.9
    assert value(text, "inventory_finding", target="", check="cpu_high", severity="warning") == 1


def test_diagnose_sees_a_busy_host(tmp_path: Path, busy_host):
    config = tmp_path / "config.yml"
    config.write_text(f"targets:\n  - name: shop\n    app_url: http://127.0.0.1:{free_port()}\ndns:\n  include_hostname: false\n")
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "diagnose", "--config.file", str(config), "--format", "json"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    report = json.loads(result.stdout)
    cpu = next(f for f in report["host"] if f["check"] == "cpu_high")
    assert float(cpu["evidence"]["value"].rstrip("%")) >= 90.0
