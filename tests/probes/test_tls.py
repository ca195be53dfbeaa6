"""probe_tls and probe_redirect against a real nginx serving certificates made for the test
(tests/support/tls_front.py): each case asserts the metrics and the diagnosis findings exactly."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from exporter.diagnosis import diagnose_target
from exporter.metrics import Samples
from exporter.probes.redirect import probe_redirect
from exporter.probes.tls import probe_tls
from exporter.probing import Deadline
from tests.conftest import deadline, free_port, target
from tests.support.servers import raw_server
from tests.support.tls_front import HOST, start_fronts

TLS_CHECKS = ["tls_cert_expired", "tls_cert_invalid", "tls_cert_expiring", "tls_old_protocol"]


@pytest.fixture(scope="module")
def fronts(tmp_path_factory):
    started = start_fronts(tmp_path_factory.mktemp("tls-nginx"))
    yield started
    started.stop()


def tls_rows(out: Samples) -> dict[str, dict]:
    """Every tls/redirect sample, by metric name, as {frozenset(labels minus target/url): value}."""
    rows: dict[str, dict] = {}
    for name, labels, value in out.store:
        if name.startswith(("inventory_tls_", "inventory_http_redirect_")):
            key = tuple(sorted((k, v) for k, v in labels.items() if k not in ("target", "url")))
            rows.setdefault(name, {})[key] = value
    return rows


async def probe(fronts, case: str, ctx, **overrides):
    out = Samples({"target": "t"})
    values = {"proxy_url": fronts.url(case), "proxy_host": HOST, "tls_ca_file": fronts.ca_file, **overrides}
    outcome = await asyncio.wait_for(probe_tls(target(**values), ctx, out, deadline()), 10)
    urls = {labels["url"] for _, labels, _ in out.store}
    assert urls <= {fronts.url(case)}
    diagnosis = diagnose_target(out.store, "t")
    findings = {f.id: f.evidence for f in diagnosis.findings}
    return outcome, out, findings, diagnosis


def check_common(fronts, case: str, out: Samples, version: str, server_name: str = HOST) -> dict:
    rows = tls_rows(out)
    seconds = rows.pop("inventory_tls_handshake_seconds")[()]
    assert 0 < seconds < 5
    assert rows.pop("inventory_tls_version_info") == {(("version", version),): 1}
    not_after = rows.pop("inventory_tls_cert_not_after_timestamp_seconds")[()]
    assert abs(not_after - fronts.cases[case].not_after.timestamp()) < 1
    info = list(rows.pop("inventory_tls_cert_info"))
    assert len(info) == 1 and dict(info[0])["server_name"] == server_name
    return rows


VALID_ROWS = {
    "inventory_tls_cert_hostname_match": {(): 1},
    "inventory_tls_cert_chain_verified": {(): 1},
    "inventory_tls_legacy_protocol_accepted": {(): 0},
}


async def test_valid_certificate_on_tls13_is_measured_and_nothing_is_found(fronts, ctx):
    outcome, out, findings, diagnosis = await probe(fronts, "valid", ctx)
    assert outcome.ok, outcome
    rows = check_common(fronts, "valid", out, "TLSv1.3")
    assert rows == VALID_ROWS
    info = dict(next(iter(tls_rows(out)["inventory_tls_cert_info"])))
    assert info["dns_names"] == HOST and "trustme" in info["issuer"]
    assert findings == {}
    assert sorted(c for c in diagnosis.evaluated) == sorted(TLS_CHECKS)


async def test_a_tls12_only_front_is_not_flagged(fronts, ctx):
    outcome, out, findings, _ = await probe(fronts, "tls12_only", ctx)
    assert outcome.ok, outcome
    assert check_common(fronts, "tls12_only", out, "TLSv1.2") == VALID_ROWS
    assert findings == {}


async def test_certificate_expiring_in_7_days_is_a_warning(fronts, ctx):
    outcome, out, findings, _ = await probe(fronts, "expiring_7d", ctx)
    assert outcome.ok, outcome
    assert check_common(fronts, "expiring_7d", out, "TLSv1.3") == VALID_ROWS
    assert list(findings) == ["tls_cert_expiring"]
    evidence = findings["tls_cert_expiring"]
    assert re.fullmatch(rf"{re.escape(fronts.url('expiring_7d'))} expires \S+ \S+ UTC \(in (6\.9|7\.0) days\)",
                        evidence["certificates"]), evidence
    assert evidence["threshold"] == "14 days"


async def test_certificate_expiring_in_2_days_is_critical(fronts, ctx):
    outcome, out, findings, _ = await probe(fronts, "expiring_2d", ctx)
    assert outcome.ok, outcome
    assert check_common(fronts, "expiring_2d", out, "TLSv1.3") == VALID_ROWS
    assert list(findings) == ["tls_cert_expired"]
    assert re.search(r"\(in (1\.9|2\.0) days\)$", findings["tls_cert_expired"]["certificates"])
    assert findings["tls_cert_expired"]["threshold"] == "3 days"


async def test_expired_certificate_is_critical_and_not_also_invalid(fronts, ctx):
    outcome, out, findings, _ = await probe(fronts, "expired", ctx)
    assert outcome.ok, outcome
    rows = check_common(fronts, "expired", out, "TLSv1.3")
    assert rows == {
        "inventory_tls_cert_hostname_match": {(): 1},
        "inventory_tls_cert_chain_verified": {(): 0},
        "inventory_tls_cert_verify_error_info": {(("error", "expired"), ("message", "certificate has expired")): 1},
        "inventory_tls_legacy_protocol_accepted": {(): 0},
    }
    assert list(findings) == ["tls_cert_expired"]
    assert re.search(r" expired \S+ \S+ UTC \((0\.9|1\.0) days ago\)$", findings["tls_cert_expired"]["certificates"])


async def test_certificate_for_another_host_is_a_hostname_mismatch(fronts, ctx):
    outcome, out, findings, _ = await probe(fronts, "wrong_host", ctx)
    assert outcome.ok, outcome
    rows = check_common(fronts, "wrong_host", out, "TLSv1.3")
    assert rows == {**VALID_ROWS, "inventory_tls_cert_hostname_match": {(): 0}}
    assert findings == {"tls_cert_invalid": {
        "problems": f"{fronts.url('wrong_host')} hostname mismatch: asked for {HOST}, the certificate is for other.example"
    }}


async def test_self_signed_certificate_is_an_untrusted_chain(fronts, ctx):
    outcome, out, findings, _ = await probe(fronts, "self_signed", ctx)
    assert outcome.ok, outcome
    rows = check_common(fronts, "self_signed", out, "TLSv1.3")
    assert rows == {
        "inventory_tls_cert_hostname_match": {(): 1},
        "inventory_tls_cert_chain_verified": {(): 0},
        "inventory_tls_cert_verify_error_info": {(("error", "self_signed"), ("message", "self-signed certificate")): 1},
        "inventory_tls_legacy_protocol_accepted": {(): 0},
    }
    assert findings == {"tls_cert_invalid": {
        "problems": f"{fronts.url('self_signed')} untrusted chain (self-signed): self-signed certificate; "
                    f"issuer CN={HOST}"
    }}


async def test_without_tls_ca_file_the_system_store_does_not_trust_the_test_ca(fronts, ctx):
    outcome, out, findings, _ = await probe(fronts, "valid", ctx, tls_ca_file=None)
    assert outcome.ok, outcome
    rows = check_common(fronts, "valid", out, "TLSv1.3")
    assert rows["inventory_tls_cert_chain_verified"] == {(): 0}
    assert rows["inventory_tls_cert_verify_error_info"] == {
        (("error", "untrusted"), ("message", "unable to get local issuer certificate")): 1}
    assert list(findings) == ["tls_cert_invalid"]
    assert findings["tls_cert_invalid"]["problems"].startswith(f"{fronts.url('valid')} untrusted chain: ")


async def test_sni_is_the_url_host_without_proxy_host(fronts, ctx):
    outcome, out, findings, _ = await probe(fronts, "valid", ctx, proxy_host=None)
    assert outcome.ok, outcome
    rows = check_common(fronts, "valid", out, "TLSv1.3", server_name="127.0.0.1")
    assert rows["inventory_tls_cert_hostname_match"] == {(): 0}  # the certificate names shop.example only
    assert "asked for 127.0.0.1, the certificate is for shop.example" in findings["tls_cert_invalid"]["problems"]


@pytest.mark.parametrize(("case", "version"), [("tls10_only", "TLSv1"), ("tls11_only", "TLSv1.1")])
async def test_a_front_speaking_only_tls10_or_11_is_an_old_protocol(fronts, ctx, case, version):
    """This machine's OpenSSL 3.0 speaks TLS 1.0/1.1 at security level 0 (nginx and the probe set it)."""
    outcome, out, findings, _ = await probe(fronts, case, ctx)
    assert outcome.ok, outcome
    rows = check_common(fronts, case, out, version)
    assert rows == {**VALID_ROWS, "inventory_tls_legacy_protocol_accepted": {(): 1}}  # chain judged over TLS 1.x
    assert findings == {"tls_old_protocol": {"fronts": f"{fronts.url(case)} negotiates {version}, accepts TLS 1.0/1.1"}}


