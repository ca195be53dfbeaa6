"""Is the HTTPS front sound: how long its handshake takes, which protocol it speaks, when its
certificate expires, whether the chain verifies and the name matches, and whether it still accepts
TLS 1.0/1.1.

Three handshakes per https:// URL (proxy_url, and app_url when it is https), SNI = ``proxy_host`` if
set, else the URL's host:

1. *inspect*: no verification, every protocol this OpenSSL can speak (TLS 1.0 to 1.3, security level
   0): the handshake time, the negotiated protocol and the certificate, even when it is expired,
   untrusted or for another name.
2. *verify*: against ``tls_ca_file`` or the system trust store, host name not checked there (it is
   matched against the certificate's names here, so a wrong name is told apart from a bad chain).
   OpenSSL's verify error says why a chain fails: untrusted/self-signed, expired, not yet valid.
3. *legacy*: TLS 1.0/1.1 only. Python and OpenSSL 3 refuse to offer those at the default security
   level, so this context (and the inspect one) sets ``DEFAULT:@SECLEVEL=0``; with it, this
   machine's OpenSSL 3.0 negotiates TLS 1.0 and 1.1 with nginx (tests/probes/test_tls.py).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
import warnings
from dataclasses import dataclass
from urllib.parse import urlsplit

from exporter.config import Target
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext, classify_os_error
from exporter.tlscert import CertFacts, hostname_matches, parse_der

LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"

# OpenSSL X509_V_ERR_* codes, grouped by what they mean to an operator.
VERIFY_ERRORS = {
    9: "not_yet_valid",
    10: "expired",
    18: "self_signed",
    19: "self_signed",  # self-signed certificate in the chain
    2: "untrusted",  # unable to get issuer certificate
    20: "untrusted",  # unable to get local issuer certificate
    21: "untrusted",  # unable to verify the first certificate
    27: "untrusted",  # certificate not trusted
    62: "hostname_mismatch",
}


def https_urls(target: Target) -> list[str]:
    """The target's https origins, proxy first, without repeats."""
    urls = [u for u in (target.proxy_url, target.app_url) if u and urlsplit(u).scheme == "https"]
    return list(dict.fromkeys(origin(u) for u in urls))


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"https://{parts.hostname if ':' not in (parts.hostname or '') else '[' + parts.hostname + ']'}:{parts.port or 443}"


def server_name(target: Target, url: str) -> str:
    return target.proxy_host or urlsplit(url).hostname or ""


@dataclass(frozen=True)
class Handshake:
    version: str
    seconds: float
    der: bytes


