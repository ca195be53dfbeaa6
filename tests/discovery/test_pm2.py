"""discover_pm2 over pm2 dump files in temporary home directories."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

from exporter.discovery.model import DiscoveryError, ServiceUnit
from exporter.discovery.pm2 import default_homes, discover_pm2

NOBODY = 65534


def dump(home: Path, entries) -> Path:
    path = home / ".pm2/dump.pm2"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(entries if isinstance(entries, str) else json.dumps(entries))
    return path


def entry(name: str, cwd: str, exec_path: str, args, env: dict | None = None, interpreter: str = "node") -> dict:
    return {"name": name, "pm_cwd": cwd, "pm_exec_path": exec_path, "exec_interpreter": interpreter,
            "args": args, "env": env or {}, "pm_id": 0, "status": "online"}


def test_entries_running_next_npm_or_node_with_their_directory_and_port(tmp_path):
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    first = dump(alice, [
        entry("inventory", "/srv/inventory", "/usr/bin/npm", ["run", "start"], {"PORT": "3001"}),
        entry("shop", "/srv/shop", "/srv/shop/node_modules/.bin/next", "start -p 3002", {"PORT": "9999"}),
        entry("worker", "/srv/worker", "/srv/worker/worker.py", [], {"PORT": "3005"}, interpreter="python3"),
        "not an entry", {"name": 1, "pm_cwd": "/srv/x"},
        entry("relative", "srv/rel", "/usr/bin/npm", ["start"]),
    ])
    second = dump(bob, [entry("admin", "/home/bob/admin", "/home/bob/admin/server.js", None, {"PORT": 3003}),
                        entry("docs", "/home/bob/docs", "/usr/bin/npx", ["next", "start", "--port=3004"])])
    units, errors = discover_pm2((alice, bob, tmp_path / "nobody-here"))
    assert units == [
        ServiceUnit("pm2", "inventory", Path("/srv/inventory"), 3001, str(first)),
        ServiceUnit("pm2", "shop", Path("/srv/shop"), 3002, str(first)),
        ServiceUnit("pm2", "admin", Path("/home/bob/admin"), 3003, str(second)),
        ServiceUnit("pm2", "docs", Path("/home/bob/docs"), 3004, str(second)),
    ]
    assert errors == []


def test_bad_dumps_are_errors_not_crashes(tmp_path):
    broken, odd, folder = tmp_path / "broken", tmp_path / "odd", tmp_path / "folder"
    bad_json = dump(broken, "[{")
    not_list = dump(odd, {"name": "x"})
    (folder / ".pm2/dump.pm2").mkdir(parents=True)
    units, errors = discover_pm2((broken, odd, folder))
    assert units == []
    assert errors == [DiscoveryError("pm2", "parse_error", str(bad_json)),
                      DiscoveryError("pm2", "parse_error", str(not_list)),
                      DiscoveryError("pm2", "not_regular_file", str(folder / ".pm2/dump.pm2"))]


def test_default_homes_from_passwd_and_home(tmp_path):
    home_root = tmp_path / "home"
    for name in ("alice", "bob"):
        (home_root / name).mkdir(parents=True)
    www = tmp_path / "www"
    www.mkdir()
    passwd = tmp_path / "passwd"
    passwd.write_text(f"root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33::{www}:/usr/sbin/nologin\n"
                      f"alice:x:1000:1000::{home_root / 'alice'}:/bin/bash\nnobody:x:65534:65534::/nonexistent:/x\n"
                      "slash:x:2:2::/:/x\nbroken line\n")
    homes = default_homes(passwd, home_root)
    assert homes == tuple(h for h in (Path("/root"), home_root / "alice", home_root / "bob", www) if h.is_dir())


def discover_as_nobody(home: Path, conn) -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    conn.send(discover_pm2((home,)))
    conn.close()


def test_another_users_dump_is_permission_denied_for_an_unprivileged_run():
    base = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        base.chmod(0o755)
        home = base / "root-home"
        path = dump(home, [entry("inventory", "/srv/inventory", "/usr/bin/npm", ["start"])])
        home.chmod(0o700)
        context = multiprocessing.get_context("fork")
        parent, child = context.Pipe(duplex=False)
        process = context.Process(target=discover_as_nobody, args=(home, child))
        process.start()
        assert parent.poll(30), "the unprivileged discovery did not answer"
        result = parent.recv()
        process.join(10)
        assert discover_pm2((home,))[0] == [ServiceUnit("pm2", "inventory", Path("/srv/inventory"), None, str(path))]
    finally:
        shutil.rmtree(base)
    assert result == ([], [DiscoveryError("pm2", "permission_denied", str(path))])
