"""``promtool check metrics`` on what the real exporter serves: /metrics and /probe, text and OpenMetrics.

The exporter runs as a subprocess with a target whose every probe has something to report: a real
app process (tests/support/fake_app.py, named node), the same app as its "proxy", a project tree with
a SQLite database, an nginx-style error log, an access log (with request and upstream times, so
the histograms are checked) and an app log.
"""

from __future__ import annotations

import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from tests.conftest import free_port, make_project
from tests.support.exporter_proc import Exporter, fetch
from tests.support.stack import require, start_app

OPENMETRICS = {"Accept": "application/openmetrics-text; version=1.0.0"}
ACCESS_FORMAT = '$remote_addr [$time_local] "$request" $status $body_bytes_sent rt=$request_time urt="$upstream_response_time" us=$upstream_status'
ACCESS_LINES = [
    '127.0.0.1 [{t}] "GET /api/products/7 HTTP/1.1" 200 512 rt=0.042 urt="0.040" us=200',
    '127.0.0.1 [{t}] "GET / HTTP/1.1" 502 157 rt=0.001 urt="0.001" us=502',
    '127.0.0.1 [{t}] "GET /_next/static/chunks/main-0123456789abcdef.js HTTP/1.1" 200 9000 rt=0.003 urt="-" us=-',
    'not an access log line',
]


def write_access_lines(path) -> None:
    import time

    stamp = time.strftime("%d/%b/%Y:%H:%M:%S %z")
    with open(path, "a") as handle:
        handle.writelines(line.format(t=stamp) + "\n" for line in ACCESS_LINES)


