"""The Prometheus examples under deploy/prometheus: file_sd and the multi-target /probe?target=NAME
pattern. promtool checks every config (targets files included); a real Prometheus scrapes a real
exporter through the multi-target relabeling."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import free_port
from tests.support.stack import require, wait_for_port

from .conftest import EXPORTER_JOB_RE, EXPORTER_PORT, PROM_EXAMPLES, RULES_FILE, config_check, load_yaml

FILE_SD = PROM_EXAMPLES / "file_sd" / "prometheus.yml"
MULTI = PROM_EXAMPLES / "multi-target" / "prometheus.yml"
MULTI_EXPORTER = PROM_EXAMPLES / "multi-target" / "exporter-config.yml"
EXAMPLES = [FILE_SD, MULTI]


def promtool_check_config(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([require("promtool"), "check", "config", str(path)], capture_output=True, text=True, timeout=120)


def job(config: dict, name: str) -> dict:
    return next(j for j in config["scrape_configs"] if j["job_name"] == name)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_promtool_accepts_the_example_config_with_its_rules_and_targets_files(path):
    result = promtool_check_config(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_the_example_loads_the_shipped_rules(path):
    rule_files = [(path.parent / r).resolve() for r in load_yaml(path)["rule_files"]]
    assert rule_files == [RULES_FILE]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_every_example_job_is_one_the_exporter_alerts_select(path):
    assert all(EXPORTER_JOB_RE.fullmatch(j["job_name"]) for j in load_yaml(path)["scrape_configs"])


def file_sd_files() -> list[Path]:
    patterns = [f for sd in job(load_yaml(FILE_SD), "inventory-exporter")["file_sd_configs"] for f in sd["files"]]
    return sorted(p for pattern in patterns for p in FILE_SD.parent.glob(pattern))


def test_the_file_sd_pattern_matches_targets_files_of_exporters_on_the_default_port():
    files = file_sd_files()
    assert files
    for path in files:
        groups = load_yaml(path)
        assert groups and all(set(g) <= {"targets", "labels"} for g in groups)
        assert all(t.endswith(f":{EXPORTER_PORT}") for g in groups for t in g["targets"])


def test_promtool_rejects_a_file_sd_targets_file_with_a_misspelt_key(tmp_path):
    """Control: promtool really reads the targets files, so the acceptance above covers them."""
    (tmp_path / "targets").mkdir()
    config = load_yaml(FILE_SD)
    config["rule_files"] = [str(RULES_FILE)]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "targets" / "bad.yml").write_text("- targets: [shop-9.example.internal:9731]\n  lables: {env: x}\n")
    result = promtool_check_config(tmp_path / "prometheus.yml")
    assert result.returncode != 0 and "lables" in result.stdout + result.stderr


def test_the_file_sd_relabeling_strips_the_exporter_port_from_instance():
    relabel = job(load_yaml(FILE_SD), "inventory-exporter")["relabel_configs"][0]
    match = re.fullmatch(relabel["regex"], "shop-1.example.internal:9731")
    assert match and relabel["replacement"].replace("$1", match.group(1)) == "shop-1.example.internal"


def test_the_multi_target_exporter_config_passes_config_check():
    result = config_check(MULTI_EXPORTER)
    assert result.returncode == 0, result.stderr


def test_every_probed_name_is_a_target_configured_in_the_exporter():
    probe = job(load_yaml(MULTI), "inventory-probe")
    names = [t for sc in probe["static_configs"] for t in sc["targets"]]
    configured = [t["name"] for t in load_yaml(MULTI_EXPORTER)["targets"]]
    assert names and sorted(names) == sorted(configured)


def test_the_multi_target_relabeling_is_the_blackbox_pattern():
    probe = job(load_yaml(MULTI), "inventory-probe")
    assert probe["metrics_path"] == "/probe"
    first, second, third = probe["relabel_configs"]
    assert first == {"source_labels": ["__address__"], "target_label": "__param_target"}
    assert second == {"source_labels": ["__param_target"], "target_label": "instance"}
    assert third["target_label"] == "__address__" and third["replacement"].endswith(f":{EXPORTER_PORT}")


class Server:
    """A process logging to a file, stopped by its own pid."""

    def __init__(self, args: list[str], log: Path, port: int):
        self.log = log
        self.handle = log.open("wb")
        self.proc = subprocess.Popen(args, stdout=self.handle, stderr=subprocess.STDOUT)
        wait_for_port(port, within=30)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        self.handle.close()


def query(prom: str, expr: str) -> list[dict]:
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["data"]["result"]


def wait_ready(prom: str, within: float = 60.0) -> None:
    end = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(f"{prom}/-/ready", timeout=5) as response:
                if response.status == 200:
                    return
        except urllib.error.URLError:
            pass
        assert time.monotonic() < end, f"Prometheus not ready within {within}s"
        time.sleep(0.2)  # Prometheus is replaying its (empty) WAL; bounded by `within`


def wait_for(prom: str, expr: str, count: int, within: float = 60.0) -> list[dict]:
    end = time.monotonic() + within
    while True:
        result = query(prom, expr)
        if len(result) >= count:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"{expr}: {len(result)} series, expected {count}, within {within}s")
        time.sleep(0.5)  # waiting on Prometheus's next scrape; bounded by `within`


@pytest.fixture
def multi_target_prometheus(tmp_path):
    """The shipped multi-target config, only the exporter address and the intervals changed, in a real
    Prometheus scraping a real exporter configured with the shipped exporter-config.yml."""
    exporter_port, prom_port = free_port(), free_port()
    address = f"127.0.0.1:{exporter_port}"
    config = load_yaml(MULTI)
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(RULES_FILE)]
    for scrape in config["scrape_configs"]:
        scrape.pop("scrape_timeout", None)
        for relabel in scrape.get("relabel_configs", []):
            if relabel.get("target_label") == "__address__":
                relabel["replacement"] = address
        if scrape["job_name"] == "inventory-exporter-host":
            scrape["static_configs"] = [{"targets": [address]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    servers = []
    try:
        servers.append(Server([sys.executable, "-m", "exporter", f"--config.file={MULTI_EXPORTER}",
                               f"--web.listen-address={address}"], tmp_path / "exporter.log", exporter_port))
        servers.append(Server([require("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                               f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                              tmp_path / "prometheus.log", prom_port))
        wait_ready(f"http://127.0.0.1:{prom_port}")
        yield f"http://127.0.0.1:{prom_port}"
    finally:
        for server in reversed(servers):
            server.stop()


def test_a_real_prometheus_scrapes_each_configured_app_through_probe_target_name(multi_target_prometheus):
    prom = multi_target_prometheus
    up = wait_for(prom, 'up{job="inventory-probe"} == 1', 3)
    assert sorted(s["metric"]["instance"] for s in up) == ["shop-a", "shop-b", "shop-c"]
    for name in ("shop-a", "shop-b", "shop-c"):
        series = query(prom, f'inventory_app_port_listening{{job="inventory-probe",instance="{name}"}}')
        assert [s["metric"]["target"] for s in series] == [name], "each scrape carries its own target only"
    assert query(prom, '{job="inventory-probe", exported_target!=""}') == [], "the exporter's target label is kept"
    assert query(prom, 'inventory_cpus{job="inventory-probe"}') == [], "no host metrics on /probe"


def test_a_real_prometheus_gets_host_metrics_without_duplicate_target_series(multi_target_prometheus):
    prom = multi_target_prometheus
    assert wait_for(prom, 'inventory_cpus{job="inventory-exporter-host"}', 1)
    assert wait_for(prom, 'inventory_probe_success{job="inventory-exporter-host", target=""}', 1)
    assert query(prom, '{job="inventory-exporter-host", target!=""}') == []
