"""The per-target detail dashboard ("Inventory exporter / target", uid ``inventory-target``): everything the
exporter measures about one target. Its own panels, and ``detail()``, which lays them out with the shared ones.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import statetimeline

from panels import (
    BY, GREEN, HOST, RED, ROOT_CAUSE_ALERTS, TGT, TGT_OR_HOST, THRESHOLDS, YELLOW, cm, common, empty_row, query, row,
    st, steps, tbl, ts, value_map, with_probe_time,
)
from shared import (
    active_findings_panel, base, dns_panel, prisma_versions_panel, proxy_panel, root_cause_panel,
    upstream_errors_rate_panel, with_functional_row, with_traffic_row,
)

DETAIL_UID = "inventory-target"


def findings_timeline_panel():
    sev = " or ".join(
        f'{weight} * max by ({BY}, check) (inventory_finding{{{TGT_OR_HOST}, severity="{severity}"}})'
        for weight, severity in ((3, "critical"), (2, "warning"), (1, "info")))
    return common(statetimeline.Panel(), "Findings over time",
                  "Every evaluated diagnosis check over time: clear, or active with its severity colour "
                  "(🔴 critical, 🟡 warning, 🟢 info). Host checks have an empty target.",
                  "none", ROOT_CAUSE_ALERTS[:3], 24, 10) \
        .targets([query(sev, "{{target}} {{check}}")]) \
        .mappings(value_map({"0": ("clear", "transparent"), "1": ("🟢 info", GREEN), "2": ("🟡 warning", YELLOW),
                             "3": ("🔴 critical", RED)})) \
        .thresholds(steps((None, GREEN))).show_value(cm.VisibilityMode.NEVER).merge_values(True)


def probes_panel():
    return st(
        "Probes",
        "Whether each probe of the target succeeded (port, http, proxy, proxy_log, database, prisma, files, "
        "webpack_cache, logs) and of the host (host, loopback, dns: empty target).",
        "none",
        [query(f"min by ({BY}, probe) (inventory_probe_success{{{TGT_OR_HOST}}})", "{{target}} {{probe}}",
               instant=True)],
        ("InventoryProbeTimeout",), w=12, h=6, thresholds=((None, RED), (1, GREEN)),
        mappings={"1": ("ok", GREEN), "0": ("failed", RED)},
    )


def failures_panel():
    return tbl(
        "Probe failure reasons",
        "Why each failing probe failed (connection_refused, timeout, http_status, not_found, ...). \"none\" "
        "when every probe succeeds.",
        "none",
        [query(empty_row(f"max by ({BY}, probe, reason) (inventory_probe_failure_info{{{TGT_OR_HOST}}} == 1)",
                         probe="none", reason="none"), table_format=True)],
        ("InventoryProbeTimeout", "InventoryAppNotListening"), w=12, h=6, hide=("Time", "Value", "job"),
    )


def probe_duration_panel():
    return ts(
        "Probe duration",
        "How long each probe took. A probe near the target's timeout is about to be cut off "
        "(reason \"timeout\").",
        "s",
        [query(f"max by ({BY}, probe) (inventory_probe_duration_seconds{{{TGT_OR_HOST}}})", "{{target}} {{probe}}")],
        ("InventoryProbeTimeout",), w=12, h=8, min_=0,
    )


def port_owner_panel():
    return tbl(
        "App port owner",
        "The process holding the app's port in LISTEN state (pid empty when not visible to the exporter); "
        "\"(nothing)\" when no process listens. Anything not in app_process_names is a port conflict.",
        "none",
        [query(f"max by ({BY}, port, pid, process) (inventory_app_port_owner_info{{{TGT}}}) or on ({BY}) "
               f'label_replace(0 * max by ({BY}, port) (inventory_app_port_listening{{{TGT}}}), '
               f'"process", "(nothing)", "", "")', table_format=True)],
        ("InventoryAppPortConflict", "InventoryAppNotListening"), w=12, h=6, hide=("Time", "Value", "job"),
    )


def phases_panel():
    return ts(
        "HTTP phases",
        "Per request: time to first byte (response headers received), per endpoint; the TCP connect "
        "time is the port probe's. With no response the line shows the HTTP probe's time to fail.",
        "s",
        [query(with_probe_time(f"max by ({BY}, path, phase) (inventory_http_phase_seconds{{{TGT}}})",
                               "http", "phase", "no response (probe time)"), "{{target}} {{path}} {{phase}}")],
        ("InventoryApiSlow", "InventoryAppUnresponsive"), w=12, h=8, min_=0,
        thresholds=((THRESHOLDS["api_seconds"], YELLOW), (THRESHOLDS["page_seconds"], RED)),
    )


def availability_panel():
    return st(
        "Endpoint availability (time range)",
        "Share of scrapes in the selected time range in which each endpoint answered 2xx/3xx.",
        "percentunit",
        [query(f"avg by ({BY}, path) (avg_over_time(inventory_http_up{{{TGT}}}[$__range]))", "{{path}}",
               instant=True)],
        ("InventoryEndpointFailing",), w=12, h=6, thresholds=((None, RED), (0.99, YELLOW), (0.999, GREEN)),
        colour_mode=cm.BigValueColorMode.VALUE,
    )


def worst_latency_panel():
    return ts(
        "Worst response time per interval",
        f"Highest endpoint response time around each point (max_over_time over $__rate_interval, which "
        f"spans at least one graph step and four scrapes), so short spikes are not lost when zoomed out. Dashed lines: {THRESHOLDS['api_seconds'] * 1000:.0f} ms and "
        f"{THRESHOLDS['page_seconds']:g} s. With no response the line shows the probe's time to fail.",
        "s",
        [query(with_probe_time(f"max by ({BY}, path) (max_over_time(inventory_http_response_seconds{{{TGT}}}[$__rate_interval]))",
                               "http", "path", "no response (probe time)"), "{{target}} {{path}}")],
        ("InventoryApiSlow", "InventoryPageSlow"), w=12, h=8, min_=0,
        thresholds=((THRESHOLDS["api_seconds"], YELLOW), (THRESHOLDS["page_seconds"], RED)),
    )


def upstream_recent_panel():
    return ts(
        "nginx upstream errors in the last 5 min, by class",
        "Upstream failures nginx logged in the last 5 minutes, by class, as the exporter counts them.",
        "short",
        [query(f"max by ({BY}, reason) (inventory_proxy_upstream_errors_recent{{{TGT}}})", "{{target}} {{reason}}")],
        ("InventoryProxyUpstreamRefused", "InventoryProxyUpstreamErrors"), w=12, h=8, min_=0,
    )


def db_info_panel():
    return tbl(
        "Database file",
        "The SQLite file being checked, where its path came from (config, or DATABASE_URL resolved as Prisma "
        "does), and its number of tables (0 when it cannot be queried).",
        "none",
        [query(f"max by ({BY}, path, source) (inventory_db_info{{{TGT}}})", ref="A", table_format=True),
         query(f"max by ({BY}) (inventory_db_tables{{{TGT}}}) or on ({BY}) 0 * max by ({BY}) (inventory_db_up{{{TGT}}})",
               ref="B", table_format=True)],
        ("InventoryDatabaseMissing", "InventoryDatabaseUnavailable"), w=12, h=6,
        hide=("Time", "Value #A", "job"), rename={"Value #B": "tables"},
    )


def config_files_panel():
    return tbl(
        "Config files and environment",
        "Each expected project file (1 present, 0 missing) and each expected .env variable (1 set, 0 not set).",
        "none",
        [query(f'label_replace(max by ({BY}, file) (inventory_config_file_present{{{TGT}}}), "item", "file $1", "file", "(.*)")'
               f' or label_replace(max by ({BY}, name) (inventory_env_var_present{{{TGT}}}), "item", "env $1", "name", "(.*)")',
               table_format=True)],
        ("InventoryConfigFileMissing", "InventoryPrismaConfigMissing", "InventoryEnvVarMissing"), w=12, h=6,
        hide=("Time", "job", "file", "name"), rename={"Value": "present"},
        colour_columns={"present": {"1": ("present", GREEN), "0": ("missing", YELLOW)}},
    )


def webpack_panel():
    return st(
        "Webpack cache",
        "Whether .next/cache/webpack exists, and how many directories under it the project owner cannot write "
        "(the incident's EACCES on the cache).",
        "none",
        [query(f"max by ({BY}) (inventory_webpack_cache_present{{{TGT}}})", "{{target}} present", "A", instant=True),
         query(f"max by ({BY}) (inventory_webpack_cache_unwritable_paths{{{TGT}}})", "{{target}} unwritable dirs",
               "B", instant=True)],
        ("InventoryWebpackCacheUnwritable",), w=12, h=6, thresholds=((None, GREEN),),
    )


def log_panel():
    stale = THRESHOLDS["log_stale_seconds"]
    return ts(
        "App log",
        f"Seconds since the app's log file was last written (stale above {stale:g} s, dashed line), and "
        f"error/warn lines in its recent tail. Needs log_file in the target's config.",
        "s",
        [query(f"max by ({BY}) (inventory_log_age_seconds{{{TGT}}})", "{{target}} age", "A")],
        ("InventoryLogStale", "InventoryLogMissing", "InventoryLogErrors"), w=12, h=8, min_=0,
        thresholds=((stale, YELLOW),),
    )


def log_lines_panel():
    return ts(
        "App log errors and warnings",
        "Lines by level (error, warn) in the recent tail of the app's log file. Needs log_file in the "
        "target's config.",
        "short",
        [query(f"max by ({BY}, level) (inventory_log_lines{{{TGT}}})", "{{target}} {{level}}")],
        ("InventoryLogErrors",), w=12, h=8, min_=0,
    )


def dns_latency_panel():
    return ts(
        "DNS lookup and loopback time",
        "Time each name took to resolve through each resolver, and the loopback datagram round trip.",
        "s",
        [query(f"max by (job, instance, name, resolver) (inventory_dns_lookup_seconds{{{HOST}}})",
               "{{name}} @{{resolver}}", "A"),
         query(f"max by (job, instance) (inventory_loopback_rtt_seconds{{{HOST}}})", "loopback {{instance}}", "B")],
        ("InventoryDnsSystemFailing", "InventoryDnsServerFailing", "InventoryLoopbackDown"), w=12, h=8, min_=0,
    )


def exporter_panel():
    return st(
        "Exporter",
        "Whether Prometheus can scrape each exporter (up), whether its last config reload succeeded, and "
        "how many targets it watches.",
        "none",
        [query('max by (job, instance) (up{job=~"$job", instance=~"$instance"})', "scrape {{instance}}", "A",
               instant=True),
         query(f"max by (job, instance) (inventory_exporter_config_last_reload_successful{{{HOST}}})",
               "config reload {{instance}}", "B", instant=True),
         query(f"max by (job, instance) (inventory_exporter_targets{{{HOST}}})", "targets {{instance}}", "C",
               instant=True)],
        ("InventoryExporterDown", "InventoryExporterConfigReloadFailed"), w=12, h=6,
        thresholds=((None, RED), (1, GREEN)),
    )


def scrape_duration_panel():
    return ts(
        "Exporter scrape duration",
        "How long each scrape of the exporter took to collect (all probes run concurrently under one "
        "deadline: the scrape timeout minus --timeout-offset).",
        "s",
        [query(f"max by (job, instance) (inventory_exporter_scrape_duration_seconds{{{HOST}}})", "{{instance}}")],
        ("InventoryProbeTimeout", "InventoryExporterDown"), w=12, h=6, min_=0,
    )


def detail():
    dash = base(
        "Inventory exporter / target", DETAIL_UID,
        "Everything the exporter measures about one target (choose it above): findings over time, every "
        "probe and why it failed, port owner, HTTP phases and availability, nginx log classes, database, "
        "config files and .env, webpack cache, app log, DNS, and the exporter itself.",
    ) \
        .with_row(row("Diagnosis")) \
        .with_panel(root_cause_panel(w=12, h=5)).with_panel(active_findings_panel(w=12, h=5)) \
        .with_panel(findings_timeline_panel()) \
        .with_row(row("Probes")) \
        .with_panel(probes_panel()).with_panel(failures_panel()) \
        .with_panel(probe_duration_panel()).with_panel(port_owner_panel()) \
        .with_row(row("HTTP and nginx")) \
        .with_panel(phases_panel()).with_panel(worst_latency_panel()) \
        .with_panel(availability_panel()).with_panel(proxy_panel(w=12, h=6)) \
        .with_panel(upstream_recent_panel()).with_panel(upstream_errors_rate_panel())
    return with_functional_row(with_traffic_row(dash, wide=True), wide=True) \
        .with_row(row("Project")) \
        .with_panel(db_info_panel()).with_panel(config_files_panel()) \
        .with_panel(webpack_panel()).with_panel(prisma_versions_panel(w=12, h=6)) \
        .with_panel(log_panel()).with_panel(log_lines_panel()) \
        .with_row(row("Network and exporter")) \
        .with_panel(dns_latency_panel()).with_panel(dns_panel(w=12, h=8)) \
        .with_panel(exporter_panel()).with_panel(scrape_duration_panel())
