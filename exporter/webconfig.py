"""``--web.config.file``: TLS, basic auth, headers and a rate limit in the Prometheus exporter-toolkit format.

The same ``web-config.yml`` that node_exporter and blackbox_exporter accept::

    tls_server_config:
      cert_file: server.crt
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: ca.crt
      min_version: TLS12
    http_server_config:
      headers:
        X-Frame-Options: deny
    rate_limit:
      interval: 1s
      burst: 10
    basic_auth_users:
      prometheus: $2y$10$...   # bcrypt, as htpasswd -nBC 10 makes

Relative file paths are relative to the web config file, as in the exporter-toolkit. Every key is
implemented or refused at start-up with a reason; the TLS part is in ``exporter.web.tls``, the
password checks in ``exporter.web.auth``.
"""

from __future__ import annotations

import re
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import yaml
from aiohttp import web

from exporter.config import ConfigError, expanded_size, read_config_file
from exporter.web.auth import BasicAuth, hash_problem, parse_basic  # noqa: F401 (parse_basic: re-exported)
from exporter.web.tls import TLSProblem, build_context

OPEN_PATHS = frozenset({"/-/healthy"})
# The headers the exporter-toolkit allows operators to set, and the values it accepts (None: any one-line value).
ALLOWED_HEADERS: dict[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}
TOP_KEYS = {"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"}
HTTP_KEYS = {"headers", "http2"}
RATE_KEYS = {"interval", "burst"}
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass
class RateLimit:
    """A token bucket as Go's rate.NewLimiter(rate.Every(interval), burst): ``burst`` requests at
    once, then one more each ``interval``."""

    interval: float
    burst: int
    _tokens: float = 0.0
    _at: float = 0.0

    def __post_init__(self) -> None:
        self._tokens, self._at = float(self.burst), time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) / self.interval)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


@dataclass
class WebConfig:
    ssl_context: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    peer_check: Callable[[Any], bool] | None = None
    rate_limit: RateLimit | None = None
    auth: Any = None  # the BasicAuth the middleware checks with (its counters become self-metrics)


def load_web_config(path: Path) -> WebConfig:
    """Read and check ``path``; raise ConfigError naming the file, key and reason for every problem."""
    source = str(path)
    text = read_config_file(path)  # a regular file of at most 1 MiB, else ConfigError
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None:
            expanded_size(root)  # an alias bomb is refused before it is built
        data = yaml.safe_load(text)
    except (ValueError, yaml.YAMLError, RecursionError) as exc:
        raise ConfigError([f"{source}: cannot read: {exc}"]) from None
    data = {} if data is None else data
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: expected a mapping at the top level"])
    _unknown(data, TOP_KEYS, "", source, problems)
    users = _users(data.get("basic_auth_users"), source, problems)
    headers = _http(data.get("http_server_config"), source, problems)
    rate_limit = _rate_limit(data.get("rate_limit"), source, problems)
    context, peer_check = _tls(data.get("tls_server_config"), path.parent, source, problems)
    if problems:
        raise ConfigError(problems)
    return WebConfig(context, users, headers, peer_check, rate_limit)


def _unknown(data: dict, allowed: set[str], where: str, source: str, problems: list[str]) -> None:
    for key in data:
        if key not in allowed:
            problems.append(f"{source}: {where}{key}: unknown key")


def _users(raw: Any, source: str, problems: list[str]) -> dict[str, bytes]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{source}: basic_auth_users: expected a mapping of user: bcrypt hash")
        return {}
    users = {}
    for user, hashed in raw.items():
        problem = hash_problem(hashed)
        if problem is not None:
            problems.append(f"{source}: basic_auth_users.{user}: {problem}")
            continue
        users[str(user)] = hashed.encode()
    return users


