"""Zero configuration end to end: a real nginx, real app processes named as Next names them, a
systemd unit in a temporary tree, and the real exporter with no config file (only --discovery.*
flags pointing at the temporary nginx config and unit directory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exporter.config import parse_config
from tests.conftest import free_port
from tests.support.exporter_proc import ROOT, Exporter, fetch
from tests.support.discovery_stage import TITLE, Stage
from tests.test_app import value

@pytest.fixture
def stage(tmp_path: Path):
    made: list[Stage] = []

    def make(*args, **kwargs) -> Stage:
        made.append(Stage(tmp_path, *args, **kwargs))
        return made[-1]

    yield make
    for each in made:
        each.stop()


def scrape(exporter: Exporter, path: str = "/metrics") -> str:
    status, _, body = fetch(exporter.url + path, headers={"X-Prometheus-Scrape-Timeout-Seconds": "5"})
    assert status == 200, body[:500]
    return body.decode()


def summary(text: str) -> str:
    """The lines that say what the exporter found and concluded, for a failed assertion's message."""
    keep = ("inventory_root_cause_info", "inventory_target_info", "inventory_discovery", "inventory_probe_failure_info",
            "inventory_app_port_", "inventory_proxy_status_code")
    return "\n".join(line for line in text.splitlines() if line.startswith(keep))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exporter", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_the_incident_with_no_config_written_reads_app_not_listening(stage):
    s = stage(free_port())
    s.start_nginx()
    with s.exporter() as exporter:
        text = scrape(exporter)
        page = scrape(exporter, "/")
    assert value(text, "inventory_target_info", target="smart-inventory", source="discovery") == 1
    assert value(text, "inventory_proxy_status_code", target="smart-inventory") == 502
    assert value(text, "inventory_root_cause_info", target="smart-inventory", cause="app_not_listening") == 1
    assert value(text, "inventory_db_up", target="smart-inventory") == 1, "the project came from the unit"
    assert value(text, "inventory_discovery_targets") >= 1  # another test's Next-like process may be found too
    assert "systemd inventory.service" in page and f"{s.prefix}/sites-enabled/inventory:" in page


def wait_for(exporter: Exporter, predicate, within: float = 15.0) -> str:
    """Scrape until ``predicate(text)`` holds (discovery runs every second here); bounded."""
    deadline = time.monotonic() + within
    while True:
        text = scrape(exporter)
        if predicate(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.3)


def test_the_app_is_seen_when_it_starts(stage):
    s = stage(free_port())
    s.start_nginx()
    with s.exporter("--discovery.interval=1s") as exporter:
        assert value(scrape(exporter), "inventory_root_cause_info", target="smart-inventory", cause="app_not_listening") == 1
        s.start_app(s.app_port)
        text = wait_for(exporter, lambda t: value(t, "inventory_root_cause_info", target="smart-inventory", cause="none") == 1)
    assert value(text, "inventory_root_cause_info", target="smart-inventory", cause="none") == 1
    assert value(text, "inventory_app_port_owner_info", target="smart-inventory", port=str(s.app_port), process=TITLE,
                 pid=str(s.running[0].proc.pid)) == 1


def test_targets_appearing_and_vanishing_are_logged_once_each(stage):
    s = stage(free_port())
    link = s.prefix / "sites-enabled" / "inventory"
    link.unlink()
    ours = 'inventory_target_info{source="discovery",target="smart-inventory"}'
    with s.exporter("--discovery.interval=1s") as exporter:
        assert ours not in scrape(exporter)
        link.symlink_to(s.prefix / "sites-available" / "inventory")
        assert ours in wait_for(exporter, lambda t: ours in t)
        runs = value(scrape(exporter), "inventory_discovery_last_run_timestamp_seconds")
        wait_for(exporter, lambda t: value(t, "inventory_discovery_last_run_timestamp_seconds") > runs + 1.5)
        link.unlink()
        assert ours not in wait_for(exporter, lambda t: ours not in t)
        log = exporter.text()
    assert log.count('msg="target discovered" target=smart-inventory') == 1, log
    assert log.count('msg="target no longer discovered" target=smart-inventory') == 1, log


