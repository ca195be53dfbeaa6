"""The Next.js servers running on the host: every listening TCP socket held by one.

One run asks the kernel for the LISTEN sockets (``sockets``) and reads the name and command line
of each process named like node, npm or next-server; only the few processes that are Next.js servers have their
descriptors walked to find which sockets they hold, so a run costs a read per process, not one per
descriptor on the host. The process holding the socket is reported, never its parent.

A Next.js server is a process titled ``next-server (vX)`` (``/proc/PID/comm`` is cut to 15
characters, ``cmdline`` has the whole title), ``node`` running ``next dev|start``, or the child of
``npm run ...`` / ``npm start`` whose working directory holds a package.json that depends on next.

Without root another user's descriptors and working directory cannot be read. Such a socket's owner
is inferred from what anyone may read: the socket's uid and the port named on the command line of
a Next.js process of that uid (or its parent), or Next's default 3000 when neither names one; only
a single such process (the child, when parent and child both match) is taken, and the source says
it was inferred. Each thing not read is a DiscoveryError, never a raise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..parsers import load_json
from ..procnet import display_name
from .commands import port_flags
from .commands import words as command_words
from .model import DiscoveryError, RunningApp
from .reading import read_limited
from .sockets import Socket, listening_sockets

CMDLINE_LIMIT = 64 << 10
NEXT_DEFAULT_PORT = 3000  # next dev/start without -p or PORT
ANCESTORS = 3  # npm -> sh -c "..." -> node: how far up a node looks for its npm


@dataclass
class Proc:
    pid: int
    ppid: int
    uid: int
    comm: str
    argv: list[str]
    sockets: set[int] = field(default_factory=set)  # inodes of listening sockets it holds
    fds_hidden: bool = False  # /proc/PID/fd could not be read

    @property
    def name(self) -> str:
        """As ps and psutil show it: the whole title when comm is a cut prefix of argv[0]."""
        return display_name(self.comm, self.argv[0] if self.argv else "")


def discover_apps(proc_root: Path = Path("/proc")) -> tuple[list[RunningApp], list[DiscoveryError]]:
    sockets = listening_sockets(proc_root)
    procs = node_like_processes(proc_root)
    servers = [p for p in procs.values() if _is_next_server(p, procs, proc_root)]
    errors: list[DiscoveryError] = []
    for proc in servers:
        _read_sockets(proc, sockets, proc_root)
        if proc.fds_hidden:
            errors.append(DiscoveryError("processes", "permission_denied", f"pid {proc.pid} fd"))
    owners = _owners(servers, sockets)
    inferred = _infer_hidden_owners(servers, sockets, set(owners), procs)
    apps = []
    for (pid, port), inodes in sorted(_by_pid_and_port({**owners, **inferred}, sockets).items()):
        app = _running_app(procs[pid], port, inodes, sockets, proc_root, errors, inferred=pid in inferred.values())
        if app is not None:
            apps.append(app)
    return apps, list(dict.fromkeys(errors))  # one cwd error per process, however many ports it holds


# --- sockets ------------------------------------------------------------------------------


def _read_sockets(proc: Proc, sockets: dict[int, Socket], proc_root: Path) -> None:
    fd_dir = proc_root / str(proc.pid) / "fd"
    try:
        fds = os.listdir(fd_dir)
    except PermissionError:
        proc.fds_hidden = True
        return
    except OSError:
        return  # gone
    for fd in fds:
        try:
            link = os.readlink(fd_dir / fd)
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1].isdigit() and (inode := int(link[8:-1])) in sockets:
            proc.sockets.add(inode)


def _owners(servers: list[Proc], sockets: dict[int, Socket]) -> dict[int, int]:
    """inode -> pid of the holder; when a parent and its child share it (forked), the child."""
    holders: dict[int, list[Proc]] = {}
    for proc in servers:
        for inode in proc.sockets:
            holders.setdefault(inode, []).append(proc)
    return {inode: (_leaves(procs) or procs)[0].pid for inode, procs in holders.items()}


def _leaves(procs: list[Proc]) -> list[Proc]:
    """Those of ``procs`` that are not the parent of another one of them."""
    parents = {p.ppid for p in procs}
    return [p for p in procs if p.pid not in parents]


def _infer_hidden_owners(servers: list[Proc], sockets: dict[int, Socket], owned: set[int],
                         procs: dict[int, Proc]) -> dict[int, int]:
    """inode -> pid for sockets no readable process holds, from their uid and port (module doc)."""
    hidden = [p for p in servers if p.fds_hidden]
    inferred = {}
    for inode, sock in sockets.items():
        if inode in owned:
            continue
        pool = _leaves([p for p in hidden if p.uid == sock.uid and sock.port in _named_ports(p, procs)])
        if len(pool) == 1:
            inferred[inode] = pool[0].pid
    return inferred


def _named_ports(proc: Proc, procs: dict[int, Proc]) -> set[int]:
    """Ports named by ``-p N``/``--port N``/``--port=N`` on its command line or its parent's, else 3000."""
    parent = procs.get(proc.ppid)
    return port_flags(proc.argv) | (port_flags(parent.argv) if parent else set()) or {NEXT_DEFAULT_PORT}


