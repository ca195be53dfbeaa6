"""The status page's history: what a run of scrapes leaves behind, its bounds, since-when, the
rendered bars and incidents, and the state file (--storage.path)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.support.exporter_proc import Exporter, fetch
from tests.test_diagnose_schema import VALIDATOR

from exporter.history import CELL_LIMIT, DAY_SECONDS, RAW_LIMIT, History, point_from_samples
from exporter.history_store import FILE_NAME, StorageError, check_storage_dir, load, save
from exporter.pagetext import clock
from exporter.statuspage import hour_bar, incident_table, render_target, summary

T0 = 1_700_000_000.0  # a fixed start: the tests pass at any wall time
DOWN_SAMPLES = [("inventory_http_response_seconds", {"kind": "api", "path": "/api/health"}, 0.0),
                ("inventory_proxy_status_code", {}, 502.0)]
UP_SAMPLES = [("inventory_http_response_seconds", {"kind": "api", "path": "/api/health"}, 0.042),
              ("inventory_proxy_status_code", {}, 200.0)]


def scrape(history: History, at: float, down: bool, target: str = "shop") -> None:
    if down:
        point = point_from_samples(at, "app_not_listening", "critical", ["app_not_listening", "proxy_bad_gateway"],
                                   DOWN_SAMPLES)
    else:
        point = point_from_samples(at, "none", None, [], UP_SAMPLES)
    history.record(target, point)


def staged(up_before: int, down: int, up_after: int, every: float = 15.0) -> tuple[History, float]:
    """Scrapes every ``every`` s: healthy, then down, then healthy again; returns the history and the last time."""
    history, at = History(), T0
    for state in [False] * up_before + [True] * down + [False] * up_after:
        scrape(history, at, state)
        at += every
    return history, at - every


def test_an_outage_gives_since_when_the_incident_and_the_uptime():
    history, last = staged(up_before=10, down=4, up_after=6)
    h = history.targets["shop"]
    assert (h.cause, h.since, h.changes) == ("none", T0 + 14 * 15, 2)
    [incident] = h.outages(last)
    assert (incident.start, incident.end, incident.cause) == (T0 + 10 * 15, T0 + 14 * 15, "app_not_listening")
    assert h.uptime() == pytest.approx(16 / 20)
    assert summary(h, last, "en") == (
        f"up since {clock(T0 + 14 * 15)} (1 min), 1 outage in 24 h, longest 1 min, uptime 80.0 %")
    assert summary(h, last, "zh-CN") == (
        f"自 {clock(T0 + 14 * 15)} 起正常（1 分钟），24 小时内 1 次故障，最长 1 分钟，可用率 80.0 %")


def test_while_down_the_summary_says_down_since_and_the_incident_is_ongoing():
    history, last = staged(up_before=2, down=93, up_after=0, every=15.0)
    h = history.targets["shop"]
    assert summary(h, last, "en").startswith(f"down since {clock(T0 + 30)} (23 min), 1 outage in 24 h, longest 23 min")
    table = incident_table(h, last, "en")
    assert "ongoing" in table and "23 min" in table and "app_not_listening" in table


def test_the_hour_bar_has_one_cell_a_scrape_with_the_down_ones_in_place():
    history, _ = staged(up_before=5, down=3, up_after=4)
    cells = re.findall(r'<i class="(s\d|sn)" title="([^"]*)"', hour_bar(history.targets["shop"], "en"))
    assert [c for c, _ in cells] == ["s0"] * 5 + ["s3"] * 3 + ["s0"] * 4
    assert cells[5][1] == (f"{clock(T0 + 75)} critical, Cause: app_not_listening, "
                           "failing: app_not_listening, proxy_bad_gateway")


def test_a_day_of_scrapes_every_five_seconds_stays_within_the_bounds():
    history, at = History(), T0
    for i in range(int(1.1 * DAY_SECONDS // 5)):
        scrape(history, at, down=i % 720 < 24)  # 2 min down every hour
        at += 5
    h = history.targets["shop"]
    assert len(h.raw) == RAW_LIMIT and h.raw[-1].at - h.raw[0].at < 3600
    assert len(h.cells) == CELL_LIMIT
    assert h.cells[-1].start - h.cells[0].start < DAY_SECONDS
    assert 23 <= len(h.outages(at)) <= 25
    assert h.uptime() == pytest.approx(1 - 24 / 720, abs=0.01)
    page = render_target("shop", h, at, "zh-CN")
    assert page.count('class="s3"') >= 24 and "阈值 0.5 s" in page and "24 小时内" in page


def test_the_state_file_round_trips_and_a_restart_keeps_the_history(tmp_path: Path):
    history, last = staged(up_before=3, down=2, up_after=3)
    path = save(history, tmp_path / "state")
    assert path.name == FILE_NAME and not list(path.parent.glob(".history-*"))  # the temporary file was renamed
    loaded = load(tmp_path / "state")
    a, b = history.targets["shop"], loaded.targets["shop"]
    assert list(a.raw) == list(b.raw) and list(a.cells) == list(b.cells)
    assert (a.cause, a.since, a.changes) == (b.cause, b.since, b.changes)
    assert summary(a, last, "en") == summary(b, last, "en")
    scrape(loaded, last + 15, down=True)  # and it goes on recording
    assert loaded.targets["shop"].changes == 3


def test_a_broken_state_file_is_refused_and_the_history_starts_empty(tmp_path: Path):
    (tmp_path / FILE_NAME).write_text(json.dumps({"version": 1, "targets": {"shop": {"raw": [[1]]}}}))
    assert load(tmp_path).targets == {}
    (tmp_path / FILE_NAME).write_text("{not json")
    assert load(tmp_path).targets == {}


def test_the_storage_path_may_not_be_inside_a_monitored_project(tmp_path: Path):
    project = tmp_path / "shop"
    (project / "data").mkdir(parents=True)
    with pytest.raises(StorageError, match="inside the monitored project"):
        check_storage_dir(project / "data", [project])
    assert check_storage_dir(tmp_path / "state", [project]) == (tmp_path / "state").resolve()


def test_the_exporter_refuses_a_storage_path_inside_a_project(tmp_path: Path):
    project = tmp_path / "shop"
    project.mkdir()
    config = tmp_path / "config.yml"
    config.write_text(f"targets:\n  - name: shop\n    app_url: http://127.0.0.1:9\n    project_dir: {project}\n")
    run = subprocess.run([sys.executable, "-m", "exporter", f"--config.file={config}", f"--storage.path={project / 'h'}"],
                         capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert run.returncode == 2
    assert "inside the monitored project" in run.stderr and "Traceback" not in run.stderr
    assert not (project / "h").exists()


def test_diagnose_adds_since_when_from_a_saved_history(tmp_path: Path):
    project = tmp_path / "shop"
    project.mkdir()
    config = tmp_path / "config.yml"
    config.write_text(f"targets:\n  - name: shop\n    app_url: http://127.0.0.1:{free_port()}\n    project_dir: {project}\n"
                      "dns:\n  include_hostname: false\n")
    history, at = History(), time.time() - 600
    for i in range(40):  # healthy until 5 minutes ago, down since
        scrape(history, at + i * 15, down=i >= 20)
    save(history, tmp_path / "state")
    root = Path(__file__).resolve().parent.parent

    def diagnose(*args: str) -> str:
        run = subprocess.run([sys.executable, "-m", "exporter", "diagnose", f"--config.file={config}", *args],
                             capture_output=True, text=True, timeout=60, cwd=root)
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
        return run.stdout

    text = diagnose(f"--storage.path={tmp_path / 'state'}")
    assert f"shop: down since {clock(at + 20 * 15)} (5 min), 1 outage in 24 h, longest 5 min, uptime" in text
    saved = (tmp_path / "state" / FILE_NAME).stat().st_mtime
    assert f"history.json, saved at {clock(saved)} (" in text  # the file lags the running exporter: say by how much
    zh = diagnose(f"--storage.path={tmp_path / 'state'}", "--lang=zh-CN")
    assert f"shop: 自 {clock(at + 20 * 15)} 起故障（5 分钟），24 小时内 1 次故障，最长 5 分钟" in zh
    data = json.loads(diagnose(f"--storage.path={tmp_path / 'state'}", "--format=json"))
    assert not list(VALIDATOR.iter_errors(data))  # docs/diagnose.schema.json knows the history field
    assert data["history"]["targets"]["shop"].startswith(f"down since {clock(at + 20 * 15)}")
    assert data["history"]["saved"] is not None
    unsaved = json.loads(diagnose(f"--storage.path={tmp_path / 'empty'}", "--format=json"))
    assert unsaved["history"]["saved"] is None and not list(VALIDATOR.iter_errors(unsaved))
    assert "history.json not saved yet (the exporter saves it every minute" in diagnose(f"--storage.path={tmp_path / 'empty'}")
    assert "History" not in diagnose()  # one moment only: nothing said about the past
    assert load(tmp_path / "state").targets["shop"].raw[-1].at == history.targets["shop"].raw[-1].at  # never written


def test_a_restarted_exporter_keeps_the_history_in_its_storage_path(tmp_path: Path):
    project = tmp_path / "shop"
    project.mkdir()
    config = tmp_path / "config.yml"
    config.write_text(f"targets:\n  - name: shop\n    app_url: http://127.0.0.1:{free_port()}\n    project_dir: {project}\n"
                      "dns:\n  include_hostname: false\n")
    state = tmp_path / "state"

    def since_of_the_outage(exporter: Exporter) -> str:
        text = fetch(exporter.url + "/metrics")[2].decode()
        found = re.search(r'^inventory_root_cause_since_timestamp_seconds\{cause="app_not_listening",target="shop"\} (\S+)$',
                          text, re.M)
        assert found, text[-2000:]
        return found.group(1)

    port = free_port()
    args = [f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}", f"--storage.path={state}"]
    with Exporter(args, port, tmp_path / "first.log", tmp_path) as first:
        since = since_of_the_outage(first)
        assert since == since_of_the_outage(first)
    assert (state / FILE_NAME).is_file()  # saved at shutdown
    with Exporter(args, port, tmp_path / "second.log", tmp_path) as second:
        assert since_of_the_outage(second) == since  # down since the first run's first scrape
        page = fetch(second.url + "/")[2].decode()
        assert page.count('class="s3"') >= 4  # the first run's two scrapes, the second run's, and the day cell


def test_the_bench_prints_its_figures():
    """bench/history.py end to end, small: a smoke test, no speed asserted."""
    run = subprocess.run([sys.executable, "bench/history.py", "--targets", "2", "--interval", "60"],
                         capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parent.parent)
    assert "Traceback" not in run.stderr, run.stderr
    assert re.search(r"memory of the history \(tracemalloc\): \d+\.\d MB", run.stdout), run.stdout
    assert re.search(r"render of every target's history block.*median \d+\.\d ms", run.stdout), run.stdout
    assert re.search(r"recording one scrape: \d+\.\d µs CPU with an hour of history, \d+\.\d µs with a full day",
                     run.stdout), run.stdout
    assert re.search(r"the first page after a day of scrapes \d+\.\d ms, a language switch \d+\.\d ms", run.stdout)
    assert re.search(r"the first page after a restart \d+\.\d ms", run.stdout), run.stdout
