#!/usr/bin/env python3
"""The Grafana dashboards of inventory-exporter, as code (grafana-foundation-sdk).

    python grafana/dashboards.py            # writes grafana/dashboards/*.json
    python grafana/dashboards.py --check    # exit 1 if the committed JSON differs from the code

Edit this file, never the JSON. Thresholds come from ``exporter.diagnosis.THRESHOLDS`` and the
runbook base URL from ``alerting-rules/config.yml``, so the dashboards draw the lines the diagnosis
and the alerts use, and link where the alerts link.

Every query follows the same rules (checked by tests/grafana): the datasource is the
``$datasource`` variable; every selector carries ``job=~"$job", instance=~"$instance"`` and, for
per-target metrics, ``target=~"$target"``; rates use ``$__rate_interval``; and a query must return
data on a live system whether the app is up or down (counts fall back to 0, values that vanish when
the app stops fall back to the probe's own duration).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Iterable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from grafana_foundation_sdk.builders import bargauge, common as cb, dashboard as d, prometheus, stat  # noqa: E402
from grafana_foundation_sdk.builders import statetimeline, table, timeseries  # noqa: E402
from grafana_foundation_sdk.cog.encoder import JSONEncoder  # noqa: E402
from grafana_foundation_sdk.models import common as cm, dashboard as dm, prometheus as pm  # noqa: E402

from exporter.diagnosis import THRESHOLDS  # noqa: E402

GRAFANA_DIR = Path(__file__).resolve().parent
if str(GRAFANA_DIR) not in sys.path:
    sys.path.insert(0, str(GRAFANA_DIR))
import functional  # noqa: E402  (grafana/functional.py: certificate, conditions, page render)
import traffic  # noqa: E402  (grafana/traffic.py: the Traffic row, from nginx's access log and the SLO rules)

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
RULES_CONFIG = ROOT / "alerting-rules" / "config.yml"
DEFAULT_RUNBOOK_BASE = "https://git.example.com/ops/inventory-exporter/blob/main/docs/runbooks.md"

OVERVIEW_UID = "inventory"  # alerts link to /d/inventory/inventory-exporter: keep it
DETAIL_UID = "inventory-target"
TAGS = ["inventory", "inventory-exporter"]

DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")

# Selectors. Host metrics have no target label; host findings have target="".
HOST = 'job=~"$job", instance=~"$instance"'
TGT = HOST + ', target=~"$target"'
TGT_OR_HOST = HOST + ', target=~"$target|"'
BY = "job, instance, target"

RED, YELLOW, GREEN, BLUE, GREY = "red", "yellow", "green", "blue", "text"
SEVERITY_COLOURS = {"critical": RED, "warning": YELLOW, "info": GREEN}
SEVERITY_ICONS = {"critical": "🔴", "warning": "🟡", "info": "🟢"}


def runbook_base() -> str:
    """``links.runbook_base_url`` of alerting-rules/config.yml: the alerts' runbook_url base."""
    try:
        config = yaml.safe_load(RULES_CONFIG.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return DEFAULT_RUNBOOK_BASE
    return str((config.get("links") or {}).get("runbook_base_url") or DEFAULT_RUNBOOK_BASE)


RUNBOOK_BASE = runbook_base()


# --- building blocks ---------------------------------------------------------------------------


def query(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False, table_format: bool = False):
    q = prometheus.Dataquery().expr(" ".join(expr.split())).ref_id(ref).datasource(DS)
    if legend:
        q = q.legend_format(legend)
    if table_format:
        q = q.format(pm.PromQueryFormat.TABLE)
    return q.instant() if instant or table_format else q.range()


def runbooks(alerts: Iterable[str]) -> list:
    return [
        d.DashboardLink(f"Runbook: {alert}").type(dm.DashboardLinkType.LINK)
        .url(f"{RUNBOOK_BASE}#{alert.lower()}").tooltip(f"What to do when {alert} fires").target_blank(True)
        for alert in alerts
    ]


def steps(*pairs: tuple[float | None, str]):
    return d.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps([dm.Threshold(v, c) for v, c in pairs])


def value_map(mapping: dict[str, tuple[str, str]]) -> list:
    return [dm.ValueMap({k: dm.ValueMappingResult(text=text, color=colour, index=i)
                         for i, (k, (text, colour)) in enumerate(mapping.items())})]


def fixed_colour(colour: str) -> list[dm.DynamicConfigValue]:
    return [dm.DynamicConfigValue("color", {"mode": "fixed", "fixedColor": colour})]


def common(panel, title: str, description: str, unit: str, alerts: Iterable[str], w: int, h: int):
    return panel.title(title).description(description).unit(unit).datasource(DS).links(runbooks(alerts)).span(w).height(h)


def ts(title, description, unit, queries, alerts, *, w=12, h=8, thresholds=None, min_=None, max_=None):
    panel = common(timeseries.Panel(), title, description, unit, alerts, w, h).targets(queries) \
        .legend(cb.VizLegendOptions().display_mode(cm.LegendDisplayMode.TABLE).placement(cm.LegendPlacement.BOTTOM)
                .show_legend(True).calcs(["lastNotNull", "max"])) \
        .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING)) \
        .fill_opacity(10).span_nulls(False)
    if thresholds:
        panel = panel.thresholds(steps((None, GREEN), *thresholds)) \
            .thresholds_style(cb.GraphThresholdsStyleConfig().mode(cm.GraphTresholdsStyleMode.DASHED))
    if min_ is not None:
        panel = panel.min(min_)
    if max_ is not None:
        panel = panel.max(max_)
    return panel


