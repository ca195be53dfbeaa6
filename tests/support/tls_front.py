"""A real nginx serving https fronts with certificates made for the test: a test CA (trustme), leaf
certificates valid, expiring in 7 and 2 days, expired, for another host, one self-signed (built with
``cryptography``), fronts that speak only TLS 1.0 or 1.1, and plain-http servers that redirect to
https or do not. One nginx, one 127.0.0.1 port per case."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.stack import LoggedServer, nginx_conf, require

HOST = "shop.example"
NOW = dt.datetime.now(dt.timezone.utc)


def days(n: float) -> dt.datetime:
    return NOW + dt.timedelta(days=n)


def self_signed(host: str, path: Path) -> None:
    """A certificate for ``host`` signed by its own key: no CA vouches for it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(days(-1)).not_valid_after(days(90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + cert.public_bytes(serialization.Encoding.PEM)
    )


@dataclass
class Case:
    name: str
    port: int
    not_after: dt.datetime | None = None  # the leaf's notAfter, as issued


@dataclass
class TlsFronts:
    ca_file: Path
    cases: dict[str, Case] = field(default_factory=dict)
    server: LoggedServer | None = None

    def url(self, case: str, scheme: str = "https") -> str:
        return f"{scheme}://127.0.0.1:{self.cases[case].port}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


# name -> (identities, not_before days, not_after days, ssl_protocols); None identities = self-signed
CERT_CASES = {
    "valid": ((HOST,), -1, 90, "TLSv1.2 TLSv1.3"),
    "expiring_7d": ((HOST,), -80, 7, "TLSv1.2 TLSv1.3"),
    "expiring_2d": ((HOST,), -80, 2, "TLSv1.2 TLSv1.3"),
    "expired": ((HOST,), -90, -1, "TLSv1.2 TLSv1.3"),
    "wrong_host": (("other.example",), -1, 90, "TLSv1.2 TLSv1.3"),
    "self_signed": (None, -1, 90, "TLSv1.2 TLSv1.3"),
    "tls10_only": ((HOST,), -1, 90, "TLSv1"),
    "tls11_only": ((HOST,), -1, 90, "TLSv1.1"),
    "tls12_only": ((HOST,), -1, 90, "TLSv1.2"),
    "tls10_to_13": ((HOST,), -1, 90, "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3"),
}

TLS_SERVER = """
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name {host};
        ssl_certificate {cert};
        ssl_certificate_key {cert};
        ssl_protocols {protocols};
        ssl_ciphers DEFAULT:@SECLEVEL=0;
        location / {{ return 200 "ok"; }}
    }}"""

PLAIN_SERVER = """
    server {{
        listen 127.0.0.1:{port};
        location / {{ {action} }}
    }}"""

# name -> the port 80 server's answer
REDIRECT_CASES = {
    "redirect": "return 301 https://$host$request_uri;",
    "redirect_308": "return 308 https://$host$request_uri;",
    "no_redirect": 'return 200 "plain http";',
    "redirect_to_http": "return 301 http://$host/elsewhere;",
    "redirect_to_other_host": "return 302 https://other.example$request_uri;",
}


def distinct_free_ports(count: int) -> list[int]:
    """``count`` different loopback ports nothing listens on: all held at once while chosen (two
    free_port() calls may return the same port, and nginx would then share it between two cases)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def start_fronts(prefix: Path) -> TlsFronts:
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    fronts = TlsFronts(prefix / "ca.pem")
    ca.cert_pem.write_to_path(str(fronts.ca_file))
    servers = []
    ports = iter(distinct_free_ports(len(CERT_CASES) + len(REDIRECT_CASES)))
    for name, (identities, start, end, protocols) in CERT_CASES.items():
        cert = prefix / f"{name}.pem"
        if identities is None:
            self_signed(HOST, cert)
        else:
            leaf = ca.issue_cert(*identities, not_before=days(start), not_after=days(end))
            leaf.private_key_and_cert_chain_pem.write_to_path(str(cert))
        case = fronts.cases[name] = Case(name, next(ports), days(end))
        servers.append(TLS_SERVER.format(port=case.port, host=HOST, cert=cert, protocols=protocols))
    for name, action in REDIRECT_CASES.items():
        case = fronts.cases[name] = Case(name, next(ports))
        servers.append(PLAIN_SERVER.format(port=case.port, action=action))
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, "\n".join(servers)))
    binary = require("nginx")
    args = [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    check = subprocess.run(args[:1] + ["-t"] + args[1:], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    last = fronts.cases[list(REDIRECT_CASES)[-1]].port
    fronts.server = LoggedServer("nginx", args, prefix / "nginx.out", port=last)
    return fronts
