"""Processes that look like a Next.js server to /proc: a real listening socket, the process title
Next sets (``next-server (v15.5.0)``: cmdline and comm, as Node does), argv like ``next dev -p N``,
and the process trees npm and ``next start`` make (the listener is a child).

Run as a script it is configured by environment (argv is only what ps shows):
  NL_PORT, NL_ADDRS ("127.0.0.1,::1"), NL_TITLE (the listener's title),
  NL_CHILD ("spawn": a child binds; "inherit": this process binds, the child gets the socket),
  NL_PARENT_TITLE (this process's title when it has a child), NL_CHILD_ARGV0 (the child's program).
It prints "ready <pid of the listener>" once listening, then waits to be terminated.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

PR_SET_NAME = 15


def set_title(title: str) -> None:
    """As Node's process.title: the command line and /proc/self/comm (cut to 15 characters)."""
    import setproctitle

    setproctitle.setproctitle(title)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NAME, title.encode()[:15], 0, 0, 0)


def bind(port: int, addresses: list[str]) -> list[socket.socket]:
    sockets = []
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address, port))
        sock.listen(8)
        sockets.append(sock)
    return sockets


def main() -> None:
    port = int(os.environ["NL_PORT"])
    addresses = [address for address in os.environ["NL_ADDRS"].split(",") if address]
    child_mode = os.environ.pop("NL_CHILD", "")
    if not child_mode:
        if os.environ.get("NL_TITLE"):
            set_title(os.environ["NL_TITLE"])
        held = bind(port, addresses) + [socket.socket(fileno=int(fd)) for fd in _inherited()]
        print(f"ready {os.getpid()}", flush=True)
        signal.pause()
        del held
        return
    if os.environ.get("NL_PARENT_TITLE"):
        set_title(os.environ["NL_PARENT_TITLE"])
    argv = [os.environ.get("NL_CHILD_ARGV0", sys.executable), __file__]
    if child_mode == "inherit":
        held = bind(port, addresses)  # the parent keeps them open too, as a forked server does
        os.environ["NL_ADDRS"], os.environ["NL_FDS"] = "", ",".join(str(s.fileno()) for s in held)
        child = subprocess.Popen(argv, pass_fds=[s.fileno() for s in held])
    else:
        child = subprocess.Popen(argv)
    signal.signal(signal.SIGTERM, lambda *_: (child.terminate(), child.wait(), sys.exit(0)))
    signal.pause()


def _inherited() -> list[str]:
    return [fd for fd in os.environ.get("NL_FDS", "").split(",") if fd]


class NextLike:
    """The process tree started from ``argv`` (a session of its own), stopped by its group id."""

    def __init__(self, argv: list[str], cwd: Path, port: int, addresses: tuple[str, ...] = ("127.0.0.1",),
                 **env: str):
        environ = {**os.environ, "NL_PORT": str(port), "NL_ADDRS": ",".join(addresses),
                   **{f"NL_{key.upper()}": value for key, value in env.items()}}
        self.proc = subprocess.Popen(argv, cwd=cwd, env=environ, stdout=subprocess.PIPE, start_new_session=True)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("ready "):
            self.stop()
            raise AssertionError(f"{argv} did not listen on {port}: {line!r}")
        self.pid = self.proc.pid  # the process started
        self.listener = int(line.split()[1])  # the process that holds the socket

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc.stdout.close()


if __name__ == "__main__":
    main()
