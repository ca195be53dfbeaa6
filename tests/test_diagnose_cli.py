"""``inventory-exporter diagnose`` as a real process against a real (broken) app port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port, make_project

ROOT = Path(__file__).resolve().parent.parent


def diagnose(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "exporter", "diagnose", *args], cwd=tmp_path, capture_output=True, text=True,
        timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def write_config(tmp_path: Path, project: Path) -> Path:
    config = tmp_path / "config.yml"
    config.write_text(
        f"targets:\n  - name: shop\n    app_url: http://127.0.0.1:{free_port()}\n    project_dir: {project}\n"
        "dns:\n  include_hostname: false\n"
    )
    return config


def test_diagnose_exits_2_and_names_the_cause_when_the_app_is_down(tmp_path: Path):
    config = write_config(tmp_path, make_project(tmp_path / "p"))
    result = diagnose(tmp_path, "--config.file", str(config), "--format", "json")
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert report["targets"][0]["cause"] == "app_not_listening"


def test_diagnose_in_chinese_markdown(tmp_path: Path):
    config = write_config(tmp_path, make_project(tmp_path / "p"))
    result = diagnose(tmp_path, "--config.file", str(config), "--format", "markdown", "--lang", "zh-CN")
    assert result.returncode == 2
    assert "## 🎯 目标: shop" in result.stdout and "应用未在预期端口上运行" in result.stdout


def test_diagnose_rejects_a_bad_config_with_a_clear_message(tmp_path: Path):
    (tmp_path / "bad.yml").write_text("targets: []\n")
    result = diagnose(tmp_path, "--config.file", "bad.yml")
    assert result.returncode == 3
    assert "bad.yml:1: targets" in result.stderr and "Traceback" not in result.stderr
