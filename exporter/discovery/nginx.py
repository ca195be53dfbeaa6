"""nginx fronts of loopback apps, read from nginx's configuration (nothing run: no ``nginx -T``).

``discover_sites`` loads the main file and its includes (``nginx_conf``) and gives one NginxSite
per (``server`` block of an ``http`` block, loopback app port) that a ``proxy_pass`` in it (in any
``location``, nested or in an ``if``) reaches: directly (``http://127.0.0.1:3001``, ``localhost``,
``[::1]``) or through an ``upstream`` (one site per loopback server in it). ``stream`` servers are
not HTTP fronts and are not read.

Choices:
- The front is one ``listen`` per server (not one site per listen, which would give the same app
  twice for ``listen 80; listen [::]:80``): the first IPv4 (or name) loopback or wildcard one, else
  the first IPv6 loopback or wildcard one, else the first; a wildcard is reached on 127.0.0.1 (or
  ::1 for ``[::]``), ``ssl`` gives https, no listen means nginx's ``*:80``; ``unix:`` and ``quic``
  listens are skipped (a server with only those gives no site).
- ``host`` is the first exact ``server_name`` (``_``, ``""``, wildcards, regexes and variables are
  skipped; ``.example.com`` gives example.com); ``server_names`` keeps every name as written.
- Logs: the most specific level that has the directive decides (the proxying location, its
  enclosing locations, the server, http, then main for ``error_log``), as nginx inherits them; the
  first file at that level is taken; ``off``, ``syslog:``, ``stderr``, ``memory:``, ``/dev/null``
  and paths with variables give None. Relative paths (logs, root, alias) are resolved against
  nginx's prefix, which is compiled in and cannot be read without running nginx: ``prefix``
  defaults to /usr/share/nginx (Debian, Ubuntu, Fedora, RHEL; nginx.org's packages use /etc/nginx).
- A ``proxy_pass`` whose host holds a variable (``http://$backend``) cannot be resolved statically:
  it becomes a DiscoveryError ``unresolvable`` (naming file:line), so the page says a front was
  seen and not followed; a URI variable after the port (``http://127.0.0.1:3001$request_uri``)
  leaves the host and port static and is followed. Unix-socket and non-loopback backends are not apps on this host's ports:
  skipped without an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .model import DiscoveryError, NginxSite
from .nginx_addr import Front, is_loopback, parse_listen, parse_proxy_pass, parse_upstream_server
from .nginx_conf import Directive, load_config

DEFAULT_CONFIG = Path("/etc/nginx/nginx.conf")
DEFAULT_PREFIX = Path("/usr/share/nginx")
NO_LOG = ("off", "stderr", "/dev/null")
NO_LOG_PREFIXES = ("syslog:", "memory:")


def discover_sites(
    main_config: Path = DEFAULT_CONFIG, prefix: Path = DEFAULT_PREFIX
) -> tuple[list[NginxSite], list[DiscoveryError]]:
    """Every loopback app behind an nginx server block, and what could not be read or resolved."""
    tree, errors = load_config(main_config)
    sites: list[NginxSite] = []
    for http in _children(tree, "http"):
        scope = _Scope.of(http.block or [], tree, prefix)
        for server in _children(http.block or [], "server"):
            sites.extend(_server_sites(server, scope, errors))
    return sites, errors


@dataclass
class _Scope:
    """What a server inherits from its http block: log levels, upstreams, log formats, the prefix."""

    levels: list[list[Directive]]  # [http, main]
    upstreams: dict[str, list[Directive]]
    formats: dict[str, str]
    prefix: Path

    @classmethod
    def of(cls, http: list[Directive], main: list[Directive], prefix: Path) -> _Scope:
        upstreams = {u.args[0]: _children(u.block or [], "server") for u in _children(http, "upstream") if u.args}
        formats = {f.args[0]: _format_text(f.args[1:]) for f in _children(http, "log_format") if f.args}
        return cls([http, main], upstreams, formats, prefix)


def _children(block: list[Directive], name: str) -> list[Directive]:
    return [d for d in block if d.name == name]


def _format_text(args: list[str]) -> str:
    """A log_format's text: its strings joined as nginx joins them, without ``escape=``."""
    return "".join(arg for arg in args if not arg.startswith("escape="))


@dataclass(frozen=True)
class _Backend:
    host: str
    port: int
    source: str
    upstream_server: str | None = None


def _server_sites(server: Directive, scope: _Scope, errors: list[DiscoveryError]) -> Iterator[NginxSite]:
    block = server.block or []
    front = _front(server)
    if front is None:
        return
    names = tuple(arg for d in _children(block, "server_name") for arg in d.args)
    seen: set[int] = set()
    for proxy, chain in _proxy_passes(block, [block]):
        for backend in _backends(proxy, scope, errors):
            if backend.port in seen:
                continue
            seen.add(backend.port)
            yield _site(front, names, proxy, backend, chain + scope.levels, scope, server)


