"""exporter.tlscert: a certificate's facts read by cryptography and by Python's own ssl decoder agree
(the fallback when cryptography is not installed), and host names match as RFC 6125 says."""

from __future__ import annotations

import datetime as dt
import ssl

import pytest
import trustme

from exporter.tlscert import CertFacts, hostname_matches, parse_der_with_cryptography, parse_der_with_ssl

NOT_AFTER = dt.datetime(2031, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def der() -> bytes:
    ca = trustme.CA(organization_name="Test CA")
    leaf = ca.issue_cert("shop.example", "*.cdn.example", "127.0.0.1", "::1", common_name="shop.example",
                         not_after=NOT_AFTER)
    return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())


def test_cryptography_reads_the_dates_names_subject_and_issuer(der):
    facts = parse_der_with_cryptography(der)
    assert facts.not_after == NOT_AFTER.timestamp()
    assert facts.dns_names == ("shop.example", "*.cdn.example")
    assert facts.ip_addresses == ("127.0.0.1", "::1")
    assert "CN=shop.example" in facts.subject
    assert "O=Test CA" in facts.issuer


def test_the_ssl_fallback_reads_the_same_facts(der):
    ours, fallback = parse_der_with_cryptography(der), parse_der_with_ssl(der)
    assert (fallback.not_after, fallback.dns_names, fallback.ip_addresses) == (
        ours.not_after, ours.dns_names, ours.ip_addresses)
    assert "CN=shop.example" in fallback.subject and "O=Test CA" in fallback.issuer


CERT = CertFacts(0.0, "CN=x", "CN=ca", ("shop.example", "*.cdn.example", "Upper.Example."), ("127.0.0.1", "::1"))


@pytest.mark.parametrize(("host", "match"), [
    ("shop.example", True), ("SHOP.example.", True), ("upper.example", True),
    ("a.cdn.example", True), ("cdn.example", False), ("a.b.cdn.example", False),  # one whole label only
    ("other.example", False), ("shop.example.evil", False), ("", False),
    ("127.0.0.1", True), ("::1", True), ("[::1]", True), ("127.0.0.2", False),
])
def test_host_names_match_the_subject_alt_names(host, match):
    assert hostname_matches(host, CERT) is match


def test_a_name_is_never_matched_by_an_ip_entry_nor_the_reverse():
    assert not hostname_matches("127.0.0.1", CertFacts(0.0, "", "", ("127.0.0.1",), ()))
    assert not hostname_matches("localhost", CertFacts(0.0, "", "", (), ("127.0.0.1",)))
