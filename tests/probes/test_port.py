"""probe_port against real sockets on 127.0.0.1: closed ports, our own listeners, a listener held
by a child process, listeners that never answer, and deadlines that run out."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from exporter.probes.port import probe_port
from exporter.probing import Deadline
from tests.conftest import deadline, free_port, target
from tests.support.servers import full_backlog_url

SHORT = 0.25  # the deadline of tests whose point is that a hang is cut off
SLACK = 1.0  # generous: the probe must finish before the deadline plus this

THIS_PROCESS = psutil.Process().name()


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def listener(backlog: int = 16):
    """A TCP socket of this process in LISTEN state on 127.0.0.1 that never accepts or answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(backlog)
        yield sock, sock.getsockname()[1]
    finally:
        sock.close()


@contextlib.contextmanager
def full_backlog_listener():
    """A listener whose accept queue is full, so a further connect() gets no answer at all; yields its port."""
    with full_backlog_url() as url:
        yield int(url.rsplit(":", 1)[1])


@contextlib.asynccontextmanager
async def accepting_silent_server():
    """An asyncio server that accepts every connection and then never says a word."""
    tasks: set[asyncio.Task] = set()
    accepted = asyncio.Event()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks.add(asyncio.current_task())
        accepted.set()
        try:
            await reader.read()  # until the client hangs up
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], accepted
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
        await server.wait_closed()


CHILD_LISTENER = """
import socket, sys
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
sock.listen(16)
print(sock.getsockname()[1], flush=True)
sys.stdin.read()  # hold the port until the parent closes our stdin
"""