def st(title, description, unit, queries, alerts, *, w=6, h=5, thresholds=None, mappings=None,
       text_mode=cm.BigValueTextMode.VALUE_AND_NAME, colour_mode=cm.BigValueColorMode.BACKGROUND):
    panel = common(stat.Panel(), title, description, unit, alerts, w, h).targets(queries) \
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False)) \
        .graph_mode(cm.BigValueGraphMode.NONE).color_mode(colour_mode).text_mode(text_mode) \
        .orientation(cm.VizOrientation.AUTO).justify_mode(cm.BigValueJustifyMode.AUTO)
    if thresholds:
        panel = panel.thresholds(steps(*thresholds))
    if mappings:
        panel = panel.mappings(value_map(mappings))
    return panel


def tbl(title, description, unit, queries, alerts, *, w=12, h=8, hide=("Time",), rename=None, colour_columns=None):
    panel = common(table.Panel(), title, description, unit, alerts, w, h).targets(queries) \
        .with_transformation(dm.DataTransformerConfig(id_val="merge", options={})) \
        .with_transformation(dm.DataTransformerConfig(id_val="organize", options={
            "excludeByName": {name: True for name in hide}, "renameByName": rename or {}, "indexByName": {}}))
    for column, mapping in (colour_columns or {}).items():
        panel = panel.override_by_name(column, [
            dm.DynamicConfigValue("custom.cellOptions", {"type": "color-background"}),
            dm.DynamicConfigValue("mappings", [m.to_json() for m in value_map(mapping)]),
        ])
    return panel


def row(title: str):
    return d.Row(title)


def with_traffic_row(dash, wide: bool = False):
    """``dash`` with the Traffic row (grafana/traffic.py) appended."""
    dash = dash.with_row(row("Traffic (nginx access log) and SLOs"))
    for panel in traffic.panels(SimpleNamespace(**globals()), wide=wide):
        dash = dash.with_panel(panel)
    return dash


def with_functional_row(dash, wide: bool = False):
    """``dash`` with the functional row (grafana/functional.py: certificate, conditions, page render) appended."""
    dash = dash.with_row(row("Does the app work: https front, conditions, page render"))
    for panel in functional.panels(SimpleNamespace(**globals()), wide=wide):
        dash = dash.with_panel(panel)
    return dash


def with_probe_time(expr: str, probe: str, label: str, value: str, *, keep: str = BY) -> str:
    """``expr``, or where a target has none of it (the probe got no answer), the probe's own duration
    labelled ``label=value``: a panel keeps a line for a down app instead of showing "No data"."""
    fallback = f'label_replace(max by ({BY}) (inventory_probe_duration_seconds{{{TGT}, probe="{probe}"}}), "{label}", "{value}", "", "")'
    return f"{expr} or on ({keep}) {fallback}"


def empty_row(expr: str, **labels: str) -> str:
    """``expr``, or one row of value 0 with ``labels`` when it has no series (e.g. nothing firing)."""
    fallback = "vector(0)"
    for label, value in labels.items():
        fallback = f'label_replace({fallback}, "{label}", "{value}", "", "")'
    return f"{expr} or on () {fallback}"


