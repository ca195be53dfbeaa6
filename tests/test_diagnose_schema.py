"""``diagnose --format json`` from the real CLI, against a real app on 127.0.0.1, validated against
the committed JSON Schema (docs/diagnose.schema.json)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import free_port, make_project
from tests.support.stack import start_app

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs/diagnose.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def diagnose_json(tmp_path: Path, config: Path, *args: str) -> tuple[int, dict]:
    result = subprocess.run(
        [sys.executable, "-m", "exporter", "diagnose", "--config.file", str(config), "--format", "json", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    errors = sorted(VALIDATOR.iter_errors(report), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    return result.returncode, report


def write_config(tmp_path: Path, project: Path, port: int, static: bool = True) -> Path:
    config = tmp_path / "config.yml"
    config.write_text(
        f"targets:\n  - name: shop\n    app_url: http://127.0.0.1:{port}\n    project_dir: {project}\n"
        "    endpoints: [/api/health, /api/products]\n"
        + ("    static_paths: [/favicon.ico]\n" if static else "")
        + "dns:\n  include_hostname: false\n",
        encoding="utf-8",
    )
    return config


@pytest.fixture
def running_app(tmp_path: Path):
    port = free_port()
    app = start_app(tmp_path / "bin", port)
    try:
        yield port
    finally:
        app.stop()


def checklist(target: dict) -> dict:
    return {item["id"]: item["ok"] for item in target["checklist"]}


def test_the_schema_itself_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_a_healthy_app_gives_valid_json_with_no_root_cause(tmp_path: Path, running_app: int):
    config = write_config(tmp_path, make_project(tmp_path / "p"), running_app)
    code, report = diagnose_json(tmp_path, config)
    target = report["targets"][0]
    assert code == report["exit_code"]
    assert target["cause"] == "none" and target["status"] in ("ok", "degraded")
    assert target["worst_severity"] in (None, "info", "warning")  # the shared machine's CPU may be busy
    items = checklist(target)
    for item in ("app_listening", "health_endpoint_ok", "endpoints_reachable", "static_assets_load", "database_connects"):
        assert items[item] is True, item


def test_a_checklist_item_nothing_measured_is_null(tmp_path: Path, running_app: int):
    config = write_config(tmp_path, make_project(tmp_path / "p"), running_app, static=False)
    _, report = diagnose_json(tmp_path, config)
    items = checklist(report["targets"][0])
    assert items["static_assets_load"] is None and items["app_listening"] is True


def test_a_down_app_and_a_missing_database_give_valid_json_with_findings(tmp_path: Path):
    config = write_config(tmp_path, make_project(tmp_path / "p", with_db=False), free_port())
    code, report = diagnose_json(tmp_path, config)
    target = report["targets"][0]
    assert code == 2 == report["exit_code"]
    assert (target["status"], target["cause"], target["worst_severity"]) == ("down", "app_not_listening", "critical")
    checks = {f["check"] for f in target["findings"]}
    assert {"app_not_listening", "database_missing"} <= checks
    assert target["finding_counts"]["critical"] >= 2
    items = checklist(target)
    assert items["app_listening"] is False and items["database_connects"] is False


def test_the_chinese_report_is_valid_json_too(tmp_path: Path):
    config = write_config(tmp_path, make_project(tmp_path / "p", with_db=False), free_port())
    code, report = diagnose_json(tmp_path, config, "--lang", "zh_CN")
    target = report["targets"][0]
    assert code == 2 and report["lang"] == "zh-CN"
    finding = next(f for f in target["findings"] if f["check"] == "app_not_listening")
    assert finding["title"] == "应用未在预期端口上运行"
    assert "应用在端口上正常启动" in [item["item"] for item in target["checklist"]]
