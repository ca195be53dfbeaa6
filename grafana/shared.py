"""What both dashboards share: the panels each of them shows (sized by the caller), the template
variables and the dashboard frame (``base``), and the Traffic and functional rows.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as d

import functional  # grafana/functional.py: certificate, conditions, page render
import panels  # grafana/panels.py: the building blocks, passed to the rows as their ``b``
import traffic  # grafana/traffic.py: the Traffic row, from nginx's access log and the SLO rules
from panels import (
    BY, DS, GREEN, HOST, RED, ROOT_CAUSE_ALERTS, RUNBOOK_BASE, SEVERITY_MAP, STATUS_STEPS, TAGS, TGT, TGT_OR_HOST,
    cm, dm, empty_row, query, row, st, tbl, ts,
)


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


def with_traffic_row(dash, wide: bool = False):
    """``dash`` with the Traffic row (grafana/traffic.py) appended."""
    dash = dash.with_row(row("Traffic (nginx access log) and SLOs"))
    for panel in traffic.panels(panels, wide=wide):
        dash = dash.with_panel(panel)
    return dash


def with_functional_row(dash, wide: bool = False):
    """``dash`` with the functional row (grafana/functional.py: certificate, conditions, page render) appended."""
    dash = dash.with_row(row("Does the app work: https front, conditions, page render"))
    for panel in functional.panels(panels, wide=wide):
        dash = dash.with_panel(panel)
    return dash