OK_BAD = {"1": ("OK", GREEN), "0": ("needs attention", YELLOW), "-1": ("not checked", BLUE)}
UP_DOWN = {"1": ("up", GREEN), "0": ("down", RED)}
STATUS_STEPS = ((None, RED), (200, GREEN), (400, RED))
SEVERITY_MAP = {s: (f"{SEVERITY_ICONS[s]} {s}", c) for s, c in SEVERITY_COLOURS.items()} | {"none": ("none", GREEN)}

ROOT_CAUSE_ALERTS = ("InventoryAppPortConflict", "InventoryAppNotListening", "InventoryAppUnresponsive",
                     "InventoryDatabaseUnavailable", "InventoryEndpointFailing", "InventoryProxyBadGateway",
                     "InventoryProxyDown")


# --- panels shared by both dashboards ------------------------------------------------------------


def root_cause_panel(w=8, h=6):
    return st(
        "Root cause",
        "The one root cause the diagnosis chose per target (decision order in README, Diagnosis): green "
        "\"none\" when healthy, red with the cause's name when the site is down. The runbook links explain each cause.",
        "none",
        [query(f'(max by ({BY}, cause) (inventory_root_cause_info{{{TGT}, cause!="none"}}) == 1) * 2 '
               f'or max by ({BY}, cause) (inventory_root_cause_info{{{TGT}, cause="none"}}) == 1',
               "{{target}}: {{cause}}", instant=True)],
        ROOT_CAUSE_ALERTS, w=w, h=h, thresholds=((None, GREEN), (2, RED)),
        mappings={"1": ("healthy", GREEN), "2": ("DOWN", RED)}, text_mode=cm.BigValueTextMode.NAME,
    )


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


def active_findings_panel(w=8, h=6):
    return tbl(
        "Active findings",
        "Every active diagnosis finding (check id and severity, colour-coded 🔴🟡🟢), per target; host "
        "findings have an empty target. \"none\" when nothing is active. The check ids are the README's "
        "Diagnosis table; each has an alert Inventory<CheckInCamelCase> and a runbook section.",
        "none",
        [query(empty_row(f"max by ({BY}, check, severity) (inventory_finding{{{TGT_OR_HOST}}} == 1)",
                         check="none", severity="none"), ref="A", table_format=True)],
        ROOT_CAUSE_ALERTS[:3], w=w, h=h, hide=("Time", "Value", "job"),
        colour_columns={"severity": SEVERITY_MAP},
    )


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


