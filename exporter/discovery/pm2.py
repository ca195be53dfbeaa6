"""pm2 processes that run a Next.js app, from each user's ``~/.pm2/dump.pm2`` (what ``pm2 save`` wrote).

The dump is a JSON list of processes (``name``, ``pm_cwd``, ``pm_exec_path``, ``exec_interpreter``,
``args``, ``env``); an entry counts when it runs next, npm, npx or node. Its port is the command
line's ``-p``/``--port``, else PORT from its env. pm2 itself is never run. A home whose dump cannot
be read (another user's, without root) is a DiscoveryError; a home without one is nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..parsers import load_json
from .commands import port_of, runs_node
from .model import DiscoveryError, ServiceUnit
from .reading import read_limited

DUMP = Path(".pm2/dump.pm2")
DUMP_LIMIT = 8 << 20  # a dump holds each process's whole environment
PASSWD_LIMIT = 1 << 20


def discover_pm2(homes: tuple[Path, ...] | None = None) -> tuple[list[ServiceUnit], list[DiscoveryError]]:
    units: list[ServiceUnit] = []
    errors: list[DiscoveryError] = []
    for home in default_homes() if homes is None else homes:
        dump = home / DUMP
        text, error = read_limited(dump, "pm2", limit=DUMP_LIMIT)
        if error is not None and error.reason != "not_found":
            errors.append(error)
        if text is None:
            continue
        try:
            entries = load_json(text)
        except ValueError:
            entries = None
        if not isinstance(entries, list):
            errors.append(DiscoveryError("pm2", "parse_error", str(dump)))
            continue
        units += [unit for entry in entries if (unit := pm2_unit(entry, dump)) is not None]
    return units, errors


def default_homes(passwd: Path = Path("/etc/passwd"), home_root: Path = Path("/home")) -> tuple[Path, ...]:
    """/root, every directory in /home, and every other home directory /etc/passwd names (once each)."""
    found = [Path("/root")]
    try:
        found += sorted(home_root / name for name in os.listdir(home_root))
    except OSError:
        pass
    text, _ = read_limited(passwd, "pm2", limit=PASSWD_LIMIT, follow=True)
    for line in (text or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 7 and fields[5].startswith("/") and fields[5] != "/":
            found.append(Path(fields[5]))
    unique = dict.fromkeys(home for home in found if os.path.isdir(home))
    return tuple(unique)


def pm2_unit(entry: Any, dump: Path) -> ServiceUnit | None:
    """The entry as a ServiceUnit when it runs next/npm/node in an absolute directory."""
    if not isinstance(entry, dict):
        return None
    name, cwd = entry.get("name"), entry.get("pm_cwd") or entry.get("cwd")
    if not isinstance(name, str) or not isinstance(cwd, str) or not cwd.startswith("/"):
        return None
    args = _args(entry.get("args"))
    command = [_text(entry.get("pm_exec_path")), _text(entry.get("exec_interpreter")), *args]
    if not runs_node(command):
        return None
    env = entry.get("env") if isinstance(entry.get("env"), dict) else {}
    port = env.get("PORT", entry.get("PORT"))
    return ServiceUnit(kind="pm2", name=name, working_directory=Path(cwd),
                       port=port_of(args, str(port) if isinstance(port, (str, int)) else None), source=str(dump))


def _args(value: Any) -> list[str]:
    """pm2 keeps ``args`` as a list, or as the string given to ``pm2 start -- ...``."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
