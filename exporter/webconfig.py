"""``--web.config.file``: TLS, basic auth and response headers in the Prometheus exporter-toolkit format.

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
    basic_auth_users:
      prometheus: $2y$10$...   # bcrypt, as htpasswd -nBC 10 makes

Relative file paths are relative to the web config file, as in the exporter-toolkit.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import ssl
from base64 import b64decode
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable

import bcrypt
import yaml
from aiohttp import web

from exporter.config import ConfigError

OPEN_PATHS = frozenset({"/-/healthy"})
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# The headers the exporter-toolkit allows operators to set.
ALLOWED_HEADERS = frozenset(
    {"Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "X-XSS-Protection", "Content-Security-Policy"}
)
TOP_KEYS = {"tls_server_config", "http_server_config", "basic_auth_users"}
TLS_KEYS = {
    "cert_file", "key_file", "client_auth_type", "client_ca_file", "min_version", "max_version",
    "cipher_suites", "curve_preferences", "prefer_server_cipher_suites", "client_allowed_sans",
}
HTTP_KEYS = {"headers", "http2"}
MAX_CACHED = 1024


@dataclass
class WebConfig:
    ssl_context: ssl.SSLContext | None = None
    users: dict[str, bytes] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    peer_check: Callable[[Any], bool] | None = None


def load_web_config(path: Path) -> WebConfig:
    """Read and check ``path``; raise ConfigError naming the file, key and reason for every problem."""
    source = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError([f"{source}: cannot read: {exc}"]) from None
    data = {} if data is None else data
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError([f"{source}: expected a mapping at the top level"])
    _unknown(data, TOP_KEYS, "", source, problems)
    users = _users(data.get("basic_auth_users"), source, problems)
    headers = _headers(data.get("http_server_config"), source, problems)
    context = _tls(data.get("tls_server_config"), path.parent, source, problems)
    if problems:
        raise ConfigError(problems)
    return WebConfig(context, users, headers)


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
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            problems.append(f"{source}: basic_auth_users.{user}: expected a bcrypt hash ($2y$...), as htpasswd -nBC 10 makes")
            continue
        users[str(user)] = hashed.encode()
    return users


def _headers(raw: Any, source: str, problems: list[str]) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{source}: http_server_config: expected a mapping")
        return {}
    _unknown(raw, HTTP_KEYS, "http_server_config.", source, problems)
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict):
        problems.append(f"{source}: http_server_config.headers: expected a mapping")
        return {}
    for name, value in headers.items():
        if name not in ALLOWED_HEADERS:
            problems.append(f"{source}: http_server_config.headers.{name}: not an allowed header ({', '.join(sorted(ALLOWED_HEADERS))})")
        elif not isinstance(value, str) or "\n" in value or "\r" in value:
            problems.append(f"{source}: http_server_config.headers.{name}: expected a one-line string")
    return {str(k): str(v) for k, v in headers.items()}


def _tls(raw: Any, base: Path, source: str, problems: list[str]) -> ssl.SSLContext | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append(f"{source}: tls_server_config: expected a mapping")
        return None
    _unknown(raw, TLS_KEYS, "tls_server_config.", source, problems)
    where = f"{source}: tls_server_config."
    if not raw.get("cert_file") or not raw.get("key_file"):
        problems.append(f"{where}cert_file/key_file: both are required for TLS")
        return None
    auth = raw.get("client_auth_type", "NoClientCert")
    if auth not in CLIENT_AUTH:
        problems.append(f"{where}client_auth_type: {auth!r} is not one of {', '.join(CLIENT_AUTH)}")
        return None
    if auth != "NoClientCert" and not raw.get("client_ca_file"):
        problems.append(f"{where}client_ca_file: required with client_auth_type {auth}")
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for key, attr in (("min_version", "minimum_version"), ("max_version", "maximum_version")):
        if key in raw:
            if raw[key] not in TLS_VERSIONS:
                problems.append(f"{where}{key}: {raw[key]!r} is not one of {', '.join(TLS_VERSIONS)}")
                return None
            setattr(context, attr, TLS_VERSIONS[raw[key]])
    try:
        context.load_cert_chain(base / raw["cert_file"], base / raw["key_file"])
        if raw.get("client_ca_file"):
            context.load_verify_locations(base / raw["client_ca_file"])
    except (OSError, ssl.SSLError) as exc:
        problems.append(f"{where}cert_file: cannot load the certificate, key or CA: {exc}")
        return None
    context.verify_mode = CLIENT_AUTH[auth]
    return context


class BasicAuth:
    """Checks Basic credentials against bcrypt hashes, in constant time for unknown users,
    and remembers verified credentials (as keyed digests, never in clear) so scrapes skip bcrypt."""

    def __init__(self, users: dict[str, bytes]):
        self.users = users
        self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=10))
        self._key = secrets.token_bytes(32)
        self._verified: set[bytes] = set()

    def _digest(self, user: str, password: bytes, hashed: bytes) -> bytes:
        return hmac.new(self._key, user.encode() + b"\0" + password + b"\0" + hashed, hashlib.sha256).digest()

    def cached(self, header: str | None) -> bool:
        """True if these exact credentials were verified before (cheap: no bcrypt)."""
        user, password = parse_basic(header)
        hashed = self.users.get(user or "")
        return hashed is not None and password is not None and self._digest(user, password, hashed) in self._verified

    def check(self, header: str | None) -> bool:
        user, password = parse_basic(header)
        hashed = self.users.get(user or "")
        if user is None or hashed is None:
            bcrypt.checkpw(password or b"", self._dummy)  # the same work as for a real user
            return False
        digest = self._digest(user, password, hashed)
        if digest in self._verified:
            return True
        if not bcrypt.checkpw(password, hashed):
            return False
        if len(self._verified) >= MAX_CACHED:
            self._verified.clear()
        self._verified.add(digest)
        return True


def parse_basic(header: str | None) -> tuple[str | None, bytes | None]:
    if not header or not header.startswith("Basic "):
        return None, None
    try:
        decoded = b64decode(header[6:].strip(), validate=True)
    except ValueError:
        return None, None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None, None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None, None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def middleware(config: WebConfig) -> Callable:
    auth = BasicAuth(config.users) if config.users else None

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if auth is not None and request.path not in OPEN_PATHS:
            header = request.headers.get("Authorization")
            # bcrypt is slow on purpose: keep it off the event loop.
            if not auth.cached(header) and not await asyncio.get_running_loop().run_in_executor(None, auth.check, header):
                raise web.HTTPUnauthorized(
                    text="Unauthorized\n", headers={"WWW-Authenticate": 'Basic realm="inventory-exporter"', **config.headers}
                )
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(config.headers)
            raise
        response.headers.update(config.headers)
        return response

    return guard
