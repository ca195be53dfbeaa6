#!/usr/bin/env python3
"""The fleet dashboard of the HA deployment (deploy/ha): one page for every target of every exporter,
from the fleet recording rules of deploy/ha/fleet.rules.yml (targets by root cause, share healthy,
worst error budget) and the firing alerts.

    python grafana/fleet.py            # writes deploy/ha/inventory-fleet.json
    python grafana/fleet.py --check    # exit 1 if the committed JSON differs from the code

It reuses the building blocks of grafana/panels.py (query, st, ts, colours) and the JSON tidy-up of
grafana/dashboards.py (``as_dict``). It
lives beside deploy/ha, not in grafana/dashboards/, because its queries need fleet.rules.yml loaded: the
per-host dashboards work without it. Recorded series carry no replica label, so the same query answers
the same on either HA replica (tests/deploy/test_ha.py checks every query live on both).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

GRAFANA_DIR = Path(__file__).resolve().parent
if str(GRAFANA_DIR) not in sys.path:
    sys.path.insert(0, str(GRAFANA_DIR))

import panels as b  # noqa: E402  (grafana/panels.py: the building blocks)
from dashboards import as_dict  # noqa: E402  (grafana/dashboards.py: the JSON tidy-up)
from grafana_foundation_sdk.builders import dashboard as d  # noqa: E402

OUT = GRAFANA_DIR.parent / "deploy" / "ha" / "inventory-fleet.json"
UID = "inventory-fleet"
NO_OBJECTIVES = "(no traffic objectives)"
FIRING = 'ALERTS{alertstate="firing", alertname=~"Inventory.*"}'


def targets_panel():
    return b.st("Targets watched", "Every target of every exporter the replica scrapes "
                "(inventory:fleet_targets:count).", "none",
                [b.query("inventory:fleet_targets:count", "targets", instant=True)], (), w=4, h=6,
                thresholds=((None, b.BLUE),))


def healthy_panel():
    return b.st("Targets healthy", "Share of targets whose diagnosis has no root cause "
                "(inventory:fleet_targets_healthy:ratio): 0 when none is healthy.", "percentunit",
                [b.query("inventory:fleet_targets_healthy:ratio", "healthy", instant=True)], b.ROOT_CAUSE_ALERTS,
                w=4, h=6, thresholds=((None, b.RED), (0.9, b.YELLOW), (1, b.GREEN)))


def causes_panel():
    return b.st("Targets by root cause", "How many targets have each root cause now "
                "(inventory:fleet_targets:count_by_cause); \"none\" is healthy.", "none",
                [b.query("inventory:fleet_targets:count_by_cause", "{{cause}}", instant=True)], b.ROOT_CAUSE_ALERTS,
                w=8, h=6, thresholds=((None, b.BLUE),))


def budget_panel():
    expr = (f'inventory:fleet_slo_error_budget_remaining:min or on () '
            f'label_replace(vector(-1), "slo", "{NO_OBJECTIVES}", "", "")')
    return b.st("Worst error budget left", "The lowest remaining error budget per objective across the fleet "
                "(inventory:fleet_slo_error_budget_remaining:min, from the SLO rules); "
                f"{NO_OBJECTIVES} until a target has an access log.", "percentunit",
                [b.query(expr, "{{slo}}", instant=True)],
                ("InventorySLOAvailabilityBurnFast", "InventorySLOLatencyBurnFast"), w=8, h=6,
                thresholds=((None, b.RED), (0, b.YELLOW), (0.25, b.GREEN)),
                mappings={"-1": (NO_OBJECTIVES, b.BLUE)})


def causes_over_time_panel():
    return b.ts("Root causes over time", "Targets per root cause (inventory:fleet_targets:count_by_cause).",
                "none", [b.query("inventory:fleet_targets:count_by_cause", "{{cause}}")], b.ROOT_CAUSE_ALERTS,
                w=12, h=8, min_=0)


def firing_panel():
    return b.ts("Firing alerts by name", "Inventory alerts firing across the fleet, by alert name (0 when none).",
                "none", [b.query(f"count by (alertname) ({FIRING}) or on () label_replace(vector(0), "
                                 f'"alertname", "none", "", "")', "{{alertname}}")], (), w=12, h=8, min_=0)


def fleet():
    dash = d.Dashboard("Inventory fleet").uid(UID).tags(b.TAGS + ["fleet"]).editable() \
        .description("Every target of every exporter on one page: how many are healthy, root causes, the worst "
                     "error budget and the firing alerts. Needs deploy/ha/fleet.rules.yml.") \
        .time("now-6h", "now").refresh("1m").timezone("browser") \
        .link(d.DashboardLink("Inventory dashboards").type(b.dm.DashboardLinkType.DASHBOARDS).tags(["inventory"])
              .as_dropdown(True).keep_time(True)) \
        .with_variable(d.DatasourceVariable("datasource").label("Data source").type("prometheus")
                       .description("Either HA replica, or a deduplicating layer (Thanos Query, Mimir)."))
    return dash.with_row(b.row("The fleet now")) \
        .with_panel(targets_panel()).with_panel(healthy_panel()).with_panel(causes_panel()).with_panel(budget_panel()) \
        .with_row(b.row("Over time")) \
        .with_panel(causes_over_time_panel()).with_panel(firing_panel())


def render() -> str:
    return json.dumps(as_dict(fleet()), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON is not what the code generates")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"stale, run python grafana/fleet.py: {OUT}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
