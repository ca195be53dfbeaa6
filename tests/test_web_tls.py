"""web-config parity with the Prometheus exporter-toolkit: each case of its TLS/web-config tests
(TestYAMLFiles, TestServerBehaviour, TestUsers), reproduced with our own certificates and real
TLS handshakes on 127.0.0.1 against the exporter's real listening path (GuardedSite + gate)."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from exporter.app import create_app
from exporter.config import ConfigError
from exporter.web.connections import ConnectionGate, GuardedSite
from exporter.webconfig import load_web_config
from tests.conftest import free_port
from tests.test_webconfig import htpasswd_hash, state

SERVER = "  cert_file: server.crt\n  key_file: server.key\n"
TLS = "tls_server_config:\n" + SERVER


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """server.crt/key from ca.crt; client.crt/key (SAN DNS client.example) and client2 (SAN DNS client2.example,
    IPv6) from ca.crt; stranger.crt/key from another CA; ca-other.crt."""
    root = tmp_path_factory.mktemp("pki")
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    other = trustme.CA(key_type=trustme.KeyType.RSA)
    server = ca.issue_cert("127.0.0.1", "localhost", key_type=trustme.KeyType.RSA)
    server.cert_chain_pems[0].write_to_path(str(root / "server.crt"))
    server.private_key_pem.write_to_path(str(root / "server.key"))
    ca.cert_pem.write_to_path(str(root / "ca.crt"))
    other.cert_pem.write_to_path(str(root / "ca-other.crt"))
    for name, issuer, sans in (("client", ca, ["client.example"]),
                               ("client2", ca, ["client2.example", "::1"]),
                               ("stranger", other, ["client.example"])):
        cert = issuer.issue_cert(*sans, key_type=trustme.KeyType.RSA)
        cert.cert_chain_pems[0].write_to_path(str(root / f"{name}.crt"))
        cert.private_key_pem.write_to_path(str(root / f"{name}.key"))
    return root


@dataclass
class Client:
    tls: bool = False
    cert: str | None = None
    max_version: ssl.TLSVersion | None = None
    ciphers: str | None = None
    curve: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def context(self, pki: Path) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        if self.cert:
            ctx.load_cert_chain(str(pki / f"{self.cert}.crt"), str(pki / f"{self.cert}.key"))
        if self.max_version:
            ctx.maximum_version = self.max_version
        if self.ciphers:
            ctx.maximum_version = min(ctx.maximum_version, ssl.TLSVersion.TLSv1_2)
            ctx.set_ciphers(self.ciphers)
        if self.curve:
            ctx.set_ecdh_curve(self.curve)
        return ctx


async def request(port: int, ctx: ssl.SSLContext | None, path: str, headers: dict[str, str]) -> tuple[int | None, str, str]:
    """(status or None when the connection failed, the negotiated cipher, the raw response head)."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="127.0.0.1" if ctx else None), 10)
    except (OSError, ssl.SSLError, asyncio.TimeoutError):
        return None, "", ""
    try:
        cipher = (writer.get_extra_info("cipher") or ("",))[0]
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}Connection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), 10)
    except (OSError, ssl.SSLError, asyncio.TimeoutError):
        return None, "", ""
    finally:
        writer.close()
    head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
    parts = head.split(" ", 2)
    status = int(parts[1]) if head.startswith("HTTP/1.1 ") and len(parts) > 1 and parts[1].isdigit() else None
    return status, cipher, head


async def serve(tmp: Path, text: str) -> tuple[web.AppRunner, int]:
    (tmp / "web.yml").write_text(text)
    config = load_web_config(tmp / "web.yml")
    app = create_app(state(), config)
    gate = ConnectionGate(peer_check=config.peer_check)
    app.middlewares.append(gate.middleware)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await GuardedSite(runner, "127.0.0.1", port, ssl_context=config.ssl_context, gate=gate).start()
    return runner, port


def users_yaml() -> str:
    return f"basic_auth_users:\n  dave: '{htpasswd_hash('dave123', 'dave')}'\n  carol: '{htpasswd_hash('carol123', 'carol')}'\n"


def auth(user: str, password: str) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