async def probe_tls(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    outcomes = await asyncio.gather(*(check_front(target, ctx, out, deadline, url) for url in https_urls(target)))
    failed = [o for o in outcomes if not o.ok]
    return failed[0] if failed else Outcome.success()


async def check_front(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline, url: str) -> Outcome:
    parts = urlsplit(url)
    host, port, sni = parts.hostname or "", parts.port or 443, server_name(target, url)
    labels = {"url": url}
    try:
        seen = await handshake(host, port, sni, inspect_context(), deadline)
    except (OSError, asyncio.TimeoutError) as exc:  # ssl.SSLError is an OSError: no TLS there at all
        return Outcome.fail(classify_os_error(exc), f"{url}: {exc!r}")
    out.add("inventory_tls_handshake_seconds", seen.seconds, **labels)
    out.add("inventory_tls_version_info", 1, version=seen.version, **labels)
    cert = parse_der(seen.der)
    out.add("inventory_tls_cert_not_after_timestamp_seconds", cert.not_after, **labels)
    out.add("inventory_tls_cert_info", 1, server_name=sni, subject=_cut(cert.subject), issuer=_cut(cert.issuer),
            dns_names=_cut(",".join(cert.dns_names + cert.ip_addresses)), **labels)
    out.add("inventory_tls_cert_hostname_match", int(hostname_matches(sni, cert)), **labels)
    legacy = seen.version in ("TLSv1", "TLSv1.1")
    try:
        verifier = await verify_context(ctx, deadline, target, legacy)
    except ssl.SSLError as exc:  # not a PEM bundle
        return Outcome.fail("parse_error", f"tls_ca_file {target.tls_ca_file}: {exc}")
    except (OSError, asyncio.TimeoutError) as exc:
        return Outcome.fail(classify_os_error(exc), f"tls_ca_file {target.tls_ca_file}: {exc!r}")
    verified, accepts_legacy = await asyncio.gather(
        verify(host, port, sni, verifier, deadline), legacy_accepted(host, port, sni, deadline)
    )
    if isinstance(verified, Outcome):
        return verified
    out.add("inventory_tls_cert_chain_verified", int(verified is None), **labels)
    if verified is not None:
        out.add("inventory_tls_cert_verify_error_info", 1, error=verified[0], message=verified[1], **labels)
    if isinstance(accepts_legacy, Outcome):
        return accepts_legacy
    out.add("inventory_tls_legacy_protocol_accepted", int(accepts_legacy), **labels)
    return Outcome.success()


def _cut(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def handshake(host: str, port: int, sni: str, context: ssl.SSLContext, deadline: Deadline) -> Handshake:
    """TCP connect, then the TLS handshake alone is timed; the connection is closed after."""
    async with asyncio.timeout(deadline.remaining()):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            started = time.perf_counter()
            await writer.start_tls(context, server_hostname=sni or None)
            seconds = time.perf_counter() - started
            tls = writer.get_extra_info("ssl_object")
            return Handshake(tls.version() or "", seconds, tls.getpeercert(binary_form=True) or b"")
        finally:
            writer.transport.abort()


async def verify(host: str, port: int, sni: str, context: ssl.SSLContext, deadline: Deadline):
    """None when the chain verifies; (error class, OpenSSL message) when it does not; an Outcome
    when the front could not be reached this time."""
    try:
        await handshake(host, port, sni, context, deadline)
    except ssl.SSLCertVerificationError as exc:
        return VERIFY_ERRORS.get(exc.verify_code, "other"), str(exc.verify_message or exc.reason or "")
    except (OSError, asyncio.TimeoutError) as exc:
        return Outcome.fail(classify_os_error(exc), f"verify {host}:{port}: {exc!r}")
    return None


async def legacy_accepted(host: str, port: int, sni: str, deadline: Deadline):
    try:
        await handshake(host, port, sni, legacy_only_context(), deadline)
    except ssl.SSLError:
        return False  # refused: the alert "protocol version" (or no shared cipher)
    except (OSError, asyncio.TimeoutError) as exc:
        return Outcome.fail(classify_os_error(exc), f"legacy {host}:{port}: {exc!r}")
    return True


def _open_protocols(context: ssl.SSLContext, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context.set_ciphers(LEGACY_CIPHERS)
    with warnings.catch_warnings():  # TLSVersion.TLSv1/TLSv1_1 are deprecated: asking for them is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        if maximum is not None:
            context.maximum_version = maximum
    return context


def _unverified() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def inspect_context() -> ssl.SSLContext:
    return _open_protocols(_unverified())


_ANY: list[ssl.SSLContext] = []


def any_tls() -> ssl.SSLContext:
    """One shared context that accepts any certificate and protocol (for requests, not judgements)."""
    if not _ANY:
        _ANY.append(inspect_context())
    return _ANY[0]


def legacy_only_context() -> ssl.SSLContext:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _open_protocols(_unverified(), ssl.TLSVersion.TLSv1_1)


async def verify_context(ctx: ProbeContext, deadline: Deadline, target: Target, legacy: bool) -> ssl.SSLContext:
    """A verifying context for the CA file (or the system store), kept while the file is unchanged.

    Loading a trust store reads files, and so does looking at the CA file's modification time: done
    in the probe threads (a hung file system cannot hold the loop). ``legacy`` opens TLS 1.0/1.1 for
    a front that speaks nothing newer, so its chain can still be judged.
    """
    contexts = ctx.cache.setdefault("tls_verify", {})  # this probe's own: key -> context
    if target.tls_ca_file is None:
        cached = contexts.get(f"system:{legacy}")
        if cached is not None:
            return cached
    return await ctx.blocking(deadline, cached_verify_context, contexts, target.tls_ca_file, legacy)


def cached_verify_context(cache: dict, ca_file, legacy: bool) -> ssl.SSLContext:
    if ca_file is None:
        key, prefix = f"system:{legacy}", None
    else:
        prefix = f"{ca_file}:{legacy}:"
        key = prefix + str(os.stat(ca_file).st_mtime_ns)
    found = cache.get(key)
    if found is None:
        found = build_verify_context(ca_file, legacy)
        for stale in [k for k in list(cache) if prefix and k.startswith(prefix)]:  # the file's earlier versions
            cache.pop(stale, None)
        cache[key] = found
    return found


def build_verify_context(ca_file, legacy: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
    context.check_hostname = False  # matched against the certificate's names in check_front
    return _open_protocols(context) if legacy else context


__all__ = ["CertFacts", "probe_tls", "https_urls"]
