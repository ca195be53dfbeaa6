"""Strict YAML configuration: defaults applied, unknown keys rejected, every error at once.

Errors name the file, the line and the key path, e.g.
``config.yml:7: targets[0].timout: unknown key (did you mean 'timeout'?)``.
"""

from __future__ import annotations

import difflib
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import yaml

from exporter import config_values as cv
from exporter.config_values import Key
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


def _endpoint_list(static: bool) -> Callable[[Any], tuple]:
    """A list of paths or endpoint objects (exporter.endpoints); each item read with its own lines."""

    def parse(value: Any) -> tuple:
        raise ValueError("expected a list")

    parse.reads_node = lambda reader, node, where: read_endpoint(reader, node, where, static)  # type: ignore[attr-defined]
    return parse


# --- schema ------------------------------------------------------------------


TARGET_KEYS: dict[str, Key] = {
    "name": Key(cv.name, required=True),
    "app_url": Key(cv.http_url),
    "endpoints": Key(_endpoint_list(static=False)),
    "static_paths": Key(_endpoint_list(static=True)),
    "proxy_url": Key(cv.http_url),
    "proxy_error_log": Key(cv.path),
    "project_dir": Key(cv.path),
    "database": Key(cv.path),
    "log_file": Key(cv.path),
    "timeout": Key(cv.parse_duration),
    "app_process_names": Key(cv.list_of(cv.text)),
    "env_vars": Key(cv.list_of(cv.text)),
    "db_query": Key(cv.text),
    "allow_outside_project": Key(cv.boolean),
    "proxy_host": Key(cv.host_header),
    "access_log": Key(cv.path),
    "access_log_format": Key(check_format),
    "route_label": Key(cv.boolean),
    "tls_ca_file": Key(cv.path),
    "redirect_from": Key(cv.plain_http_url),
}
DNS_KEYS = {
    "names": Key(cv.list_of(cv.text)),
    "resolvers": Key(cv.list_of(cv.resolver)),
    "timeout": Key(cv.parse_duration),
    "include_hostname": Key(cv.boolean),
}
HOST_KEYS = {"mountpoints": Key(cv.list_of(cv.text))}
DISCOVERY_KEYS = {
    "enabled": Key(cv.boolean),
    "interval": Key(cv.interval),
    "nginx_config": Key(cv.path),
    "systemd_unit_paths": Key(cv.list_of(cv.path)),
}
NPM_KEYS = {"enabled": Key(cv.boolean), "url": Key(cv.http_url), "refresh_interval": Key(cv.parse_duration)}
TOP_KEYS = {
    "targets": Key(lambda v: v),  # required unless discovery is enabled
    "dns": Key(lambda v: v),
    "host": Key(lambda v: v),
    "npm_registry": Key(lambda v: v),
    "max_concurrency": Key(cv.positive_int),
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