def _by_pid_and_port(owners: dict[int, int], sockets: dict[int, Socket]) -> dict[tuple[int, int], list[int]]:
    grouped: dict[tuple[int, int], list[int]] = {}
    for inode, pid in owners.items():
        grouped.setdefault((pid, sockets[inode].port), []).append(inode)
    return grouped


# --- processes ----------------------------------------------------------------------------


def node_like_processes(proc_root: Path = Path("/proc")) -> dict[int, Proc]:
    """pid -> Proc for every process whose name says node, npm, npx or next-server."""
    procs = {}
    for entry in os.scandir(proc_root):
        if entry.name.isdigit():
            proc = _read_proc(proc_root, int(entry.name), only_node_like=True)
            if proc is not None:
                procs[proc.pid] = proc
    return procs


def _node_like(comm: str) -> bool:
    return comm in ("node", "nodejs") or comm.startswith(("next-server", "npm", "npx"))


def _read_proc(proc_root: Path, pid: int, only_node_like: bool) -> Proc | None:
    base = proc_root / str(pid)
    try:
        comm = (base / "comm").read_text().rstrip("\n")
        if only_node_like and not _node_like(comm):
            return None
        with open(base / "cmdline", "rb") as handle:
            argv = [a.decode(errors="replace") for a in handle.read(CMDLINE_LIMIT).split(b"\0") if a]
        stat = (base / "stat").read_text()
        uid = os.stat(base).st_uid
    except (OSError, ValueError):
        return None  # gone, or not a process
    ppid = int(stat[stat.rfind(")") + 2:].split()[1])
    return Proc(pid, ppid, uid, comm, argv)


def _runs_next(argv: list[str]) -> bool:
    words = command_words(argv)
    return any(os.path.basename(w) == "next" and words[i + 1:i + 2] in (["dev"], ["start"])
               for i, w in enumerate(words))


def _is_npm_script(argv: list[str]) -> bool:
    """``npm run dev``, ``npm start``, as npm titles itself or as node runs it."""
    words = command_words(argv)
    for i, word in enumerate(words):
        if os.path.basename(word) in ("npm", "npm-cli.js"):
            rest = words[i + 1:i + 3]
            return rest[:1] == ["start"] or (rest[:1] in (["run"], ["run-script"]) and rest[1:] != [])
    return False


def _is_next_server(proc: Proc, procs: dict[int, Proc], proc_root: Path) -> bool:
    if proc.name.startswith("next-server"):
        return True
    if proc.comm not in ("node", "nodejs"):
        return False
    return _runs_next(proc.argv) or _has_npm_ancestor(proc, procs, proc_root)


def _has_npm_ancestor(proc: Proc, procs: dict[int, Proc], proc_root: Path) -> bool:
    """A node under ``npm run ...`` (directly or through ``sh -c``); counted only in a Next project."""
    ppid = proc.ppid
    for _ in range(ANCESTORS):
        parent = procs.get(ppid) or (_read_proc(proc_root, ppid, only_node_like=False) if ppid > 1 else None)
        if parent is None:
            return False
        if _is_npm_script(parent.argv):
            return _next_project(proc_root / str(proc.pid) / "cwd") is not None
        ppid = parent.ppid
    return False


# --- the app ------------------------------------------------------------------------------


def _running_app(proc: Proc, port: int, inodes: list[int], sockets: dict[int, Socket], proc_root: Path,
                 errors: list[DiscoveryError], inferred: bool) -> RunningApp | None:
    try:
        cwd: Path | None = Path(os.readlink(proc_root / str(proc.pid) / "cwd"))
    except PermissionError:
        cwd = None
        errors.append(DiscoveryError("processes", "permission_denied", f"pid {proc.pid} cwd"))
    except OSError:
        return None  # the process is gone
    project = None
    if cwd is not None:
        project, error = _read_package(cwd)
        if error is not None:
            errors.append(error)
    source = f"pid {proc.pid} ({proc.name})"
    if inferred:
        source += f", owner of port {port} inferred (its sockets are not readable)"
    addresses = tuple(sorted({sockets[inode].address for inode in inodes}))
    return RunningApp(port=port, pid=proc.pid, process=proc.name, addresses=addresses, cwd=cwd,
                      project_dir=cwd if project is not None else None,
                      name=project.get("name") if project is not None else None, source=source)


def project_name(directory: Path) -> str | None:
    """The ``name`` of ``directory``'s package.json when it is a Next.js project (read within bounds)."""
    project = _next_project(directory)
    return project.get("name") if project else None


def _next_project(directory: Path) -> dict | None:
    return _read_package(directory)[0]


def _read_package(directory: Path) -> tuple[dict | None, DiscoveryError | None]:
    """package.json of ``directory`` when it depends on next (name kept only when a string)."""
    text, error = read_limited(directory / "package.json", "processes")
    if text is None:
        return None, error if error is not None and error.reason != "not_found" else None
    try:
        package = load_json(text)
    except ValueError:
        return None, DiscoveryError("processes", "parse_error", str(directory / "package.json"))
    if not isinstance(package, dict) or not _depends_on_next(package):
        return None, None
    name = package.get("name")
    return {"name": name if isinstance(name, str) and name else None}, None


def _depends_on_next(package: dict) -> bool:
    return any(isinstance(package.get(key), dict) and "next" in package[key]
               for key in ("dependencies", "devDependencies"))
