"""The addresses in an nginx config: ``listen`` (where a client reaches the front), ``proxy_pass``
and upstream ``server`` (where nginx sends it), and whether that is this host's loopback."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

DEFAULT_PORT = {"http": 80, "https": 443}
URI_VARIABLES = ("$request_uri", "$uri", "$document_uri")
WILDCARD_REACH = {"*": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and the name localhost."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_host_port(text: str) -> tuple[str, int | None] | None:
    """``127.0.0.1:3001``, ``[::1]:3001``, ``localhost`` → (host, port or None); None when malformed."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port = text.split(":")
    elif ":" in text:
        return None  # an IPv6 address without brackets: nginx refuses it too
    else:
        host, port = text, None
    if port is None:
        return host, None
    return (host, int(port)) if port.isdigit() and 0 < int(port) < 65536 else None


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class Front:
    """A ``listen`` as a client on this host reaches it."""

    scheme: str
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"{self.scheme}://{url_host(self.host)}:{self.port}/"

    @property
    def rank(self) -> int:
        """Which listen to pick: IPv4/name loopback or wildcard first, then IPv6 loopback, then the rest."""
        if not is_loopback(self.host):
            return 2
        return 1 if ":" in self.host else 0


def parse_listen(args: list[str], server_ssl: bool = False) -> Front | None:
    """``listen 80``, ``listen 127.0.0.1:8080``, ``listen [::]:80``, ``listen 443 ssl``; None for
    ``unix:`` and QUIC (UDP) listens and malformed ones. A wildcard is reached on loopback."""
    if not args or args[0].startswith("unix:") or "quic" in args[1:]:
        return None
    if args[0].isdigit():
        host, port = "*", int(args[0])
    else:
        parsed = split_host_port(args[0])
        if parsed is None:
            return None
        host, port = parsed[0], parsed[1] or 80
    scheme = "https" if server_ssl or "ssl" in args[1:] else "http"
    return Front(scheme, WILDCARD_REACH.get(host, host), port)


@dataclass(frozen=True)
class ProxyAddress:
    """Where a ``proxy_pass`` sends requests: kind is "address", "variable", "unix" or "invalid"."""

    kind: str
    host: str = ""
    port: int | None = None  # None: not written (an upstream's name, or the scheme's default port)
    scheme: str = "http"

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORT.get(self.scheme, 80)


def parse_proxy_pass(url: str) -> ProxyAddress:
    """``http://127.0.0.1:3001/``, ``http://[::1]:3001``, ``http://app``, ``http://unix:/run/app.sock``,
    ``http://$backend``: only the scheme and host:port part matter (a variable in the path does not)."""
    scheme, sep, rest = url.partition("://")
    hostport = _uri_cut(rest.split("/", 1)[0])
    if "$" in scheme or "$" in hostport:
        return ProxyAddress("variable")
    if not sep:
        return ProxyAddress("invalid")
    if hostport.startswith("unix:"):
        return ProxyAddress("unix")
    parsed = split_host_port(hostport)
    if parsed is None:
        return ProxyAddress("invalid")
    return ProxyAddress("address", parsed[0], parsed[1], scheme.lower())


def _uri_cut(hostport: str) -> str:
    """``127.0.0.1:3001$request_uri`` → ``127.0.0.1:3001``: a URI variable right after the port
    starts the path (nginx's values of these begin with "/"); any other variable stays unresolvable."""
    for variable in URI_VARIABLES:
        if hostport.endswith(variable):
            return hostport[: -len(variable)]
    return hostport


def parse_upstream_server(address: str) -> tuple[str, int] | None:
    """An upstream ``server`` address as (host, port, 80 when not written); None for ``unix:``."""
    if address.startswith("unix:"):
        return None
    parsed = split_host_port(address)
    if parsed is None:
        return None
    return parsed[0], parsed[1] or 80
