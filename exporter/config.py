"""Strict YAML configuration: defaults applied, unknown keys rejected, every error at once.

Errors name the file, the line and the key path, e.g.
``config.yml:7: targets[0].timout: unknown key (did you mean 'timeout'?)``.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import yaml

from exporter.accesslog.formats import check_format
from exporter.endpoints import Endpoint, read_endpoint
from exporter.yamlbounds import (  # noqa: F401  (re-exported: the config's bounds live there)
    MAX_CONFIG_BYTES,
    MAX_EXPANDED_NODES,
    MAX_PROBLEMS,
    ConfigError,
    expanded_size,
    read_config_file,
)

DEFAULT_TARGET_NAME = "smart-inventory"
DEFAULT_APP_URL = "http://127.0.0.1:3001"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class Target:
    name: str
    app_url: str = DEFAULT_APP_URL
    endpoints: tuple[str, ...] = ("/api/health",)  # the paths (labels) of endpoint_specs
    static_paths: tuple[str, ...] = ()
    proxy_url: str | None = None
    proxy_error_log: Path | None = None
    project_dir: Path | None = None
    database: Path | None = None
    log_file: Path | None = None
    timeout: float = 5.0
    app_process_names: tuple[str, ...] = ("node", "next-server", "npm")
    env_vars: tuple[str, ...] = ("DATABASE_URL", "PORT")
    db_query: str = "SELECT count(*) FROM sqlite_master"
    allow_outside_project: bool = False  # may the database path leave project_dir?
    proxy_host: str | None = None  # the Host header sent to proxy_url (nginx picks the server by it)
    access_log: Path | None = None  # nginx's access log of the site (exporter.accesslog)
    access_log_format: str | None = None  # its log_format text; None: combined
    route_label: bool = False  # label inventory_requests_total with the templated route
    tls_ca_file: Path | None = None  # CA bundle the https fronts' chains are verified against (default: system store)
    redirect_from: str | None = None  # an http:// URL that must redirect to https:// on the same host
    # Filled in by discovery, never by a config file:
    origins: tuple[tuple[str, str], ...] = ()  # (key, where its value came from), e.g. ("app_url", "pid 42 (next-server)")
    upstream_mismatch: Any = None  # exporter.discovery.model.Mismatch: nginx proxies to a port where the app is not
    # The objects behind endpoints / static_paths (method, headers, body, expect, render); empty when
    # the target was made from paths alone (discovery, tests): then each path is a plain GET.
    endpoint_specs: tuple[Endpoint, ...] = ()
    static_specs: tuple[Endpoint, ...] = ()

    def http_endpoints(self) -> list[tuple[Endpoint, bool]]:
        """Every endpoint to request, with whether it is a static asset."""
        pages = self.endpoint_specs or tuple(Endpoint(p) for p in self.endpoints)
        static = self.static_specs or tuple(Endpoint(p) for p in self.static_paths)
        return [(e, False) for e in pages] + [(e, True) for e in static]

    @property
    def app_host(self) -> str:
        return urlsplit(self.app_url).hostname or "127.0.0.1"

    @property
    def app_port(self) -> int:
        parts = urlsplit(self.app_url)
        return parts.port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True)
class DnsConfig:
    names: tuple[str, ...] = ("localhost",)
    resolvers: tuple[str, ...] = ("system",)
    timeout: float = 2.0


@dataclass(frozen=True)
class HostConfig:
    mountpoints: tuple[str, ...] = ("/",)


@dataclass(frozen=True)
class NpmRegistryConfig:
    enabled: bool = False
    url: str = "https://registry.npmjs.org"
    refresh_interval: float = 6 * 3600.0


DEFAULT_NGINX_CONFIG = Path("/etc/nginx/nginx.conf")
DEFAULT_UNIT_PATHS = tuple(Path(p) for p in ("/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system",
                                              "/usr/lib/systemd/system"))


@dataclass(frozen=True)
class DiscoveryConfig:
    """Finding the Next.js apps and their nginx fronts on the host (exporter.discovery)."""

    enabled: bool = False
    interval: float = 60.0
    nginx_config: Path = DEFAULT_NGINX_CONFIG
    systemd_unit_paths: tuple[Path, ...] = DEFAULT_UNIT_PATHS


@dataclass(frozen=True)
class Config:
    targets: tuple[Target, ...]
    dns: DnsConfig = field(default_factory=DnsConfig)
    host: HostConfig = field(default_factory=HostConfig)
    npm_registry: NpmRegistryConfig = field(default_factory=NpmRegistryConfig)
    max_concurrency: int = 64
    source: str = "<embedded default>"
    discovery: DiscoveryConfig = field(default_factory=DiscoveryConfig)

    def target(self, name: str) -> Target | None:
        for target in self.targets:
            if target.name == name:
                return target
        return None


def default_config(cwd: Path | None = None) -> Config:
    """The embedded default: no target written by hand, the apps and fronts that discovery finds on
    this machine (``cwd`` is not a project: the exporter's working directory belongs to nobody)."""
    return Config(targets=(), dns=DnsConfig(names=_default_dns_names(("localhost",))),
                  discovery=DiscoveryConfig(enabled=True))


def _default_dns_names(names: tuple[str, ...]) -> tuple[str, ...]:
    hostname = socket.gethostname()
    return names if not hostname or hostname in names else names + (hostname,)


# --- value parsers -----------------------------------------------------------

_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """'500ms', '5s', '2m', '6h' or a bare number of seconds; must be positive."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 5s or 500ms")
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
    else:
        match = _DURATION_RE.match(str(value).strip())
        if not match:
            raise ValueError(f"{value!r} is not a duration (use e.g. 5s, 500ms, 2m)")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if math.isnan(seconds):
        raise ValueError(f"{value!r} is not a duration (use e.g. 5s, 500ms, 2m)")
    if seconds <= 0:
        raise ValueError("duration must be greater than zero")
    if math.isinf(seconds):
        raise ValueError("duration must be finite")
    return seconds


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _name(value: Any) -> str:
    value = _str(value)
    if not NAME_RE.match(value):
        raise ValueError(f"{value!r} must match {NAME_RE.pattern}")
    return value


def _http_url(value: Any) -> str:
    value = _str(value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL with a host")
    try:
        parts.port
    except ValueError as exc:
        raise ValueError(f"{value!r}: {exc}") from None
    return value.rstrip("/") if parts.path in ("", "/") else value


def _plain_http_url(value: Any) -> str:
    value = _http_url(value)
    if urlsplit(value).scheme != "http":
        raise ValueError(f"{value!r} must be an http:// URL (the one that should redirect to https://)")
    return value


def _url_path(value: Any) -> str:
    value = _str(value)
    if not value.startswith("/") or "://" in value or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} must be a path starting with '/'")
    return value


def _path(value: Any) -> Path:
    value = _str(value)
    if "\0" in value:
        raise ValueError("a path cannot contain a NUL character")
    return Path(os.path.expanduser(value))


def _host_header(value: Any) -> str:
    host = _str(value)
    if not host or any(c.isspace() or c in "/@" for c in host) or len(host) > 253:
        raise ValueError(f"{host!r} is not a host name")
    return host


def _interval(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds < 1:
        raise ValueError("the discovery interval must be at least 1s")
    return seconds


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("expected a whole number of at least 1")
    return value


def _resolver(value: Any) -> str:
    value = _str(value)
    if value == "system":
        return value
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not re.fullmatch(r"[0-9]{1,5}", port) or not 0 < int(port) < 65536 or not _is_ip(host):
        raise ValueError(f"{value!r}: expected 'system' or an IP address and port, e.g. 127.0.0.1:53 or [::1]:53")
    return value


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _list_of(item: Callable[[Any], Any]) -> Callable[[Any], tuple]:
    def parse(value: Any) -> tuple:
        if not isinstance(value, list):
            raise ValueError("expected a list")
        return tuple(dict.fromkeys(item(v) for v in value))

    parse.item = item  # type: ignore[attr-defined]  # lets the reader check items one by one
    return parse


def _endpoint_list(static: bool) -> Callable[[Any], tuple]:
    """A list of paths or endpoint objects (exporter.endpoints); each item read with its own lines."""

    def parse(value: Any) -> tuple:
        raise ValueError("expected a list")

    parse.reads_node = lambda reader, node, where: read_endpoint(reader, node, where, static)  # type: ignore[attr-defined]
    return parse


# --- schema ------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    parse: Callable[[Any], Any]
    required: bool = False
    node: bool = False  # the parser gets the YAML node (read by the caller, with its own lines)


TARGET_KEYS: dict[str, Key] = {
    "name": Key(_name, required=True),
    "app_url": Key(_http_url),
    "endpoints": Key(_endpoint_list(static=False)),
    "static_paths": Key(_endpoint_list(static=True)),
    "proxy_url": Key(_http_url),
    "proxy_error_log": Key(_path),
    "project_dir": Key(_path),
    "database": Key(_path),
    "log_file": Key(_path),
    "timeout": Key(parse_duration),
    "app_process_names": Key(_list_of(_str)),
    "env_vars": Key(_list_of(_str)),
    "db_query": Key(_str),
    "allow_outside_project": Key(_bool),
    "proxy_host": Key(_host_header),
    "access_log": Key(_path),
    "access_log_format": Key(check_format),
    "route_label": Key(_bool),
    "tls_ca_file": Key(_path),
    "redirect_from": Key(_plain_http_url),
}
DNS_KEYS = {
    "names": Key(_list_of(_str)),
    "resolvers": Key(_list_of(_resolver)),
    "timeout": Key(parse_duration),
    "include_hostname": Key(_bool),
}
HOST_KEYS = {"mountpoints": Key(_list_of(_str))}
DISCOVERY_KEYS = {
    "enabled": Key(_bool),
    "interval": Key(_interval),
    "nginx_config": Key(_path),
    "systemd_unit_paths": Key(_list_of(_path)),
}
NPM_KEYS = {"enabled": Key(_bool), "url": Key(_http_url), "refresh_interval": Key(parse_duration)}
TOP_KEYS = {
    "targets": Key(lambda v: v),  # required unless discovery is enabled
    "dns": Key(lambda v: v),
    "host": Key(lambda v: v),
    "npm_registry": Key(lambda v: v),
    "max_concurrency": Key(_positive_int),
    "discovery": Key(lambda v: v),
}


_SEQ_TAG = "tag:yaml.org,2002:seq"


class _Reader:
    """Walks composed YAML nodes so that every problem carries its line."""

    def __init__(self, source: str):
        self.source = source
        self.problems: list[str] = []

    def problem(self, node: yaml.Node | None, where: str, reason: str) -> None:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        self.problems.append(f"{self.source}{line}: {where}: {reason}")

    def mapping(self, node: yaml.Node, where: str, keys: dict[str, Key]) -> dict[str, Any]:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, where or "top level", "expected a mapping")
            return {}
        values: dict[str, Any] = {}
        nodes: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = _key_text(key_node)
            path = f"{where}.{key}" if where else key
            if key in nodes:
                self.problem(key_node, path, "duplicate key")
                continue
            nodes[key] = value_node
            if key not in keys:
                self.problem(key_node, path, "unknown key" + _suggest(key, keys))
                continue
            if key in ("targets", "dns", "host", "npm_registry", "discovery") and keys is TOP_KEYS:
                values[key] = value_node  # parsed by the caller, node by node
                continue
            if keys[key].node:
                values[key] = value_node
                continue
            reads_node = getattr(keys[key].parse, "reads_node", None)
            if reads_node is not None and isinstance(value_node, yaml.SequenceNode) and value_node.tag == _SEQ_TAG:
                values[key] = self.nodes(value_node, path, reads_node)
                continue
            item = getattr(keys[key].parse, "item", None)
            if item is not None and isinstance(value_node, yaml.SequenceNode) and value_node.tag == _SEQ_TAG:
                values[key] = self.items(value_node, path, item)
                continue
            try:
                values[key] = keys[key].parse(_construct(value_node))
            except ValueError as exc:
                self.problem(value_node, path, str(exc))
        for key, spec in keys.items():
            if spec.required and key not in nodes:
                self.problem(node, f"{where}.{key}" if where else key, "required key is missing")
        return values

    def items(self, node: yaml.SequenceNode, where: str, item: Callable[[Any], Any]) -> tuple:
        """A list checked item by item, so that a bad item is named with its index and line."""
        parsed = []
        for index, item_node in enumerate(node.value):
            try:
                parsed.append(item(_construct(item_node)))
            except ValueError as exc:
                self.problem(item_node, f"{where}[{index}]", str(exc))
        return tuple(dict.fromkeys(parsed))


    def nodes(self, node: yaml.SequenceNode, where: str, read: Callable[..., Any]) -> tuple:
        """A list whose items read their own nodes (so a nested key is named with its line)."""
        parsed = [read(self, item_node, f"{where}[{index}]") for index, item_node in enumerate(node.value)]
        return tuple(dict.fromkeys(p for p in parsed if p is not None))


def _key_text(node: yaml.Node) -> str:
    """A mapping key as the error message shows it; non-scalar keys get a placeholder."""
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return "[...]" if isinstance(node, yaml.SequenceNode) else "{...}"


def _construct(node: yaml.Node) -> Any:
    """The Python value of ``node``; YAML that has no plain value (unknown tags, unhashable keys,
    recursive aliases, absurd nesting) becomes a ValueError like any other bad value."""
    try:
        # A fresh constructor each time: a failed construction leaves state behind.
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise ValueError(getattr(exc, "problem", None) or str(exc)) from None
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _suggest(key: str, keys: dict[str, Key]) -> str:
    close = difflib.get_close_matches(key, list(keys), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_config(path: str | os.PathLike) -> Config:
    """Read, validate and return the config at ``path``; raise ConfigError listing every problem."""
    return parse_config(read_config_file(path), source=str(path))


def parse_config(text: str, source: str = "<string>") -> Config:
    reader = _Reader(source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError([f"{source}{line}: invalid YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    except RecursionError:
        raise ConfigError([f"{source}: invalid YAML: nested too deeply"]) from None
    if root is None:
        raise ConfigError([f"{source}: the file is empty; at least 'targets' is required"])
    try:
        expanded_size(root)
    except ValueError as exc:
        raise ConfigError([f"{source}: invalid YAML: {exc}"]) from None
    top = reader.mapping(root, "", TOP_KEYS)
    discovery_cfg = DiscoveryConfig(**_section(reader, top.get("discovery"), "discovery", DISCOVERY_KEYS))
    if "targets" in top or not discovery_cfg.enabled:
        required = not discovery_cfg.enabled and isinstance(root, yaml.MappingNode)  # else already reported
        targets = _targets(reader, top.get("targets"), required=required)
    else:
        targets = []
    dns = _section(reader, top.get("dns"), "dns", DNS_KEYS)
    include_hostname = dns.pop("include_hostname", True)
    dns_cfg = DnsConfig(**dns)
    if include_hostname:
        dns_cfg = DnsConfig(names=_default_dns_names(dns_cfg.names), resolvers=dns_cfg.resolvers, timeout=dns_cfg.timeout)
    host_cfg = HostConfig(**_section(reader, top.get("host"), "host", HOST_KEYS))
    npm_cfg = NpmRegistryConfig(**_section(reader, top.get("npm_registry"), "npm_registry", NPM_KEYS))
    if reader.problems:
        raise ConfigError(_bounded(reader.problems))
    return Config(
        targets=tuple(targets),
        dns=dns_cfg,
        host=host_cfg,
        npm_registry=npm_cfg,
        max_concurrency=top.get("max_concurrency", 64),
        source=source,
        discovery=discovery_cfg,
    )


def _bounded(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return problems[:MAX_PROBLEMS] + [f"... and {len(problems) - MAX_PROBLEMS} more problems"]


def _section(reader: _Reader, node: yaml.Node | None, where: str, keys: dict[str, Key]) -> dict[str, Any]:
    return {} if node is None else reader.mapping(node, where, keys)


def _targets(reader: _Reader, node: yaml.Node | None, required: bool = True) -> list[Target]:
    if node is None and required:
        reader.problem(None, "targets", "required key is missing (or enable discovery: {enabled: true})")
        return []
    if node is None or (not required and isinstance(node, yaml.SequenceNode) and not node.value):
        return []
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        reader.problem(node, "targets", "expected a non-empty list of targets")
        return []
    targets, seen = [], set()
    for index, item in enumerate(node.value):
        where = f"targets[{index}]"
        values = reader.mapping(item, where, TARGET_KEYS)
        name = values.get("name")
        if name is not None and name in seen:
            reader.problem(item, f"{where}.name", f"duplicate target name {name!r}")
        _check_labels(reader, item, where, values)
        seen.add(name)
        if name is not None:
            targets.append(_target(values))
    return targets


def _check_labels(reader: _Reader, node: yaml.Node, where: str, values: dict[str, Any]) -> None:
    """Two endpoints with one path (say GET and POST /api/orders) need a name each: it is their label."""
    labels = [e.label for key in ("endpoints", "static_paths") for e in values.get(key, ())]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        reader.problem(node, f"{where}.endpoints", f"{', '.join(twice)}: more than one endpoint with this path; "
                       "give each a distinct name")


def _target(values: dict[str, Any]) -> Target:
    for key, specs in (("endpoints", "endpoint_specs"), ("static_paths", "static_specs")):
        if key in values:
            # plain paths alone are kept as paths (a Target made from paths is the same Target)
            if any(e != Endpoint(e.path) for e in values[key]):
                values[specs] = values[key]
            values[key] = tuple(e.label for e in values[key])
    project_dir = values.get("project_dir")
    if project_dir is not None:
        # Absolute, but links kept: a "current -> releases/N" deploy link is followed at each
        # scrape, so a new release is watched without a reload.
        values["project_dir"] = Path(os.path.abspath(project_dir))
    return Target(**values)