def proxy_panel(w=6, h=5):
    return st(
        "nginx",
        "HTTP status nginx answers for the target's proxy_url: 200 when it reaches the app, 502/504 Bad "
        "Gateway when the app behind it is down or hung, \"down\" when nginx itself does not answer.",
        "none",
        [query(f"max by ({BY}) (inventory_proxy_status_code{{{TGT}}})", "{{target}} via nginx", instant=True)],
        ("InventoryProxyBadGateway", "InventoryProxyDown"), w=w, h=h, thresholds=STATUS_STEPS,
        mappings={"0": ("down", RED), "502": ("502 Bad Gateway", RED), "504": ("504 Gateway Timeout", RED)},
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


def upstream_errors_rate_panel(w=12, h=8):
    return ts(
        "nginx upstream errors",
        "Rate of upstream failures nginx logs in its error log, by class: connection_refused (nothing on the "
        "app port), timed_out (hung app), prematurely_closed (keep-alive mismatch), ...",
        "reqps",
        [query(f"sum by ({BY}, reason) (rate(inventory_proxy_upstream_errors_total{{{TGT}}}[$__rate_interval]))",
               "{{target}} {{reason}}")],
        ("InventoryProxyUpstreamRefused", "InventoryProxyUpstreamErrors"), w=w, h=h, min_=0,
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


def prisma_versions_panel(w=12, h=7):
    return tbl(
        "Prisma versions",
        "Prisma CLI (prisma) and client (@prisma/client) versions: installed in node_modules, declared in "
        "package.json, and the latest release (only when npm_registry is enabled). Installed CLI and client "
        "must be equal.",
        "none",
        [query(f'max by ({BY}, package, source, version) (inventory_prisma_version_info{{{TGT}}}) or '
               f'label_replace(max by ({BY}, package, version) (inventory_prisma_latest_version_info{{{TGT}}}), '
               f'"source", "latest (npm)", "", "")', table_format=True)],
        ("InventoryPrismaVersionMismatch", "InventoryPrismaNotInstalled", "InventoryPrismaUpdateAvailable"),
        w=w, h=h, hide=("Time", "Value", "job"),
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


def dns_panel(w=8, h=8):
    return st(
        "DNS and loopback",
        "Whether each watched name resolves through each resolver (\"system\" = getaddrinfo, as the app "
        "resolves; IP:port = a DNS server asked directly), and whether a datagram over 127.0.0.1 comes back.",
        "none",
        [query(f"min by (job, instance, name, resolver) (inventory_dns_lookup_success{{{HOST}}})",
               "{{name}} @{{resolver}}", "A", instant=True),
         query(f"min by (job, instance) (inventory_loopback_up{{{HOST}}})", "loopback {{instance}}", "B", instant=True)],
        ("InventoryDnsSystemFailing", "InventoryDnsServerFailing", "InventoryLoopbackDown"), w=w, h=h,
        thresholds=((None, RED), (1, GREEN)), mappings={"1": ("resolves", GREEN), "0": ("fails", RED)},
    )


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


# --- variables and dashboards ----------------------------------------------------------------------


def variables() -> list:
    def label_var(name: str, label: str, query_: str, description: str):
        return d.QueryVariable(name).label(label).description(description).datasource(DS).query(query_) \
            .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(dm.VariableSort.ALPHABETICAL_ASC) \
            .multi(True).include_all(True).all_value(".+") \
            .current(dm.VariableOption(selected=True, text="All", value="$__all"))

    return [
        d.DatasourceVariable("datasource").label("Data source").type("prometheus")
        .description("The Prometheus that scrapes inventory-exporter."),
        label_var("job", "job", "label_values(inventory_exporter_build_info, job)",
                  "Prometheus job(s) scraping inventory-exporter."),
        label_var("instance", "instance", 'label_values(inventory_exporter_build_info{job=~"$job"}, instance)',
                  "Exporter instance(s)."),
        label_var("target", "target",
                  'label_values(inventory_root_cause_info{job=~"$job", instance=~"$instance"}, target)',
                  "Monitored app(s): the exporter config's target names."),
    ]


def base(title: str, uid: str, description: str):
    dash = d.Dashboard(title).uid(uid).description(description).tags(TAGS).editable() \
        .time("now-1h", "now").refresh("30s").timezone("browser").tooltip(dm.DashboardCursorSync.CROSSHAIR) \
        .timepicker(d.TimePicker().refresh_intervals(["10s", "30s", "1m", "5m", "15m", "30m", "1h"])) \
        .link(d.DashboardLink("Inventory dashboards").type(dm.DashboardLinkType.DASHBOARDS).tags(["inventory"])
              .as_dropdown(True).include_vars(True).keep_time(True)) \
        .link(d.DashboardLink("Runbooks").type(dm.DashboardLinkType.LINK).url(RUNBOOK_BASE).target_blank(True)
              .icon("doc"))
    for variable in variables():
        dash = dash.with_variable(variable)
    return dash


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


# detailed dashboard ------------------------------------------------------------------------------


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


# --- output ---------------------------------------------------------------------------------------

DASHBOARDS = {"inventory-overview.json": overview, "inventory-target.json": detail}


def _tidy(panels: list[dict], next_id: list[int]) -> None:
    """Stable panel ids in layout order; drop the null ``options`` the SDK leaves on some panels."""
    for panel in panels:
        panel["id"] = next_id[0]
        next_id[0] += 1
        if panel.get("options") is None:
            panel.pop("options", None)
        _tidy(panel.get("panels", []), next_id)


def as_dict(builder) -> dict:
    dashboard = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    _tidy(dashboard["panels"], [1])
    for variable in dashboard["templating"]["list"]:
        variable.pop("id", None)  # the SDK's all-zero placeholder; Grafana keys variables by name
    dashboard["annotations"] = {"list": [{
        "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
    }]}
    return dashboard


def render() -> dict[str, str]:
    """File name -> JSON text, exactly as committed under grafana/dashboards/."""
    return {name: json.dumps(as_dict(make()), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            for name, make in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON is not what the code generates")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output directory (default {OUT_DIR})")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render().items():
        path = args.out / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if stale:
        print("stale, run python grafana/dashboards.py: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
