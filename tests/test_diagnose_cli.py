"""``inventory-exporter diagnose`` as a real process against a real (broken) app port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exporter.diagnose_cli import build_parser
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


@pytest.mark.parametrize(
    "args, reason",
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--format", "yaml"], "argument --format: invalid choice: 'yaml'"),
        (["--lang", "fr"], "argument --lang: 'fr' is not a supported language"),
        (["--timeout", "0"], "argument --timeout: '0': duration must be greater than zero"),
        (["--timeout", "0s"], "argument --timeout: '0s': duration must be greater than zero"),
        (["--timeout", "-1"], "argument --timeout: '-1': the timeout must be greater than zero"),
        (["--timeout=-5s"], "argument --timeout: '-5s': the timeout must be greater than zero"),
        (["--timeout", "soon"], "argument --timeout: 'soon' is not a duration"),
        (["--timeout", "2h"], "argument --timeout: '2h': the timeout must be at most 1h"),
    ],
)
def test_usage_errors_exit_4_never_2_which_means_critical(tmp_path: Path, args: list[str], reason: str):
    result = diagnose(tmp_path, *args)
    assert result.returncode == 4, result.stderr
    assert reason in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("value, seconds", [("500ms", 0.5), ("5s", 5.0), ("2m", 120.0), ("3", 3.0), ("1.5", 1.5)])
def test_timeout_takes_the_configs_durations(value: str, seconds: float):
    assert build_parser().parse_args(["--timeout", value]).timeout == seconds


@pytest.mark.parametrize(
    "value, lang", [("zh-CN", "zh-CN"), ("zh-cn", "zh-CN"), ("zh_CN", "zh-CN"), ("zh", "zh-CN"), ("en", "en"), ("en-US", "en"), ("EN", "en")]
)
def test_lang_takes_the_usual_spellings(value: str, lang: str):
    assert build_parser().parse_args(["--lang", value]).lang == lang


@pytest.mark.parametrize("spelling", ["zh", "zh-cn"])
def test_a_short_timeout_and_a_loose_lang_spelling_run_for_real(tmp_path: Path, spelling: str):
    config = write_config(tmp_path, make_project(tmp_path / "p"))
    result = diagnose(tmp_path, "--config.file", str(config), "--timeout", "500ms", "--lang", spelling)
    assert result.returncode == 2, result.stderr
    assert "验证清单" in result.stdout and "[ ] 应用在端口上正常启动" in result.stdout


def test_help_documents_every_option_and_every_exit_code(tmp_path: Path):
    result = diagnose(tmp_path, "--help")
    assert result.returncode == 0
    for code, meaning in ((0, "ok"), (1, "warning"), (2, "critical"), (3, "invalid config"), (4, "usage error")):
        assert any(line.strip().startswith(f"{code}  ") and meaning in line for line in result.stdout.splitlines()), code
    for action in build_parser()._actions:
        assert action.help, action.option_strings
