"""Which process listens on a TCP port: cheap enough for every scrape.

``psutil.net_connections`` walks every file descriptor of every process on each call, and
/proc/net/tcp lists every socket of the host, TIME_WAIT included (thousands on a busy proxy host,
~5 µs each). Here the kernel is asked for LISTEN sockets only, over netlink (sock_diag, as
``ss -ltn`` does), with /proc/net/tcp as the fallback where netlink is not allowed. The inode's
owner is remembered: while the same inode is listening and its process is alive, the answer stands;
only a new inode (the app restarted, another process took the port) pays the walk
over /proc.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from pathlib import Path

LISTEN = "0A"
TCP_LISTEN = 10
NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST_DUMP = 0x301
NLMSG_ERROR, NLMSG_DONE = 2, 3
_HEADER = struct.Struct("=LHHLL")
_REQUEST = struct.Struct("=BBBxI48x")


def netlink_listening(port: int, sock: socket.socket | None = None) -> list[int]:
    """Inodes of LISTEN sockets on ``port`` from the kernel's sock_diag; OSError if netlink is refused.

    ``sock`` is an open NETLINK_SOCK_DIAG socket to reuse (creating one per call costs more than the query)."""
    if sock is None:
        with open_netlink() as own:
            return netlink_listening(port, own)
    inodes = []
    for data, message in listen_dump(sock):
        if int.from_bytes(data[message + 4:message + 6], "big") == port:
            inodes.append(struct.unpack_from("=I", data, message + 68)[0])
    return inodes


def open_netlink() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    sock.settimeout(1.0)
    return sock


def listen_dump(sock: socket.socket, min_length: int = 0):
    """(buffer, offset) of each ``struct inet_diag_msg`` sock_diag answers for the TCP LISTEN sockets,
    IPv4 then IPv6; OSError on an error message or one shorter than ``min_length`` bytes."""
    for family in (socket.AF_INET, socket.AF_INET6):
        body = _REQUEST.pack(family, socket.IPPROTO_TCP, 0, 1 << TCP_LISTEN)
        sock.send(_HEADER.pack(_HEADER.size + len(body), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST_DUMP, family, 0) + body)
        yield from _dump_messages(sock, min_length)


def _dump_messages(sock: socket.socket, min_length: int):
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, kind, _, _, _ = _HEADER.unpack_from(data, offset)
            if kind == NLMSG_DONE:
                return
            if kind == NLMSG_ERROR or length < _HEADER.size + min_length:
                raise OSError("sock_diag answered with an error")
            yield data, offset + _HEADER.size
            offset += (length + 3) & ~3


def listening_inodes(port: int, proc: Path = Path("/proc")) -> list[int]:
    """Inodes of the sockets in LISTEN state on ``port`` (IPv4 and IPv6), from /proc/net/tcp{,6}."""
    wanted = f":{port:04X}"
    inodes = []
    for table in ("net/tcp", "net/tcp6"):
        try:
            with open(proc / table) as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    if len(fields) > 9 and fields[3] == LISTEN and fields[1].endswith(wanted):
                        inodes.append(int(fields[9]))
        except OSError:
            continue
    return inodes


def _holds(pid: int, inode: int, proc: Path) -> bool:
    target = f"socket:[{inode}]"
    try:
        fds = os.listdir(proc / str(pid) / "fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(proc / str(pid) / "fd" / fd) == target:
                return True
        except OSError:
            continue
    return False


def _find_pid(inode: int, proc: Path) -> int | None:
    for entry in os.scandir(proc):
        if entry.name.isdigit() and _holds(int(entry.name), inode, proc):
            return int(entry.name)
    return None


COMM_LENGTH = 15  # the kernel cuts /proc/PID/comm to 15 characters


def display_name(comm: str, argv0: str) -> str:
    """The name as ps and psutil show it: comm, or the command line's first word when comm is that
    word cut at 15 characters (a title such as Next's "next-server (v15.5.0)")."""
    return argv0 if len(comm) >= COMM_LENGTH and argv0.startswith(comm) else comm


def process_name(pid: int, proc: Path = Path("/proc")) -> str:
    try:
        comm = (proc / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""
    if len(comm) < COMM_LENGTH:
        return comm
    try:
        with open(proc / str(pid) / "cmdline", "rb") as handle:
            first = handle.read(4096).split(b"\0", 1)[0].decode("utf-8", "replace")
    except OSError:
        return comm
    return display_name(comm, first)


class PortOwners:
    """Remembers inode -> pid so a steady listener costs two small reads per scrape."""

    def __init__(self, proc: Path = Path("/proc"), use_netlink: bool = True, ttl: float = 0.5):
        self.proc = proc
        self.ttl = ttl  # targets sharing a port within one scrape share one lookup
        self._recent: dict[int, tuple[float, tuple[str, str] | None]] = {}
        self.known: dict[int, int] = {}
        self.use_netlink = use_netlink and proc == Path("/proc")
        self._netlink: socket.socket | None = None
        self._lock = threading.Lock()  # one dump at a time on the shared netlink socket

    def inodes(self, port: int) -> list[int]:
        if self.use_netlink:
            with self._lock:
                try:
                    if self._netlink is None:
                        self._netlink = open_netlink()
                    return netlink_listening(port, self._netlink)
                except OSError:
                    self.close()
                    self.use_netlink = self._netlink_works()
                    if self.use_netlink:
                        return netlink_listening(port)
        return listening_inodes(port, self.proc)

    @staticmethod
    def _netlink_works() -> bool:
        """After an error on the shared socket: is netlink usable at all (else /proc from now on)?"""
        try:
            netlink_listening(0)
            return True
        except OSError:
            return False

    def close(self) -> None:
        if self._netlink is not None:
            self._netlink.close()
            self._netlink = None

    def recent(self, port: int) -> tuple[bool, tuple[str, str] | None]:
        """(True, owner) if ``port`` was looked up less than ``ttl`` ago: no I/O, safe on the event loop."""
        recent = self._recent.get(port)
        if recent is not None and time.monotonic() - recent[0] < self.ttl:
            return True, recent[1]
        return False, None

    def owner(self, port: int) -> tuple[str, str] | None:
        """(pid, process name) listening on ``port``; ('', '') if not visible; None if nothing listens."""
        now = time.monotonic()
        fresh, owner = self.recent(port)
        if fresh:
            return owner
        if len(self._recent) > 4096:
            self._recent.clear()
        result = self._recent[port] = (now, self._lookup(port))
        return result[1]

    def _lookup(self, port: int) -> tuple[str, str] | None:
        inodes = self.inodes(port)
        if not inodes:
            return None
        for inode in inodes:
            pid = self.known.get(inode)
            # The same socket inode, and its process still there: the same owner (no fd walk).
            if pid is not None and (self.proc / str(pid)).exists():
                return str(pid), process_name(pid, self.proc)
        for inode in inodes:
            pid = _find_pid(inode, self.proc)
            if pid is not None:
                if len(self.known) > 4096:
                    self.known.clear()
                self.known[inode] = pid
                return str(pid), process_name(pid, self.proc)
        return "", ""