CA_AUTH = "  client_ca_file: ca.crt\n"
GCM128, GCM256, CBC256 = "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-SHA"
SOME_CIPHERS = TLS + "  max_version: TLS12\n  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n"
ALL_CIPHERS = TLS + "  cipher_suites:\n" + "".join(f"    - {n}\n" for n in (
    "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_256_CBC_SHA", "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"))
SOME_CURVES = TLS + "  min_version: TLS13\n  curve_preferences:\n    - CurveP521\n"
ALL_CURVES = TLS + "  curve_preferences: [CurveP256, CurveP384, CurveP521, X25519]\n"
NO_HTTP2 = TLS + "  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA]\nhttp_server_config:\n  http2: false\n"
NO_HTTP2_CIPHER = TLS + "  max_version: TLS12\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA]\n"
REQUIRE_ANY = TLS + "  client_auth_type: RequireAnyClientCert\n" + CA_AUTH
REQUIRE_VERIFY = TLS + "  client_auth_type: RequireAndVerifyClientCert\n" + CA_AUTH
SAN_GOOD = REQUIRE_VERIFY + "  client_allowed_sans: [client.example]\n"
SAN_BAD = REQUIRE_VERIFY + "  client_allowed_sans: [bad]\n"
SAN_OTHER_KINDS = REQUIRE_VERIFY + "  client_allowed_sans: ['0:0:0:0:0:0:0:1', nobody@example.org]\n"
HEADERS_GOOD = ("http_server_config:\n  headers:\n    Strict-Transport-Security: max-age=31536000\n    X-Content-Type-Options: nosniff\n"
                "    X-Frame-Options: SAMEORIGIN\n    X-XSS-Protection: '1; mode=block'\n    Content-Security-Policy: default-src 'self'\n")
TLS11 = ssl.TLSVersion.TLSv1_1


# (name, web config or None for none, client, path, request headers, expected status or None for a failed connection, cipher)
SERVER_CASES = [
    ("no web config, plain client", "", Client(), "/-/healthy", 200, None),
    ("no web config, TLS client", "", Client(tls=True), "/-/healthy", None, None),
    ("TLS config, plain client", TLS, Client(), "/-/healthy", None, None),
    ("TLS config, TLS client", TLS, Client(tls=True), "/-/healthy", 200, None),
    ("inline cert and key, TLS client", "inline", Client(tls=True), "/-/healthy", 200, None),
    ("TLS 1.1 client", TLS, Client(tls=True, max_version=TLS11), "/-/healthy", None, None),
    ("all ciphers", ALL_CIPHERS, Client(tls=True), "/-/healthy", 200, None),
    ("some ciphers, client offers one of them", SOME_CIPHERS, Client(tls=True, ciphers=GCM128), "/-/healthy", 200, GCM128),
    ("some ciphers, no common cipher", SOME_CIPHERS, Client(tls=True, ciphers=CBC256), "/-/healthy", None, None),
    ("multiple client ciphers, the server's order wins", SOME_CIPHERS, Client(tls=True, ciphers=f"{GCM256}:{GCM128}"),
     "/-/healthy", 200, GCM128),
    ("multiple client ciphers, client chooses (prefer_server_cipher_suites: false)",
     SOME_CIPHERS + "  prefer_server_cipher_suites: false\n", Client(tls=True, ciphers=f"{GCM256}:{GCM128}"), "/-/healthy", 200, GCM256),
    ("all curves", ALL_CURVES, Client(tls=True), "/-/healthy", 200, None),
    ("some curves, client has P-521", SOME_CURVES, Client(tls=True, curve="secp521r1"), "/-/healthy", 200, None),
    ("some curves, no common curve", SOME_CURVES, Client(tls=True, curve="secp384r1"), "/-/healthy", None, None),
    ("non-http2 ciphers with http2: false", NO_HTTP2, Client(tls=True, ciphers=CBC256), "/-/healthy", 200, CBC256),
    # Go refuses this one ("missing an HTTP/2-required cipher"); the exporter never speaks HTTP/2, so nothing is missing.
    ("non-http2 ciphers with http2 left on", NO_HTTP2_CIPHER, Client(tls=True, ciphers=CBC256), "/-/healthy", 200, CBC256),
    ("valid headers", HEADERS_GOOD, Client(), "/-/healthy", 200, None),
    ("RequireAnyClientCert, certificate given", REQUIRE_ANY, Client(tls=True, cert="client"), "/-/healthy", 200, None),
    ("RequireAnyClientCert, no certificate", REQUIRE_ANY, Client(tls=True), "/-/healthy", None, None),
    ("RequireAndVerifyClientCert, certificate given", REQUIRE_VERIFY, Client(tls=True, cert="client"), "/-/healthy", 200, None),
    ("RequireAndVerifyClientCert, certificate of another CA", REQUIRE_VERIFY, Client(tls=True, cert="stranger"), "/-/healthy", None, None),
    ("client_allowed_sans, good SAN DNS entry", SAN_GOOD, Client(tls=True, cert="client"), "/-/healthy", 200, None),
    ("client_allowed_sans, no allowed SAN", SAN_BAD, Client(tls=True, cert="client"), "/-/healthy", None, None),
    ("client_allowed_sans, IP SAN written in full", SAN_OTHER_KINDS, Client(tls=True, cert="client2"), "/-/healthy", 200, None),
    ("client_allowed_sans, other client without it", SAN_OTHER_KINDS, Client(tls=True, cert="client"), "/-/healthy", None, None),
    ("users, no credentials", "users", Client(), "/-/ready", 401, None),
    ("users, correct credentials", "users", Client(headers=auth("dave", "dave123")), "/-/ready", 200, None),
    ("users+TLS, no credentials", "users+tls", Client(tls=True), "/-/ready", 401, None),
    ("users+TLS, correct credentials", "users+tls", Client(tls=True, headers=auth("dave", "dave123")), "/-/ready", 200, None),
    ("users+TLS, another user", "users+tls", Client(tls=True, headers=auth("carol", "carol123")), "/-/ready", 200, None),
    ("users+TLS, bad password", "users+tls", Client(tls=True, headers=auth("dave", "bad")), "/-/ready", 401, None),
    ("users+TLS, bad user", "users+tls", Client(tls=True, headers=auth("nonexistent", "nonexistent")), "/-/ready", 401, None),
]


