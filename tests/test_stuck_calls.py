"""A stuck call never wedges the exporter (issue #12, point 2).

Calls stuck for real, two ways:

* in-process, the app's own probe context runs a test-only function that opens a FIFO nobody
  writes with plain blocking ``open()``: its thread is stuck until the test opens the other end;
* in subprocesses (``diagnose``, the served exporter, SIGTERM), nothing can be injected, so the
  monitored project itself sits on a dead file system: a FUSE mount whose daemon never answers
  (tests/support/dead_fs.py). Every stat or open below it blocks in the kernel, as on a dead NFS
  server, whatever flags the exporter opens files with. Without the right to mount, those tests skip.

Time bounds are the ones the exporter promises (5 s for ``/`` and SIGTERM, ``--timeout`` + 1 s for
``diagnose``), plus slack for a loaded machine where said so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aiohttp import web

from exporter.app import State, create_app
from exporter.landing import LANDING_TIMEOUT
from exporter.config import Config, DnsConfig, Target
from exporter.pool import MAX_STUCK_THREADS
from exporter.probing import PROBE_THREADS, Deadline
from tests.conftest import free_port, make_project
from tests.support.dead_fs import Unavailable, dead_mount
from tests.support.exporter_proc import ROOT, Exporter, fetch
from tests.test_app import value
from tests.test_pool import fifos, read_fifo, release_fifo, wait_until

SLACK = 1.0  # a loaded 2-core machine, on top of the promised bound
ABSENCE = ("database_missing", "log_missing", "config_file_missing", "prisma_config_missing", "env_var_missing",
           "prisma_not_installed", "prisma_client_not_generated")


@pytest.fixture
async def healthy_url(aiohttp_server):
    app = web.Application()
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/api/health", health)
    server = await aiohttp_server(app, host="127.0.0.1")
    return str(server.make_url("")).rstrip("/")


def shop(app_url: str, project: Path) -> Target:
    return Target(name="shop", app_url=app_url, project_dir=project, log_file=Path("dev.log"),
                  app_process_names=("python",))  # the stand-in app runs in this Python process


async def started_app(aiohttp_client, target: Target):
    cfg = Config(targets=(target,), dns=DnsConfig(names=("localhost",)))
    state = State(config=cfg, config_file=None, loader=lambda: cfg)
    client = await aiohttp_client(create_app(state))
    return client, state


async def stick_app_threads(state: State, paths: list[Path]) -> None:
    """Each FIFO's open() sticks one of the app's probe threads past a 0.3 s deadline; two at a time."""
    for pair in (paths[i:i + PROBE_THREADS] for i in range(0, len(paths), PROBE_THREADS)):
        results = await asyncio.gather(*(state.ctx.blocking(Deadline(0.3), read_fifo, p) for p in pair),
                                       return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in results), results


async def test_after_two_stuck_calls_a_scrape_still_reads_the_database_and_files_and_reports_the_stuck_threads(
    aiohttp_client, healthy_url, tmp_path: Path
):
    project = make_project(tmp_path / "project")
    (project / "dev.log").write_text("ready on :3001\n")
    client, state = await started_app(aiohttp_client, shop(healthy_url, project))
    stuck = fifos(tmp_path, 2)
    try:
        await stick_app_threads(state, stuck)
        response = await client.get("/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "5"})
        text = await response.text()
    finally:
        for path in stuck:
            release_fifo(path)
    assert response.status == 200
    assert value(text, "inventory_exporter_stuck_threads") == 2
    for probe in ("database", "files", "prisma", "webpack_cache", "logs"):
        assert value(text, "inventory_probe_success", target="shop", probe=probe) == 1, probe
    assert value(text, "inventory_db_up", target="shop") == 1
    assert value(text, "inventory_log_file_present", target="shop") == 1
    assert "reason=\"timeout\"" not in text, "no probe waited behind the stuck threads"
    assert value(text, "inventory_root_cause_info", target="shop", cause="not_checked") is None
    assert wait_until(lambda: state.ctx.executor.stuck == 0), "the stuck threads came back when released"
    response = await client.get("/metrics")
    assert value(await response.text(), "inventory_exporter_stuck_threads") == 0


async def test_with_every_probe_thread_stuck_the_landing_page_answers_in_time_and_nothing_reads_as_missing(
    aiohttp_client, healthy_url, tmp_path: Path
):
    project = make_project(tmp_path / "project")
    (project / "dev.log").write_text("ready on :3001\n")
    client, state = await started_app(aiohttp_client, shop(healthy_url, project))
    stuck = fifos(tmp_path, PROBE_THREADS + MAX_STUCK_THREADS)
    try:
        await stick_app_threads(state, stuck)
        assert state.ctx.executor.stuck == PROBE_THREADS + MAX_STUCK_THREADS
        started = time.monotonic()
        page = await client.get("/")
        html = await page.text()
        elapsed = time.monotonic() - started
        metrics = await (await client.get("/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": "3"})).text()
    finally:
        for path in stuck:
            release_fifo(path)
    assert page.status == 200
    assert elapsed < LANDING_TIMEOUT + SLACK, f"/ took {elapsed:.2f}s"
    assert "not_checked" in html and "10 probe thread(s) stuck" in html
    assert not any(check in html for check in ABSENCE), html
    assert value(metrics, "inventory_exporter_stuck_threads") == PROBE_THREADS + MAX_STUCK_THREADS
    for probe in ("database", "files", "prisma", "logs"):
        assert value(metrics, "inventory_probe_failure_info", target="shop", probe=probe, reason="timeout") == 1, probe
    assert value(metrics, "inventory_http_up", target="shop", path="/api/health") == 1, "the live probes still ran"
    assert value(metrics, "inventory_root_cause_info", target="shop", cause="not_checked") == 1
    for check in ABSENCE:
        assert value(metrics, "inventory_finding", target="shop", check=check) is None, check
    assert wait_until(lambda: state.ctx.executor.stuck == 0)


# --- subprocesses on a dead file system --------------------------------------------------------


@pytest.fixture
def dead_project(tmp_path: Path):
    try:
        with dead_mount(tmp_path / "dead") as directory:
            yield directory
    except Unavailable as exc:
        if os.environ.get("CI"):  # CI runs as root on this kind of machine: a missing mount is a failure there
            pytest.fail(f"cannot mount a FUSE file system here: {exc}")
        pytest.skip(f"cannot mount a FUSE file system here: {exc}")


async def test_probes_of_a_project_on_a_dead_file_system_time_out_and_nothing_reads_as_missing(
    dead_project, healthy_url, ctx
):
    """The whole chain, in-process: real probes, real pool, the kernel holding the calls."""
    from exporter.pool import ProbePool
    from exporter.scrape import probe_target

    pool = ProbePool(PROBE_THREADS)
    ctx = dataclasses.replace(ctx, executor=pool, batches=None)
    store: list = []
    result = await probe_target(shop(healthy_url, dead_project), ctx.for_scrape(), store, Deadline(0.5))
    assert {name for name, o in result.outcomes.items() if o.reason == "timeout"} >= {"database", "files", "logs"}
    assert result.outcomes["http"].ok, "the live probes do not need the threads"
    assert result.samples.value("inventory_log_file_present") is None
    assert result.samples.value("inventory_db_file_exists") is None
    assert result.diagnosis.cause == "not_checked"
    assert not {f.id for f in result.diagnosis.findings} & set(ABSENCE)
    assert pool.stuck == PROBE_THREADS
    pool.shutdown(wait=False)  # the stuck threads return when the mount goes (ENOTCONN)


@pytest.fixture
def app_url(tmp_path: Path):
    """The stand-in Next.js app, healthy, as a subprocess."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests/support/fake_app.py"), str(port)],
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert wait_until(lambda: _answers(f"http://127.0.0.1:{port}/api/health"), within=15)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return fetch(url, timeout=1)[0] == 200
    except OSError:
        return False


