"""``tls_server_config`` of the exporter-toolkit web config, as an ``ssl.SSLContext``.

Every key of the exporter-toolkit is implemented; where Python's ``ssl`` cannot do what Go does,
the config is refused at start-up with the reason (never accepted and ignored):

- ``cipher_suites`` takes Go's names (``tls.CipherSuites()``: the secure ones) and maps them to
  OpenSSL's; they apply to TLS 1.2 and below, as in Go (TLS 1.3 suites are not configurable).
- ``curve_preferences`` takes Go's names (CurveP256, CurveP384, CurveP521, X25519), in order.
- ``client_allowed_sans``: after the handshake, a client certificate with none of these DNS, email,
  IP or URI SANs is cut off before any request is read (Go fails the handshake itself).
- Python's ``ssl`` verifies every client certificate it asks for, so every client_auth_type but
  NoClientCert needs a client CA (``RequestClientCert`` and ``RequireAnyClientCert`` verify too).
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import ssl
from pathlib import Path
from typing import Any, Callable

CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireClientCert": ssl.CERT_REQUIRED,  # the exporter-toolkit's old name of RequireAnyClientCert
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
SAN_AUTH_TYPES = ("RequireAnyClientCert", "RequireClientCert", "RequireAndVerifyClientCert")
TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# Go's tls.CipherSuites() names → OpenSSL names; None: a TLS 1.3 suite (accepted, as in Go, not configurable).
CIPHER_SUITES: dict[str, str | None] = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
}
CURVES = {"CurveP256": "P-256", "CurveP384": "P-384", "CurveP521": "P-521", "X25519": "X25519"}
TLS_KEYS = {
    "cert_file", "key_file", "cert", "key", "client_auth_type", "client_ca_file", "client_ca", "min_version", "max_version",
    "cipher_suites", "curve_preferences", "prefer_server_cipher_suites", "client_allowed_sans",
}
SSL_CTRL_SET_GROUPS_LIST = 92


class TLSProblem(Exception):
    """A key of tls_server_config that cannot be used: ``key`` and the reason."""

    def __init__(self, key: str, reason: str):
        super().__init__(f"{key}: {reason}")


def build_context(raw: dict[str, Any], base: Path) -> tuple[ssl.SSLContext, Callable[[Any], bool] | None]:
    """The server context and the post-handshake peer check (client_allowed_sans), or TLSProblem."""
    for key in raw:
        if key not in TLS_KEYS:
            raise TLSProblem(key, "unknown key")
    auth = _client_auth(raw)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _versions(context, raw)
    _load_certificate(context, raw, base)
    _load_client_ca(context, raw, base)
    context.verify_mode = CLIENT_AUTH[auth]
    _cipher_suites(context, raw)
    _curves(context, raw)
    prefer = raw.get("prefer_server_cipher_suites", True)
    if not isinstance(prefer, bool):
        raise TLSProblem("prefer_server_cipher_suites", f"expected true or false, got {prefer!r}")
    if prefer:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_alpn_protocols(["http/1.1"])  # aiohttp serves HTTP/1.1 only (see http_server_config.http2)
    return context, _san_check(raw, auth)


def _client_auth(raw: dict[str, Any]) -> str:
    if not (raw.get("cert_file") or raw.get("cert")):
        raise TLSProblem("cert_file/key_file", "both are required for TLS: missing one of cert or cert_file")
    if not (raw.get("key_file") or raw.get("key")):
        raise TLSProblem("cert_file/key_file", "both are required for TLS: missing one of key or key_file")
    for path_key, inline_key in (("cert_file", "cert"), ("key_file", "key"), ("client_ca_file", "client_ca")):
        if raw.get(path_key) and raw.get(inline_key):
            raise TLSProblem(inline_key, f"set either {path_key} or {inline_key}, not both")
    auth = raw.get("client_auth_type") or "NoClientCert"
    if auth not in CLIENT_AUTH:
        raise TLSProblem("client_auth_type", f"{auth!r} is not one of {', '.join(CLIENT_AUTH)}")
    has_ca = bool(raw.get("client_ca_file") or raw.get("client_ca"))
    if has_ca and auth == "NoClientCert":
        raise TLSProblem("client_auth_type", "client CAs are configured without a client auth policy (NoClientCert)")
    if auth != "NoClientCert" and not has_ca:
        raise TLSProblem("client_ca_file", f"required with client_auth_type {auth}: Python's ssl verifies every client "
                                           "certificate it asks for")
    return auth


def _versions(context: ssl.SSLContext, raw: dict[str, Any]) -> None:
    chosen = {}
    for key, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        name = raw.get(key, default)
        if name not in TLS_VERSIONS:
            raise TLSProblem(key, f"unknown TLS version {name!r}: one of {', '.join(TLS_VERSIONS)}")
        chosen[key] = TLS_VERSIONS[name]
    if chosen["min_version"] > chosen["max_version"]:
        raise TLSProblem("min_version", f"{raw.get('min_version', 'TLS12')} is above max_version "
                                        f"{raw.get('max_version', 'TLS13')}: no TLS version would be left")
    try:
        context.minimum_version = chosen["min_version"]
        context.maximum_version = chosen["max_version"]
    except ValueError as exc:
        raise TLSProblem("min_version", f"not available in this OpenSSL: {exc}") from None


def _load_certificate(context: ssl.SSLContext, raw: dict[str, Any], base: Path) -> None:
    try:
        with _PemPath(raw, "cert_file", "cert", base) as cert, _PemPath(raw, "key_file", "key", base) as key:
            context.load_cert_chain(cert, key)
    except FileNotFoundError as exc:
        raise TLSProblem("cert_file", f"cannot load the certificate or key: no such file: {exc.filename}") from None
    except (OSError, ssl.SSLError) as exc:
        raise TLSProblem("cert_file", f"cannot load the certificate or key: {exc}") from None


def _load_client_ca(context: ssl.SSLContext, raw: dict[str, Any], base: Path) -> None:
    try:
        if raw.get("client_ca_file"):
            context.load_verify_locations(cafile=str(base / raw["client_ca_file"]))
        elif raw.get("client_ca"):
            context.load_verify_locations(cadata=str(raw["client_ca"]))
    except FileNotFoundError as exc:
        raise TLSProblem("client_ca_file", f"cannot load the client CA: no such file: {exc.filename}") from None
    except (OSError, ssl.SSLError, ValueError) as exc:
        key = "client_ca_file" if raw.get("client_ca_file") else "client_ca"
        raise TLSProblem(key, f"cannot load the client CA (no PEM certificate in it?): {exc}") from None


class _PemPath:
    """A path to the PEM of ``path_key`` (relative to the web config) or of inline ``inline_key``
    (an anonymous in-memory file, so an inline key never touches the disk)."""

    def __init__(self, raw: dict[str, Any], path_key: str, inline_key: str, base: Path):
        self.path = str(base / raw[path_key]) if raw.get(path_key) else None
        self.inline = None if self.path else str(raw[inline_key])
        self.fd = -1

    def __enter__(self) -> str:
        if self.path is not None:
            return self.path
        self.fd = os.memfd_create("web-config-pem", os.MFD_CLOEXEC)
        os.write(self.fd, self.inline.encode())
        return f"/proc/self/fd/{self.fd}"

    def __exit__(self, *exc) -> None:
        if self.fd >= 0:
            os.close(self.fd)


def _names(raw: dict[str, Any], key: str) -> list[str] | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TLSProblem(key, "expected a list of names")
    return value


def _cipher_suites(context: ssl.SSLContext, raw: dict[str, Any]) -> None:
    names = _names(raw, "cipher_suites")
    if not names:
        return
    unknown = [n for n in names if n not in CIPHER_SUITES]
    if unknown:
        raise TLSProblem("cipher_suites", f"unknown cipher {unknown[0]!r} (Go's secure suites only: {', '.join(CIPHER_SUITES)})")
    openssl = [CIPHER_SUITES[n] for n in names if CIPHER_SUITES[n]]
    if not openssl:
        raise TLSProblem("cipher_suites", "lists TLS 1.3 suites only, which are not configurable: TLS 1.2 would have none")
    try:
        context.set_ciphers(":".join(openssl))
    except ssl.SSLError:
        raise TLSProblem("cipher_suites", f"none of {', '.join(names)} is available in this OpenSSL") from None


def _curves(context: ssl.SSLContext, raw: dict[str, Any]) -> None:
    names = _names(raw, "curve_preferences")
    if not names:
        return
    unknown = [n for n in names if n not in CURVES]
    if unknown:
        raise TLSProblem("curve_preferences", f"unknown curve {unknown[0]!r}: one of {', '.join(CURVES)}")
    groups = [CURVES[n] for n in names]
    if _set_groups(context, groups):
        return
    if len(groups) == 1:
        context.set_ecdh_curve({"P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1"}.get(groups[0], groups[0]))
        return
    raise TLSProblem("curve_preferences", "this Python's ssl module can set one curve only; list a single curve")


def _set_groups(context: ssl.SSLContext, groups: list[str]) -> bool:
    """OpenSSL's SSL_CTX_set1_groups_list on the context (Python's ssl has no call for a list of
    groups). The context pointer is checked against the context's options before use."""
    try:
        import _ssl

        lib = ctypes.CDLL(_ssl.__file__)
        pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
        get_options = lib.SSL_CTX_get_options
        get_options.argtypes, get_options.restype = [ctypes.c_void_p], ctypes.c_uint64
        if not pointer or get_options(pointer) != context.options:
            return False
        ctrl = lib.SSL_CTX_ctrl
        ctrl.argtypes, ctrl.restype = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_char_p], ctypes.c_long
        return ctrl(pointer, SSL_CTRL_SET_GROUPS_LIST, 0, ":".join(groups).encode()) == 1
    except (OSError, AttributeError, ImportError, ValueError):
        return False


def _san_check(raw: dict[str, Any], auth: str) -> Callable[[Any], bool] | None:
    allowed = _names(raw, "client_allowed_sans")
    if allowed is None:
        return None
    if auth not in SAN_AUTH_TYPES:
        raise TLSProblem("client_allowed_sans", "requires client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert "
                                                "(otherwise a client may send no certificate to match)")
    wanted = {_normal(v) for v in allowed}

    def peer_has_allowed_san(transport: Any) -> bool:
        cert = transport.get_extra_info("peercert") or {}
        return any(_normal(value) in wanted for _, value in cert.get("subjectAltName", ()))

    return peer_has_allowed_san


def _normal(value: str) -> str:
    """IP addresses compare by value (Python prints IPv6 SANs in full and upper case, Go compressed)."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return value
