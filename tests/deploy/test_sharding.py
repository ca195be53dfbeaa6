"""Sharded /probe scrapes (deploy/ha/shard.py, deploy/ha/sharding): a real Prometheus discovers a
1,000-target list through file_sd and relabels it with the jobs shard.py generates; its own
/api/v1/targets says which shard keeps which target. Every target is kept by exactly one shard, the
one whose exporter config shard.py wrote it into; going from 3 to 4 replicas moves the share modulo
hashing predicts (a target stays iff hash mod 3 == hash mod 4, i.e. hash mod 12 in {0, 1, 2}: 1/4
stays, 3/4 move)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import free_port
from tests.support.exporter_proc import Exporter, fetch
from tests.support.modules import load_script
from tests.support.stack import LoggedServer, require

from .conftest import DEPLOY, config_check, load_yaml
from .test_prometheus_examples import promtool_check_config, query, wait_ready

HA = DEPLOY / "ha"
SHARDING = HA / "sharding"
SCRIPT = HA / "shard.py"
TARGETS = 1000

shard = load_script(SCRIPT, "inventory_ha_shard")


def fleet(path: Path, count: int = TARGETS) -> Path:
    targets = [{"name": f"shop-{i:04d}", "app_url": f"http://127.0.0.1:{20000 + i}", "endpoints": ["/api/health"]}
               for i in range(count)]
    path.write_text(yaml.safe_dump({"targets": targets, "dns": {"names": ["localhost"]}}))
    return path


def run_shard(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def generate(tmp: Path, shards: int, exporter: str) -> Path:
    out = tmp / f"shards-{shards}"
    result = run_shard("--config", str(tmp / "fleet.yml"), "--shards", str(shards), "--out", str(out),
                       "--exporter", exporter)
    assert result.returncode == 0, result.stderr
    return out


def configured(out: Path, shards: int) -> dict[str, int]:
    """target name -> the shard whose exporter config lists it."""
    names: dict[str, int] = {}
    for i in range(shards):
        for target in load_yaml(out / f"exporter-shard-{i}.yml")["targets"]:
            assert target["name"] not in names, f"{target['name']} in two exporter configs"
            names[target["name"]] = i
    return names


def test_the_shipped_sharding_config_is_what_shard_py_generates_and_promtool_accepts_it(tmp_path):
    out = tmp_path / "out"
    result = run_shard("--config", str(SHARDING / "fleet.yml"), "--shards", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    for name in ("exporter-shard-0.yml", "exporter-shard-1.yml", "exporter-shard-2.yml", "probe-targets.yml",
                 "prometheus-jobs.yml"):
        assert (out / name).read_text() == (SHARDING / name).read_text(), f"{name} is stale: rerun shard.py"
    assert load_yaml(SHARDING / "prometheus.yml")["scrape_configs"] == load_yaml(out / "prometheus-jobs.yml")["scrape_configs"]
    check = promtool_check_config(SHARDING / "prometheus.yml")
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("index", range(3))
def test_each_shipped_shard_config_passes_the_exporters_check(index):
    result = config_check(SHARDING / f"exporter-shard-{index}.yml")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("args, message", [
    (["--shards", "0"], "--shards: must be at least 1"),
    (["--shards", "3", "--exporter", "exporter:9731"], "no {shard} placeholder"),
    (["--shards", "40"], "gets none of the 16 targets"),
])
def test_bad_arguments_are_named_without_a_traceback(tmp_path, args, message):
    result = run_shard("--config", str(SHARDING / "fleet.yml"), "--out", str(tmp_path), *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_target_list_with_a_duplicate_name_is_refused(tmp_path):
    (tmp_path / "fleet.yml").write_text("targets:\n- {name: a, app_url: 'http://x'}\n- {name: a, app_url: 'http://y'}\n")
    result = run_shard("--config", str(tmp_path / "fleet.yml"), "--shards", "1", "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and "name 'a' appears twice" in result.stderr


def kept_by_prometheus(tmp_path: Path, job_sets: list[list[dict]]) -> dict[str, list[str]]:
    """Run a real Prometheus with the given jobs; job name -> the target names it keeps."""
    port = free_port()
    jobs = [j for jobs in job_sets for j in jobs]
    for job in jobs:
        job["file_sd_configs"] = [{"files": [str(tmp_path / "probe-targets.yml")]}]
        job["scrape_interval"] = "1h"  # discovery and relabelling are what is tested, not the scrapes
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"global": {"scrape_interval": "1h"}, "scrape_configs": jobs}))
    check = promtool_check_config(config)
    assert check.returncode == 0, check.stdout + check.stderr
    server = LoggedServer("prometheus", [require("prometheus"), f"--config.file={config}",
                                         f"--storage.tsdb.path={tmp_path / 'data'}",
                                         f"--web.listen-address=127.0.0.1:{port}"], tmp_path / "prometheus.log", port)
    try:
        prom = f"http://127.0.0.1:{port}"
        wait_ready(prom)
        kept: dict[str, list[str]] = {}
        for _ in range(100):  # file_sd is read asynchronously: wait until every job has discovered
            with urllib.request.urlopen(f"{prom}/api/v1/targets?state=active", timeout=10) as response:
                active = json.load(response)["data"]["activeTargets"]
            kept = {j["job_name"]: [] for j in jobs}
            for target in active:
                kept[target["labels"]["job"]].append(target["labels"]["instance"])
            per_set = [sum(len(kept[j["job_name"]]) for j in js) for js in job_sets]
            if per_set == [TARGETS] * len(job_sets):
                break
            time.sleep(0.3)
        return kept
    finally:
        server.stop()


def test_a_real_prometheus_keeps_every_target_in_exactly_one_shard_and_a_fourth_moves_the_expected_share(tmp_path):
    fleet(tmp_path / "fleet.yml")
    # Replica I at 127.0.0.1:1I (ports 10-13, nothing listens): the scrapes would fail, which does not
    # matter here, and with a 1h interval hardly any is attempted.
    outs = {n: generate(tmp_path, n, "127.0.0.1:1{shard}") for n in (3, 4)}
    (tmp_path / "probe-targets.yml").write_text((outs[3] / "probe-targets.yml").read_text())
    job_sets = []
    for n, out in outs.items():
        jobs = load_yaml(out / "prometheus-jobs.yml")["scrape_configs"]
        for job in jobs:
            job["job_name"] = f"n{n}-{job['job_name']}"
        job_sets.append(jobs)
    kept = kept_by_prometheus(tmp_path, job_sets)

    all_names = {f"shop-{i:04d}" for i in range(TARGETS)}
    placement: dict[int, dict[str, int]] = {}
    for n in (3, 4):
        names = [name for i in range(n) for name in kept[f"n{n}-inventory-probe-shard-{i}"]]
        assert len(names) == TARGETS and set(names) == all_names  # no gap, no duplicate
        placement[n] = {name: i for i in range(n) for name in kept[f"n{n}-inventory-probe-shard-{i}"]}
        # Prometheus sends each replica exactly the targets shard.py configured it with (else 400s).
        assert placement[n] == configured(outs[n], n)
        sizes = [len(kept[f"n{n}-inventory-probe-shard-{i}"]) for i in range(n)]
        assert min(sizes) > TARGETS / n * 0.8, sizes  # roughly even

    moved = sum(placement[3][name] != placement[4][name] for name in all_names) / TARGETS
    predicted = sum(shard.shard_of(name, 12) >= 3 for name in all_names) / TARGETS  # stays iff h mod 12 < 3
    assert moved == predicted
    assert 0.70 < moved < 0.80, moved


PROBED = 30


def test_three_real_exporter_replicas_each_answer_exactly_the_probes_prometheus_sends_them(tmp_path):
    """The generated configs and jobs end to end: three real exporters (one per shard config) and a real
    Prometheus scraping /probe with the generated jobs. Every target is up (its replica knows the name:
    a name it does not have is answered 400, so a misrouted probe would be down) and scraped once."""
    fleet(tmp_path / "fleet.yml", PROBED)
    out = generate(tmp_path, 3, "127.0.0.1:1{shard}")
    ports = [free_port() for _ in range(3)]
    jobs = load_yaml(out / "prometheus-jobs.yml")["scrape_configs"]
    for job, port in zip(jobs, ports):
        assert job["relabel_configs"][-1]["target_label"] == "__address__"
        job["relabel_configs"][-1]["replacement"] = f"127.0.0.1:{port}"
        job["file_sd_configs"] = [{"files": [str(out / "probe-targets.yml")]}]
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"}, "scrape_configs": jobs}))
    started: list = []
    try:
        for i, port in enumerate(ports):
            started.append(Exporter([f"--config.file={out / f'exporter-shard-{i}.yml'}",
                                     f"--web.listen-address=127.0.0.1:{port}"], port, tmp_path / f"exporter-{i}.log",
                                    cwd=tmp_path))
        # Control: replica 0 refuses a name of another shard.
        foreign = next(t["name"] for t in load_yaml(out / "exporter-shard-1.yml")["targets"])
        assert fetch(f"{started[0].url}/probe?target={foreign}")[0] == 400
        started.append(LoggedServer("prometheus", [
            require("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
            tmp_path / "prometheus.log", prom_port))
        prom = f"http://127.0.0.1:{prom_port}"
        wait_ready(prom)
        deadline = time.monotonic() + 60
        while True:
            up = query(prom, 'up{job=~"inventory-probe-shard-.*"}')
            if len(up) == PROBED and all(s["value"][1] == "1" for s in up):
                break
            assert time.monotonic() < deadline, [(s["metric"]["instance"], s["metric"]["job"], s["value"][1]) for s in up]
            time.sleep(0.3)
        instances = [s["metric"]["instance"] for s in up]
        assert sorted(instances) == sorted(f"shop-{i:04d}" for i in range(PROBED))  # each once, none missing
        by_job = {s["metric"]["instance"]: int(s["metric"]["job"].rsplit("-", 1)[1]) for s in up}
        assert by_job == configured(out, 3)
        # The probes really ran on the replicas: each target's own series came back through its shard.
        listening = query(prom, 'inventory_app_port_listening{job=~"inventory-probe-shard-.*"}')
        assert sorted(s["metric"]["target"] for s in listening) == sorted(instances)
    finally:
        for server in reversed(started):
            server.stop()
