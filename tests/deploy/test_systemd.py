"""deploy/systemd/inventory-exporter.service: parsed statically, verified by systemd-analyze (with
ExecStart pointed at an executable that exists here) and rated by its offline security analysis."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.support.stack import require

from .conftest import EXPORTER_PORT, ROOT, SYSTEMD_UNIT, config_check, parse_flags, parse_unit, port_of

UNIT_TEXT = SYSTEMD_UNIT.read_text(encoding="utf-8")
UNIT = parse_unit(UNIT_TEXT)
SERVICE = UNIT["Service"]
UNIT_CONFIG = ROOT / "deploy" / "systemd" / "config.yml"


def one(key: str) -> str:
    values = SERVICE[key]
    assert len(values) == 1, f"{key} is set {len(values)} times"
    return values[0]


def exec_start() -> list[str]:
    return shlex.split(one("ExecStart"))


def test_the_unit_has_unit_service_and_install_sections():
    assert set(UNIT) == {"Unit", "Service", "Install"}
    assert UNIT["Install"]["WantedBy"] == ["multi-user.target"]
    assert UNIT["Unit"]["After"] and "network-online.target" in UNIT["Unit"]["After"][0]


def test_the_unit_starts_the_console_script_with_the_config_file_and_the_exporter_port():
    argv = exec_start()
    assert argv[0].startswith("/") and argv[0].endswith("/bin/inventory-exporter")
    flags = parse_flags(argv[1:])
    assert str(flags.config_file) == "/etc/inventory-exporter/config.yml"
    assert [port_of(address) for address in flags.listen] == [EXPORTER_PORT]


def test_the_unit_reloads_the_config_with_sighup():
    assert one("ExecReload") == "/bin/kill -HUP $MAINPID"


@pytest.mark.parametrize("key,value", [
    ("DynamicUser", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "read-only"), ("NoNewPrivileges", "yes"),
    ("PrivateTmp", "yes"), ("PrivateDevices", "yes"), ("CapabilityBoundingSet", ""), ("RestrictSUIDSGID", "yes"),
    ("ProtectKernelTunables", "yes"), ("ProtectKernelModules", "yes"), ("ProtectControlGroups", "yes"),
    ("RestrictNamespaces", "yes"), ("LockPersonality", "yes"), ("SystemCallArchitectures", "native"),
])
def test_the_unit_is_hardened(key, value):
    assert one(key) == value


def test_the_project_and_nginx_log_are_read_only_paths_and_nothing_is_writable():
    paths = [p.lstrip("-") for p in one("ReadOnlyPaths").split()]
    config = yaml.safe_load(UNIT_CONFIG.read_text(encoding="utf-8"))
    for target in config["targets"]:
        assert target["project_dir"] in paths
        assert any(target["proxy_error_log"].startswith(p + "/") for p in paths)
    assert "ReadWritePaths" not in SERVICE and "StateDirectory" not in SERVICE


def test_the_units_config_passes_config_check():
    result = config_check(UNIT_CONFIG)
    assert result.returncode == 0, result.stderr


def verifiable_copy(tmp_path):
    """The unit with ExecStart's binary replaced by one that exists here: systemd-analyze verify
    checks that the command is executable, and /opt/inventory-exporter is not installed on a test machine."""
    binary = shutil.which("inventory-exporter") or sys.executable
    path = tmp_path / SYSTEMD_UNIT.name
    path.write_text(UNIT_TEXT.replace(exec_start()[0], binary), encoding="utf-8")
    return path


def test_systemd_analyze_verify_accepts_the_unit_without_a_warning(tmp_path):
    result = subprocess.run([require("systemd-analyze"), "verify", str(verifiable_copy(tmp_path))],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert SYSTEMD_UNIT.name not in result.stderr, result.stderr


def test_systemd_analyze_verify_warns_about_a_misspelt_key(tmp_path):
    """Control: the empty stderr above means something."""
    path = verifiable_copy(tmp_path)
    path.write_text(path.read_text().replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"))
    result = subprocess.run([require("systemd-analyze"), "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert "Unknown key" in result.stderr and "NoNewPrivilege" in result.stderr


def test_systemd_analyze_rates_the_units_exposure_ok(tmp_path):
    result = subprocess.run(
        [require("systemd-analyze"), "security", "--offline=true", "--threshold=20", str(verifiable_copy(tmp_path))],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    exposure = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", result.stdout)
    assert exposure and float(exposure.group(1)) <= 2.0 and exposure.group(2) == "OK"


def test_the_unit_gives_descriptors_for_the_connection_cap_and_the_probes_reserve():
    """systemd's default soft limit (1,024) is what ~1,000 idle connections exhausted."""
    from exporter.web.connections import DEFAULT_MAX_CONNECTIONS, DESCRIPTOR_RESERVE

    limit = one("LimitNOFILE")
    assert ":" not in limit, "soft = hard: the unit's SystemCallFilter forbids setrlimit, so the soft limit must be enough"
    assert int(limit) >= 4 * (DEFAULT_MAX_CONNECTIONS + DESCRIPTOR_RESERVE)