@contextlib.asynccontextmanager
async def child_listener():
    """A separate Python process holding a loopback port in LISTEN state."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD_LISTENER, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        yield proc.pid, int(line)
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 5)
        except asyncio.TimeoutError:
            proc.kill()
            await asyncio.wait_for(proc.wait(), 5)


# --- nothing listening --------------------------------------------------------------------------


async def test_closed_port_is_reported_as_connection_refused(ctx, out):
    port = free_port()
    outcome = await probe_port(target(app_url=url(port)), ctx, out, deadline())
    assert not outcome.ok
    assert outcome.reason == "connection_refused"
    assert str(port) in outcome.detail
    assert out.value("inventory_app_port_listening", target="t", port=str(port)) == 0
    assert out.value("inventory_app_port_connect_seconds") is None
    assert out.value("inventory_app_port_owner_info") is None
    assert out.value("inventory_app_port_conflict") is None


async def test_a_port_that_was_closed_after_listening_is_refused_again(ctx, out):
    with listener() as (_, port):
        pass
    outcome = await probe_port(target(app_url=url(port)), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "connection_refused")
    assert out.value("inventory_app_port_listening", port=str(port)) == 0


# --- a listener owned by this process ------------------------------------------------------------


async def test_listening_socket_of_this_process_is_listening_with_its_pid_and_process_name(ctx, out):
    with listener() as (_, port):
        outcome = await probe_port(target(app_url=url(port), app_process_names=(THIS_PROCESS,)), ctx, out, deadline())
    assert outcome.ok, outcome
    assert outcome.reason is None
    assert out.value("inventory_app_port_listening", target="t", port=str(port)) == 1
    connect = out.value("inventory_app_port_connect_seconds", port=str(port))
    assert connect is not None and 0 <= connect < 5
    owners = list(out.matching("inventory_app_port_owner_info", port=str(port)))
    assert owners == [({"target": "t", "port": str(port), "pid": str(os.getpid()), "process": THIS_PROCESS}, 1.0)]
    assert out.value("inventory_app_port_conflict", port=str(port)) == 0


@pytest.mark.parametrize(
    ("app_process_names", "conflict"),
    [
        pytest.param(("node", "next-server", "npm"), 1, id="default-names-without-python"),
        pytest.param(("node",), 1, id="only-node"),
        pytest.param((THIS_PROCESS + "-other",), 1, id="a-longer-name-is-not-a-match"),
        pytest.param((THIS_PROCESS,), 0, id="exact-name"),
        pytest.param(("node", THIS_PROCESS), 0, id="name-among-others"),
        pytest.param((THIS_PROCESS[:2],), 0, id="name-prefix"),
    ],
)
async def test_port_held_by_a_process_not_in_app_process_names_is_a_conflict(ctx, out, app_process_names, conflict):
    with listener() as (_, port):
        outcome = await probe_port(
            target(app_url=url(port), app_process_names=app_process_names), ctx, out, deadline()
        )
    assert out.value("inventory_app_port_listening", port=str(port)) == 1
    assert out.value("inventory_app_port_owner_info", port=str(port), pid=str(os.getpid()), process=THIS_PROCESS) == 1
    assert out.value("inventory_app_port_conflict", port=str(port)) == conflict
    if conflict:
        assert (outcome.ok, outcome.reason) == (False, "conflict")
        assert THIS_PROCESS in outcome.detail and str(os.getpid()) in outcome.detail
    else:
        assert (outcome.ok, outcome.reason) == (True, None)


async def test_port_held_by_another_process_reports_that_process_pid(ctx, out):
    async with child_listener() as (pid, port):
        child_name = psutil.Process(pid).name()
        outcome = await probe_port(target(app_url=url(port)), ctx, out, deadline())
    assert out.value("inventory_app_port_listening", port=str(port)) == 1
    owners = list(out.matching("inventory_app_port_owner_info", port=str(port)))
    assert [labels["pid"] for labels, _ in owners] == [str(pid)]
    assert owners[0][0]["process"] == child_name
    assert pid != os.getpid()
    # The default app_process_names (node, next-server, npm) do not include python.
    assert out.value("inventory_app_port_conflict", port=str(port)) == 1
    assert (outcome.ok, outcome.reason) == (False, "conflict")


# --- listeners that never answer -----------------------------------------------------------------


async def test_socket_that_is_never_accepted_still_counts_as_listening(ctx, out):
    with listener() as (_, port):
        outcome = await probe_port(target(app_url=url(port), app_process_names=(THIS_PROCESS,)), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_app_port_listening", port=str(port)) == 1


async def test_socket_that_accepts_and_never_answers_still_counts_as_listening(ctx, out):
    async with accepting_silent_server() as (port, accepted):
        outcome = await probe_port(target(app_url=url(port), app_process_names=(THIS_PROCESS,)), ctx, out, deadline())
        await asyncio.wait_for(accepted.wait(), 5)
    assert outcome.ok, outcome
    assert out.value("inventory_app_port_listening", port=str(port)) == 1
    assert out.value("inventory_app_port_owner_info", pid=str(os.getpid()), process=THIS_PROCESS) == 1
    assert out.value("inventory_app_port_conflict", port=str(port)) == 0


# --- deadlines ------------------------------------------------------------------------------------


async def test_connect_that_gets_no_answer_is_cut_off_as_timeout_at_the_deadline(ctx, out):
    with full_backlog_listener() as port:
        started = time.monotonic()
        outcome = await asyncio.wait_for(probe_port(target(app_url=url(port)), ctx, out, Deadline(SHORT)), SHORT + 5)
        elapsed = time.monotonic() - started
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert out.value("inventory_app_port_listening", port=str(port)) == 0
    assert out.value("inventory_app_port_connect_seconds") is None
    assert elapsed < SHORT + SLACK


@pytest.mark.parametrize("seconds", [0.0, -1.0], ids=["zero", "negative"])
async def test_an_expired_deadline_fails_at_once_as_timeout_even_on_a_listening_port(ctx, out, seconds):
    with listener() as (_, port):
        started = time.monotonic()
        outcome = await asyncio.wait_for(probe_port(target(app_url=url(port)), ctx, out, Deadline(seconds)), 5)
        elapsed = time.monotonic() - started
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert out.value("inventory_app_port_listening", port=str(port)) == 0
    assert elapsed < SLACK


@pytest.mark.parametrize("seconds", [0.001, 0.01, 0.05])
async def test_a_very_short_deadline_never_hangs_and_always_reports_listening(ctx, out, seconds):
    with full_backlog_listener() as port:
        started = time.monotonic()
        outcome = await asyncio.wait_for(probe_port(target(app_url=url(port)), ctx, out, Deadline(seconds)), 5)
        elapsed = time.monotonic() - started
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert [value for _, value in out.matching("inventory_app_port_listening", port=str(port))] == [0]
    assert elapsed < seconds + SLACK


async def test_owner_lookup_stuck_behind_a_busy_thread_pool_ends_as_timeout_at_the_deadline(ctx, out):
    """The port answers, but the blocking owner lookup cannot start before the deadline."""
    gate = threading.Event()
    executor = ThreadPoolExecutor(max_workers=1)
    busy = executor.submit(gate.wait, 10)
    try:
        with listener() as (_, port):
            started = time.monotonic()
            busy_ctx = dataclasses.replace(ctx, executor=executor)
            probe = probe_port(target(app_url=url(port)), busy_ctx, out, Deadline(SHORT))
            outcome = await asyncio.wait_for(probe, SHORT + 5)
            elapsed = time.monotonic() - started
    finally:
        gate.set()
        busy.result(timeout=5)
        executor.shutdown(wait=True)
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert out.value("inventory_app_port_listening", port=str(port)) == 1
    assert out.value("inventory_app_port_owner_info") is None
    assert out.value("inventory_app_port_conflict") is None
    assert elapsed < SHORT + SLACK
