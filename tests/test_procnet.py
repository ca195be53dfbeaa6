"""Which process listens on a port, read from the real /proc."""

from __future__ import annotations

import os
import socket
import sys

from exporter.procnet import PortOwners, listening_inodes, process_name
from tests.conftest import free_port
from tests.support.stack import Process


def test_a_port_nobody_listens_on_has_no_inode_and_no_owner():
    port = free_port()
    assert listening_inodes(port) == []
    assert PortOwners().owner(port) is None


def test_this_process_is_found_as_the_owner_of_its_listening_socket():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        owners = PortOwners()
        assert owners.owner(port) == (str(os.getpid()), process_name(os.getpid()))
        assert owners.known, "the inode's owner is remembered for the next scrape"
        assert owners.owner(port) == (str(os.getpid()), process_name(os.getpid()))


def test_an_ipv6_listener_is_found_too():
    with socket.socket(socket.AF_INET6) as sock:
        sock.bind(("::1", 0))
        sock.listen(1)
        assert PortOwners().owner(sock.getsockname()[1]) == (str(os.getpid()), process_name(os.getpid()))


def test_a_new_listener_on_the_same_port_is_seen_not_the_remembered_one():
    port = free_port()
    code = f"import socket,signal;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('127.0.0.1',{port}));s.listen(1);signal.pause()"
    owners = PortOwners(ttl=0)
    first = Process([sys.executable, "-c", code], port)
    try:
        assert owners.owner(port)[0] == str(first.proc.pid)
    finally:
        first.stop()
    second = Process([sys.executable, "-c", code], port)
    try:
        assert owners.owner(port)[0] == str(second.proc.pid)
    finally:
        second.stop()


def test_netlink_and_proc_net_tcp_agree_on_listening_sockets():
    from exporter.procnet import netlink_listening

    with socket.socket() as v4, socket.socket(socket.AF_INET6) as v6:
        v4.bind(("127.0.0.1", 0))
        v4.listen(1)
        v6.bind(("::1", 0))
        v6.listen(1)
        for port in (v4.getsockname()[1], v6.getsockname()[1]):
            assert netlink_listening(port) == listening_inodes(port) != []


def test_without_netlink_the_owner_comes_from_proc():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        owners = PortOwners(use_netlink=False)
        assert owners.owner(sock.getsockname()[1]) == (str(os.getpid()), process_name(os.getpid()))
        assert not owners.use_netlink
