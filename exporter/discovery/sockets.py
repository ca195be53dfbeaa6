"""Every listening TCP socket of the host (IPv4 and IPv6): port, address, uid, inode.

The kernel is asked for LISTEN sockets only over netlink (sock_diag, as ``ss -ltn`` does: the
answer grows with the listeners, not with the thousands of TIME_WAIT rows of a busy proxy), with
/proc/net/tcp{,6} as the fallback where netlink is refused or another /proc is read.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from pathlib import Path

from ..procnet import LISTEN, listen_dump, open_netlink

_MESSAGE = struct.Struct("=BBBB2s2s16s16s4x8x4x4x4xII")  # struct inet_diag_msg up to idiag_uid, idiag_inode


@dataclass(frozen=True)
class Socket:
    port: int
    address: str
    uid: int


def listening_sockets(proc_root: Path = Path("/proc")) -> dict[int, Socket]:
    """inode -> (port, address, uid) of every TCP socket in LISTEN state."""
    if proc_root == Path("/proc"):
        try:
            return netlink_sockets()
        except OSError:
            pass
    return proc_net_sockets(proc_root)


def netlink_sockets() -> dict[int, Socket]:
    found: dict[int, Socket] = {}
    with open_netlink() as sock:
        for data, message in listen_dump(sock, _MESSAGE.size):
            family, _, _, _, sport, _, src, _, uid, inode = _MESSAGE.unpack_from(data, message)
            size = 4 if family == socket.AF_INET else 16
            found[inode] = Socket(int.from_bytes(sport, "big"), socket.inet_ntop(family, src[:size]), uid)
    return found


def proc_net_sockets(proc_root: Path = Path("/proc")) -> dict[int, Socket]:
    found: dict[int, Socket] = {}
    for table, family in (("net/tcp", socket.AF_INET), ("net/tcp6", socket.AF_INET6)):
        try:
            with open(proc_root / table) as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    if len(fields) > 9 and fields[3] == LISTEN and fields[9] != "0":
                        address, _, port = fields[1].partition(":")
                        found[int(fields[9])] = Socket(int(port, 16), _address(address, family), int(fields[7]))
        except (OSError, ValueError):
            continue
    return found


def _address(hex_address: str, family: int) -> str:
    """/proc/net/tcp's address: 32-bit words in host order (little-endian here)."""
    raw = bytes.fromhex(hex_address)
    return socket.inet_ntop(family, b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)))