def config_text(name: str, pki: Path) -> str:
    if name == "inline":
        indent = lambda text: "\n".join("    " + line for line in text.strip().splitlines())  # noqa: E731
        return (f"tls_server_config:\n  cert: |\n{indent((pki / 'server.crt').read_text())}\n"
                f"  key: |\n{indent((pki / 'server.key').read_text())}\n")
    if name == "users":
        return users_yaml()
    if name == "users+tls":
        return users_yaml() + TLS
    return name


@pytest.mark.parametrize("name, text, client, path, status, cipher", SERVER_CASES, ids=[c[0] for c in SERVER_CASES])
async def test_server_behaviour(tmp_path: Path, pki: Path, name, text, client, path, status, cipher):
    for item in pki.iterdir():
        (tmp_path / item.name).write_bytes(item.read_bytes())
    runner, port = await serve(tmp_path, config_text(text, pki))
    try:
        got, negotiated, head = await request(port, client.context(pki), path, client.headers)
        assert got == status, (name, head)
        if cipher:
            assert negotiated == cipher
        if text == HEADERS_GOOD:
            assert "X-Frame-Options: SAMEORIGIN" in head and "X-Content-Type-Options: nosniff" in head
    finally:
        await runner.cleanup()


async def test_rate_limit_answers_too_many_requests_and_no_interval_means_no_limit(tmp_path: Path):
    for text, expected in (("rate_limit:\n  burst: 0\n", {200}), ("rate_limit:\n  interval: 1s\n  burst: 2\n", {200, 429})):
        runner, port = await serve(tmp_path, text)
        try:
            statuses = [(await request(port, None, "/-/healthy", {}))[0] for _ in range(10)]
        finally:
            await runner.cleanup()
        assert set(statuses) == expected, (text, statuses)
        if 429 in expected:
            assert statuses[:2] == [200, 200] and statuses[2:] == [429] * 8


