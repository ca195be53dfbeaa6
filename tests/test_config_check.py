"""``inventory-exporter --config.check``: errors and warnings (paths not on this machine) in file
order, as the real CLI prints them for real files in a tmp dir."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_project

ROOT = Path(__file__).resolve().parent.parent


def config_check(cwd: Path, config: str) -> subprocess.CompletedProcess:
    (cwd / "config.yml").write_text(config, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "exporter", "--config.check", "--config.file", "config.yml"],
        cwd=cwd, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def lines_of(stream: str) -> list[str]:
    return [line for line in stream.splitlines() if re.match(r"^(warning: )?config\.yml:\d+: ", line)]


def line_numbers(lines: list[str]) -> list[int]:
    return [int(re.search(r"config\.yml:(\d+):", line).group(1)) for line in lines]


def test_a_config_whose_paths_all_exist_has_no_warnings(tmp_path: Path):
    project = make_project(tmp_path / "app")
    (project / "dev.log").write_text("ready\n")
    (tmp_path / "error.log").write_text("")
    result = config_check(tmp_path, (
        "targets:\n  - name: shop\n"
        f"    project_dir: {project}\n    log_file: dev.log\n    proxy_error_log: {tmp_path / 'error.log'}\n"
    ))
    assert result.returncode == 0, result.stderr
    assert "config.yml: OK (1 target(s))" in result.stdout
    assert "warning" not in result.stderr


def test_missing_paths_are_warnings_in_file_order_and_the_check_still_passes(tmp_path: Path):
    make_project(tmp_path / "no-db", with_db=False)
    make_project(tmp_path / "no-url", database_url=None)
    result = config_check(tmp_path, (
        "targets:\n"
        "  - name: a\n"                                         # 2
        "    project_dir: gone\n"                               # 3
        "    log_file: logs/dev.log\n"                          # 4
        "  - name: b\n"                                         # 5
        "    proxy_error_log: /var/log/nginx/none-such.log\n"   # 6
        "    database: /srv/none-such/custom.db\n"              # 7
        "  - name: c\n"                                         # 8
        "    project_dir: no-db\n"                              # 9
        "  - name: d\n"                                         # 10
        "    project_dir: no-url\n"                             # 11
    ))
    assert result.returncode == 0, result.stderr
    assert "OK (4 target(s))" in result.stdout
    warnings = lines_of(result.stderr)
    assert warnings == [line for line in result.stderr.splitlines() if line], result.stderr
    assert all(line.startswith("warning: ") for line in warnings)
    assert line_numbers(warnings) == [3, 4, 6, 7, 9, 11]
    expected = [
        f"targets[0].project_dir: {tmp_path / 'gone'} does not exist on this machine",
        f"targets[0].log_file: {tmp_path / 'gone/logs/dev.log'} does not exist on this machine",  # relative to project_dir
        "targets[1].proxy_error_log: /var/log/nginx/none-such.log does not exist on this machine",
        "targets[1].database: /srv/none-such/custom.db does not exist on this machine",
        f"targets[2].database: {tmp_path / 'no-db/db/custom.db'} does not exist on this machine (located from the project's .env)",
        "targets[3].database: no SQLite database located in the project: DATABASE_URL is not set in the project's .env",
    ]
    for line, reason in zip(warnings, expected):
        assert line.endswith(reason), (line, reason)


def test_a_relative_database_is_found_below_the_project_dir(tmp_path: Path):
    project = make_project(tmp_path / "app")
    result = config_check(tmp_path, f"targets:\n  - name: shop\n    project_dir: {project}\n    database: db/custom.db\n")
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
    result = config_check(tmp_path, f"targets:\n  - name: shop\n    project_dir: {project}\n    database: db/other.db\n")
    assert result.returncode == 0
    assert f"warning: config.yml:4: targets[0].database: {project / 'db/other.db'} does not exist" in result.stderr


def test_a_file_where_a_directory_belongs_and_the_reverse_are_warnings(tmp_path: Path):
    (tmp_path / "a-file").write_text("")
    (tmp_path / "a-dir").mkdir()
    result = config_check(tmp_path, (
        f"targets:\n  - name: shop\n    project_dir: {tmp_path / 'a-file'}\n    proxy_error_log: {tmp_path / 'a-dir'}\n"
    ))
    assert result.returncode == 0
    assert f"warning: config.yml:3: targets[0].project_dir: {tmp_path / 'a-file'} is not a directory" in result.stderr
    assert f"warning: config.yml:4: targets[0].proxy_error_log: {tmp_path / 'a-dir'} is a directory, not a file" in result.stderr


def test_errors_and_warnings_together_are_in_file_order_and_the_check_fails(tmp_path: Path):
    result = config_check(tmp_path, (
        "targets:\n"
        "  - project_dir: /none-such/app\n"   # 2: name missing (an error the loader finds last) + a warning
        "    timout: 5s\n"                    # 3: error
        "    log_file: /none-such/dev.log\n"  # 4: warning
        "  - name: x\n"                       # 5
        "    app_url: ftp://x\n"              # 6: error
        "    database: /none-such/x.db\n"     # 7: warning
    ))
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == "inventory-exporter: invalid config:"
    problems = lines_of(result.stderr)
    assert len(problems) == len(result.stderr.splitlines()) - 1 == 6
    assert line_numbers(problems) == [2, 2, 3, 4, 6, 7]
    assert problems[0] == "config.yml:2: targets[0].name: required key is missing"
    assert problems[1] == "warning: config.yml:2: targets[0].project_dir: /none-such/app does not exist on this machine"
    assert problems[2] == "config.yml:3: targets[0].timout: unknown key (did you mean 'timeout'?)"
    assert problems[4].startswith("config.yml:6: targets[1].app_url: ")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_an_invalid_path_value_is_an_error_not_also_a_warning(tmp_path: Path):
    result = config_check(tmp_path, "targets:\n  - name: shop\n    log_file: 42\n")
    assert result.returncode == 1
    assert lines_of(result.stderr) == ["config.yml:3: targets[0].log_file: expected a non-empty string"]


def test_a_missing_tls_ca_file_is_a_warning_and_redirect_from_must_be_plain_http(tmp_path: Path):
    result = config_check(tmp_path, (
        "targets:\n  - name: shop\n    proxy_url: https://127.0.0.1:8443\n"
        f"    tls_ca_file: {tmp_path / 'ca.pem'}\n    redirect_from: http://127.0.0.1:8080/\n"
    ))
    assert result.returncode == 0
    assert lines_of(result.stderr) == [f"warning: config.yml:4: targets[0].tls_ca_file: {tmp_path / 'ca.pem'} does not exist on this machine"]
    result = config_check(tmp_path, "targets:\n  - name: shop\n    redirect_from: https://127.0.0.1/\n")
    assert result.returncode != 0
    assert lines_of(result.stderr) == [
        "config.yml:3: targets[0].redirect_from: 'https://127.0.0.1' must be an http:// URL "
        "(the one that should redirect to https://)"
    ]


def test_secrets_this_environment_cannot_give_are_warnings_and_literal_credentials_errors(tmp_path: Path):
    present = tmp_path / "present"
    present.write_text("k")
    os.environ.pop("NOT_SET_SECRET_VAR", None)
    config = (
        "targets:\n  - name: shop\n    endpoints:\n"
        f"      - {{path: /a, headers: {{X-Key: {{file: {present}}}, X-Other: {{file: {tmp_path}/gone}}}}}}\n"
        "      - {path: /b, method: POST, json: {pw: '${env:NOT_SET_SECRET_VAR}'}}\n"
        "      - {path: /c, headers: {Authorization: 'Bearer ${env:PATH}'}}\n"
    )
    result = config_check(tmp_path, config)
    assert result.returncode == 0, result.stderr
    assert lines_of(result.stderr) == [
        f"warning: config.yml:4: targets[0].endpoints[0]: secret file {tmp_path}/gone does not exist here",
        "warning: config.yml:5: targets[0].endpoints[1]: environment variable NOT_SET_SECRET_VAR is not set here",
    ]
    result = config_check(tmp_path, "targets:\n  - name: shop\n    endpoints:\n      - {path: /a, headers: {Cookie: sid=1}}\n")
    assert result.returncode == 1
    assert lines_of(result.stderr) == [
        "config.yml:4: targets[0].endpoints[0].headers: Cookie: a credential must not be written in the config; "
        "use {env: NAME}, {file: /run/secrets/NAME} or a placeholder, e.g. 'Bearer ${env:TOKEN}'"]
