"""Is the app listening on its port, and which process holds it?

The incident's root cause: nothing listened on 3001, so nginx answered 502.
"""

from __future__ import annotations

import asyncio
import ipaddress
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
        await asyncio.wait_for(connect(target.app_host, target.app_port), timeout=deadline.remaining())
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


async def connect(host: str, port: int) -> None:
    """Open and close one TCP connection (a bare socket: no stream objects to build)."""
    loop = asyncio.get_running_loop()
    family, address = ip_address_of(host, port)
    if family is None:  # a name: resolve it (in a thread, as asyncio does)
        family, _, _, _, address = (await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, address)
        # Close with a reset, as HAProxy's health checks do: no TIME_WAIT socket per probe on this
        # host (thousands of them slow every later connect()).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
    finally:
        sock.close()


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