def test_nginx_on_the_wrong_port_is_proxy_upstream_misconfigured_naming_the_line(stage):
    expected, real = free_port(), free_port()
    s = stage(expected)
    s.start_nginx()
    app = s.start_app(real)
    with s.exporter() as exporter:
        text = scrape(exporter)
    assert value(text, "inventory_root_cause_info", target="smart-inventory", cause="proxy_upstream_misconfigured") == 1, \
        summary(text)
    assert value(text, "inventory_finding", target="smart-inventory", check="proxy_upstream_wrong_port", severity="critical") == 1
    assert value(text, "inventory_app_port_listening", target="smart-inventory", port=str(real)) == 1
    info = [line for line in text.splitlines() if line.startswith("inventory_discovery_upstream_mismatch_info{")]
    assert info and f'app_port="{real}"' in info[0] and f'expected_port="{expected}"' in info[0]
    assert f'nginx_source="{s.prefix}/sites-available/inventory:' in info[0] or f"{s.prefix}/sites-enabled/inventory:" in info[0]
    result = run("diagnose", *s.flags(), "--format", "json")
    report = json.loads(result.stdout)
    (target,) = report["targets"]
    finding = next(f for f in target["findings"] if f["check"] == "proxy_upstream_wrong_port")
    assert finding["evidence"]["app_listens_on"] == f"{real} (pid {app.proc.pid})"
    assert f"proxy_pass http://127.0.0.1:{expected} -> proxy_pass http://127.0.0.1:{real}" in finding["fix"][0]
    assert "systemd inventory.service" in finding["evidence"]["why_paired"]


def test_discover_prints_a_config_that_loads_unchanged_with_every_source(stage):
    s = stage(free_port())
    result = run("discover", *s.flags())
    assert result.returncode == 0, result.stderr
    config = parse_config(result.stdout, "discovered.yml")
    (target,) = config.targets
    assert (target.name, target.app_url, target.project_dir, target.proxy_host) == (
        "smart-inventory", f"http://127.0.0.1:{s.app_port}", s.project, "shop.test")
    assert target.proxy_url == f"http://127.0.0.1:{s.listen}"
    assert "# systemd inventory.service" in result.stdout and "sites-enabled/inventory:" in result.stdout
    as_json = json.loads(run("discover", *s.flags(), "--format", "json").stdout)
    assert as_json["targets"][0]["sources"]["project_dir"].startswith("systemd inventory.service")


def test_a_hand_written_target_wins_for_the_same_app_port(stage):
    s = stage(free_port())
    config = s.tmp / "config.yml"
    config.write_text(f"targets:\n  - name: pinned\n    app_url: http://127.0.0.1:{s.app_port}\n"
                      "discovery:\n  enabled: true\ndns:\n  include_hostname: false\n")
    with s.exporter(f"--config.file={config}") as exporter:
        text = scrape(exporter)
    assert value(text, "inventory_target_info", target="pinned", source="config") == 1
    assert value(text, "inventory_target_info", target="smart-inventory", source="discovery") is None


def test_nothing_found_probes_no_project_and_the_page_says_how_to_point_at_an_app(stage):
    """Nothing of the stage is enabled. Other Next-like processes on the host (another test's) would be
    found too, so the page's "nothing found" text is asserted only when discovery found nothing at all
    (tests/test_origins.py checks the text itself)."""
    s = stage(free_port())
    (s.prefix / "sites-enabled" / "inventory").unlink()
    (s.units / "inventory.service").unlink()
    with s.exporter() as exporter:
        text = scrape(exporter)
        page = scrape(exporter, "/")
    assert 'target="smart-inventory"' not in text
    assert "inventory_db_" not in text, "no project is probed"
    if value(text, "inventory_discovery_targets") == 0:
        assert "inventory_root_cause_info" not in text
        assert "No app found on this host" in page and "--config.file" in page


def test_what_cannot_be_read_is_a_metric_and_a_line_on_the_page(stage):
    s = stage(free_port())
    os.mkfifo(s.prefix / "sites-enabled" / "zz-fifo")
    with s.exporter() as exporter:
        text = scrape(exporter)
        page = scrape(exporter, "/")
    assert value(text, "inventory_discovery_errors", source="nginx", reason="not_regular_file") == 1
    assert "Discovery could not read" in page and "zz-fifo" in page
    assert value(text, "inventory_target_info", target="smart-inventory", source="discovery") == 1, "the rest is found"
