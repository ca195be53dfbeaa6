"""discover_units over unit files in a temporary tree laid out like /etc, /run and /lib/systemd/system."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from exporter.discovery.model import DiscoveryError, ServiceUnit
from exporter.discovery.reading import FILE_LIMIT
from exporter.discovery.systemd import discover_units, parse_unit


@pytest.fixture
def tree(tmp_path) -> tuple[Path, Path, Path]:
    dirs = tuple(tmp_path / name / "systemd/system" for name in ("etc", "run", "lib"))
    for directory in dirs:
        directory.mkdir(parents=True)
    return dirs


def unit(path: Path, service: str, unit_section: str = "Description=app\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"[Unit]\n{unit_section}\n[Service]\n{service}\n[Install]\nWantedBy=multi-user.target\n")
    return path


def systemd_unit(name: str, directory: str, port: int | None, source: Path) -> ServiceUnit:
    return ServiceUnit(kind="systemd", name=name, working_directory=Path(directory), port=port, source=str(source))


def test_units_running_next_npm_or_node_with_their_directory_and_port(tree, tmp_path):
    etc, run, lib = tree
    inventory = unit(etc / "inventory.service", 'ExecStart=/usr/bin/npm run start\nWorkingDirectory=/srv/inventory\n'
                     'Environment="PORT=3001" "NODE_ENV=production"')
    shop = unit(lib / "shop.service", "Environment=PORT=9999\nExecStart=/usr/bin/node \\\n"
                "    node_modules/.bin/next start \\\n    -p 3002\nWorkingDirectory=-/srv/shop")
    (etc / "multi-user.target.wants").mkdir()
    (etc / "multi-user.target.wants/shop.service").symlink_to(shop)
    env_file = tmp_path / "admin.env"
    env_file.write_text("# admin\nexport PORT=3003\nNODE_ENV=production\n")
    admin = unit(run / "admin.service", f"Environment=PORT=1\nEnvironmentFile={env_file}\n"
                 "EnvironmentFile=-/nonexistent/optional.env\nExecStart=npx next start\nWorkingDirectory=/srv/admin")
    repeated = unit(lib / "repeated.service", "ExecStart=/bin/false\nExecStart=\nExecStart=/usr/bin/node server.js "
                    "--port=3004\nEnvironment=PORT=3009\nEnvironment=NODE_ENV=production\nWorkingDirectory=/srv/a\n"
                    "WorkingDirectory=/srv/repeated")
    derived = unit(lib / "derived.service", "ExecStart=/usr/bin/node /opt/site/node_modules/next/dist/bin/next start "
                   "--port 3005")
    unit(lib / "nginx.service", "ExecStart=/usr/sbin/nginx -g 'daemon on;'\nWorkingDirectory=/srv/nginx")
    unit(lib / "nowhere.service", "ExecStart=/usr/bin/node server.js")  # no directory: not a project
    units, errors = discover_units((etc, run, lib))
    assert sorted(units, key=lambda u: u.name) == [
        systemd_unit("admin.service", "/srv/admin", 3003, admin),
        systemd_unit("derived.service", "/opt/site", 3005, derived),
        systemd_unit("inventory.service", "/srv/inventory", 3001, inventory),
        systemd_unit("repeated.service", "/srv/repeated", 3004, repeated),
        systemd_unit("shop.service", "/srv/shop", 3002, shop),
    ]
    assert errors == []


def test_precedence_masking_and_drop_ins(tree):
    etc, run, lib = tree
    unit(lib / "inventory.service", "ExecStart=/usr/bin/npm start\nWorkingDirectory=/srv/old")
    override = unit(etc / "inventory.service", "ExecStart=/usr/bin/npm start\nWorkingDirectory=/srv/inventory")
    unit(lib / "masked.service", "ExecStart=/usr/bin/npm start\nWorkingDirectory=/srv/masked")
    (etc / "masked.service").symlink_to(os.devnull)
    dash = unit(lib / "dash.service", "ExecStart=/usr/bin/npm run start\nWorkingDirectory=/srv/dash\n"
                "Environment=PORT=3000")
    (lib / "dash.service.d").mkdir()
    (lib / "dash.service.d/10-port.conf").write_text("[Service]\nEnvironment=PORT=3010\n")
    (etc / "dash.service.d").mkdir()
    (etc / "dash.service.d/20-dir.conf").write_text("[Service]\nWorkingDirectory=/srv/dashboard\n")
    (etc / "dash.service.d/10-port.conf").write_text("[Service]\nEnvironment=PORT=3011\n")  # wins over lib's 10-
    units, errors = discover_units((etc, run, lib))
    assert sorted(units, key=lambda u: u.name) == [
        systemd_unit("dash.service", "/srv/dashboard", 3011, dash),
        systemd_unit("inventory.service", "/srv/inventory", None, override),
    ]
    assert errors == []


def test_what_cannot_be_read_is_an_error_not_a_crash(tree, tmp_path):
    etc, run, lib = tree
    fifo = tmp_path / "env.fifo"
    os.mkfifo(fifo)
    fifo_unit = unit(etc / "fifo.service", f"ExecStart=/usr/bin/npm start\nWorkingDirectory=/srv/fifo\n"
                     f"EnvironmentFile={fifo}")
    big = lib / "big.service"
    big.write_text("[Service]\nExecStart=/usr/bin/npm start\n" + "#" * FILE_LIMIT + "\n")
    quotes = unit(lib / "quotes.service", 'ExecStart=/usr/bin/node "next start\nWorkingDirectory=/srv/q')
    (run / "sub.wants").mkdir()
    (run / "sub.wants/dangling.service").symlink_to(tmp_path / "gone.service")
    units, errors = discover_units((etc, run, lib))
    assert units == [systemd_unit("fifo.service", "/srv/fifo", None, fifo_unit)]
    assert sorted(errors, key=lambda e: e.reason) == [
        DiscoveryError("systemd", "not_found", str(tmp_path / "gone.service")),
        DiscoveryError("systemd", "not_regular_file", str(fifo)),
        DiscoveryError("systemd", "parse_error", str(quotes)),
        DiscoveryError("systemd", "too_large", str(big)),
    ]


def test_the_reader_joins_continued_lines_and_keeps_repeated_keys():
    text = "; comment\n[Service]\n# comment\nEnvironment=A=1 \\\n  B=2\nEnvironment=C=3\nExecStart=/x \\\n"
    assert parse_unit(text) == [("Service", "Environment", "A=1 B=2"), ("Service", "Environment", "C=3"),
                                ("Service", "ExecStart", "/x")]


def test_the_default_search_path_on_this_host_runs_without_errors_or_commands():
    units, errors = discover_units()
    assert all(unit.kind == "systemd" and unit.working_directory.is_absolute() for unit in units)
    assert [error for error in errors if error.reason not in ("permission_denied", "not_found")] == []