async def test_a_front_that_also_accepts_tls10_is_an_old_protocol_though_it_negotiates_tls13(fronts, ctx):
    outcome, out, findings, _ = await probe(fronts, "tls10_to_13", ctx)
    assert outcome.ok, outcome
    rows = check_common(fronts, "tls10_to_13", out, "TLSv1.3")
    assert rows == {**VALID_ROWS, "inventory_tls_legacy_protocol_accepted": {(): 1}}
    assert findings == {"tls_old_protocol": {"fronts": f"{fronts.url('tls10_to_13')} accepts TLS 1.0/1.1"}}


async def test_an_https_app_url_is_examined_too_and_one_origin_once(fronts, ctx):
    url = fronts.url("expiring_7d")
    out = Samples({"target": "t"})
    t = target(app_url=url + "/", proxy_url=fronts.url("valid") + "/x", proxy_host=HOST, tls_ca_file=fronts.ca_file)
    assert (await probe_tls(t, ctx, out, deadline())).ok
    versions = sorted(labels["url"] for name, labels, _ in out.store if name == "inventory_tls_version_info")
    assert versions == sorted([url, fronts.url("valid")])
    assert list(f.id for f in diagnose_target(out.store, "t").findings) == ["tls_cert_expiring"]


# --- the front cannot be examined ----------------------------------------------------------------------