def _site(front: tuple[Front, str], names: tuple[str, ...], proxy: Directive, backend: _Backend,
          levels: list[list[Directive]], scope: _Scope, server: Directive) -> NginxSite:
    listen, listen_source = front
    access = _log(levels, "access_log", scope.prefix)
    error = _log(levels, "error_log", scope.prefix)
    return NginxSite(
        proxy_url=listen.url, host=_host(names), app_host=backend.host, app_port=backend.port,
        proxy_pass=proxy.text, source=backend.source, listen_source=listen_source,
        error_log=error[0], access_log=access[0], access_log_format=_access_format(access[1], scope),
        roots=_roots(server.block or [], scope.prefix), server_names=names,
        upstream_server=backend.upstream_server,
    )


def _front(server: Directive) -> tuple[Front, str] | None:
    """The listen a client on this host uses (see the module doc) and where it is written."""
    block = server.block or []
    listens = _children(block, "listen")
    if not listens:
        return Front("http", "127.0.0.1", 80), server.where
    ssl = any(d.args[:1] == ["on"] for d in _children(block, "ssl"))
    fronts = [(front, d.where) for d in listens if (front := parse_listen(d.args, ssl))]
    return min(fronts, key=lambda pair: pair[0].rank) if fronts else None


def _host(names: tuple[str, ...]) -> str | None:
    for name in names:
        if name.startswith(".") and "*" not in name and "$" not in name:
            name = name[1:]
        if name and name != "_" and not name.startswith("~") and not any(c in name for c in "*$"):
            return name
    return None


def _proxy_passes(block: list[Directive], chain: list[list[Directive]]) -> Iterator[tuple[Directive, list]]:
    """Each proxy_pass below a server, with its enclosing blocks innermost first."""
    for d in block:
        if d.name == "proxy_pass" and d.args:
            yield d, chain
        elif d.block is not None:
            yield from _proxy_passes(d.block, [d.block, *chain])


def _backends(proxy: Directive, scope: _Scope, errors: list[DiscoveryError]) -> list[_Backend]:
    """The loopback addresses a proxy_pass reaches (none for unix sockets and other hosts)."""
    address = parse_proxy_pass(proxy.args[0])
    if address.kind in ("variable", "invalid"):
        reason = "unresolvable" if address.kind == "variable" else "parse_error"
        errors.append(DiscoveryError("nginx", reason, f"{proxy.where}: {proxy.text}"))
        return []
    if address.kind != "address":
        return []
    if address.port is None and address.host in scope.upstreams:
        return _upstream_backends(scope.upstreams[address.host])
    if not is_loopback(address.host):
        return []
    return [_Backend(address.host, address.effective_port, proxy.where)]


def _upstream_backends(servers: list[Directive]) -> list[_Backend]:
    backends = []
    for server in servers:
        parsed = parse_upstream_server(server.args[0]) if server.args else None
        if parsed and is_loopback(parsed[0]):
            backends.append(_Backend(parsed[0], parsed[1], server.where, server.text))
    return backends


def _log(levels: list[list[Directive]], name: str, prefix: Path) -> tuple[Path | None, Directive | None]:
    """The log file the most specific level that writes ``name`` names, and its directive."""
    for level in levels:
        logs = [d for d in _children(level, name) if d.args]
        if logs:
            usable = [(path, d) for d in logs if (path := _log_path(d.args[0], prefix))]
            return usable[0] if usable else (None, None)
    return None, None


def _log_path(arg: str, prefix: Path) -> Path | None:
    if arg in NO_LOG or arg.startswith(NO_LOG_PREFIXES) or "$" in arg:
        return None
    return _resolve(arg, prefix)


def _resolve(arg: str, prefix: Path) -> Path:
    path = Path(arg)
    return path if path.is_absolute() else prefix / path


def _access_format(access: Directive | None, scope: _Scope) -> str | None:
    """The named log_format's text; None for the built-in ``combined`` (or no access log)."""
    if access is None or len(access.args) < 2 or "=" in access.args[1]:
        return None
    return scope.formats.get(access.args[1])


def _roots(block: list[Directive], prefix: Path) -> tuple[Path, ...]:
    """``root`` and ``alias`` of the server and every location below it, in order, once each."""
    found: list[Path] = []
    for d in _walk(block):
        if d.name in ("root", "alias") and d.args and "$" not in d.args[0]:
            path = _resolve(d.args[0], prefix)
            if path not in found:
                found.append(path)
    return tuple(found)


def _walk(block: list[Directive]) -> Iterator[Directive]:
    for d in block:
        yield d
        if d.block is not None:
            yield from _walk(d.block)
