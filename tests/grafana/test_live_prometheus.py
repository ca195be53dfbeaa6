"""Every query of every dashboard panel answers from a real Prometheus, whether the site is up or down.

A real Prometheus (1 s scrapes, the shipped alerting rules loaded so ALERTS exists) scrapes the real
exporter (a subprocess on its own config file), which watches a real app process named node behind
real nginx, with a real project tree, app log and a loopback stand-in for the npm registry. Each
panel query is expanded the way Grafana does (datasource, $job/$instance/$target as "All" and as one
selected value, $__rate_interval, $__interval, $__range) and sent to /api/v1/query; queries of
timeseries panels also to /api/v1/query_range over the time the stack has been in that state.

First the healthy stack, then the incident: the app stopped behind nginx (502 Bad Gateway). A panel
that shows "No data" in either state fails here.

Traffic row: nginx writes an access log and a bounded loopback client drives requests through it for the
whole module, so the access-log probe's metrics and the SLO recording rules have data in both states.

Functional row: the target's proxy_url is an https server of the same nginx (a certificate from a test CA,
trustme, valid for 90 days; the CA is the target's tls_ca_file), /api/health has an expect (status and a
JSON path) and / is rendered (render: true: its stylesheet and build manifest, the project's .next/BUILD_ID
being the fake app's build id).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import trustme
import yaml

import exporter.config
from tests.conftest import make_project
from tests.grafana.conftest import ROOT, RULES_FILE, committed_dashboards, panel_queries
from tests.support.fake_app import BUILD_ID
from tests.support.stack import LoggedServer as Server
from tests.support.stack import Nginx, require, start_app
from tests.support.tls_front import days, distinct_free_ports

SCRAPE = 1  # seconds
RATE_INTERVAL = f"{4 * SCRAPE}s"  # Grafana: max($__interval + scrape interval, 4 x scrape interval)
INTERVAL = "2s"  # what Grafana picks for a short range at this scrape interval
RANGE = "3600s"  # the dashboards' default time range, now-1h
STATE_HELD = 6  # scrapes a state must have lasted before its panels are checked
DEADLINE = 25.0  # seconds, for any one wait

TIMED_FORMAT_TEXT = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
                     '"$http_referer" "$http_user_agent" rt=$request_time urt="$upstream_response_time" us=$upstream_status')
TIMED_FORMAT = f"log_format timed '{TIMED_FORMAT_TEXT}';"
TRAFFIC_METRICS = re.compile(r"inventory_request|inventory:slo_")
TRAFFIC_PATHS = ("/api/products", "/api/health", "/", "/favicon.ico")
TRAFFIC_PAUSE = 0.1  # seconds between requests: about 10 requests/s, bounded, 127.0.0.1 only
CERT_DAYS = 90  # the https front's certificate, issued by a test CA for 127.0.0.1
HTTPS_SERVER = """
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {cert};
        location / {{
            proxy_pass http://127.0.0.1:{app_port};
            proxy_connect_timeout 1s;
            proxy_read_timeout 1s;
        }}
    }}"""


def https_front(directory: Path, port: int, app_port: int) -> tuple[str, Path]:
    """An nginx server block on ``port`` with TLS in front of the app, and the CA file that trusts it."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    ca_file, cert = directory / "ca.pem", directory / "front.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca.issue_cert("127.0.0.1", not_before=days(-1), not_after=days(CERT_DAYS)) \
        .private_key_and_cert_chain_pem.write_to_path(str(cert))
    return HTTPS_SERVER.format(port=port, cert=cert, app_port=app_port), ca_file


class TrafficDriver:
    """Real requests through nginx (which logs them) from a background thread, until stopped."""

    def __init__(self, port: int):
        self.port, self.stopped, self.sent = port, threading.Event(), 0
        self.thread = threading.Thread(target=self.run, name="traffic-driver", daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopped.is_set():
            path = TRAFFIC_PATHS[self.sent % len(TRAFFIC_PATHS)]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as response:
                    response.read()
            except (urllib.error.HTTPError, OSError):  # 502 once the app is stopped: that is the point
                pass
            self.sent += 1
            self.stopped.wait(TRAFFIC_PAUSE)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)