def write_config(tmp_path: Path, app_url: str, project: Path) -> Path:
    config = tmp_path / "config.yml"
    config.write_text(
        f"targets:\n  - name: shop\n    app_url: {app_url}\n    project_dir: {project}\n    log_file: dev.log\n"
        "    app_process_names: [python]\n"  # the stand-in app is a Python process
        "dns:\n  names: [localhost]\n  include_hostname: false\n"
    )
    return config


def test_diagnose_exits_within_its_timeout_with_the_project_on_a_dead_file_system(tmp_path: Path, dead_project, app_url):
    config = write_config(tmp_path, app_url, dead_project)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "diagnose", f"--config.file={config}", "--timeout=2s", "--format=json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    elapsed = time.monotonic() - started
    assert elapsed < 2 + 1 + SLACK + 1.5, f"diagnose took {elapsed:.2f}s (interpreter start-up included)"
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    [target] = report["targets"]
    assert (target["cause"], target["status"]) == ("not_checked", "unknown"), target
    assert not {f["id"] for f in target["findings"]} & set(ABSENCE), target["findings"]
    assert done.returncode == report["exit_code"] == 1, "not fully checked is never 'ok'"


def test_served_exporter_keeps_answering_then_stops_on_sigterm_within_5s_with_threads_stuck_on_a_dead_file_system(
    tmp_path: Path, dead_project, app_url
):
    config = write_config(tmp_path, app_url, dead_project)
    port = free_port()
    with Exporter([f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"], port,
                  tmp_path / "exporter.log", tmp_path) as exporter, ThreadPoolExecutor(1) as pool:
        for _ in range(3):
            started = time.monotonic()
            status, _, body = fetch(exporter.url + "/metrics", {"X-Prometheus-Scrape-Timeout-Seconds": "1.5"}, 15)
            assert status == 200 and time.monotonic() - started < 1.5 + SLACK
        text = body.decode()
        assert value(text, "inventory_exporter_stuck_threads") >= 2, text
        assert value(text, "inventory_probe_failure_info", target="shop", probe="database", reason="timeout") == 1
        assert value(text, "inventory_http_up", target="shop", path="/api/health") == 1
        started = time.monotonic()
        status, _, page = fetch(exporter.url + "/", timeout=15)
        assert status == 200 and time.monotonic() - started < LANDING_TIMEOUT + SLACK
        assert b"not_checked" in page and b"log_missing" not in page

        in_flight = pool.submit(fetch, exporter.url + "/metrics", {"X-Prometheus-Scrape-Timeout-Seconds": "30"}, 40)
        time.sleep(0.3)  # the scrape's probes are blocked on the dead mount now
        signalled = time.monotonic()
        exporter.proc.send_signal(signal.SIGTERM)
        code = exporter.proc.wait(timeout=30)
        stopped = time.monotonic() - signalled
        try:
            in_flight.result(timeout=10)
        except OSError:
            pass  # the connection was closed by the stopping exporter: expected
        log = exporter.text()
    assert stopped < 5.0, f"SIGTERM took {stopped:.2f}s\n{log}"
    assert code == 0, log
    assert "probe thread stuck in a call past its deadline" in log
    assert "Traceback" not in log, log


def test_sigterm_during_a_hung_30s_scrape_exits_within_5s(tmp_path: Path):
    """No stuck thread here: the cap on the wait for scrapes in flight (it was 31 s)."""
    hung = __import__("socket").socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    config = tmp_path / "config.yml"
    config.write_text(f"targets:\n  - name: hung\n    app_url: http://127.0.0.1:{hung.getsockname()[1]}\n    timeout: 60s\n"
                      "dns:\n  names: [localhost]\n  include_hostname: false\n")
    port = free_port()
    with hung, Exporter([f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"], port,
                        tmp_path / "exporter.log", tmp_path) as exporter, ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(fetch, exporter.url + "/probe?target=hung", {"X-Prometheus-Scrape-Timeout-Seconds": "30"}, 40)
        held = hung.accept()[0]  # the probe is talking to the hung app: the scrape is in flight
        signalled = time.monotonic()
        exporter.proc.send_signal(signal.SIGTERM)
        code = exporter.proc.wait(timeout=40)
        stopped = time.monotonic() - signalled
        held.close()
        try:
            in_flight.result(timeout=10)
        except OSError:
            pass
        log = exporter.text()
    assert stopped < 5.0, f"SIGTERM took {stopped:.2f}s\n{log}"
    assert code == 0, log
    assert "Traceback" not in log, log
