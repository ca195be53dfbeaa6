"""The overview dashboard ("Inventory exporter", uid ``inventory``): is the site up, and if not, why. Its
own panels, and ``overview()``, which lays them out with the shared ones.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge

from panels import (
    BLUE, BY, GREEN, HOST, OK_BAD, RED, SEVERITY_COLOURS, SEVERITY_ICONS, SEVERITY_MAP, STATUS_STEPS, TGT,
    TGT_OR_HOST, THRESHOLDS, YELLOW, cb, cm, common, dm, empty_row, query, row, st, steps, tbl, ts, with_probe_time,
)
from shared import (
    active_findings_panel, base, dns_panel, prisma_versions_panel, proxy_panel, root_cause_panel,
    upstream_errors_rate_panel, with_functional_row, with_traffic_row,
)

OVERVIEW_UID = "inventory"  # alerts link to /d/inventory/inventory-exporter: keep it


def findings_by_severity_panel(w=8, h=6):
    queries, overrides = [], []
    for ref, severity in zip("ABC", ("critical", "warning", "info")):
        queries.append(query(
            f'count(inventory_finding{{{TGT_OR_HOST}, severity="{severity}"}} == 1) or vector(0)',
            f"{SEVERITY_ICONS[severity]} {severity}", ref, instant=True))
        overrides.append((f"{SEVERITY_ICONS[severity]} {severity}", [dm.DynamicConfigValue(
            "thresholds", steps((None, GREEN), (1, SEVERITY_COLOURS[severity])).build())]))
    panel = st(
        "Active findings by severity",
        "How many diagnosis findings are active, by the incident report's priority: critical = 🔴 high, "
        "warning = 🟡 medium, info = 🟢 low. Each count turns its colour when above zero. Includes host "
        "findings (empty target).",
        "none", queries, ("InventoryAppNotListening", "InventoryCpuHigh", "InventoryLogErrors"), w=w, h=h,
        thresholds=((None, GREEN),),
    )
    for name, props in overrides:
        panel = panel.override_by_name(name, props)
    return panel


def app_port_panel(w=6, h=5):
    return st(
        "App port",
        "Whether the app's port accepts TCP connections, and who holds it: \"listening\" (the app), "
        "\"not listening\" (nothing: nginx answers 502) or \"port conflict\" (a process that is not one of "
        "app_process_names).",
        "none",
        [query(f"max by ({BY}, port) (inventory_app_port_listening{{{TGT}}}) + on ({BY}, port) "
               f"(2 * max by ({BY}, port) (inventory_app_port_conflict{{{TGT}}}) "
               f"or on ({BY}, port) 0 * max by ({BY}, port) (inventory_app_port_listening{{{TGT}}}))",
               "{{target}} :{{port}}", instant=True)],
        ("InventoryAppNotListening", "InventoryAppPortConflict"), w=w, h=h,
        thresholds=((None, RED), (1, GREEN), (2, RED)),
        mappings={"0": ("not listening", RED), "1": ("listening", GREEN), "3": ("port conflict", RED)},
    )


def endpoints_panel(w=6, h=5):
    return st(
        "Endpoints",
        "HTTP status of every configured API endpoint, page and static asset, asked directly of the app "
        "(not through nginx). 2xx/3xx green, errors red, \"no response\" when the app does not answer.",
        "none",
        [query(f"max by ({BY}, path, kind) (inventory_http_status_code{{{TGT}}})", "{{path}}", instant=True)],
        ("InventoryEndpointFailing", "InventoryStaticAssetsFailing", "InventoryAppUnresponsive"), w=w, h=h,
        thresholds=STATUS_STEPS, mappings={"0": ("no response", RED)},
    )


def upstream_errors_now_panel(w=6, h=5):
    return st(
        "nginx upstream errors (5 min)",
        "Upstream failures nginx wrote to its error log in the last 5 minutes, summed over classes "
        "(connection refused, timed out, prematurely closed, reset, ...). Non-zero means nginx could not "
        "talk to the app.",
        "none",
        [query(f"sum by ({BY}) (inventory_proxy_upstream_errors_recent{{{TGT}}})", "{{target}}", instant=True)],
        ("InventoryProxyUpstreamRefused", "InventoryProxyUpstreamErrors"), w=w, h=h,
        thresholds=((None, GREEN), (1, RED)),
    )


def latency_panel(w=12, h=8):
    api, page = THRESHOLDS["api_seconds"], THRESHOLDS["page_seconds"]
    return ts(
        "Endpoint and proxy response time",
        f"Time to the end of each endpoint's response (asked of the app) and of nginx's answer. Dashed lines: "
        f"the report's thresholds, API {api * 1000:.0f} ms (yellow) and page {page:g} s (red). When the app "
        f"gives no response the line shows how long the HTTP probe took to fail (\"no response\").",
        "s",
        [query(with_probe_time(f"max by ({BY}, path) (inventory_http_response_seconds{{{TGT}}})",
                               "http", "path", "no response (probe time)"), "{{target}} {{path}}", "A"),
         query(f"max by ({BY}) (inventory_proxy_response_seconds{{{TGT}}})", "{{target}} via nginx", "B")],
        ("InventoryApiSlow", "InventoryPageSlow"), w=w, h=h, thresholds=((api, YELLOW), (page, RED)), min_=0,
    )


def db_status_panel(w=6, h=8):
    return st(
        "Database",
        "Whether the SQLite file exists and a read-only query on it succeeds (opened mode=ro, query_only).",
        "none",
        [query(f"max by ({BY}) (inventory_db_file_exists{{{TGT}}})", "file {{target}}", "A", instant=True),
         query(f"max by ({BY}) (inventory_db_up{{{TGT}}})", "query {{target}}", "B", instant=True)],
        ("InventoryDatabaseMissing", "InventoryDatabaseUnavailable"), w=w, h=h,
        thresholds=((None, RED), (1, GREEN)), mappings={"1": ("OK", GREEN), "0": ("failing", RED)},
    )


def db_size_panel(w=6, h=8):
    return st(
        "Database size",
        "Size of the SQLite database file (0 when the file is missing).",
        "bytes",
        [query(f"max by ({BY}) (inventory_db_file_size_bytes{{{TGT}}}) "
               f"or on ({BY}) 0 * max by ({BY}) (inventory_db_file_exists{{{TGT}}})", "{{target}}", instant=True)],
        ("InventoryDatabaseMissing",), w=w, h=h, thresholds=((None, BLUE),),
        colour_mode=cm.BigValueColorMode.VALUE,
    )


def db_latency_panel(w=12, h=8):
    limit = THRESHOLDS["db_query_seconds"]
    return ts(
        "Database query time",
        f"Time to open the SQLite database read-only and run the check query. Dashed line: the report's "
        f"{limit * 1000:.0f} ms threshold. When the query fails the line shows how long the probe took "
        f"(\"query failed\").",
        "s",
        [query(with_probe_time(f"max by ({BY}) (inventory_db_query_seconds{{{TGT}}})",
                               "database", "state", "query failed (probe time)"), "{{target}} {{state}}")],
        ("InventoryDbQuerySlow", "InventoryDatabaseUnavailable"), w=w, h=h, thresholds=((limit, RED),), min_=0,
    )


def prisma_drift_panel(w=6, h=7):
    return st(
        "Prisma drift",
        "1 = OK for each: CLI and client versions equal, client generated (prisma generate has run), no "
        "newer Prisma release (\"not checked\" unless npm_registry is enabled).",
        "none",
        [query(f"1 - max by ({BY}) (inventory_prisma_version_mismatch{{{TGT}}})", "{{target}} CLI = client", "A",
               instant=True),
         query(f"max by ({BY}) (inventory_prisma_client_generated{{{TGT}}})", "{{target}} client generated", "B",
               instant=True),
         query(f"1 - max by ({BY}) (inventory_prisma_update_available{{{TGT}}}) or on ({BY}) "
               f"(0 * max by ({BY}) (inventory_prisma_client_generated{{{TGT}}}) - 1)", "{{target}} latest release",
               "C", instant=True)],
        ("InventoryPrismaVersionMismatch", "InventoryPrismaClientNotGenerated", "InventoryPrismaUpdateAvailable"),
        w=w, h=h, thresholds=((None, YELLOW), (1, GREEN)), mappings=OK_BAD,
    )


def project_checks_panel(w=6, h=7):
    return st(
        "Webpack cache and config",
        "1 = OK for each: .next/cache/webpack writable by the project owner, every expected config file "
        "present (package.json, next.config, prisma/schema.prisma, .env), every expected variable set in .env.",
        "none",
        [query(f"min by ({BY}) (inventory_webpack_cache_writable{{{TGT}}})", "{{target}} webpack cache writable", "A",
               instant=True),
         query(f"min by ({BY}) (inventory_config_file_present{{{TGT}}})", "{{target}} config files", "B",
               instant=True),
         query(f"min by ({BY}) (inventory_env_var_present{{{TGT}}})", "{{target}} env vars", "C", instant=True)],
        ("InventoryWebpackCacheUnwritable", "InventoryConfigFileMissing", "InventoryPrismaConfigMissing",
         "InventoryEnvVarMissing"),
        w=w, h=h, thresholds=((None, YELLOW), (1, GREEN)), mappings=OK_BAD,
    )


def cpu_memory_panel(w=8, h=8):
    return ts(
        "Host CPU and memory",
        f"Host CPU busy ratio and memory in use on each exporter's host. Dashed lines at 50 % (yellow; the "
        f"report's CPU threshold is {THRESHOLDS['cpu_ratio']:.0%}) and 80 % (red; memory threshold "
        f"{THRESHOLDS['memory_ratio']:.0%}).",
        "percentunit",
        [query(f"max by (job, instance) (inventory_cpu_usage_ratio{{{HOST}}})", "CPU {{instance}}", "A"),
         query(f"max by (job, instance) (inventory_memory_usage_ratio{{{HOST}}})", "memory {{instance}}", "B")],
        ("InventoryCpuHigh", "InventoryMemoryHigh"), w=w, h=h, thresholds=((0.5, YELLOW), (0.8, RED)), min_=0, max_=1,
    )


def disk_panel(w=8, h=8):
    return ts(
        "Host disk used",
        f"Used ratio of each watched filesystem (/, and every project_dir's), as df shows it. Dashed lines at "
        f"50 % and 80 %; the disk_nearly_full finding fires above {THRESHOLDS['disk_ratio']:.0%}.",
        "percentunit",
        [query(f"max by (job, instance, mountpoint) (inventory_disk_usage_ratio{{{HOST}}})",
               "{{mountpoint}} {{instance}}")],
        ("InventoryDiskNearlyFull",), w=w, h=h, thresholds=((0.5, YELLOW), (0.8, RED)), min_=0, max_=1,
    )


def load_panel(w=8, h=8):
    return ts(
        "Host load per CPU",
        "Load average (1, 5, 15 min) divided by the number of logical CPUs: 100 % means every CPU is busy. "
        "Dashed lines at 50 % and 80 %.",
        "percentunit",
        [query(f"max by (job, instance, window) (inventory_load_average{{{HOST}}}) / on (job, instance) group_left () "
               f"max by (job, instance) (inventory_cpus{{{HOST}}})", "load {{window}} {{instance}}")],
        ("InventoryCpuHigh",), w=w, h=h, thresholds=((0.5, YELLOW), (0.8, RED)), min_=0,
    )


def host_now_panel(w=8, h=8):
    return common(bargauge.Panel(), "Host now",
                  "Current CPU, memory and fullest-disk usage per host, green below 50 %, yellow to 80 %, red above.",
                  "percentunit", ("InventoryCpuHigh", "InventoryMemoryHigh", "InventoryDiskNearlyFull"), w, h) \
        .targets([
            query(f"max by (job, instance) (inventory_cpu_usage_ratio{{{HOST}}})", "CPU {{instance}}", "A", instant=True),
            query(f"max by (job, instance) (inventory_memory_usage_ratio{{{HOST}}})", "memory {{instance}}", "B",
                  instant=True),
            query(f"max by (job, instance) (inventory_disk_usage_ratio{{{HOST}}})", "disk {{instance}}", "C",
                  instant=True)]) \
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False)) \
        .display_mode(cm.BarGaugeDisplayMode.GRADIENT).orientation(cm.VizOrientation.HORIZONTAL) \
        .thresholds(steps((None, GREEN), (0.5, YELLOW), (0.8, RED))).min(0).max(1)


ALERT_SEL = 'alertname=~"Inventory.*", job=~"$job|", instance=~"$instance|"'


def firing_count_panel(w=4, h=8):
    return st(
        "Firing alerts",
        "Inventory* alerts firing in Prometheus now (after their for: delay), from the shipped rules "
        "alerting-rules/inventory.rules.yml. Pending ones are listed in the table.",
        "none",
        [query(f'count(ALERTS{{{ALERT_SEL}, alertstate="firing"}}) or vector(0)', "firing", instant=True)],
        ("InventoryExporterDown", "InventoryAppNotListening"), w=w, h=h, thresholds=((None, GREEN), (1, RED)),
        text_mode=cm.BigValueTextMode.VALUE,
    )


def alerts_table_panel(w=12, h=8):
    return tbl(
        "Alerts",
        "Inventory* alerts firing or pending in Prometheus, with severity and target. \"none\" when there are "
        "none. Alertmanager inhibits the cascade of a root cause (see README, Alerting); this table shows "
        "Prometheus's view, before inhibition.",
        "none",
        [query(empty_row(f"max by (alertname, alertstate, severity, target, instance) (ALERTS{{{ALERT_SEL}}})",
                         alertname="none", alertstate="none", severity="none"), table_format=True)],
        ("InventoryExporterDown", "InventoryAppNotListening"), w=w, h=h, hide=("Time", "Value"),
        colour_columns={"severity": SEVERITY_MAP,
                        "alertstate": {"firing": ("firing", RED), "pending": ("pending", YELLOW), "none": ("none", GREEN)}},
    )


def overview():
    dash = base(
        "Inventory exporter", OVERVIEW_UID,
        "Is the smart-inventory site up, and if not, why: root cause and findings per target, app port, "
        "endpoints and nginx, latency against the report's thresholds, database, Prisma, project files, "
        "host and DNS, and the alerts. Details per target: the \"Inventory exporter / target\" dashboard.",
    ) \
        .with_row(row("Is it up, and if not, why?")) \
        .with_panel(root_cause_panel()).with_panel(findings_by_severity_panel()).with_panel(active_findings_panel()) \
        .with_panel(app_port_panel()).with_panel(endpoints_panel()).with_panel(proxy_panel()) \
        .with_panel(upstream_errors_now_panel())
    return with_functional_row(with_traffic_row(dash)) \
        .with_row(row("Latency")) \
        .with_panel(latency_panel()).with_panel(upstream_errors_rate_panel()) \
        .with_row(row("Database, Prisma, project files")) \
        .with_panel(db_status_panel()).with_panel(db_size_panel()).with_panel(db_latency_panel()) \
        .with_panel(prisma_versions_panel()).with_panel(prisma_drift_panel()).with_panel(project_checks_panel()) \
        .with_row(row("Host and network")) \
        .with_panel(cpu_memory_panel()).with_panel(disk_panel()).with_panel(load_panel()) \
        .with_panel(host_now_panel()).with_panel(dns_panel()) \
        .with_row(row("Alerts")) \
        .with_panel(firing_count_panel()).with_panel(alerts_table_panel(w=20))