@pytest.fixture(scope="module")
def exporter(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("promtool")
    project = make_project(tmp / "smart-inventory")
    (project / "dev.log").write_text("ready on 3001\nError: boom\n")
    error_log = tmp / "error.log"
    error_log.write_text("")
    access_log = tmp / "access.log"
    access_log.write_text("")
    app_port = free_port()
    app = start_app(tmp / "bin", app_port)
    config = tmp / "config.yml"
    config.write_text(f"""
targets:
  - name: shop
    app_url: http://127.0.0.1:{app_port}
    endpoints:
      - {{path: /api/health, expect: {{status: 200, json: {{$.status: ok}}, max_seconds: 5s}}}}
      - {{path: /api/products, expect: {{json: {{"$[0].id": 1}}, body_regex: 'widget'}}}}
      - {{path: /, render: true}}
    static_paths: [/favicon.ico]
    proxy_url: http://127.0.0.1:{app_port}/
    proxy_error_log: {error_log}
    access_log: {access_log}
    access_log_format: '{ACCESS_FORMAT}'
    route_label: true
    project_dir: {project}
    log_file: dev.log
dns:
  names: [localhost]
  include_hostname: false
""")
    port = free_port()
    try:
        with Exporter([f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"], port, tmp / "exporter.log", tmp) as running:
            write_access_lines(access_log)  # after start-up: tailed from the end
            wait_for_access_lines(running)
            yield running
    finally:
        app.stop()


def wait_for_access_lines(exporter: Exporter) -> None:
    import time

    for _ in range(100):  # the reader passes every second; bounded
        body = scrape(exporter, "/probe?target=shop")
        if f'inventory_access_log_lines_total{{target="shop"}} {float(len(ACCESS_LINES))}'.encode() in body:
            return
        time.sleep(0.1)
    raise AssertionError("the access log lines were not read within 10 s")


def promtool(exposition: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(
        [require("promtool"), "check", "metrics"], input=exposition, capture_output=True, timeout=60
    )


def scrape(exporter: Exporter, path: str, headers: dict[str, str] | None = None) -> bytes:
    status, _, body = fetch(exporter.url + path, headers)
    assert status == 200, body
    return body


PAGES = ["/metrics", "/probe?target=shop"]


@pytest.mark.parametrize("path", PAGES)
def test_the_text_format_is_promtool_clean(exporter, path):
    body = scrape(exporter, path)
    assert b"inventory_probe_success" in body
    checked = promtool(body)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == b"" and checked.stderr.strip() == b"", checked.stdout + checked.stderr


def test_every_family_of_a_full_scrape_is_there_to_be_checked(exporter):
    """The scrape that promtool passes has every probe succeeding and every kind of family: counters,
    _info, process and GC metrics."""
    for _ in range(3):  # every probe succeeding is the premise; on a loaded machine one may need another scrape
        text = scrape(exporter, "/metrics").decode()
        probes = [line for line in text.splitlines() if line.startswith('inventory_probe_success{probe="') and 'target="shop"' in line]
        if len(probes) == 10 and all(line.endswith(" 1.0") for line in probes):
            break
    failures = [line for line in text.splitlines() if line.startswith("inventory_probe_failure_info{")]
    assert len(probes) == 10 and all(line.endswith(" 1.0") for line in probes), (probes, failures)
    for family in ("inventory_request_duration_seconds", "inventory_upstream_response_seconds",
                   "inventory_requests_total", "inventory_requests_recent",
                   "inventory_proxy_upstream_errors_total", "inventory_db_up", "inventory_log_lines",
                   "inventory_cpus", "inventory_exporter_build_info", "process_cpu_seconds_total",
                   "python_gc_collections_total", "python_info"):
        assert f"# HELP {family} " in text and f"# TYPE {family} " in text, family
    assert "inventory_cpu_count" not in text
    assert "# TYPE inventory_request_duration_seconds histogram" in text
    assert 'inventory_request_duration_seconds_bucket{kind="api",le="0.05",target="shop"} 1.0' in text
    assert 'inventory_requests_total{code_class="2xx",kind="api",route="/api/products/:id",target="shop"} 1.0' in text


def test_promtool_does_reject_what_this_exporter_used_to_serve():
    """The check has teeth: the old gauge name with a _count suffix is reported."""
    old = b"# HELP inventory_cpu_count Number of logical CPUs.\n# TYPE inventory_cpu_count gauge\ninventory_cpu_count 2.0\n"
    checked = promtool(old)
    assert checked.returncode != 0
    assert b'inventory_cpu_count non-histogram and non-summary metrics should not have "_count" suffix' in checked.stdout + checked.stderr


def as_text(openmetrics_body: bytes) -> bytes:
    """The OpenMetrics exposition, parsed by the strict OpenMetrics parser, written back as text 0.0.4."""

    class Parsed:
        def __init__(self, families):
            self.families = families

        def collect(self):
            return self.families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Parsed(list(parse_openmetrics(openmetrics_body.decode()))))
    return generate_latest(registry)


@pytest.mark.parametrize("path", PAGES)
def test_openmetrics_is_valid_and_its_families_are_promtool_clean(exporter, path):
    status, headers, body = fetch(exporter.url + path, OPENMETRICS)
    assert status == 200 and headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
    checked = promtool(as_text(body))  # promtool reads text 0.0.4 only
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == b"" and checked.stderr.strip() == b"", checked.stdout + checked.stderr


def test_raw_openmetrics_trips_promtool_only_on_the_counter_naming_it_does_not_know(exporter):
    """OpenMetrics names a counter family without ``_total`` (``# TYPE process_cpu_seconds counter``,
    sample ``process_cpu_seconds_total``); promtool's text parser reads that sample as a family of its
    own without HELP. That is the only thing it reports on raw OpenMetrics."""
    body = scrape(exporter, "/metrics", OPENMETRICS)
    text = body.decode()
    counters = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ") and line.endswith(" counter")}
    assert {"process_cpu_seconds", "python_gc_collections", "inventory_proxy_upstream_errors"} <= counters
    problems = (promtool(body).stdout + promtool(body).stderr).decode().splitlines()
    for problem in problems:
        name, _, what = problem.partition(" ")
        assert what == "no help text" and name.endswith("_total") and name[:-6] in counters, problem
        assert f"# HELP {name[:-6]} " in text
