"""The detectors of the https front's checks (exporter.probes.tls and .redirect): certificate expiry,
an invalid certificate (name or chain), old protocols, and the missing http -> https redirect."""

from __future__ import annotations

import time
from typing import Callable

from exporter.facts import THRESHOLDS, Facts

DAY = 86400.0


def _date(unix: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(unix))


def _left(not_after: float, now: float) -> str:
    days = (not_after - now) / DAY
    return f"expires {_date(not_after)} (in {days:.1f} days)" if days >= 0 else \
        f"expired {_date(not_after)} ({-days:.1f} days ago)"


def _cert_expiry(low_key: str | None, high_key: str, clock: Callable[[], float] = time.time):
    """Certificates with days left in [THRESHOLDS[low_key], THRESHOLDS[high_key]) (no lower bound when None)."""

    def detect(f: Facts):
        rows = f.all("inventory_tls_cert_not_after_timestamp_seconds")
        if not rows:
            return False
        now = clock()
        low = THRESHOLDS[low_key] if low_key else float("-inf")
        due = [(l["url"], v) for l, v in rows if low <= (v - now) / DAY < THRESHOLDS[high_key]]
        if not due:
            return None
        return {"certificates": "; ".join(f"{url} {_left(v, now)}" for url, v in due),
                "threshold": f"{THRESHOLDS[high_key]:.0f} days"}

    return detect


def _cert_invalid(f: Facts):
    """The name does not match, or the chain does not verify for a reason other than the leaf's dates
    (an expired leaf is tls_cert_expired's finding)."""
    names = f.all("inventory_tls_cert_hostname_match")
    chains = f.all("inventory_tls_cert_chain_verified")
    if not names and not chains:
        return False
    problems = []
    info = {l["url"]: l for l, _ in f.all("inventory_tls_cert_info")}
    for labels, value in names:
        if not value:
            cert = info.get(labels["url"], {})
            problems.append(f"{labels['url']} hostname mismatch: asked for {cert.get('server_name', '?')}, "
                            f"the certificate is for {cert.get('dns_names') or cert.get('subject', '?')}")
    errors = {l["url"]: l for l, _ in f.all("inventory_tls_cert_verify_error_info")}
    for labels, value in chains:
        error = errors.get(labels["url"], {})
        if value or (error.get("error") == "expired" and _leaf_expired(f, labels["url"])):
            continue
        what = {"self_signed": "untrusted chain (self-signed)", "untrusted": "untrusted chain"}.get(
            error.get("error", ""), f"chain not verified ({error.get('error', 'unknown')})")
        issuer = info.get(labels["url"], {}).get("issuer", "?")
        problems.append(f"{labels['url']} {what}: {error.get('message', '')}; issuer {issuer}")
    return {"problems": "; ".join(problems)} if problems else None


def leaf_expired(f: Facts) -> bool:
    """Has the certificate of any https front expired (not only: expires soon)?"""
    return any(v < time.time() for _, v in f.all("inventory_tls_cert_not_after_timestamp_seconds"))


def _leaf_expired(f: Facts, url: str) -> bool:
    not_after = f.get("inventory_tls_cert_not_after_timestamp_seconds", url=url)
    return not_after is not None and not_after < time.time()


LEGACY_VERSIONS = ("TLSv1", "TLSv1.1", "SSLv3")


def only_old_tls(f: Facts) -> bool:
    """Did a front negotiate TLS below 1.2 though every protocol was offered (it speaks nothing newer)?"""
    return any(l.get("version") in LEGACY_VERSIONS for l, _ in f.all("inventory_tls_version_info"))


def _old_protocol(f: Facts):
    accepted = f.all("inventory_tls_legacy_protocol_accepted")
    versions = f.all("inventory_tls_version_info")
    if not accepted and not versions:
        return False
    old = {l["url"]: f"negotiates {l['version']}" for l, _ in versions if l.get("version") in LEGACY_VERSIONS}
    for labels, value in accepted:
        if value:
            old[labels["url"]] = (old[labels["url"]] + ", " if labels["url"] in old else "") + "accepts TLS 1.0/1.1"
    return {"fronts": "; ".join(f"{url} {what}" for url, what in old.items())} if old else None


def _redirect_missing(f: Facts):
    rows = f.all("inventory_http_redirect_success")
    if not rows:
        return False
    failing = [l["url"] for l, v in rows if not v]
    if not failing:
        return None
    url = failing[0]
    status = f.get("inventory_http_redirect_status_code", url=url)
    location = next((l["location"] for l, _ in f.all("inventory_http_redirect_location_info", url=url)), "")
    seen = f"status {int(status)}" if status else f"no answer ({f.failure('redirect') or 'unknown'})"
    return {"url": url, "seen": seen + (f", Location {location}" if location else ", no Location")}
