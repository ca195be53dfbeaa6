"""Is the app listening on its port, and which process holds it?

The incident's root cause: nothing listened on 3001, so nginx answered 502.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import select
import socket
import struct
import time
from pathlib import Path

import psutil

from exporter.config import Target
from exporter.metrics import Samples
from exporter.procnet import PortOwners
from exporter.probing import Deadline, Outcome, ProbeContext, classify_os_error


PROC_NET_TCP = Path("/proc/net/tcp")
LINGER_RESET = struct.pack("ii", 1, 0)


async def probe_port(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    port = str(target.app_port)
    started = time.perf_counter()
    try:
        await connect(target.app_host, target.app_port, deadline)
    except (OSError, asyncio.TimeoutError) as exc:
        out.add("inventory_app_port_listening", 0, port=port)
        return Outcome.fail(classify_os_error(exc), f"{target.app_host}:{port}: {exc!r}")
    out.add("inventory_app_port_connect_seconds", time.perf_counter() - started, port=port)
    out.add("inventory_app_port_listening", 1, port=port)
    fresh, owner = ctx.port_owners.recent(target.app_port)
    if not fresh:
        try:
            owner = await ctx.blocking(deadline, listening_owner, target.app_port, ctx.port_owners)
        except asyncio.TimeoutError:
            return Outcome.fail("timeout", f"port {port}: owner lookup did not finish before the deadline")
    if owner is None:
        return Outcome.success()
    pid, process = owner
    out.add("inventory_app_port_owner_info", 1, port=port, pid=pid, process=process)
    conflict = bool(process) and not is_app_process(process, target.app_process_names)
    out.add("inventory_app_port_conflict", int(conflict), port=port)
    if conflict:
        return Outcome.fail("conflict", f"port {port} held by {process} (pid {pid})")
    return Outcome.success()


def is_app_process(process: str, names: tuple[str, ...]) -> bool:
    return any(process == name or process.startswith(name) for name in names)


async def connect(host: str, port: int, deadline: Deadline) -> None:
    """Open and close one TCP connection before ``deadline`` (TimeoutError after it).

    A bare non-blocking socket: on loopback the handshake has usually finished by the time
    ``connect()`` returns, so a zero-timeout poll() settles it without a round through the event
    loop (a quarter of the CPU of ``loop.sock_connect``); otherwise the loop waits for it.
    """
    if deadline.expired:
        raise TimeoutError("no time left to connect")
    family, address = ip_address_of(host, port)
    if family is None:  # a name: resolve it (in a thread, as asyncio does)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(deadline.remaining()):
            family, _, _, _, address = (await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        error = sock.connect_ex(address)
        if error == errno.EINPROGRESS:
            error = await connected(sock, deadline)
        if error:
            raise OSError(error, os.strerror(error))
        # Close with a reset, as HAProxy's health checks do: no TIME_WAIT socket per probe on this
        # host (thousands of them slow every later connect()).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
    finally:
        sock.close()


async def connected(sock: socket.socket, deadline: Deadline) -> int:
    """Wait until the connect in progress on ``sock`` settles; its errno (0 = connected)."""
    poller = select.poll()
    poller.register(sock, select.POLLOUT)
    if not poller.poll(0):
        loop = asyncio.get_running_loop()
        writable = loop.create_future()
        loop.add_writer(sock.fileno(), lambda: writable.done() or writable.set_result(None))
        try:
            async with asyncio.timeout(deadline.remaining()):
                await writable
        finally:
            loop.remove_writer(sock.fileno())
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


def ip_address_of(host: str, port: int) -> tuple[socket.AddressFamily | None, tuple]:
    """(family, address) for an IP literal, with no resolver round trip; (None, ()) for a name."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None, ()
    return (socket.AF_INET6, (host, port, 0, 0)) if ip.version == 6 else (socket.AF_INET, (host, port))


def listening_owner(port: int, owners: PortOwners | None = None) -> tuple[str, str] | None:
    """(pid, process name) of the socket listening on ``port``; ('', '') when not visible to us."""
    if owners is not None and PROC_NET_TCP.exists():
        return owners.owner(port)
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return ("", "")
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return (str(conn.pid), process_name(conn.pid)) if conn.pid else ("", "")
    return None


def process_name(pid: int) -> str:
    try:
        return psutil.Process(pid).name()
    except (psutil.Error, OSError):
        return ""
