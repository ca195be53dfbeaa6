"""systemd services that run a Next.js app: unit files read from disk, systemctl never run.

The unit directories are searched in systemd's order (/etc before /run before /lib): a unit found
twice under one name, or through a ``*.wants/`` link to a file already read, is read once; a unit
masked by a link to /dev/null is skipped. Drop-ins (``NAME.service.d/*.conf``) are applied in
file-name order. A unit counts when its ``ExecStart`` runs next, npm, npx or node; its directory is
``WorkingDirectory`` (else the directory holding ``node_modules`` on the command line) and its port
the command line's ``-p``/``--port``, else PORT from ``EnvironmentFile=`` (which overrides
``Environment=``, as in systemd), else PORT from ``Environment=``.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from ..parsers import parse_env
from .commands import port_of, runs_node
from .model import DiscoveryError, ServiceUnit
from .reading import read_limited

DEFAULT_UNIT_PATHS = (Path("/etc/systemd/system"), Path("/run/systemd/system"), Path("/lib/systemd/system"),
                      Path("/usr/lib/systemd/system"))
MAX_UNITS = 4096  # unit files read in one run, at most
Entries = list[tuple[str, str, str]]  # (section, key, value) in file order


def discover_units(search_path: tuple[Path, ...] = DEFAULT_UNIT_PATHS) -> tuple[list[ServiceUnit], list[DiscoveryError]]:
    errors: list[DiscoveryError] = []
    units = []
    for name, path in unit_files(search_path, errors):
        entries = _read_entries(path, errors)
        if entries is None:
            continue
        for drop_in in _drop_ins(name, search_path, errors):
            entries += _read_entries(drop_in, errors) or []
        unit = service_unit(name, path, entries, errors)
        if unit is not None:
            units.append(unit)
    return units, errors


def unit_files(search_path: tuple[Path, ...], errors: list[DiscoveryError]) -> list[tuple[str, Path]]:
    """(unit name, resolved file) of every *.service, first name and first resolved file winning."""
    names: set[str] = set()
    files: set[str] = set()
    found = []
    for directory in search_path:
        for entry in _service_entries(directory, errors):
            resolved = os.path.realpath(entry)
            if entry.name in names or resolved in files or resolved == os.devnull:
                names.add(entry.name)  # masked or overridden: the name is taken either way
                continue
            names.add(entry.name)
            files.add(resolved)
            found.append((entry.name, Path(resolved)))
            if len(found) >= MAX_UNITS:
                return found
    return found


def _service_entries(directory: Path, errors: list[DiscoveryError]) -> list[Path]:
    """directory/*.service, then directory/*.wants/*.service (sorted, for a stable order)."""
    entries = _listing(directory, errors)
    wants = [directory / name for name in entries if name.endswith((".wants", ".requires"))]
    found = [directory / name for name in entries if name.endswith(".service")]
    for sub in wants:
        found += [sub / name for name in _listing(sub, errors) if name.endswith(".service")]
    return found


def _listing(directory: Path, errors: list[DiscoveryError]) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except PermissionError:
        errors.append(DiscoveryError("systemd", "permission_denied", str(directory)))
    except OSError:
        pass  # absent, or not a directory: nothing there
    return []


def _drop_ins(name: str, search_path: tuple[Path, ...], errors: list[DiscoveryError]) -> list[Path]:
    """NAME.d/*.conf over the search path, by file name; the first directory wins a name."""
    chosen: dict[str, Path] = {}
    for directory in search_path:
        for conf in _listing(directory / f"{name}.d", errors):
            if conf.endswith(".conf"):
                chosen.setdefault(conf, directory / f"{name}.d" / conf)
    return [Path(os.path.realpath(chosen[conf])) for conf in sorted(chosen)]


def _read_entries(path: Path, errors: list[DiscoveryError]) -> Entries | None:
    text, error = read_limited(path, "systemd", follow=True)
    if error is not None:
        errors.append(error)
    return None if text is None else parse_unit(text)


def parse_unit(text: str) -> Entries:
    """The assignments of a unit file: comments (#, ;) skipped, a line ending in \\ continued."""
    entries: Entries = []
    section, pending = "", ""
    for raw in text.splitlines():
        line = (pending + " " + raw.strip()) if pending else raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        key, eq, value = line.partition("=")
        if eq:
            entries.append((section, key.strip(), value.strip()))
    if pending:
        key, eq, value = pending.partition("=")
        if eq:
            entries.append((section, key.strip(), value.strip()))
    return entries


def service_unit(name: str, path: Path, entries: Entries, errors: list[DiscoveryError]) -> ServiceUnit | None:
    """The unit, when its ExecStart runs next/npm/node in a known directory."""
    service = _service_settings(entries)
    try:
        argv = [word for line in service.get("ExecStart", []) for word in shlex.split(line.lstrip("@-:+!"))]
        environment = [word for line in service.get("Environment", []) for word in shlex.split(line)]
    except ValueError:
        errors.append(DiscoveryError("systemd", "parse_error", str(path)))
        return None
    if not runs_node(argv):
        return None
    directory = _working_directory(service.get("WorkingDirectory", []), argv)
    if directory is None:
        return None
    env = dict(word.partition("=")[::2] for word in environment if "=" in word)
    for env_file in service.get("EnvironmentFile", []):
        env.update(_environment_file(env_file, errors))
    return ServiceUnit(kind="systemd", name=name, working_directory=directory,
                       port=port_of(argv, env.get("PORT")), source=str(path))


def _service_settings(entries: Entries) -> dict[str, list[str]]:
    """The [Service] keys, each a list in order; an empty assignment resets a list, as systemd does."""
    settings: dict[str, list[str]] = {}
    for section, key, value in entries:
        if section != "Service":
            continue
        if not value:
            settings[key] = []
        else:
            settings.setdefault(key, []).append(value)
    return settings


def _working_directory(values: list[str], argv: list[str]) -> Path | None:
    """The last WorkingDirectory (absolute, "-" stripped), else the directory above node_modules."""
    value = values[-1].lstrip("-") if values else ""
    if value.startswith("/"):
        return Path(value)
    for word in argv:
        head, sep, _ = word.partition("/node_modules/")
        if sep and head.startswith("/"):
            return Path(head)
    return None


def _environment_file(value: str, errors: list[DiscoveryError]) -> dict[str, str]:
    """The variables of ``EnvironmentFile=[-]PATH``; "-": a missing file is no error."""
    optional = value.startswith("-")
    path = Path(value.lstrip("-"))
    text, error = read_limited(path, "systemd", follow=True)
    if error is not None and not (optional and error.reason == "not_found"):
        errors.append(error)
    return parse_env(text) if text is not None else {}