def _http(raw: Any, source: str, problems: list[str]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{source}: http_server_config: expected a mapping")
        return {}
    _unknown(raw, HTTP_KEYS, "http_server_config.", source, problems)
    # http2: the exporter serves HTTP/1.1 only (aiohttp has no HTTP/2); with TLS it offers only
    # http/1.1 by ALPN, so false is what it does and true (Go's default) lets clients fall back.
    if not isinstance(raw.get("http2", True), bool):
        problems.append(f"{source}: http_server_config.http2: expected true or false")
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        problems.append(f"{source}: http_server_config.headers: expected a mapping")
        return {}
    for name, value in headers.items():
        where = f"{source}: http_server_config.headers.{name}"
        if name not in ALLOWED_HEADERS:
            problems.append(f"{where}: not an allowed header: HTTP header {name!r} can not be configured ({', '.join(ALLOWED_HEADERS)} can)")
        elif not isinstance(value, str) or "\n" in value or "\r" in value:
            problems.append(f"{where}: expected a one-line string")
        elif ALLOWED_HEADERS[name] and value.lower() not in ALLOWED_HEADERS[name]:
            problems.append(f"{where}: invalid value for {name}: {value!r} (one of {', '.join(ALLOWED_HEADERS[name])})")
    return {str(k): str(v) for k, v in headers.items()}


def parse_duration(text: Any) -> float | None:
    """Go/Prometheus durations: 1s, 500ms, 1m30s."""
    if not isinstance(text, str) or not text or DURATION.sub("", text):
        return None
    return sum(float(n) * UNITS[unit] for n, unit in DURATION.findall(text))


def _rate_limit(raw: Any, source: str, problems: list[str]) -> RateLimit | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append(f"{source}: rate_limit: expected a mapping with interval and burst")
        return None
    _unknown(raw, RATE_KEYS, "rate_limit.", source, problems)
    if raw.get("interval") in (None, 0, "0", "0s"):
        return None  # as in the exporter-toolkit: no interval, no limit
    interval = parse_duration(raw.get("interval"))
    burst = raw.get("burst")
    if interval is None or interval <= 0:
        problems.append(f"{source}: rate_limit.interval: expected a duration such as 1s or 100ms, got {raw.get('interval')!r}")
    elif not isinstance(burst, int) or isinstance(burst, bool) or burst < 1:
        problems.append(f"{source}: rate_limit.burst: expected a whole number of at least 1 (0 would refuse every request)")
    else:
        return RateLimit(interval, burst)
    return None


def _tls(raw: Any, base: Path, source: str, problems: list[str]) -> tuple[ssl.SSLContext | None, Callable | None]:
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        problems.append(f"{source}: tls_server_config: expected a mapping")
        return None, None
    try:
        return build_context(raw, base)
    except TLSProblem as exc:
        problems.append(f"{source}: tls_server_config.{exc}")
        return None, None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _client_gone(request: web.Request) -> Callable[[], bool]:
    def gone() -> bool:
        transport = request.transport
        return transport is None or transport.is_closing()

    return gone


def middleware(config: WebConfig) -> Callable:
    auth = config.auth = BasicAuth(config.users) if config.users else None

    def refuse(exc: web.HTTPException) -> web.HTTPException:
        exc.headers.update(config.headers)
        exc.force_close()  # a refused client does not keep its connection
        return exc

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if config.peer_check is not None and (request.transport is None or not config.peer_check(request.transport)):
            raise refuse(web.HTTPForbidden(text="Forbidden: client certificate has no allowed SAN\n"))
        if config.rate_limit is not None and not config.rate_limit.allow():
            raise refuse(web.HTTPTooManyRequests(text="Too Many Requests\n"))
        if auth is not None and request.path not in OPEN_PATHS:
            if not await auth.verify(request.headers.get("Authorization"), _client_gone(request)):
                raise refuse(web.HTTPUnauthorized(text="Unauthorized\n", headers={"WWW-Authenticate": 'Basic realm="inventory-exporter"'}))
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(config.headers)
            raise
        response.headers.update(config.headers)
        return response

    guard.auth = auth  # for tests and benchmarks: the checks run, dropped, at once
    return guard
