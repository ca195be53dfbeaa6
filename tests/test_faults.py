"""Every fault we can stage, through the real /metrics endpoint: the scrape answers within its
deadline, the metrics say what failed, the project is unchanged, and the exporter keeps serving."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import struct
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest

from exporter.app import State, create_app
from exporter.config import Config, DnsConfig, Target
from tests.conftest import free_port, make_project
from tests.support.dns_server import DROP, SERVFAIL
from tests.support.project_state import holding, tree_state
from tests.support.servers import raw_server
from tests.support.stack import Nginx
from tests.test_app import value

HEADER_TIMEOUT = 2.0  # Prometheus's scrape timeout; the exporter's deadline is 1.5 s


async def reset_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST


async def slow_loris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nabc")
    await writer.drain()
    await asyncio.Event().wait()


async def endless_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * 65536
    while True:
        writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()


async def close_without_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()  # nginx's 444: the connection is closed, no response at all


async def status(code: int):
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"HTTP/1.1 %d Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" % code)
        await writer.drain()

    return answer


@pytest.fixture
async def exporter(aiohttp_client):
    """Build the exporter for a target; returns a scrape function that checks the deadline was kept."""

    async def build(target: Target, dns: DnsConfig | None = None):
        cfg = Config(targets=(target,), dns=dns or DnsConfig(names=("localhost",)))
        client = await aiohttp_client(create_app(State(config=cfg, config_file=None, loader=lambda: cfg)))

        async def scrape() -> str:
            started = time.monotonic()
            response = await client.get("/metrics", headers={"X-Prometheus-Scrape-Timeout-Seconds": str(HEADER_TIMEOUT)})
            text = await response.text()
            assert response.status == 200
            assert time.monotonic() - started < HEADER_TIMEOUT, "the scrape must answer before Prometheus gives up"
            assert (await client.get("/-/healthy")).status == 200
            assert 'reason="internal_error"' not in text, text
            return text

        return scrape

    return build


def shop(project: Path | None = None, **overrides) -> Target:
    values = dict(name="shop", app_url=f"http://127.0.0.1:{free_port()}", project_dir=project, timeout=10.0)
    values.update(overrides)
    return Target(**values)


@pytest.mark.parametrize(
    "handler, reason",
    [(reset_connection, "connection_error"), (slow_loris, "timeout"), (close_without_answer, "connection_error")],
    ids=["resets", "slow-loris", "closes-without-answer"],
)
async def test_a_misbehaving_app_is_reported_and_the_scrape_still_answers(exporter, project, handler, reason):
    before = tree_state(project)
    async with raw_server(handler) as url:
        scrape = await exporter(shop(project, app_url=url))
        text = await scrape()
    assert value(text, "inventory_http_up", target="shop", path="/api/health") == 0
    assert value(text, "inventory_probe_failure_info", target="shop", probe="http", reason=reason) == 1
    assert tree_state(project) == before


async def test_an_endless_body_is_read_only_up_to_the_cap(exporter):
    async with raw_server(endless_body) as url:
        scrape = await exporter(shop(app_url=url))
        for _ in range(3):
            text = await scrape()
            assert value(text, "inventory_http_content_length_bytes", target="shop", path="/api/health") == 1 << 20
            assert value(text, "inventory_http_up", target="shop", path="/api/health") == 1


@pytest.mark.parametrize(
    "handler, status_code, up",
    [(502, 502, 1), (504, 504, 1), (close_without_answer, 0, 0)],
    ids=["502", "504", "444-close"],
)
async def test_a_failing_front_proxy_is_reported(exporter, handler, status_code, up):
    handler = await status(handler) if isinstance(handler, int) else handler
    async with raw_server(handler) as url:
        scrape = await exporter(shop(proxy_url=url + "/"))
        text = await scrape()
    assert value(text, "inventory_proxy_up", target="shop") == up
    assert value(text, "inventory_proxy_status_code", target="shop") == status_code
    assert value(text, "inventory_probe_success", target="shop", probe="proxy") == 0


@pytest.mark.parametrize("path, status_code, up", [("/502", 502, 1), ("/504", 504, 1), ("/444", 0, 0)])
async def test_a_real_nginx_answering_errors_or_closing_is_reported(exporter, tmp_path, path, status_code, up):
    port = free_port()
    extra = "location = /502 { return 502; } location = /504 { return 504; } location = /444 { return 444; }"
    nginx = Nginx(tmp_path / "nginx", port, free_port(), extra)
    try:
        scrape = await exporter(shop(proxy_url=f"http://127.0.0.1:{port}{path}"))
        text = await scrape()
    finally:
        nginx.stop()
    assert value(text, "inventory_proxy_up", target="shop") == up
    assert value(text, "inventory_proxy_status_code", target="shop") == status_code
    assert value(text, "inventory_probe_success", target="shop", probe="proxy") == 0


@pytest.mark.parametrize("behaviour", [DROP, SERVFAIL])
async def test_a_failing_dns_server_is_reported(exporter, responder, behaviour):
    responder.behaviour["smart-inventory.test"] = behaviour
    dns = DnsConfig(names=("smart-inventory.test",), resolvers=(responder.address,), timeout=1.0)
    scrape = await exporter(shop(), dns)
    text = await scrape()
    assert value(text, "inventory_dns_lookup_success", name="smart-inventory.test", resolver=responder.address) == 0
    assert value(text, "inventory_finding", check="dns_server_failing", severity="warning") == 1


def corrupt(db: Path) -> None:
    db.write_bytes(os.urandom(8192))


def truncate(db: Path) -> None:
    with open(db, "r+b") as handle:
        handle.truncate(1000)


@contextmanager
def locked(db: Path) -> Iterator[None]:
    with holding(db, "BEGIN EXCLUSIVE", "INSERT INTO Product (name) VALUES ('held')"):
        yield


@contextmanager
def changed(fn: Callable[[Path], None], db: Path) -> Iterator[None]:
    fn(db)
    yield


@pytest.mark.parametrize(
    "fault, reason",
    [
        (lambda db: locked(db), "locked"),
        (lambda db: changed(corrupt, db), "corrupt"),
        (lambda db: changed(truncate, db), "corrupt"),
        (lambda db: changed(Path.unlink, db), "not_found"),
    ],
    ids=["locked-by-writer", "corrupted", "truncated", "deleted"],
)
async def test_a_broken_database_is_db_up_0_and_nothing_is_written(exporter, project, fault, reason):
    db = project / "db/custom.db"
    scrape = await exporter(shop(project))
    with fault(db):
        before = tree_state(project)
        text = await scrape()
        assert tree_state(project) == before
    assert value(text, "inventory_db_up", target="shop") == 0
    assert value(text, "inventory_probe_failure_info", target="shop", probe="database", reason=reason) == 1
    assert not [p for p in project.rglob("*") if p.name.endswith(("-wal", "-shm", "-journal"))]


async def test_a_database_replaced_during_scrapes_never_breaks_a_scrape(exporter, project):
    db = project / "db/custom.db"
    spare = project.parent / "spare.db"
    shutil.copy(db, spare)
    stop = threading.Event()

    def replace_repeatedly() -> None:
        while not stop.is_set():
            shutil.copy(spare, project.parent / "next.db")
            os.replace(project.parent / "next.db", db)

    scrape = await exporter(shop(project))
    thread = threading.Thread(target=replace_repeatedly, daemon=True)
    thread.start()
    try:
        for _ in range(5):
            text = await scrape()
            assert value(text, "inventory_db_up", target="shop") in (0, 1)
    finally:
        stop.set()
        thread.join(5)


async def test_project_files_turned_into_links_out_of_the_project_are_not_followed(exporter, project, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "package.json").write_text('{"dependencies": {"@prisma/client": "1.0.0"}}')
    (outside / ".env").write_text("DATABASE_URL=file:/etc/passwd\nPORT=1\n")
    for name in ("package.json", ".env"):
        (project / name).unlink()
        (project / name).symlink_to(outside / name)
    shutil.rmtree(project / "prisma")
    before = tree_state(project)
    scrape = await exporter(shop(project))
    text = await scrape()
    assert value(text, "inventory_config_file_present", target="shop", file="package.json") == 0
    assert value(text, "inventory_env_var_present", target="shop", name="DATABASE_URL") == 0
    assert value(text, "inventory_db_file_exists", target="shop") == 0
    assert tree_state(project) == before


async def test_a_deleted_project_is_reported_not_fatal(exporter, project):
    scrape = await exporter(shop(project))
    shutil.rmtree(project)
    text = await scrape()
    assert value(text, "inventory_config_file_present", target="shop", file="package.json") == 0
    assert value(text, "inventory_db_file_exists", target="shop") == 0


@pytest.mark.parametrize("rotate", ["move", "truncate"])
async def test_a_rotated_or_truncated_app_log_keeps_being_read(exporter, project, rotate):
    log = project / "dev.log"
    log.write_text("ready on port 3001\nerror: boom\n")
    scrape = await exporter(shop(project, log_file=Path("dev.log")))
    assert value(await scrape(), "inventory_log_lines", target="shop", level="error") == 1
    if rotate == "move":
        os.rename(log, project / "dev.log.1")
    else:
        log.write_text("")
    with open(log, "a") as handle:
        handle.write("warn: slow\n")
    text = await scrape()
    assert value(text, "inventory_log_lines", target="shop", level="error") == 0
    assert value(text, "inventory_log_lines", target="shop", level="warn") == 1


NOBODY = 65534


def probe_as_nobody(target: Target, conn) -> None:
    """In a forked child: drop to an unprivileged user, run the target's probes, send the samples back."""
    from concurrent.futures import ThreadPoolExecutor

    from exporter.httpclient import make_session
    from exporter.probing import Deadline, ProbeContext
    from exporter.scrape import probe_target

    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)

    async def run() -> list:
        session = make_session()
        ctx = ProbeContext(session=session, executor=ThreadPoolExecutor(2), config=None)
        store: list = []
        await probe_target(target, ctx, store, Deadline(5))
        await session.close()
        return store

    conn.send(asyncio.run(run()))
    conn.close()


