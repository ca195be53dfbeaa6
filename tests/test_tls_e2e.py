"""End to end: the real exporter (a subprocess) watching a real app behind real nginx https fronts with
generated certificates (tests/support/tls_front.py). One target per case; /metrics is promtool-clean
and says, per target, exactly which https findings are active and the root cause."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port
from tests.support.exporter_proc import Exporter, fetch
from tests.support.stack import require, start_app
from tests.support.tls_front import HOST, start_fronts
from tests.test_promtool import promtool

# target -> (https front case, redirect_from case or None)
TARGETS = {
    "valid": ("valid", "redirect"),
    "expiring": ("expiring_7d", "no_redirect"),
    "expiring-2d": ("expiring_2d", None),
    "expired": ("expired", None),
    "wrong-host": ("wrong_host", None),
    "self-signed": ("self_signed", None),
    "tls10": ("tls10_only", None),
}
EXPECTED = {  # target -> (active findings, root cause)
    "valid": (set(), "none"),
    "expiring": ({"tls_cert_expiring", "https_redirect_missing"}, "none"),
    "expiring-2d": ({"tls_cert_expired"}, "none"),
    "expired": ({"tls_cert_expired"}, "https_front_rejected"),
    "wrong-host": ({"tls_cert_invalid"}, "https_front_rejected"),
    "self-signed": ({"tls_cert_invalid"}, "https_front_rejected"),
    "tls10": ({"tls_old_protocol"}, "https_front_rejected"),
}
HTTPS_CHECKS = {"tls_cert_expired", "tls_cert_invalid", "tls_cert_expiring", "tls_old_protocol"}


@pytest.fixture(scope="module")
def body(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tls-e2e")
    fronts = start_fronts(tmp / "nginx")
    app_port = free_port()
    app = start_app(tmp / "bin", app_port)
    lines = ["targets:"]
    for name, (case, redirect) in TARGETS.items():
        lines += [f"  - name: {name}", f"    app_url: http://127.0.0.1:{app_port}", f"    proxy_url: {fronts.url(case)}/",
                  f"    proxy_host: {HOST}", f"    tls_ca_file: {fronts.ca_file}"]
        if redirect:
            lines.append(f"    redirect_from: {fronts.url(redirect, 'http')}/")
    lines += ["dns:", "  names: [localhost]", "  include_hostname: false"]
    config = tmp / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    port = free_port()
    try:
        with Exporter([f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"], port,
                      tmp / "exporter.log", tmp) as running:
            status, _, text = fetch(running.url + "/metrics")
            assert status == 200, text
            yield text
    finally:
        app.stop()
        fronts.stop()


def samples(text: bytes, name: str) -> list:
    return [s for family in text_string_to_metric_families(text.decode()) for s in family.samples if s.name == name]


def test_the_scrape_with_every_tls_metric_is_promtool_clean(body):
    checked = promtool(body)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == b"" and checked.stderr.strip() == b""
    for name in ("inventory_tls_handshake_seconds", "inventory_tls_version_info",
                 "inventory_tls_cert_not_after_timestamp_seconds", "inventory_tls_cert_info",
                 "inventory_tls_cert_hostname_match", "inventory_tls_cert_chain_verified",
                 "inventory_tls_cert_verify_error_info", "inventory_tls_legacy_protocol_accepted",
                 "inventory_http_redirect_success", "inventory_http_redirect_status_code",
                 "inventory_http_redirect_location_info"):
        assert samples(body, name), name


@pytest.mark.parametrize("name", list(TARGETS))
def test_each_target_has_exactly_its_https_findings_and_root_cause(body, name):
    findings = {s.labels["check"]: s.value for s in samples(body, "inventory_finding") if s.labels["target"] == name}
    active, cause = EXPECTED[name]
    assert {c for c, v in findings.items() if v == 1} == active
    expected_checks = HTTPS_CHECKS | ({"https_redirect_missing"} if TARGETS[name][1] else set())
    assert expected_checks <= set(findings)  # evaluated, so 0 when clear
    assert "proxy_down" not in active and findings.get("proxy_down") == 0  # nginx answers whatever its certificate
    causes = [s.labels["cause"] for s in samples(body, "inventory_root_cause_info") if s.labels["target"] == name]
    assert causes == [cause]
    probes = {s.labels["probe"]: s.value for s in samples(body, "inventory_probe_success") if s.labels["target"] == name}
    assert probes["tls"] == 1 and probes.get("redirect", 1) == 1


def test_tls10_front_metrics_say_tls1_and_legacy_accepted(body):
    version = [s.labels["version"] for s in samples(body, "inventory_tls_version_info") if s.labels["target"] == "tls10"]
    assert version == ["TLSv1"]
    accepted = [s.value for s in samples(body, "inventory_tls_legacy_protocol_accepted") if s.labels["target"] == "tls10"]
    assert accepted == [1]