class Prometheus:
    def __init__(self, url: str, servers: list[Server]):
        self.url, self.servers = url, servers

    def api(self, path: str, **params) -> dict:
        request = f"{self.url}{path}?{urllib.parse.urlencode(params, doseq=True)}"
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # 127.0.0.1 only
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:  # a bad query answers 400 with the reason
            raise AssertionError(f"{path} {params}: HTTP {error.code} {error.read().decode(errors='replace')}") from None
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("/api/v1/query", query=expr)["result"]

    def query_range(self, expr: str, start: float, end: float) -> list[dict]:
        return self.api("/api/v1/query_range", query=expr, start=start, end=end, step=SCRAPE)["result"]

    def eventually(self, probe, what: str, within: float = DEADLINE):
        end = time.monotonic() + within
        while True:
            result = probe()
            if result:
                return result
            if time.monotonic() > end:
                raise AssertionError(f"{what}: not within {within}s" + "".join(s.tail() for s in self.servers))
            time.sleep(0.25)  # polling a server that scrapes once a second; bounded by `within`


def write_registry(root: Path, version: str) -> None:
    """Files an http.server answers <url>/<package>/latest with, as registry.npmjs.org does."""
    for package in ("prisma", "@prisma/client"):
        path = root / package / "latest"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"name": package, "version": version}))


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grafana-live")
    app_port, proxy_port, https_port, exporter_port, prom_port, registry_port = distinct_free_ports(6)
    project = make_project(tmp / "smart-inventory")
    (project / ".next" / "BUILD_ID").write_text(BUILD_ID)  # the build the app serves: not stale
    (project / "dev.log").write_text("▲ Next.js 15.0.0\n - Local: http://127.0.0.1:3001\n warn - slow compile\n")
    write_registry(tmp / "registry", "7.1.0")
    servers: list[Server] = []
    stoppable = []
    try:
        servers.append(Server("registry", [sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                                           "--directory", str(tmp / "registry"), str(registry_port)],
                              tmp / "registry.log", registry_port))
        access_log = tmp / "nginx" / "access.log"
        # nginx logs $request_time and the upstream's answer, which the latency panels and the SLOs read
        https_server, ca_file = https_front(tmp / "tls", https_port, app_port)
        nginx = Nginx(tmp / "nginx", proxy_port, app_port, extra=f"access_log {access_log} timed;",
                      http_extra=TIMED_FORMAT + https_server)
        stoppable.append(nginx)
        app = start_app(tmp / "bin", app_port)
        stoppable.append(app)
        target = {
                "name": "shop",
                "app_url": f"http://127.0.0.1:{app_port}",
                "endpoints": [{"path": "/api/health", "expect": {"status": [200], "json": {"$.status": "ok"}}},
                              "/api/products", {"path": "/", "render": True}],
                "static_paths": ["/favicon.ico"],
                "proxy_url": f"https://127.0.0.1:{https_port}/api/health",
                "tls_ca_file": str(ca_file),
                "proxy_error_log": str(nginx.error_log),
                "project_dir": str(project),
                "log_file": "dev.log",
                "timeout": "1s",
        }
        target["access_log"] = str(access_log)
        target["access_log_format"] = TIMED_FORMAT_TEXT
        config = tmp / "exporter.yml"
        config.write_text(yaml.safe_dump({
            "targets": [target],
            "dns": {"names": ["localhost"], "include_hostname": False},
            "npm_registry": {"enabled": True, "url": f"http://127.0.0.1:{registry_port}", "refresh_interval": "1h"},
        }))
        servers.append(Server("exporter", [sys.executable, "-m", "exporter", "--config.file", str(config),
                                           f"--web.listen-address=127.0.0.1:{exporter_port}", "--timeout-offset", "0.2"],
                              tmp / "exporter.log", exporter_port, cwd=ROOT))
        prom_dir = tmp / "prometheus"
        prom_dir.mkdir()
        prom_config = {
            "global": {"scrape_interval": f"{SCRAPE}s", "scrape_timeout": f"{SCRAPE}s", "evaluation_interval": f"{SCRAPE}s"},
            "scrape_configs": [{"job_name": "inventory",
                                "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}],
        }
        if RULES_FILE.exists():
            prom_config["rule_files"] = [str(RULES_FILE)]
        (prom_dir / "prometheus.yml").write_text(yaml.safe_dump(prom_config))
        servers.append(Server("prometheus", [
            require("prometheus"),
            f"--config.file={prom_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={prom_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            f"--web.external-url=http://127.0.0.1:{prom_port}/",
        ], tmp / "prometheus.log", prom_port))
        prom = Prometheus(f"http://127.0.0.1:{prom_port}", servers)

        def ready():
            try:
                with urllib.request.urlopen(f"{prom.url}/-/ready", timeout=2) as response:
                    return response.status == 200
            except OSError:  # 503 while the TSDB opens, or not accepting yet
                return False

        prom.eventually(ready, "Prometheus ready")

        def scraped():
            targets = prom.api("/api/v1/targets")["activeTargets"]
            return targets and all(t["health"] == "up" for t in targets)

        prom.eventually(scraped, "Prometheus scraping the exporter")
        driver = TrafficDriver(proxy_port)
        stoppable.append(driver)
        yield {"prom": prom, "app": app, "exporter": f"127.0.0.1:{exporter_port}", "rules": RULES_FILE.exists()}
    finally:
        for server in reversed(servers):
            server.stop()
        for process in reversed(stoppable):
            process.stop()


def hold(prom: Prometheus, cause: str) -> float:
    """Wait until target shop has had root cause ``cause`` for STATE_HELD scrapes; return when it began."""
    held = f'count_over_time(inventory_root_cause_info{{target="shop", cause="{cause}"}}[{STATE_HELD + 1}s]) >= {STATE_HELD}'
    prom.eventually(lambda: prom.query(held), f"root cause {cause} held for {STATE_HELD} scrapes")
    return time.time() - STATE_HELD * SCRAPE


@pytest.fixture(scope="module")
def healthy(live):
    return {**live, "since": hold(live["prom"], "none")}


@pytest.fixture(scope="module")
def broken(live):
    live["app"].stop()
    return {**live, "since": hold(live["prom"], "app_not_listening")}


# --- expanding a panel's query as Grafana does ------------------------------------------------------


def regex_escape(value: str) -> str:
    """Grafana's Prometheus regex escaping of one selected variable value, inside a PromQL string."""
    return re.sub(r"([$^*{}\[\]'+?.()|\\])", r"\\\\\1", value)


def expand(expr: str, selection: dict[str, str]) -> str:
    values = {"__rate_interval": RATE_INTERVAL, "__interval": INTERVAL, "__range": RANGE, **selection}

    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        assert name in values, f"${name} is not a variable the dashboards define"
        return values[name]

    # longest names first: $__rate_interval before $__range, ${name} and $name alike
    return re.sub(r"\$\{(\w+)\}|\$(__rate_interval|__interval|__range|job|instance|target)\b", replace, expr)


def selections(live: dict) -> dict[str, dict[str, str]]:
    return {
        "all": {"job": ".+", "instance": ".+", "target": ".+"},  # the variables' allValue
        "one": {"job": regex_escape("inventory"), "instance": regex_escape(live["exporter"]), "target": "shop"},
    }


QUERIES = [
    pytest.param(name, panel["title"], target["refId"], target["expr"], panel["type"], bool(target.get("instant")),
                 id=f"{name.removesuffix('.json')}: {panel['title']} [{target['refId']}]")
    for name, dashboard in committed_dashboards().items()
    for panel, target in panel_queries(dashboard)
]


def assert_answers(state: dict, expr: str, panel_type: str, instant: bool) -> None:
    prom: Prometheus = state["prom"]
    for selection, values in selections(state).items():
        query = expand(expr, values)
        result = prom.query(query)
        assert result, f"No data ({selection} selected) now from: {query}"
        if not instant:
            series = prom.query_range(query, state["since"], time.time())
            assert series and all(s["values"] for s in series), \
                f"No data ({selection} selected) over the last {STATE_HELD}s from: {query}"


@pytest.mark.parametrize(("dashboard", "panel", "ref", "expr", "panel_type", "instant"), QUERIES)
def test_every_panel_query_returns_data_on_a_healthy_stack(healthy, dashboard, panel, ref, expr, panel_type, instant):
    assert_answers(healthy, expr, panel_type, instant)


def test_the_dashboard_variables_list_the_scraped_job_instance_and_target(healthy):
    prom: Prometheus = healthy["prom"]
    variables = {v["name"]: v for v in committed_dashboards()["inventory-overview.json"]["templating"]["list"]}
    found = {}
    for name in ("job", "instance", "target"):
        metric, label = re.fullmatch(r"label_values\((.+), (\w+)\)", variables[name]["query"]).groups()
        selector = expand(metric, {"job": ".+", "instance": ".+"})
        found[name] = prom.api(f"/api/v1/label/{label}/values", **{"match[]": selector})
    assert found == {"job": ["inventory"], "instance": [healthy["exporter"]], "target": ["shop"]}


def test_the_shipped_alerting_rules_are_loaded_so_the_alert_panels_have_a_source(healthy):
    assert healthy["rules"], f"{RULES_FILE} is missing: the alert panels query ALERTS from those rules"
    groups = healthy["prom"].api("/api/v1/rules")["groups"]
    assert any(rule["name"] == "InventoryAppNotListening" for g in groups for rule in g["rules"])


def panel_result(state: dict, title: str, ref: str = "A", dashboard: str = "inventory-overview.json") -> list[dict]:
    panel = next(p for p in committed_dashboards()[dashboard]["panels"] if p.get("title") == title)
    expr = next(t["expr"] for t in panel["targets"] if t["refId"] == ref)
    return state["prom"].query(expand(expr, selections(state)["one"]))


def values(result: list[dict], label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in result}


def test_a_healthy_stack_reads_healthy_on_the_overview(healthy):
    assert values(panel_result(healthy, "Root cause"), "cause") == {"none": 1}
    assert values(panel_result(healthy, "App port"), "target") == {"shop": 1}
    assert values(panel_result(healthy, "nginx"), "target") == {"shop": 200}
    assert set(values(panel_result(healthy, "Endpoints"), "path").values()) == {200}
    assert {"/api/health", "/api/products", "/"} <= set(values(panel_result(healthy, "Endpoint and proxy response time"), "path"))
    assert values(panel_result(healthy, "Active findings by severity", "A"), "") == {"": 0}
    assert values(panel_result(healthy, "Prisma drift", "C"), "target") == {"shop": 0}  # 6.19.0 installed, 7.1.0 out


# module-scoped states run in file order: the healthy traffic check comes before the app is stopped
def test_real_traffic_reads_healthy_on_the_traffic_row(healthy):
    state = traffic_state(healthy)
    requests = values(panel_result(state, "Requests by status class"), "code_class")
    assert requests.get("2xx", 0) > 0 and requests.get("5xx", 0) == 0, requests
    assert values(panel_result(state, "Error ratio (5xx)"), "target") == {"shop": 0}
    for ref in "ABC":  # p50, p95, p99 of each kind the driver requests
        kinds = values(panel_result(state, "Request latency p50 / p95 / p99", ref), "kind")
        assert {"api", "page", "static"} <= set(kinds) and all(0 < v < 0.5 for v in kinds.values()), kinds
    budget = values(panel_result(state, "Error budget remaining"), "slo")
    assert budget["availability"] == 1, budget


def test_the_functional_row_reads_a_trusted_certificate_passing_conditions_and_a_complete_current_page(healthy):
    [days_left] = values(panel_result(healthy, "Certificate days left"), "target").values()
    assert CERT_DAYS - 1 < days_left <= CERT_DAYS
    for ref in "AB":  # chain verified against tls_ca_file, name 127.0.0.1 in the subjectAltName
        assert values(panel_result(healthy, "Certificate trust", ref), "target") == {"shop": 1}
    # the expect of /api/health is evaluated, every condition holds, so the table has its one "none" row
    conditions = healthy["prom"].query('inventory_http_condition_success{target="shop", path="/api/health"}')
    assert {r["metric"]["condition"]: float(r["value"][1]) for r in conditions} == {"status": 1, "json:$.status": 1}
    assert [(r["metric"]["path"], r["metric"]["condition"]) for r in panel_result(healthy, "Failing conditions")] == [
        ("none", "none")]
    assets = panel_result(healthy, "Page assets not loading")
    assert {(r["metric"]["path"], r["metric"]["result"]): float(r["value"][1]) for r in assets} == {
        ("/", "missing"): 0, ("/", "error"): 0}
    assert healthy["prom"].query('inventory_page_assets{target="shop", result="ok"} == 2')  # stylesheet + manifest
    assert values(panel_result(healthy, "Stale build"), "path") == {"/": 0}


@pytest.mark.parametrize(("dashboard", "panel", "ref", "expr", "panel_type", "instant"), QUERIES)
def test_every_panel_query_returns_data_when_the_app_behind_nginx_is_stopped(
    broken, dashboard, panel, ref, expr, panel_type, instant
):
    assert_answers(broken, expr, panel_type, instant)


def test_the_stopped_app_reads_as_app_not_listening_with_nginx_502_on_the_overview(broken):
    assert values(panel_result(broken, "Root cause"), "cause") == {"app_not_listening": 2}
    assert values(panel_result(broken, "App port"), "target") == {"shop": 0}
    assert values(panel_result(broken, "nginx"), "target") == {"shop": 502}
    assert set(values(panel_result(broken, "Endpoints"), "path").values()) == {0}
    # the app gives no response time any more: without its fallback this panel would read "No data"
    assert broken["prom"].query('inventory_http_response_seconds{target="shop"}') == []
    assert set(values(panel_result(broken, "Endpoint and proxy response time"), "path")) == {"no response (probe time)"}
    assert values(panel_result(broken, "Active findings by severity", "A"), "")[""] >= 2
    active = {r["metric"]["check"]: r["metric"]["severity"] for r in panel_result(broken, "Active findings")}
    assert active["app_not_listening"] == "critical" and active["proxy_bad_gateway"] == "critical"
    owner = panel_result(broken, "App port owner", dashboard="inventory-target.json")
    assert [r["metric"]["process"] for r in owner] == ["(nothing)"]


def test_the_stopped_app_keeps_the_certificate_and_reads_page_not_fetched_on_the_functional_row(broken):
    [days_left] = values(panel_result(broken, "Certificate days left"), "target").values()
    assert CERT_DAYS - 1 < days_left <= CERT_DAYS  # nginx still terminates TLS
    assert broken["prom"].query('inventory_http_condition_success{target="shop"}') == []  # no answer to evaluate
    assert [(r["metric"]["path"], r["metric"]["condition"]) for r in panel_result(broken, "Failing conditions")] == [
        ("none", "none")]
    assert values(panel_result(broken, "Page assets not loading"), "path") == {"(page not fetched)": -1}
    assert values(panel_result(broken, "Stale build"), "path") == {"(page not fetched)": -1}


# --- Traffic row on real requests through nginx -------------------------------------------------------------


def traffic_state(state: dict) -> dict:
    return state


def test_the_stopped_app_shows_on_the_traffic_row_as_5xx_spending_the_budget(broken):
    state = traffic_state(broken)
    requests = values(panel_result(state, "Requests by status class"), "code_class")
    assert requests.get("5xx", 0) > 0, requests
    assert values(panel_result(state, "Error ratio (5xx)"), "target")["shop"] > 0.5  # nginx answers 502 to all
    budget = values(panel_result(state, "Error budget remaining"), "slo")
    assert budget["availability"] < 1, budget