YAML_CASES = [
    ("empty config", "", None),
    ("invalid structure", "- junk\n", "expected a mapping"),
    ("invalid key", "tls_server_confg: {}\n", "tls_server_confg: unknown key"),
    ("invalid TLS key", TLS + "  cert_path: x\n", "tls_server_config.cert_path: unknown key"),
    ("cert path empty", "tls_server_config:\n  cert_file: ''\n  key_file: server.key\n", "missing one of cert or cert_file"),
    ("key path empty", "tls_server_config:\n  cert_file: server.crt\n  key_file: ''\n", "missing one of key or key_file"),
    ("cert path and key path empty", "tls_server_config:\n  cert_file: ''\n  key_file: ''\n", "missing one of cert or cert_file"),
    ("cert path invalid", "tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n", "no such file"),
    ("key path invalid", "tls_server_config:\n  cert_file: server.crt\n  key_file: nope.key\n", "no such file"),
    ("client CA without a client auth policy", TLS + CA_AUTH, "without a client auth policy"),
    ("invalid ClientAuth", TLS + "  client_auth_type: Sometimes\n", "client_auth_type: 'Sometimes' is not one of"),
    ("client CA file invalid", TLS + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: nope.crt\n", "no such file"),
    ("client CA text without certificates", TLS + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca: junk\n", "cannot load the client CA"),
    ("invalid user list", "basic_auth_users:\n  dave: dave123\n", "basic_auth_users.dave: expected a bcrypt hash"),
    ("invented cipher", TLS + "  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n", "unknown cipher 'TLS_RSA_WITH_RC4_128_SHA'"),
    ("invented curve", TLS + "  curve_preferences: [CurveP257]\n", "unknown curve 'CurveP257'"),
    ("wrong TLS version", TLS + "  min_version: TLS111\n", "unknown TLS version 'TLS111'"),
    ("min_version above max_version", TLS + "  min_version: TLS13\n  max_version: TLS12\n", "min_version: TLS13 is above max_version TLS12"),
    ("client_allowed_sans without a required certificate",
     TLS + "  client_auth_type: VerifyClientCertIfGiven\n" + CA_AUTH + "  client_allowed_sans: [x]\n", "client_allowed_sans: requires"),
    ("X-Content-Type-Options value", "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n", "invalid value for X-Content-Type-Options"),
    ("X-Frame-Options value", "http_server_config:\n  headers:\n    X-Frame-Options: allow\n", "invalid value for X-Frame-Options"),
    ("header that cannot be set", "http_server_config:\n  headers:\n    Content-Type: text/html\n", "'Content-Type' can not be configured"),
    ("http2 not a boolean", "http_server_config:\n  http2: maybe\n", "http_server_config.http2: expected true or false"),
    ("rate limit without burst", "rate_limit:\n  interval: 1s\n", "rate_limit.burst"),
    ("rate limit bad interval", "rate_limit:\n  interval: soon\n  burst: 1\n", "rate_limit.interval"),
    ("cert and cert_file both", TLS + "  cert: x\n", "set either cert_file or cert"),
]


@pytest.mark.parametrize("name, text, error", YAML_CASES, ids=[c[0] for c in YAML_CASES])
def test_yaml_files(tmp_path: Path, pki: Path, name, text, error):
    for item in pki.iterdir():
        (tmp_path / item.name).write_bytes(item.read_bytes())
    (tmp_path / "web.yml").write_text(text)
    if error is None:
        config = load_web_config(tmp_path / "web.yml")
        assert config.ssl_context is None and not config.users
        return
    with pytest.raises(ConfigError) as raised:
        load_web_config(tmp_path / "web.yml")
    assert str(tmp_path / "web.yml") in str(raised.value) and error in str(raised.value), str(raised.value)


def test_a_missing_web_config_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ConfigError) as raised:
        load_web_config(tmp_path / "somefile")
    assert "somefile: cannot read" in str(raised.value) and "No such file" in str(raised.value)


def test_tls_defaults_are_tls12_to_tls13(tmp_path: Path, pki: Path):
    for item in pki.iterdir():
        (tmp_path / item.name).write_bytes(item.read_bytes())
    (tmp_path / "web.yml").write_text(TLS)
    context = load_web_config(tmp_path / "web.yml").ssl_context
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2 and context.maximum_version == ssl.TLSVersion.TLSv1_3
    (tmp_path / "web.yml").write_text(TLS + "  min_version: TLS13\n  max_version: TLS13\n")
    context = load_web_config(tmp_path / "web.yml").ssl_context
    assert context.minimum_version == context.maximum_version == ssl.TLSVersion.TLSv1_3
