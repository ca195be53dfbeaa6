"""The "Does the app work" row of both dashboards: the https front's certificate (days left, chain and
host name), the endpoints' failing conditions (``expect``), and the pages rendered with ``render: true``
(scripts and stylesheets that do not load, a build other than the project's .next/BUILD_ID).

``panels(b)`` takes ``b``, grafana/panels.py, the building blocks (query, st, tbl, selectors,
colours), so this module adds panels without importing its importer.

Conditions, assets and the build id exist only while the app answers: when it does not, the tables
read "none" and the stats "page not fetched" (from the http probe, which is always there), never "No data".
"""

from __future__ import annotations

CERT_ALERTS = ("InventoryTlsCertExpired", "InventoryTlsCertExpiring")
TRUST_ALERTS = ("InventoryTlsCertInvalid",)
CONDITION_ALERTS = ("InventoryEndpointConditionFailed",)
ASSET_ALERTS = ("InventoryPageAssetsFailing",)
BUILD_ALERTS = ("InventoryStaleBuild",)
NOT_FETCHED = "(page not fetched)"


def not_fetched(b, expr: str, label: str) -> str:
    """``expr``, or for a target with none of it (the app gave no page), -1 labelled ``label`` = NOT_FETCHED."""
    probe = f'0 * max by ({b.BY}) (inventory_probe_success{{{b.TGT}, probe="http"}}) - 1'
    return f'{expr} or on ({b.BY}) label_replace({probe}, "{label}", "{NOT_FETCHED}", "", "")'


def cert_days_panel(b, w: int):
    warning, critical = b.THRESHOLDS["cert_warning_days"], b.THRESHOLDS["cert_critical_days"]
    return b.st(
        "Certificate days left",
        f"Days until the https front's leaf certificate expires, (notAfter - now) / 86400, the soonest per target. "
        f"Yellow below {warning:g} days (tls_cert_expiring), red below {critical:g} days or expired "
        f"(tls_cert_expired). Needs an https:// proxy_url (or app_url).",
        "none",
        [b.query(f"min by ({b.BY}) ((inventory_tls_cert_not_after_timestamp_seconds{{{b.TGT}}} - time()) / 86400)",
                 "{{target}}", instant=True)],
        CERT_ALERTS, w=w, h=6, thresholds=((None, b.RED), (critical, b.YELLOW), (warning, b.GREEN)),
        colour_mode=b.cm.BigValueColorMode.VALUE,
    )


def cert_trust_panel(b, w: int):
    return b.st(
        "Certificate trust",
        "Whether the https front's certificate chain verifies (against tls_ca_file or the system store, dates "
        "included) and whether it names the host asked for (SNI: proxy_host, else the URL's host). Either "
        "failing is tls_cert_invalid: browsers refuse the site.",
        "none",
        [b.query(f"min by ({b.BY}) (inventory_tls_cert_chain_verified{{{b.TGT}}})", "{{target}} chain", "A",
                 instant=True),
         b.query(f"min by ({b.BY}) (inventory_tls_cert_hostname_match{{{b.TGT}}})", "{{target}} host name", "B",
                 instant=True)],
        TRUST_ALERTS + CERT_ALERTS[:1], w=w, h=6, thresholds=((None, b.RED), (1, b.GREEN)),
        mappings={"1": ("ok", b.GREEN), "0": ("refused", b.RED)},
    )


def conditions_panel(b, w: int):
    failing = (f"max by ({b.BY}, path, condition, reason, seen) (inventory_http_condition_failure_info{{{b.TGT}}} "
               f"and on ({b.BY}, path, condition) inventory_http_condition_success{{{b.TGT}}} == 0)")
    return b.tbl(
        "Failing conditions",
        "Each condition of an endpoint's expect (status, body_regex, json:<path>, max_seconds, secrets) that "
        "fails, why (unexpected_status, no_match, not_json, missing, mismatch, too_slow, secret_unavailable) and "
        "what was seen (redacted, at most 120 characters). \"none\" when every condition holds, or when no "
        "answer came to evaluate them (then see the probes and the root cause).",
        "none",
        [b.query(b.empty_row(failing, path="none", condition="none", reason="none", seen=""), table_format=True)],
        CONDITION_ALERTS, w=w, h=6, hide=("Time", "Value", "job"),
    )


def assets_panel(b, w: int):
    return b.st(
        "Page assets not loading",
        "Same-origin scripts and stylesheets of each render: true page that are missing (404/410) or fail "
        "(other status, no answer): red above 0 (page_assets_failing). \"page not fetched\" when the page "
        "itself did not answer (or no endpoint sets render: true).",
        "none",
        [b.query(not_fetched(b, f'max by ({b.BY}, path, result) (inventory_page_assets{{{b.TGT}, result!="ok"}})',
                             "path"), "{{target}} {{path}} {{result}}", instant=True)],
        ASSET_ALERTS, w=w, h=6, thresholds=((None, b.BLUE), (0, b.GREEN), (1, b.RED)),
        mappings={"-1": ("page not fetched", b.BLUE)},
    )


def build_panel(b, w: int):
    return b.st(
        "Stale build",
        "Whether each render: true page was built by the project's .next/BUILD_ID: \"stale\" (yellow) when "
        "the server runs an older build than the one on disk (users get ChunkLoadError; rebuild and restart). "
        "\"page not fetched\" when the page did not answer or carries no build id (next dev is not compared).",
        "none",
        [b.query(not_fetched(b, f"max by ({b.BY}, path) (inventory_page_build_stale{{{b.TGT}}})", "path"),
                 "{{target}} {{path}}", instant=True)],
        BUILD_ALERTS, w=w, h=6, thresholds=((None, b.BLUE), (0, b.GREEN), (1, b.YELLOW)),
        mappings={"0": ("current", b.GREEN), "1": ("stale", b.YELLOW), "-1": ("page not fetched", b.BLUE)},
    )


def panels(b, wide: bool = False) -> list:
    """The row's panels: certificate days left and trust, failing conditions, page assets, stale build."""
    if wide:
        return [cert_days_panel(b, 6), cert_trust_panel(b, 6), conditions_panel(b, 12),
                assets_panel(b, 12), build_panel(b, 12)]
    return [cert_days_panel(b, 4), cert_trust_panel(b, 4), conditions_panel(b, 8),
            assets_panel(b, 4), build_panel(b, 4)]
