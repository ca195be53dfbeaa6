"""The host's listening sockets over netlink and from /proc/net agree, with address, port and uid."""

from __future__ import annotations

import os
import socket

from exporter.discovery.sockets import Socket, netlink_sockets, proc_net_sockets
from tests.conftest import free_port
from tests.support.next_like import bind


def inode(sock: socket.socket) -> int:
    return os.fstat(sock.fileno()).st_ino


def test_netlink_and_proc_net_list_the_same_listeners():
    port, wild = free_port(), free_port()
    held = bind(port, ["127.0.0.1", "::1"]) + bind(wild, ["0.0.0.0", "::"])
    connected = socket.create_connection(("127.0.0.1", port))  # an established pair: not listed
    try:
        expected = {inode(s): Socket(s.getsockname()[1], s.getsockname()[0], os.getuid()) for s in held}
        from_netlink, from_proc = netlink_sockets(), proc_net_sockets()
        for found in (from_netlink, from_proc):  # only ours compared: other listeners come and go meanwhile
            assert {key: value for key, value in found.items() if key in expected} == expected
            assert inode(connected) not in found
    finally:
        connected.close()
        for sock in held:
            sock.close()