async def test_nothing_listening_fails_with_connection_refused_and_no_tls_samples(ctx):
    out = Samples({"target": "t"})
    outcome = await probe_tls(target(proxy_url=f"https://127.0.0.1:{free_port()}"), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "connection_refused")
    assert tls_rows(out) == {}
    assert diagnose_target(out.store, "t").findings == []


async def test_plain_http_on_an_https_url_fails_with_connection_error(fronts, ctx):
    out = Samples({"target": "t"})
    outcome = await probe_tls(target(proxy_url=fronts.url("no_redirect")), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "connection_error")
    assert "SSL" in outcome.detail
    assert tls_rows(out) == {}


async def silent(reader, writer):
    await reader.read()


async def test_a_front_that_never_handshakes_times_out_at_the_deadline(ctx):
    out = Samples({"target": "t"})
    async with raw_server(silent) as url:
        started = time.monotonic()
        outcome = await asyncio.wait_for(
            probe_tls(target(proxy_url=url.replace("http://", "https://")), ctx, out, Deadline(0.25)), 5)
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert time.monotonic() - started < 2
    assert tls_rows(out) == {}


async def test_a_ca_file_that_is_not_pem_fails_with_parse_error(fronts, ctx, tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    outcome, out, _, _ = await probe(fronts, "valid", ctx, tls_ca_file=bad)
    assert (outcome.ok, outcome.reason) == (False, "parse_error")
    assert str(bad) in outcome.detail
    assert "inventory_tls_cert_chain_verified" not in tls_rows(out)


async def test_a_missing_ca_file_fails_with_not_found(fronts, ctx, tmp_path):
    outcome, out, _, _ = await probe(fronts, "valid", ctx, tls_ca_file=tmp_path / "absent.pem")
    assert (outcome.ok, outcome.reason) == (False, "not_found")
    assert "inventory_tls_cert_chain_verified" not in tls_rows(out)


# --- the http -> https redirect -------------------------------------------------------------------


async def redirect(fronts, case: str, ctx, proxy_host: str | None = HOST):
    out = Samples({"target": "t"})
    url = fronts.url(case, "http") + "/shop?x=1"
    outcome = await probe_redirect(target(redirect_from=url, proxy_host=proxy_host), ctx, out, deadline())
    findings = {f.id: f.evidence for f in diagnose_target(out.store, "t").findings}
    return outcome, url, tls_rows(out), findings


@pytest.mark.parametrize(("case", "status"), [("redirect", 301), ("redirect_308", 308)])
async def test_redirect_to_https_on_the_same_host_passes(fronts, ctx, case, status):
    outcome, url, rows, findings = await redirect(fronts, case, ctx)
    assert outcome.ok, outcome
    assert rows == {
        "inventory_http_redirect_success": {(): 1},
        "inventory_http_redirect_status_code": {(): status},
        "inventory_http_redirect_location_info": {(("location", f"https://{HOST}/shop?x=1"),): 1},
    }
    assert findings == {}


async def test_redirect_without_proxy_host_is_to_the_url_host(fronts, ctx):
    outcome, url, rows, findings = await redirect(fronts, "redirect", ctx, proxy_host=None)
    assert rows["inventory_http_redirect_location_info"] == {(("location", "https://127.0.0.1/shop?x=1"),): 1}
    assert rows["inventory_http_redirect_success"] == {(): 1} and findings == {}


async def test_no_redirect_is_a_finding_with_what_was_seen(fronts, ctx):
    outcome, url, rows, findings = await redirect(fronts, "no_redirect", ctx)
    assert outcome.ok, outcome
    assert rows == {"inventory_http_redirect_success": {(): 0}, "inventory_http_redirect_status_code": {(): 200}}
    assert findings == {"https_redirect_missing": {"url": url, "seen": "status 200, no Location"}}


@pytest.mark.parametrize(("case", "status", "location"), [
    ("redirect_to_http", 301, f"http://{HOST}/elsewhere"),
    ("redirect_to_other_host", 302, "https://other.example/shop?x=1"),
])
async def test_a_redirect_to_plain_http_or_another_host_is_missing_https(fronts, ctx, case, status, location):
    outcome, url, rows, findings = await redirect(fronts, case, ctx)
    assert rows["inventory_http_redirect_success"] == {(): 0}
    assert rows["inventory_http_redirect_status_code"] == {(): status}
    assert findings == {"https_redirect_missing": {"url": url, "seen": f"status {status}, Location {location}"}}


async def test_redirect_from_nothing_listening_is_missing(ctx):
    out = Samples({"target": "t"})
    url = f"http://127.0.0.1:{free_port()}/"
    outcome = await probe_redirect(target(redirect_from=url), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "connection_refused")
    out.add("inventory_probe_failure_info", 1, probe="redirect", reason="connection_refused")  # as scrape.py records it
    findings = {f.id: f.evidence for f in diagnose_target(out.store, "t").findings}
    assert findings == {"https_redirect_missing": {"url": url, "seen": "no answer (connection_refused), no Location"}}


# --- the proxy probe and the root cause -------------------------------------------------------------


@pytest.mark.parametrize("case", ["self_signed", "expired", "wrong_host", "tls10_only"])
async def test_the_proxy_probe_answers_through_a_bad_certificate_or_old_protocol_so_it_is_not_proxy_down(fronts, ctx, case):
    from exporter.probes.proxy import probe_proxy

    out = Samples({"target": "t"})
    outcome = await probe_proxy(target(proxy_url=fronts.url(case) + "/", proxy_host=HOST), ctx, out, deadline())
    assert outcome.ok, outcome
    assert (out.value("inventory_proxy_up"), out.value("inventory_proxy_status_code")) == (1, 200)


@pytest.mark.parametrize(("case", "cause"), [
    ("valid", "none"), ("expiring_7d", "none"), ("expiring_2d", "none"), ("tls10_to_13", "none"),
    ("tls10_only", "https_front_rejected"), ("tls11_only", "https_front_rejected"),
    ("expired", "https_front_rejected"), ("wrong_host", "https_front_rejected"),
    ("self_signed", "https_front_rejected"),
])
async def test_a_certificate_browsers_refuse_is_the_root_cause_one_that_expires_soon_is_not(fronts, ctx, case, cause):
    *_, diagnosis = await probe(fronts, case, ctx)
    assert diagnosis.cause == cause


async def test_a_replaced_ca_file_is_read_again_and_the_verdict_follows_it(fronts, ctx, tmp_path):
    import os

    ca = tmp_path / "ca.pem"
    ca.write_bytes(fronts.ca_file.read_bytes())
    _, out, findings, _ = await probe(fronts, "valid", ctx, tls_ca_file=ca)
    assert findings == {} and tls_rows(out)["inventory_tls_cert_chain_verified"] == {(): 1}
    import trustme

    trustme.CA().cert_pem.write_to_path(str(ca))  # another CA: the front's chain no longer verifies
    os.utime(ca, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    _, out, findings, _ = await probe(fronts, "valid", ctx, tls_ca_file=ca)
    assert tls_rows(out)["inventory_tls_cert_chain_verified"] == {(): 0}
    assert list(findings) == ["tls_cert_invalid"]
    assert len([k for k in ctx.cache["tls_verify"] if k.startswith(f"{ca}:")]) == 1  # the old one dropped
