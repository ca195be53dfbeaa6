"""Reading a command line the way discovery needs: does it run next/npm/node, which port does it name."""

from __future__ import annotations

import os

RUNNERS = frozenset({"node", "nodejs", "npm", "npx", "next", "next-server"})


def words(argv: list[str]) -> list[str]:
    """The command line as words (a process title or ``sh -c "..."`` is one string with spaces)."""
    return [word for arg in argv for word in arg.split()]


def runs_node(argv: list[str]) -> bool:
    """Whether one of the words is a program next, npm, npx or node (by its base name)."""
    return any(os.path.basename(word) in RUNNERS for word in words(argv))


def port_flags(argv: list[str]) -> set[int]:
    """Ports named by ``-p N``, ``--port N`` or ``--port=N``."""
    found = words(argv)
    ports = set()
    for i, arg in enumerate(found):
        value = found[i + 1] if arg in ("-p", "--port") and i + 1 < len(found) else None
        if arg.startswith("--port="):
            value = arg[7:]
        if value:
            ports.add(value)
    return {int(value) for value in ports if value.isdigit() and 0 < int(value) < 65536}


def port_of(argv: list[str], env_port: str | None) -> int | None:
    """The port the command listens on: its flag first (next's -p wins over PORT), else PORT."""
    flags = port_flags(argv)
    if flags:
        return min(flags)
    env_port = (env_port or "").strip()
    return int(env_port) if env_port.isdigit() and 0 < int(env_port) < 65536 else None
