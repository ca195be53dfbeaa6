"""deploy/ha end to end on 127.0.0.1: two real Prometheus replicas (the shipped prometheus-a.yml and
prometheus-b.yml, only addresses and timings changed) scrape the real exporter watching a real app
behind real nginx, and both send to two real Alertmanagers peered by gossip (--cluster.peer).

Stop the app: exactly one InventoryAppNotListening page reaches the webhook receiver, not one per
replica nor one per Alertmanager; restart it: exactly one resolved. A second incident with one
Alertmanager (the one that paged first) and one Prometheus killed: still exactly one page.
The fleet recording rules answer the same on both replicas, without a replica label.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.alerting.conftest import GENERATOR
from tests.alerting.test_alerting_e2e import alertmanager_config_for_test, eventually, monitored  # noqa: F401
from tests.conftest import free_port
from tests.support.stack import LoggedServer as Server
from tests.support.stack import require, start_app

from .conftest import DEPLOY, load_yaml

HA = DEPLOY / "ha"
REPLICAS = ("a", "b")
FOR_SCALE = "0.01"
PEER_TIMEOUT = 2.0  # the second Alertmanager waits this long for the first one's notification log
QUIET = PEER_TIMEOUT * 2 + 6  # time after a page in which a duplicate would have arrived
ALERT = "InventoryAppNotListening"


def prometheus_config(replica: str, rules: list[str], alertmanagers: list[str], exporter: str) -> dict:
    """The shipped replica config with loopback addresses and 1 s intervals; external_labels and
    alert_relabel_configs untouched."""
    config = load_yaml(HA / f"prometheus-{replica}.yml")
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = rules
    config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": alertmanagers}]
    config["scrape_configs"][0]["static_configs"] = [{"targets": [exporter]}]
    return config


def test_the_replicas_differ_only_by_their_replica_label_and_drop_it_before_alerting():
    a, b = (load_yaml(HA / f"prometheus-{r}.yml") for r in REPLICAS)
    assert a["global"].pop("external_labels") == {"replica": "a"}
    assert b["global"].pop("external_labels") == {"replica": "b"}
    assert a == b
    assert {"action": "labeldrop", "regex": "replica"} in a["alerting"]["alert_relabel_configs"]
    assert len(a["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]) == 2


def test_the_committed_fleet_dashboard_is_what_grafana_fleet_py_generates():
    result = subprocess.run([sys.executable, str(DEPLOY.parent / "grafana" / "fleet.py"), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(dashboard_queries()) == 6


@pytest.mark.parametrize("replica", REPLICAS)
def test_promtool_accepts_each_replica_with_the_shipped_and_fleet_rules(replica):
    result = subprocess.run([require("promtool"), "check", "config", str(HA / f"prometheus-{replica}.yml")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout


@pytest.fixture
async def pager(aiohttp_server):
    """A webhook receiver recording (receiver, alert, the Alertmanager that sent it)."""
    received: list[tuple[str, dict, str]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        received.extend((request.match_info["receiver"], alert, body["externalURL"]) for alert in body["alerts"])
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{receiver}", hook)
    server = await aiohttp_server(app, host="127.0.0.1")
    return f"http://127.0.0.1:{server.port}", received


def alertmanager_args(name: str, base: Path, port: int, cluster: int, peer: int) -> list[str]:
    return [
        require("prometheus-alertmanager"),
        f"--config.file={base / 'alertmanager.yml'}",
        f"--storage.path={base / f'am-{name}'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url=http://127.0.0.1:{port}/",
        f"--cluster.listen-address=127.0.0.1:{cluster}",
        f"--cluster.advertise-address=127.0.0.1:{cluster}",
        f"--cluster.peer=127.0.0.1:{peer}",
        f"--cluster.peer-timeout={PEER_TIMEOUT:g}s",
        "--cluster.gossip-interval=100ms",
        "--cluster.pushpull-interval=1s",
        "--cluster.settle-timeout=2s",
    ]


@pytest.fixture
async def ha(tmp_path: Path, monitored, pager):  # noqa: F811
    webhook, _ = pager
    am_ports = {r: free_port() for r in REPLICAS}
    cluster_ports = {r: free_port() for r in REPLICAS}
    prom_ports = {r: free_port() for r in REPLICAS}
    am_config = alertmanager_config_for_test(webhook)
    # A resolved notification goes out on a group_interval tick: a few seconds leave room for the
    # second replica to see the recovery too (production uses 5m).
    am_config["route"].update(group_wait="1s", group_interval="4s")
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(am_config))
    rules = tmp_path / "inventory.rules.yml"
    generated = subprocess.run([sys.executable, str(GENERATOR), "--for-scale", FOR_SCALE, "--out", str(rules)],
                               capture_output=True, text=True, timeout=30)
    assert generated.returncode == 0, generated.stderr
    servers: dict[str, Server] = {}
    try:
        for r, other in zip(REPLICAS, reversed(REPLICAS)):
            servers[f"am-{r}"] = Server(f"alertmanager-{r}", alertmanager_args(
                r, tmp_path, am_ports[r], cluster_ports[r], cluster_ports[other]), tmp_path / f"am-{r}.log")
        for r in REPLICAS:
            config = prometheus_config(r, [str(rules), str(HA / "fleet.rules.yml")],
                                       [f"127.0.0.1:{am_ports[x]}" for x in REPLICAS],
                                       f"127.0.0.1:{monitored['exporter_port']}")
            (tmp_path / f"prometheus-{r}.yml").write_text(yaml.safe_dump(config))
            servers[f"prom-{r}"] = Server(f"prometheus-{r}", [
                require("prometheus"), f"--config.file={tmp_path / f'prometheus-{r}.yml'}",
                f"--storage.tsdb.path={tmp_path / f'prom-{r}'}",
                f"--web.listen-address=127.0.0.1:{prom_ports[r]}",
            ], tmp_path / f"prom-{r}.log")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            env = {"http": http, "servers": servers,
                   "am": {r: f"http://127.0.0.1:{am_ports[r]}" for r in REPLICAS},
                   "prom": {r: f"http://127.0.0.1:{prom_ports[r]}" for r in REPLICAS}}
            await eventually(lambda: cluster_formed(env), 30, "two Alertmanagers peered, two Prometheus ready",
                             list(servers.values()))
            yield env
    finally:
        for server in reversed(list(servers.values())):
            server.stop()


async def get_json(env: dict, url: str, **params):
    try:
        async with env["http"].get(url, params=params) as response:
            return await response.json() if response.status == 200 else None
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return None


async def cluster_formed(env: dict) -> bool:
    for r in REPLICAS:
        status = await get_json(env, f"{env['am'][r]}/api/v2/status")
        if not status or len(status["cluster"]["peers"]) != 2 or status["cluster"]["status"] != "ready":
            return False
        try:
            async with env["http"].get(f"{env['prom'][r]}/-/ready") as response:
                if response.status != 200:
                    return False
        except aiohttp.ClientError:
            return False
    return True


async def prom_query(env: dict, replica: str, query: str) -> list[dict]:
    body = await get_json(env, f"{env['prom'][replica]}/api/v1/query", query=query)
    assert body is not None, f"query {query} failed on replica {replica}"
    return body["data"]["result"]


FLEET_DASHBOARD = HA / "inventory-fleet.json"


def dashboard_queries() -> list[tuple[str, str, bool]]:
    dashboard = json.loads(FLEET_DASHBOARD.read_text(encoding="utf-8"))
    return [(p["title"], t["expr"], bool(t.get("instant"))) for p in dashboard["panels"] for t in p.get("targets") or []]


async def fleet_dashboard_answers_the_same_on_both_replicas(env: dict, replicas=REPLICAS) -> dict[str, list]:
    """Every query of the fleet dashboard, on every replica: data, no replica label, the same series now."""
    answers: dict[str, list] = {}
    for title, expr, instant in dashboard_queries():
        per_replica = []
        for r in replicas:
            if instant:
                result = await prom_query(env, r, expr)
            else:
                now = time.time()
                body = await get_json(env, f"{env['prom'][r]}/api/v1/query_range", query=expr,
                                      start=str(now - 30), end=str(now), step="1")
                assert body is not None, f"{title}: {expr} failed on {r}"
                result = body["data"]["result"]
            assert result, f"{title}: {expr} is empty on replica {r}"
            assert all("replica" not in s["metric"] for s in result), f"{title}: a replica label on {r}"
            per_replica.append(sorted(json.dumps(s["metric"], sort_keys=True) for s in result))
        if instant:  # the fleet figures now: the same series on both replicas
            assert all(p == per_replica[0] for p in per_replica), f"{title}: replicas disagree: {per_replica}"
        # Over a window the replicas may differ at the edges (a host alert firing on one replica's
        # evaluation only): a deduplicating layer merges the series both have, keyed without a replica label.
        answers[title] = sorted(set.intersection(*(set(p) for p in per_replica)))
        assert answers[title], f"{title}: no series in common: {per_replica}"
    return answers


def pages(received, status: str) -> list[tuple[str, dict, str]]:
    return [n for n in received if n[1]["labels"].get("alertname") == ALERT and n[1]["status"] == status]


async def exactly_one(received, status: str, servers, after: int = 0) -> tuple[str, dict, str]:
    """Wait for the page, then wait out the window in which a second Alertmanager would send its own."""
    await eventually(lambda: asyncio.sleep(0, pages(received, status)[after:]), 40, f"{ALERT} {status}", servers)
    await asyncio.sleep(QUIET)
    got = pages(received, status)[after:]
    assert len(got) == 1, [(a["status"], a["startsAt"], url) for _, a, url in got]
    return got[0]


async def test_one_page_per_incident_from_the_ha_pair_even_with_one_of_each_killed(monitored, ha, pager):  # noqa: F811
    env, servers = ha, list(ha["servers"].values())
    _, received = pager
    started = time.monotonic()

    async def both_healthy():
        return all([await prom_query(env, r, f'inventory_app_port_listening{{target="shop"}} == 1') for r in REPLICAS])

    await eventually(both_healthy, 30, "both replicas scrape a healthy app", servers)

    # Incident 1: both replicas fire, both Alertmanagers receive both: one page.
    monitored["apps"].pop().stop()
    receiver, alert, first_sender = await exactly_one(received, "firing", servers)
    assert receiver == "pager" and alert["labels"]["target"] == "shop"
    assert "replica" not in alert["labels"]
    for r in REPLICAS:  # the alert really is firing on both replicas (two sources, one page)
        assert await prom_query(env, r, f'ALERTS{{alertname="{ALERT}",alertstate="firing"}}')
        status = await get_json(env, f"{env['am'][r]}/api/v2/alerts", filter=f'alertname="{ALERT}"')
        assert len(status) == 1  # both replicas' alerts merged into one in each Alertmanager

    # The fleet figures, the same on both replicas and with no replica label.
    for r in REPLICAS:
        causes = await prom_query(env, r, "inventory:fleet_targets:count_by_cause")
        assert [(c["metric"], c["value"][1]) for c in causes] == [
            ({"__name__": "inventory:fleet_targets:count_by_cause", "cause": "app_not_listening"}, "1")]
        assert (await prom_query(env, r, "inventory:fleet_targets_healthy:ratio"))[0]["value"][1] == "0"
    down = await fleet_dashboard_answers_the_same_on_both_replicas(env)
    assert any("app_not_listening" in s for s in down["Targets by root cause"])
    assert any("InventoryAppNotListening" in s for s in down["Firing alerts by name"])

    monitored["apps"].append(start_app(monitored["bin"], monitored["app_port"]))
    receiver, alert, _ = await exactly_one(received, "resolved", servers)
    assert receiver == "pager" and alert["labels"]["target"] == "shop"
    for r in REPLICAS:
        assert (await prom_query(env, r, "inventory:fleet_targets_healthy:ratio"))[0]["value"][1] == "1"
    up = await fleet_dashboard_answers_the_same_on_both_replicas(env)
    assert [json.loads(s)["cause"] for s in up["Targets by root cause"]] == ["none"]

    # Incident 2: kill the Alertmanager that paged and Prometheus replica a as it starts.
    paged_by = next(r for r in REPLICAS if env["am"][r] + "/" == first_sender or env["am"][r] == first_sender)
    monitored["apps"].pop().stop()
    env["servers"][f"am-{paged_by}"].proc.send_signal(signal.SIGKILL)
    env["servers"]["prom-a"].proc.send_signal(signal.SIGKILL)
    _, alert, sender = await exactly_one(received, "firing", servers, after=1)
    assert alert["labels"]["target"] == "shop"
    assert sender.rstrip("/") != env["am"][paged_by]  # the surviving peer took over
    assert len(pages(received, "firing")) == 2 and len(pages(received, "resolved")) == 1
    assert time.monotonic() - started < 150


REMOTE_WRITE = sorted((HA / "remote-write").glob("*.yml"))


@pytest.mark.parametrize("path", REMOTE_WRITE, ids=lambda p: p.stem)
def test_promtool_accepts_each_remote_write_example(path):
    result = subprocess.run([require("promtool"), "check", "config", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", REMOTE_WRITE, ids=lambda p: p.stem)
def test_each_remote_write_example_is_replica_a_plus_remote_write(path):
    """Same alerting, rules and scrapes as the HA replica; only remote_write (and Mimir's cluster label) added."""
    example, replica = load_yaml(path), load_yaml(HA / "prometheus-a.yml")
    writes = example.pop("remote_write")
    assert writes and all(w["url"].startswith(("http://", "https://")) for w in writes)
    assert example["global"].pop("external_labels").get("replica") == replica["global"].pop("external_labels")["replica"]
    assert example.pop("alerting") == replica.pop("alerting")
    assert [Path(r).name for r in example.pop("rule_files")] == [Path(r).name for r in replica.pop("rule_files")]
    assert example == replica
    assert len(REMOTE_WRITE) == 2


def test_promtool_unit_tests_of_the_fleet_rules_pass():
    """Three targets on two exporters, one of them scraped twice, the worst budget per objective, no healthy
    target at all: deploy/ha/fleet.rules.test.yml."""
    result = subprocess.run([require("promtool"), "test", "rules", str(HA / "fleet.rules.test.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "SUCCESS" in result.stdout + result.stderr, result.stdout + result.stderr
