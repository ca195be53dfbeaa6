"""What discovery finds, source by source, before it becomes targets.

Each source module (``processes``, ``nginx``, ``systemd``, ``pm2``) is a blocking function that
returns its facts and the errors it met; nothing here runs a command (no ``nginx -T``, no
``systemctl``): files and /proc are only read. Every fact says where it came from (``source``:
``/etc/nginx/sites-enabled/inventory:14``, ``pid 4242``, ``/etc/systemd/system/inventory.service``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RunningApp:
    """A Next.js server holding a listening TCP socket (the listening process, not its parent)."""

    port: int
    pid: int
    process: str  # the process name as ps shows it: "next-server (v15.5.0)", "node"
    addresses: tuple[str, ...]  # where it listens: "0.0.0.0", "::", "127.0.0.1", "::1"
    cwd: Path | None  # None when /proc/PID/cwd cannot be read (another user's process)
    project_dir: Path | None  # cwd, when it holds a package.json that depends on next
    name: str | None  # package.json "name"
    source: str  # "pid 4242 (next-server (v15.5.0))"


@dataclass(frozen=True)
class NginxSite:
    """A ``server`` block (one ``location``) that proxies to a loopback app."""

    proxy_url: str  # the front as a client reaches it: "http://127.0.0.1:80/", "https://127.0.0.1:443/"
    host: str | None  # the first server_name to send as Host ("_" and "" give None)
    app_host: str  # "127.0.0.1", "::1", "localhost"
    app_port: int  # the loopback port nginx proxies to
    proxy_pass: str  # the directive as written: "proxy_pass http://127.0.0.1:3001"
    source: str  # file:line of the proxy_pass (or of the upstream's server line)
    listen_source: str  # file:line of the listen directive (or of the server block)
    error_log: Path | None = None  # server level, else http level, else main level
    access_log: Path | None = None  # server level, else http level
    access_log_format: str | None = None  # the log_format text when named, else None ("combined")
    roots: tuple[Path, ...] = ()  # root/alias directories of the server (to pair it with a project)
    server_names: tuple[str, ...] = ()
    upstream_server: str | None = None  # via an upstream: its server line as written ("server 127.0.0.1:3001
    # weight=1"), the line `source` names; proxy_pass then names the upstream ("proxy_pass http://app")


@dataclass(frozen=True)
class ServiceUnit:
    """A systemd unit or a pm2 process that runs next/npm/node in a working directory."""

    kind: str  # "systemd" or "pm2"
    name: str  # "inventory.service", pm2's app name
    working_directory: Path
    port: int | None  # from Environment=PORT=..., `-p N` / `--port N` on the command line, pm2's env
    source: str  # the unit file, or the pm2 dump file


@dataclass(frozen=True)
class DiscoveryError:
    """Something discovery could not read: a metric and a line on the page, never a crash."""

    source: str  # "processes", "nginx", "systemd", "pm2"
    reason: str  # "permission_denied", "not_found", "parse_error", "not_regular_file", "too_large"
    detail: str  # what it was: a path, a pid


@dataclass
class Findings:
    """One discovery run: every source's facts and errors."""

    apps: list[RunningApp] = field(default_factory=list)
    sites: list[NginxSite] = field(default_factory=list)
    units: list[ServiceUnit] = field(default_factory=list)
    errors: list[DiscoveryError] = field(default_factory=list)


@dataclass(frozen=True)
class Mismatch:
    """nginx proxies to a port where nothing listens, while the same project's app listens on another."""

    nginx_source: str  # "sites-enabled/inventory:14": the line to change
    proxy_pass: str  # "proxy_pass http://127.0.0.1:3001"
    expected_port: int  # where nginx sends requests
    app_port: int  # where the app really listens
    app_pid: int
    app_process: str
    inference: str  # why the site and the app are taken for one project
