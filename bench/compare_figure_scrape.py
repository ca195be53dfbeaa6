"""bench/compare.py, figure 1: one full scrape of one target, ours vs blackbox probes + a node_exporter scrape."""

from __future__ import annotations

from bench.compare_clients import Client, ours_failures, theirs_failed
from bench.compare_settings import log
from bench.compare_stats import median, p99, ratio
from bench.compare_table import Figure, fmt, plural, verdict
from bench.compare_world import World


def figure_full_scrape(world: World, rounds: int, per_round: int) -> Figure:
    log("figure 1: one full scrape of one target")
    ours_client, bb_client, node_client = Client(world.ours_port), Client(world.blackbox_port), Client(world.node_port)
    steps = [
        (bb_client, world.bb_path("tcp_connect", f"127.0.0.1:{world.app_port}")),
        (bb_client, world.bb_path("http_2xx", f"{world.app}/api/health")),
        (bb_client, world.bb_path("http_2xx", f"{world.app}/api/products")),
        (bb_client, world.bb_path("http_2xx", f"{world.app}/favicon.ico")),
        (bb_client, world.bb_path("http_2xx", f"http://127.0.0.1:{world.proxy_port}/")),
        (bb_client, world.bb_path("dns", f"127.0.0.1:{world.dns_port}")),
        (node_client, "/metrics"),
    ]
    notes = []
    _, text, _ = ours_client.get("/metrics")
    if ours_failures(text):
        notes.append("ours: failing probes in the full scrape: " + "; ".join(ours_failures(text)[:5]))
    for client, path in steps:
        _, text, _ = client.get(path)
        if client is bb_client and theirs_failed(text):
            notes.append(f"theirs: probe failed: {path}")
    for _ in range(3):  # warm-up, unmeasured
        ours_client.get("/metrics")
        for client, path in steps:
            client.get(path)

    ours_wall, theirs_wall, ours_cpu, theirs_cpu = [], [], [], []
    for _ in range(rounds):
        cpu0 = world.ours.cpu()
        for _ in range(per_round):
            ours_wall.append(ours_client.get("/metrics")[2])
        ours_cpu.append((world.ours.cpu() - cpu0) / per_round)

        cpu0 = world.blackbox.cpu() + world.node.cpu()
        for _ in range(per_round):
            theirs_wall.append(sum(client.get(path)[2] for client, path in steps))
        theirs_cpu.append((world.blackbox.cpu() + world.node.cpu() - cpu0) / per_round)
    for client in (ours_client, bb_client, node_client):
        client.close()

    ms = 1000.0
    wall_ratio = ratio(median(ours_wall), median(theirs_wall))
    cpu_ratio = ratio(median(ours_cpu), median(theirs_cpu))
    figure = Figure(
        "1. One full scrape of one target",
        ["figure", "ours", "theirs", "ratio ours/theirs", "goal"],
        notes=notes + [
            "ours: `/metrics` with only the full target (port, 3 HTTP paths, proxy, proxy log, database, Prisma, "
            "files, webpack cache, log, DNS `localhost` via the loopback responder, host); theirs: blackbox "
            "tcp_connect + 3× http_2xx + http_2xx on the proxy + dns, then one node_exporter scrape "
            "(cpu, meminfo, filesystem, loadavg), run one after the other and summed.",
            f"{plural(rounds, 'round')} × {per_round} scrapes per side, alternating; CPU = user+system of the exporter "
            "process vs blackbox_exporter + node_exporter.",
        ],
    )
    figure.rows = [
        ["wall time, median (ms)", fmt(median(ours_wall) * ms), fmt(median(theirs_wall) * ms), fmt(wall_ratio), f"< 1: {verdict(wall_ratio < 1)}"],
        ["wall time, p99 (ms)", fmt(p99(ours_wall) * ms), fmt(p99(theirs_wall) * ms), fmt(ratio(p99(ours_wall), p99(theirs_wall))), ""],
        ["CPU per scrape (ms)", fmt(median(ours_cpu) * ms), fmt(median(theirs_cpu) * ms), fmt(cpu_ratio), f"< 1: {verdict(cpu_ratio < 1)}"],
    ]
    return figure
