"""bench/compare.py, figure 5: memory (RSS) of ours, blackbox_exporter and node_exporter."""

from __future__ import annotations

from bench.compare_stats import ratio
from bench.compare_table import Figure, fmt, verdict
from bench.compare_world import World


def figure_memory(samples: dict[str, dict[str, float]]) -> Figure:
    figure = Figure("5. Memory (RSS, MB)", ["when", "ours", "blackbox_exporter", "node_exporter", "ratio ours/blackbox", "goal"])
    for when, rss in samples.items():
        r = ratio(rss["ours"], rss["blackbox"])
        goal = f"≤ 2: {verdict(r <= 2)}" if when.startswith("after load") else ""
        figure.rows.append([when, fmt(rss["ours"], 1), fmt(rss["blackbox"], 1), fmt(rss["node"], 1), fmt(r), goal])
    figure.notes = ["\"after load\" is measured after figures 1–3; \"end\" after figure 4's largest configuration."]
    return figure


def rss(world: World) -> dict[str, float]:
    return {"ours": world.ours.rss_mb(), "blackbox": world.blackbox.rss_mb(), "node": world.node.rss_mb()}
