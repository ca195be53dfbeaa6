"""Which process listens on a TCP port, from /proc: cheap enough for every scrape.

``psutil.net_connections`` walks every file descriptor of every process on each call. Here the
listening socket's inode comes from /proc/net/tcp{,6} (one small read), and the inode's owner is
remembered: while the same inode is still among the remembered pid's descriptors, the answer
stands; only a new inode (the app restarted, another process took the port) pays the full walk.
"""

from __future__ import annotations

import os
from pathlib import Path

LISTEN = "0A"


def listening_inodes(port: int, proc: Path = Path("/proc")) -> list[int]:
    """Inodes of the sockets in LISTEN state on ``port`` (IPv4 and IPv6)."""
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


def process_name(pid: int, proc: Path = Path("/proc")) -> str:
    try:
        return (proc / str(pid) / "comm").read_text().strip()
    except OSError:
        return ""


class PortOwners:
    """Remembers inode -> pid so a steady listener costs two small reads per scrape."""

    def __init__(self, proc: Path = Path("/proc")):
        self.proc = proc
        self.known: dict[int, int] = {}

    def owner(self, port: int) -> tuple[str, str] | None:
        """(pid, process name) listening on ``port``; ('', '') if not visible; None if nothing listens."""
        inodes = listening_inodes(port, self.proc)
        if not inodes:
            return None
        for inode in inodes:
            pid = self.known.get(inode)
            if pid is not None and _holds(pid, inode, self.proc):
                return str(pid), process_name(pid, self.proc)
        for inode in inodes:
            pid = _find_pid(inode, self.proc)
            if pid is not None:
                if len(self.known) > 4096:
                    self.known.clear()
                self.known[inode] = pid
                return str(pid), process_name(pid, self.proc)
        return "", ""
