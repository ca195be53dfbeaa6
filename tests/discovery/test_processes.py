"""discover_apps against real processes holding real ports on loopback and wildcard addresses."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from exporter.discovery.model import DiscoveryError, RunningApp
from exporter.discovery.processes import discover_apps, listening_sockets
from tests.conftest import free_port
from tests.support.next_like import NextLike
from tests.support.stack import node_named_python

SCRIPT = Path(__file__).resolve().parents[1] / "support" / "next_like.py"
TITLE = "next-server (v15.5.0)"
NOBODY = 65534


@pytest.fixture
def started():
    running: list[NextLike] = []

    def start(*args, **kwargs) -> NextLike:
        running.append(NextLike(*args, **kwargs))
        return running[-1]

    yield start
    for proc in running:
        proc.stop()


def project(root: Path, name: str = "inventory", deps: str = "dependencies", package: str = "next") -> Path:
    """A directory whose package.json has ``package`` in ``deps``, and a next binary that is our script."""
    root.mkdir(parents=True)
    (root / "package.json").write_text(json.dumps({"name": name, deps: {package: "15.5.0", "react": "19.0.0"}}))
    for bin_path in ("node_modules/.bin/next", "node_modules/next/dist/bin/next"):
        (root / bin_path).parent.mkdir(parents=True, exist_ok=True)
        (root / bin_path).symlink_to(SCRIPT)
    return root.resolve()


def apps_by_port(*ports: int) -> dict[int, RunningApp]:
    apps, _ = discover_apps()
    return {app.port: app for app in apps if app.port in ports}


def test_a_titled_next_server_on_ipv4_and_ipv6_loopback(started, tmp_path):
    root, port = project(tmp_path / "shop"), free_port()
    server = started([sys.executable, str(SCRIPT)], root, port, ("127.0.0.1", "::1"), title=TITLE)
    assert (Path("/proc") / str(server.pid) / "comm").read_text() == "next-server (v1\n"
    assert apps_by_port(port) == {port: RunningApp(
        port=port, pid=server.pid, process=TITLE, addresses=("127.0.0.1", "::1"), cwd=root,
        project_dir=root, name="inventory", source=f"pid {server.pid} ({TITLE})")}


def test_node_running_next_dev_on_the_wildcard_without_a_package_json(started, tmp_path):
    bare, port = project(tmp_path / "app"), free_port()
    (bare / "package.json").unlink()
    node = node_named_python(tmp_path / "bin")
    dev = started([node, str(bare / "node_modules/.bin/next"), "dev", "-p", str(port)], bare, port, ("0.0.0.0",))
    assert apps_by_port(port) == {port: RunningApp(
        port=port, pid=dev.pid, process="node", addresses=("0.0.0.0",), cwd=bare, project_dir=None,
        name=None, source=f"pid {dev.pid} (node)")}


def test_a_package_json_without_next_gives_no_project(started, tmp_path):
    other, port = project(tmp_path / "vite-app", package="vite"), free_port()
    node = node_named_python(tmp_path / "bin")
    start = started([node, str(other / "node_modules/.bin/next"), "start", "--port", str(port)], other, port, ("::",))
    app = apps_by_port(port)[port]
    assert (app.pid, app.addresses, app.cwd, app.project_dir, app.name) == (start.pid, ("::",), other, None, None)


def test_npm_run_dev_reports_its_listening_child_not_npm(started, tmp_path):
    root, port = project(tmp_path / "dashboard", name="dashboard", deps="devDependencies"), free_port()
    node = node_named_python(tmp_path / "bin")
    npm = started([sys.executable, str(SCRIPT)], root, port, ("127.0.0.1",), child="spawn",
                  parent_title="npm run dev", child_argv0=node)
    assert npm.listener != npm.pid
    assert (Path("/proc") / str(npm.pid) / "comm").read_text() == "npm run dev\n"
    assert apps_by_port(port) == {port: RunningApp(
        port=port, pid=npm.listener, process="node", addresses=("127.0.0.1",), cwd=root, project_dir=root,
        name="dashboard", source=f"pid {npm.listener} (node)")}


def test_next_start_whose_child_shares_the_socket_reports_the_child(started, tmp_path):
    root, port = project(tmp_path / "shop"), free_port()
    node = node_named_python(tmp_path / "bin")
    tree = started([node, str(root / "node_modules/next/dist/bin/next"), "start", "-p", str(port)], root, port,
                   ("0.0.0.0", "::"), child="inherit", title=TITLE)
    parent_holds = {link for fd in os.listdir(f"/proc/{tree.pid}/fd")
                    if (link := os.readlink(f"/proc/{tree.pid}/fd/{fd}")).startswith("socket:")}
    assert len(parent_holds & {f"socket:[{inode}]" for inode in listening_sockets()}) == 2  # both hold it
    assert apps_by_port(port) == {port: RunningApp(
        port=port, pid=tree.listener, process=TITLE, addresses=("0.0.0.0", "::"), cwd=root, project_dir=root,
        name="inventory", source=f"pid {tree.listener} ({TITLE})")}


def test_listeners_that_are_not_next_are_ignored(started, tmp_path):
    root = project(tmp_path / "shop")
    node = node_named_python(tmp_path / "bin")
    plain, node_server, npm_elsewhere = free_port(), free_port(), free_port()
    started([sys.executable, str(SCRIPT)], root, plain)  # python3 in a Next project: not a Next server
    started([node, str(SCRIPT), "server.js"], root, node_server)  # node, but not next nor under npm
    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    started([sys.executable, str(SCRIPT)], plain_dir, npm_elsewhere, child="spawn", parent_title="npm start",
            child_argv0=node)  # under npm, but the directory is no Next project
    assert apps_by_port(plain, node_server, npm_elsewhere) == {}


def test_a_package_json_that_cannot_be_read_is_an_error_and_no_project(started, tmp_path):
    broken, fifo = project(tmp_path / "broken"), project(tmp_path / "fifo")
    (broken / "package.json").write_text('{"dependencies": {"next": ')
    (fifo / "package.json").unlink()
    os.mkfifo(fifo / "package.json")  # opened without blocking, never read
    first, second = free_port(), free_port()
    one = started([sys.executable, str(SCRIPT)], broken, first, title=TITLE)
    two = started([sys.executable, str(SCRIPT)], fifo, second, title=TITLE)
    apps, errors = discover_apps()
    found = {app.port: (app.pid, app.cwd, app.project_dir, app.name) for app in apps if app.port in (first, second)}
    assert found == {first: (one.pid, broken, None, None), second: (two.pid, fifo, None, None)}
    assert {error for error in errors if error.detail.startswith(str(tmp_path))} == {
        DiscoveryError("processes", "parse_error", str(broken / "package.json")),
        DiscoveryError("processes", "not_regular_file", str(fifo / "package.json"))}


def discover_as_nobody(conn) -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    conn.send(discover_apps())
    conn.close()


def test_an_unprivileged_run_infers_the_owner_and_reports_what_it_cannot_read(started):
    base = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        root, port = project(base / "shop"), free_port()
        node = node_named_python(base / "bin")
        tree = started([node, str(root / "node_modules/.bin/next"), "start", "-p", str(port)], root, port,
                       ("127.0.0.1", "::1"), child="spawn", title=TITLE)
        unnamed, plain = free_port(), free_port()
        alone = started([sys.executable, str(SCRIPT)], root, unnamed, title=TITLE)  # names no port, not on 3000
        started([sys.executable, str(SCRIPT)], root, plain)  # not Next: never taken for one
        context = multiprocessing.get_context("fork")
        parent, child = context.Pipe(duplex=False)
        process = context.Process(target=discover_as_nobody, args=(child,))
        process.start()
        assert parent.poll(30), "the unprivileged discovery did not answer"
        apps, errors = parent.recv()
        process.join(10)
    finally:
        shutil.rmtree(base)
    assert [app for app in apps if app.port == port] == [RunningApp(
        port=port, pid=tree.listener, process=TITLE, addresses=("127.0.0.1", "::1"), cwd=None, project_dir=None,
        name=None, source=f"pid {tree.listener} ({TITLE}), owner of port {port} inferred (its sockets are not readable)")]
    assert [app for app in apps if app.port in (unnamed, plain)] == []
    pids = {str(tree.pid), str(tree.listener), str(alone.pid)}
    assert {error for error in errors if set(error.detail.split()[1:2]) & pids} == {
        DiscoveryError("processes", "permission_denied", f"pid {tree.pid} fd"),
        DiscoveryError("processes", "permission_denied", f"pid {tree.listener} fd"),
        DiscoveryError("processes", "permission_denied", f"pid {tree.listener} cwd"),
        DiscoveryError("processes", "permission_denied", f"pid {alone.pid} fd")}