def test_unreadable_database_and_log_are_permission_denied_for_an_unprivileged_exporter():
    import multiprocessing
    import tempfile

    base = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        base.chmod(0o755)
        project = make_project(base / "project")
        (project / "dev.log").write_text("ok\n")
        for path in (project / "db/custom.db", project / "dev.log"):
            path.chmod(0o000)
        before = tree_state(project)
        context = multiprocessing.get_context("fork")
        parent, child = context.Pipe(duplex=False)
        process = context.Process(target=probe_as_nobody, args=(shop(project, log_file=Path("dev.log")), child))
        process.start()
        assert parent.poll(30), "the unprivileged probe did not answer"
        store = parent.recv()
        process.join(10)
        found = {(name, labels.get("probe"), labels.get("reason")): v for name, labels, v in store}
        assert found[("inventory_probe_failure_info", "database", "permission_denied")] == 1
        assert found[("inventory_probe_failure_info", "logs", "permission_denied")] == 1
        assert ("inventory_db_up", None, None) in found and found[("inventory_db_up", None, None)] == 0
        assert tree_state(project) == before
    finally:
        shutil.rmtree(base)


async def test_a_current_link_switched_to_a_new_release_is_followed_without_a_reload(exporter, tmp_path):
    from exporter.config import parse_config

    old = make_project(tmp_path / "releases/1", prisma="6.19.0", client="6.19.0")
    new = make_project(tmp_path / "releases/2", prisma="7.1.0", client="6.19.0")
    current = tmp_path / "current"
    current.symlink_to(old)
    target = parse_config(f"targets:\n  - name: shop\n    project_dir: {current}\n").targets[0]
    assert target.project_dir == current
    scrape = await exporter(target)
    assert value(await scrape(), "inventory_prisma_version_mismatch", target="shop") == 0
    current.unlink()
    current.symlink_to(new)
    assert value(await scrape(), "inventory_prisma_version_mismatch", target="shop") == 1
