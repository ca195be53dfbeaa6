"""The building blocks of the dashboards (query, ts, st, tbl, row, steps, value_map, common, ...) and the
constants every panel uses: the datasource, the selectors, the colours, the runbook base URL, and the
diagnosis thresholds (``exporter.diagnosis.THRESHOLDS``).

grafana/traffic.py and grafana/functional.py receive this module as their ``b``; grafana/fleet.py
imports it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from grafana_foundation_sdk.builders import common as cb, dashboard as d, prometheus, stat, table, timeseries  # noqa: E402
from grafana_foundation_sdk.models import common as cm, dashboard as dm, prometheus as pm  # noqa: E402

from exporter.diagnosis import THRESHOLDS  # noqa: E402, F401  (used by the panel modules and the rows)

RULES_CONFIG = ROOT / "alerting-rules" / "config.yml"
DEFAULT_RUNBOOK_BASE = "https://git.example.com/ops/inventory-exporter/blob/main/docs/runbooks.md"

TAGS = ["inventory", "inventory-exporter"]

DS = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")

# Selectors. Host metrics have no target label; host findings have target="".
HOST = 'job=~"$job", instance=~"$instance"'
TGT = HOST + ', target=~"$target"'
TGT_OR_HOST = HOST + ', target=~"$target|"'
BY = "job, instance, target"

RED, YELLOW, GREEN, BLUE = "red", "yellow", "green", "blue"
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
STATUS_STEPS = ((None, RED), (200, GREEN), (400, RED))
SEVERITY_MAP = {s: (f"{SEVERITY_ICONS[s]} {s}", c) for s, c in SEVERITY_COLOURS.items()} | {"none": ("none", GREEN)}

ROOT_CAUSE_ALERTS = ("InventoryAppPortConflict", "InventoryAppNotListening", "InventoryAppUnresponsive",
                     "InventoryDatabaseUnavailable", "InventoryEndpointFailing", "InventoryProxyBadGateway",
                     "InventoryProxyDown")
