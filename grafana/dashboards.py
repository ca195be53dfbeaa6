#!/usr/bin/env python3
"""The Grafana dashboards of inventory-exporter, as code (grafana-foundation-sdk).

    python grafana/dashboards.py            # writes grafana/dashboards/*.json
    python grafana/dashboards.py --check    # exit 1 if the committed JSON differs from the code

This file is the generator; the dashboards live beside it: grafana/overview.py and grafana/detail.py
(each dashboard's own panels and layout), grafana/shared.py (what both show, the variables and frame),
grafana/panels.py (the building blocks), grafana/traffic.py and grafana/functional.py (two shared rows).
Edit those, never the JSON. Thresholds come from ``exporter.diagnosis.THRESHOLDS`` and the
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

GRAFANA_DIR = Path(__file__).resolve().parent
if str(GRAFANA_DIR) not in sys.path:
    sys.path.insert(0, str(GRAFANA_DIR))

from grafana_foundation_sdk.cog.encoder import JSONEncoder  # noqa: E402

from detail import detail  # noqa: E402  (grafana/detail.py: the per-target dashboard)
from overview import overview  # noqa: E402  (grafana/overview.py: the overview dashboard)

OUT_DIR = GRAFANA_DIR / "dashboards"
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
