"""Every metric the exporter emits: name, type, labels and HELP text, in one table.

Probes add samples to a per-scrape :class:`Samples`; :func:`families` turns them into
prometheus-client metric families. Nothing here outlives a scrape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, NamedTuple

from exporter.pool import MAX_STUCK_THREADS
from exporter.probing import REASONS
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString


@dataclass(frozen=True)
class Spec:
    kind: str  # "gauge", "counter" or "histogram"
    labels: tuple[str, ...]
    help: str


def _g(help: str, *labels: str) -> Spec:
    return Spec("gauge", labels, help)


def _c(help: str, *labels: str) -> Spec:
    return Spec("counter", labels, help)


def _h(help: str, *labels: str) -> Spec:
    return Spec("histogram", labels, help)


class HistogramValue(NamedTuple):
    """One histogram sample: cumulative (upper bound, count) pairs ending with +Inf, the sum and the count."""

    buckets: tuple[tuple[float, float], ...]
    sum: float
    count: float


T = "target"

METRICS: dict[str, Spec] = {
    # probe meta
    "inventory_probe_success": _g("1 if the probe succeeded, 0 if it failed.", T, "probe"),
    "inventory_probe_duration_seconds": _g("How long the probe took.", T, "probe"),
    "inventory_probe_failure_info": _g(
        f"Why a probe failed: 1 for the failing probe's reason ({', '.join(REASONS)}).",
        T, "probe", "reason",
    ),
    # port
    "inventory_app_port_listening": _g("1 if a TCP connection to the app's port succeeded.", T, "port"),
    "inventory_app_port_connect_seconds": _g("Time to establish a TCP connection to the app's port.", T, "port"),
    "inventory_app_port_owner_info": _g(
        "The process holding the app's port in LISTEN state (pid empty when not visible).", T, "port", "pid", "process"
    ),
    "inventory_app_port_conflict": _g(
        "1 if the app's port is held by a process that is not one of app_process_names (a port conflict).", T, "port"
    ),
    # http
    "inventory_http_up": _g("1 if the path answered with a 2xx or 3xx status.", T, "path", "kind"),
    "inventory_http_status_code": _g("HTTP status code of the path (0 when no response).", T, "path", "kind"),
    "inventory_http_response_seconds": _g(
        "Time from request start to the end of the response body (capped read).", T, "path", "kind"
    ),
    "inventory_http_phase_seconds": _g(
        "Per-phase request timing: first_byte (response headers received); the connect time is "
        "inventory_app_port_connect_seconds.",
        T, "path", "kind", "phase",
    ),
    "inventory_http_content_length_bytes": _g("Bytes of response body read (capped).", T, "path", "kind"),
    "inventory_http_condition_success": _g(
        "1 if the endpoint's response met the condition of its expect (status, body_regex, json:<path>, "
        "max_seconds; secrets when a secret it sends could not be read), 0 if not.", T, "path", "condition"
    ),
    "inventory_http_condition_failure_info": _g(
        "Why a condition failed (unexpected_status, no_match, not_json, missing, mismatch, too_slow, "
        "secret_unavailable) and what was seen (redacted, at most 120 characters).",
        T, "path", "condition", "reason", "seen"
    ),
    "inventory_page_assets": _g(
        "Same-origin scripts and stylesheets of a render: true page, by result (ok, missing = 404/410, "
        "error = other status or no answer).", T, "path", "result"
    ),
    "inventory_page_asset_failure_info": _g(
        "A script or stylesheet of a render: true page that failed (the first 10): its path, result and "
        "status (or error class).", T, "path", "asset", "result", "status"
    ),
    "inventory_page_build_id_info": _g(
        "The Next.js build id a render: true page was built by, and the project's .next/BUILD_ID (empty when "
        "unknown).", T, "path", "page_build_id", "project_build_id"
    ),
    "inventory_page_build_stale": _g(
        "1 if the page's build id differs from the project's .next/BUILD_ID (the server runs an older build: "
        "ChunkLoadError for users).", T, "path"
    ),
    # proxy
    "inventory_proxy_up": _g("1 if the front proxy answered HTTP at all (whatever the status).", T),
    "inventory_proxy_status_code": _g("HTTP status code from the front proxy (502/504 = bad gateway; 0 = none).", T),
    "inventory_proxy_response_seconds": _g("Time for the front proxy to answer.", T),
    "inventory_proxy_upstream_errors_total": _c(
        "Upstream failures nginx logged in its error log since the exporter started, by class.", T, "reason"
    ),
    "inventory_proxy_upstream_errors_recent": _g(
        "Upstream failures nginx logged in the last 5 minutes, by class.", T, "reason"
    ),
    "inventory_proxy_upstream_errors_last_timestamp_seconds": _g(
        "Unix time nginx wrote its last upstream failure line of this class (the line's own time stamp).", T, "reason"
    ),
    # access log (nginx's record of the users' requests: exporter.accesslog)
    "inventory_requests_total": _c(
        "Requests nginx logged in the target's access log since the exporter started, by kind (api, page, static), "
        "status class (2xx..5xx, other) and templated route (empty unless the target sets route_label).",
        T, "kind", "code_class", "route",
    ),
    "inventory_request_duration_seconds": _h("Request time nginx logged ($request_time).", T, "kind"),
    "inventory_upstream_response_seconds": _h(
        "Upstream response time nginx logged ($upstream_response_time, the first upstream tried).", T, "kind"
    ),
    "inventory_upstream_errors_total": _c(
        "Logged requests whose upstream status (else status) was 502, 503 or 504, by that status.", T, "status"
    ),
    "inventory_response_bytes_total": _c("Response body bytes nginx logged ($body_bytes_sent).", T, "kind"),
    "inventory_access_log_lines_total": _c("Access log lines read, parsed or not.", T),
    "inventory_access_log_unparsed_lines_total": _c(
        "Access log lines not counted as requests: too_long (over 64 KiB) or unparsable (not the log format).",
        T, "reason",
    ),
    "inventory_requests_recent": _g(
        "Requests nginx logged in the last 5 minutes (by the time in the line), by kind and status class.",
        T, "kind", "code_class",
    ),
    "inventory_requests_failed_recent": _g("5xx responses nginx logged in the last 5 minutes, by status.", T, "status"),
    "inventory_requests_failing_since_timestamp_seconds": _g(
        "Unix time of the first 5xx of the current unbroken run of 5xx responses; absent when the last request "
        "succeeded.", T,
    ),
    "inventory_request_duration_recent_p95_seconds": _g(
        "95th percentile of the request time over the last 5 minutes (upper bound of the histogram bucket that "
        "holds it, interpolated linearly inside the bucket).", T, "kind",
    ),
    # tls (https fronts) and the http -> https redirect
    "inventory_tls_handshake_seconds": _g(
        "Time of the TLS handshake with the https front (after the TCP connect), any protocol allowed.", T, "url"
    ),
    "inventory_tls_version_info": _g("The TLS protocol the https front negotiated (TLSv1 ... TLSv1.3).", T, "url", "version"),
    "inventory_tls_cert_not_after_timestamp_seconds": _g(
        "Unix time the https front's leaf certificate expires (its notAfter).", T, "url"
    ),
    "inventory_tls_cert_info": _g(
        "The https front's leaf certificate: the SNI name asked for, subject, issuer and subjectAltName names.",
        T, "url", "server_name", "subject", "issuer", "dns_names",
    ),
    "inventory_tls_cert_hostname_match": _g(
        "1 if the SNI name (proxy_host, else the URL's host) matches the certificate's subjectAltName.", T, "url"
    ),
    "inventory_tls_cert_chain_verified": _g(
        "1 if the certificate chain verified against tls_ca_file (or the system trust store), dates included.", T, "url"
    ),
    "inventory_tls_cert_verify_error_info": _g(
        "Why the chain did not verify: error untrusted, self_signed, expired, not_yet_valid or other, with "
        "OpenSSL's message.", T, "url", "error", "message"
    ),
    "inventory_tls_legacy_protocol_accepted": _g(
        "1 if the https front completed a handshake limited to TLS 1.0/1.1.", T, "url"
    ),
    "inventory_http_redirect_success": _g(
        "1 if redirect_from answered 301/302/307/308 with a Location on https:// of the same host.", T, "url"
    ),
    "inventory_http_redirect_status_code": _g("HTTP status code of redirect_from (0 when no response).", T, "url"),
    "inventory_http_redirect_location_info": _g(
        "The Location redirect_from answered with (at most 200 characters).", T, "url", "location"
    ),
    # database
    "inventory_db_info": _g("The SQLite database being checked and where its path came from.", T, "path", "source"),
    "inventory_db_file_exists": _g("1 if the SQLite database file exists.", T),
    "inventory_db_file_size_bytes": _g("Size of the SQLite database file.", T),
    "inventory_db_up": _g("1 if a read-only query on the database succeeded.", T),
    "inventory_db_query_seconds": _g("Time to open the database read-only and run the check query.", T),
    "inventory_db_tables": _g("Number of tables in the database schema.", T),
    # prisma
    "inventory_prisma_version_info": _g(
        "Prisma package versions: source=installed (node_modules) or declared (package.json).",
        T, "package", "version", "source",
    ),
    "inventory_prisma_version_mismatch": _g("1 if the installed prisma CLI and @prisma/client versions differ.", T),
    "inventory_prisma_client_generated": _g("1 if node_modules/.prisma/client exists (prisma generate has run).", T),
    "inventory_prisma_latest_version_info": _g(
        "Latest published version of a Prisma package, from the configured npm registry.", T, "package", "version"
    ),
    "inventory_prisma_update_available": _g(
        "1 if the registry's latest version differs from the installed one.", T, "package"
    ),
    # files and env
    "inventory_config_file_present": _g(
        "1 if the project config file exists (next.config stands for next.config.js/.mjs/.cjs/.ts).", T, "file"
    ),
    "inventory_env_var_present": _g("1 if the variable is set in one of the project's .env files.", T, "name"),
    # webpack cache
    "inventory_webpack_cache_present": _g("1 if .next/cache/webpack exists.", T),
    "inventory_webpack_cache_writable": _g(
        "1 if .next/cache/webpack (and every directory below it) is writable for the project owner.", T
    ),
    "inventory_webpack_cache_unwritable_paths": _g(
        "Number of directories under .next/cache/webpack the project owner cannot write.", T
    ),
    # logs
    "inventory_log_file_present": _g("1 if the app's log file exists.", T),
    "inventory_log_age_seconds": _g("Seconds since the log file was last written.", T),
    "inventory_log_size_bytes": _g("Size of the app's log file.", T),
    "inventory_log_lines": _g("Lines by level (error, warn) in the recent tail of the log file.", T, "level"),
    "inventory_log_webpack_cache_failures": _g(
        "Lines in the recent tail of the app log saying webpack's cache failed (EACCES under .next/cache/webpack, "
        "PackFileCacheStrategy ... failed).", T
    ),
    "inventory_log_last_webpack_cache_failure_info": _g(
        "The last webpack cache failure line in the recent tail of the app log (redacted, at most 200 characters).",
        T, "line"
    ),
    # host
    "inventory_cpu_usage_ratio": _g(
        "Host CPU busy ratio (0-1) from /proc/stat over the last quarter second or more (since an earlier reading)."
    ),
    "inventory_cpus": _g("Number of logical CPUs."),
    "inventory_memory_usage_ratio": _g("Host memory in use, (total - available) / total."),
    "inventory_memory_total_bytes": _g("Host memory total."),
    "inventory_memory_available_bytes": _g("Host memory available."),
    "inventory_disk_usage_ratio": _g("Filesystem used ratio, as df shows it.", "mountpoint"),
    "inventory_disk_free_bytes": _g("Filesystem bytes free for unprivileged users.", "mountpoint"),
    "inventory_load_average": _g("Host load average.", "window"),
    "inventory_loopback_up": _g("1 if a datagram sent over 127.0.0.1 came back."),
    "inventory_loopback_rtt_seconds": _g("Round trip of a datagram over 127.0.0.1."),
    "inventory_dns_lookup_success": _g("1 if the name resolved through the resolver.", "name", "resolver"),
    "inventory_dns_lookup_seconds": _g("Time the lookup took.", "name", "resolver"),
    # diagnosis
    "inventory_finding": _g(
        "1 while the diagnosis finding is active, 0 when checked and clear; severity critical/warning/info "
        "mirrors the incident report's high/medium/low priorities (host findings have an empty target).",
        T, "check", "severity",
    ),
    "inventory_target_info": _g(
        "Where the target came from: source=config (written by hand) or discovery (found on the host).", T, "source"
    ),
    "inventory_discovery_upstream_mismatch_info": _g(
        "nginx proxies to a port where nothing listens while the same project's app listens on app_port: the nginx "
        "line (nginx_source), the directive, the app's pid, and why the site and the app are taken for one project.",
        T, "nginx_source", "proxy_pass", "expected_port", "app_port", "app_pid", "inference"
    ),
    "inventory_up_since_timestamp_seconds": _g(
        "Unix time since which the target's live probes have passed (the nginx front answers < 500; without a "
        "front, the app port and its endpoints answer); absent while they fail. Log evidence older than this "
        "is history, never a present cause.", T
    ),
    "inventory_root_cause_info": _g("The one root cause the diagnosis chose for the target (none when healthy).", T, "cause"),
    "inventory_root_cause_since_timestamp_seconds": _g(
        "Unix time since which the target's root cause has been the one given (the first scrape that saw it).", T, "cause"
    ),
    "inventory_target_state_changes_total": _c(
        "How often the target's root cause changed since the exporter started (or since the history it loaded).", T
    ),
    # exporter
    "inventory_exporter_build_info": _g(
        "Exporter build: version, source revision (empty when unknown) and Python version.",
        "version", "revision", "python_version",
    ),
    "inventory_exporter_scrape_duration_seconds": _g("How long this scrape took to collect."),
    "inventory_exporter_targets": _g("Number of configured targets."),
    "inventory_exporter_config_last_reload_successful": _g("1 if the last config (re)load succeeded."),
    "inventory_exporter_config_last_reload_success_timestamp_seconds": _g(
        "Unix time of the last successful config load."
    ),
    "inventory_discovery_last_run_timestamp_seconds": _g("Unix time discovery last ran (at start, on reload and every discovery.interval)."),
    "inventory_discovery_duration_seconds": _g("How long the last discovery run took."),
    "inventory_discovery_targets": _g("Targets the last discovery run found (beside the configured ones)."),
    "inventory_discovery_errors": _g(
        "What the last discovery run could not read, by source (processes, nginx, systemd, pm2) and reason "
        "(permission_denied, not_found, parse_error, ...).", "source", "reason"
    ),
    "inventory_exporter_connections_open": _g("HTTP connections open to the exporter (accepted and not yet closed)."),
    "inventory_exporter_connections_evicted_total": _c(
        "Idle connections closed to make room for a new one at --web.max-connections."
    ),
    "inventory_exporter_connections_refused_total": _c(
        "Connections closed at once because --web.max-connections were all serving requests."
    ),
    "inventory_exporter_connections_timed_out_total": _c(
        "Connections closed for not sending a request that passed authentication within --web.header-timeout."
    ),
    "inventory_exporter_auth_checks_total": _c("bcrypt password checks run (good credentials are remembered, not checked)."),
    "inventory_exporter_auth_checks_dropped_total": _c(
        "bcrypt password checks skipped because the client had gone before its turn."
    ),
    "inventory_exporter_stuck_threads": _g(
        "Probe threads stuck in a blocking call past its caller's deadline (a hung file system, /proc read or "
        f"database); each was replaced, up to {MAX_STUCK_THREADS} (then blocking probes fail at once with reason timeout)."
    ),
}


class Samples:
    """Collects one scrape's samples; ``base`` labels (the target) are added to each."""

    def __init__(self, base: dict[str, str] | None = None, store: list | None = None):
        self.base = base or {}
        self.store: list[tuple[str, dict[str, str], float]] = [] if store is None else store

    def add(self, metric: str, value: float, /, **labels: str) -> None:
        self.store.append((metric, {**self.base, **labels}, float(value)))

    def add_histogram(self, metric: str, buckets: Iterable[tuple[float, float]], total: float, /,
                      **labels: str) -> None:
        """A histogram sample: cumulative (upper bound, count) pairs, +Inf last (added when missing)."""
        pairs = tuple((float(le), float(n)) for le, n in buckets)
        if not pairs or pairs[-1][0] != float("inf"):
            raise ValueError(f"{metric}: the last bucket must be +Inf")
        self.store.append((metric, {**self.base, **labels}, HistogramValue(pairs, float(total), pairs[-1][1])))

    def scoped(self, **base: str) -> "Samples":
        return Samples({**self.base, **base}, self.store)

    def value(self, name: str, /, **labels: str) -> float | None:
        """The first sample of ``name`` whose labels include ``labels`` (for diagnosis and tests)."""
        for sample_name, sample_labels, value in self.store:
            if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items()):
                return value
        return None

    def matching(self, name: str, /, **labels: str) -> Iterator[tuple[dict[str, str], float]]:
        for sample_name, sample_labels, value in self.store:
            if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items()):
                yield sample_labels, value


def families(samples: Iterable[tuple[str, dict[str, str], float]]) -> list[Metric]:
    """Group samples into metric families in METRICS order; a sample of an unknown metric is a bug."""
    built: dict[str, Metric] = {}
    for name, labels, value in samples:
        family = built.get(name)
        spec = METRICS[name]
        if family is None:
            cls = {"counter": CounterMetricFamily, "histogram": HistogramMetricFamily}.get(spec.kind, GaugeMetricFamily)
            family = built[name] = cls(name, spec.help, labels=spec.labels)
        values = [str(labels.get(label, "")) for label in spec.labels]
        if isinstance(value, HistogramValue):
            family.add_metric(values, [(floatToGoString(le), n) for le, n in value.buckets], value.sum)
        else:
            family.add_metric(values, value)
    return [built[name] for name in METRICS if name in built]
