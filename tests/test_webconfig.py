"""--web.config.file: TLS, mutual TLS, bcrypt basic auth and headers, as the Go exporters accept them."""

from __future__ import annotations

import base64
import ssl
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
import trustme

from exporter.app import State, create_app
from exporter.config import Config, ConfigError, DnsConfig, Target
from exporter.webconfig import BasicAuth, load_web_config
from tests.support.stack import require

PASSWORD = "s3cret-pass"


def htpasswd_hash(password: str, user: str = "prometheus") -> str:
    """The hash the real `htpasswd -nbBC 10` writes (Debian apache2-utils): $2y$, cost 10."""
    result = subprocess.run([require("htpasswd"), "-nbBC", "10", user, password], capture_output=True, text=True, check=True)
    hashed = result.stdout.strip().split(":", 1)[1]
    assert hashed.startswith("$2y$10$")
    return hashed


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def state() -> State:
    cfg = Config(targets=(Target(name="shop"),), dns=DnsConfig(names=("localhost",)))
    return State(config=cfg, config_file=None, loader=lambda: cfg)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def write_tls(tmp_path: Path, ca: trustme.CA) -> None:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "server.crt"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.crt"))


@pytest.fixture
async def auth_server(aiohttp_server, tmp_path: Path):
    (tmp_path / "web.yml").write_text(
        f"basic_auth_users:\n  prometheus: '{htpasswd_hash(PASSWORD)}'\n"
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    X-Content-Type-Options: nosniff\n"
    )
    web_config = load_web_config(tmp_path / "web.yml")
    server = await aiohttp_server(create_app(state(), web_config), host="127.0.0.1")
    async with aiohttp.ClientSession() as session:
        yield session, str(server.make_url(""))


@pytest.mark.parametrize("path", ["/metrics", "/probe?target=shop", "/", "/-/ready"])
async def test_everything_but_healthy_needs_credentials(auth_server, path):
    session, base = auth_server
    async with session.get(base + path) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    async with session.get(base + path, headers=basic("prometheus", "wrong")) as response:
        assert response.status == 401
    async with session.get(base + path, headers=basic("nobody", PASSWORD)) as response:
        assert response.status == 401
    async with session.get(base + path, headers=basic("prometheus", PASSWORD)) as response:
        assert response.status == 200
        assert response.headers["X-Frame-Options"] == "deny"


async def test_healthy_stays_open_and_reload_is_behind_auth(auth_server):
    session, base = auth_server
    async with session.get(base + "/-/healthy") as response:
        assert response.status == 200
    async with session.post(base + "/-/reload") as response:
        assert response.status == 401
    async with session.post(base + "/-/reload", headers=basic("prometheus", PASSWORD)) as response:
        assert response.status == 200


def test_unknown_users_pay_the_same_bcrypt_work_and_verified_passwords_are_cached():
    auth = BasicAuth({"prometheus": htpasswd_hash(PASSWORD).encode()})
    started = time.perf_counter()
    assert not auth.check(basic("nobody", PASSWORD)["Authorization"])
    unknown = time.perf_counter() - started
    assert unknown > 0.005, "an unknown user must be checked against a dummy hash, not rejected at once"
    header = basic("prometheus", PASSWORD)["Authorization"]
    assert not auth.cached(header)
    assert auth.check(header)
    assert auth.cached(header)
    assert not auth.cached(basic("prometheus", PASSWORD + "x")["Authorization"])


@pytest.mark.parametrize(
    "header", ["", "Bearer x", "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Basic " + base64.b64encode(b"\xff:\xfe").decode()]
)
def test_malformed_authorization_headers_are_refused_cleanly(header):
    assert not BasicAuth({"u": htpasswd_hash("p").encode()}).check(header)


async def test_tls_serves_metrics_to_a_client_that_trusts_the_ca(aiohttp_server, tmp_path: Path, ca):
    write_tls(tmp_path, ca)
    (tmp_path / "web.yml").write_text("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS12\n")
    web_config = load_web_config(tmp_path / "web.yml")
    server = await aiohttp_server(create_app(state(), web_config), host="127.0.0.1", ssl=web_config.ssl_context)
    client_ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"https://127.0.0.1:{server.port}/-/healthy", ssl=client_ctx) as response:
            assert response.status == 200
        with pytest.raises(aiohttp.ClientError):
            await session.get(f"https://127.0.0.1:{server.port}/-/healthy", ssl=ssl.create_default_context())


async def test_mutual_tls_requires_a_client_certificate_from_the_ca(aiohttp_server, tmp_path: Path, ca):
    write_tls(tmp_path, ca)
    (tmp_path / "web.yml").write_text(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n"
    )
    web_config = load_web_config(tmp_path / "web.yml")
    server = await aiohttp_server(create_app(state(), web_config), host="127.0.0.1", ssl=web_config.ssl_context)
    url = f"https://127.0.0.1:{server.port}/-/ready"
    without = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    with_cert = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    ca.issue_cert("prometheus@example").configure_cert(with_cert)
    async with aiohttp.ClientSession() as session:
        async with session.get(url, ssl=with_cert) as response:
            assert response.status == 200
        with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
            async with session.get(url, ssl=without) as response:
                await response.read()


@pytest.mark.parametrize(
    "text, expected",
    [
        ("basic_auth_users:\n  u: plaintext\n", "basic_auth_users.u: expected a bcrypt hash"),
        ("tls_server_config:\n  cert_file: a.crt\n", "cert_file/key_file: both are required"),
        ("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  client_auth_type: Sometimes\n", "client_auth_type: 'Sometimes'"),
        ("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n", "cannot load the certificate"),
        ("http_server_config:\n  headers:\n    Set-Cookie: x\n", "headers.Set-Cookie: not an allowed header"),
        ("basic_auth_user:\n  u: x\n", "basic_auth_user: unknown key"),
        ("- a\n", "expected a mapping"),
    ],
)
def test_bad_web_configs_name_file_key_and_reason(tmp_path: Path, text, expected):
    (tmp_path / "web.yml").write_text(text)
    with pytest.raises(ConfigError) as error:
        load_web_config(tmp_path / "web.yml")
    assert str(tmp_path / "web.yml") in str(error.value) and expected in str(error.value)
