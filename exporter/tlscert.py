"""What a TLS probe needs from a peer certificate (DER): validity end, subject, issuer, names; and
whether a host name matches those names (RFC 6125, as browsers and Python's ssl check it).

The certificate is parsed with the ``cryptography`` package when it is installed; without it, with
the decoder of Python's own ssl module (the one ``getpeercert()`` uses), through a temporary file.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass


@dataclass(frozen=True)
class CertFacts:
    not_after: float  # Unix time
    subject: str
    issuer: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]


def parse_der(der: bytes) -> CertFacts:
    try:
        import cryptography  # noqa: F401
    except ImportError:  # pragma: no cover - exercised by forcing the fallback in the tests
        return parse_der_with_ssl(der)
    return parse_der_with_cryptography(der)


def parse_der_with_cryptography(der: bytes) -> CertFacts:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    return CertFacts(cert.not_valid_after_utc.timestamp(), cert.subject.rfc4514_string(),
                     cert.issuer.rfc4514_string(), dns, ips)


def parse_der_with_ssl(der: bytes) -> CertFacts:
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(ssl.DER_cert_to_PEM_cert(der))
        decoded = ssl._ssl._test_decode_cert(path)  # type: ignore[attr-defined]
    finally:
        os.unlink(path)
    alt = decoded.get("subjectAltName", ())
    return CertFacts(
        float(ssl.cert_time_to_seconds(decoded["notAfter"])),
        _rdns(decoded.get("subject", ())),
        _rdns(decoded.get("issuer", ())),
        tuple(v for k, v in alt if k == "DNS"),
        tuple(str(ipaddress.ip_address(v.strip())) for k, v in alt if k == "IP Address"),
    )


_SHORT = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU", "countryName": "C",
          "localityName": "L", "stateOrProvinceName": "ST"}


def _rdns(rdns) -> str:
    """ssl's nested subject tuples as RFC 4514 text (most specific first), like cryptography's."""
    parts = [f"{_SHORT.get(k, k)}={v}" for rdn in rdns for k, v in rdn]
    return ",".join(reversed(parts))


def hostname_matches(host: str, cert: CertFacts) -> bool:
    """Does ``host`` match the certificate's subjectAltName? No common-name fallback (as browsers)."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        return any(ipaddress.ip_address(a) == ip for a in cert.ip_addresses)
    host = host.rstrip(".").lower()
    return any(_dns_match(name.rstrip(".").lower(), host) for name in cert.dns_names)


def _dns_match(pattern: str, host: str) -> bool:
    if not pattern.startswith("*."):
        return pattern == host
    # A wildcard stands for exactly one whole left-most label: *.example.com matches a.example.com only.
    first, _, rest = host.partition(".")
    return bool(first) and rest == pattern[2:] and "*" not in rest
