"""bench/compare.py, figure 2: `/probe` of a single-endpoint target vs blackbox `http_2xx` under wrk."""

from __future__ import annotations

import re
import subprocess

from bench.compare_clients import Client, ours_failures, theirs_failed
from bench.compare_processes import Service
from bench.compare_settings import SCRAPE_HEADER, log
from bench.compare_stats import median, ratio
from bench.compare_table import Figure, fmt, plural, verdict
from bench.compare_world import World

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_wrk(output: str) -> dict[str, float]:
    def number(pattern: str) -> float:
        match = re.search(pattern, output, re.M)
        if not match:
            raise RuntimeError(f"cannot read {pattern!r} from wrk's output:\n{output}")
        return float(match.group(1))

    latency = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M)
    if not latency:
        raise RuntimeError(f"no 99% latency in wrk's output:\n{output}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": number(r"^Requests/sec:\s+([\d.]+)"),
        "requests": number(r"^\s*(\d+) requests in"),
        "p99": float(latency.group(1)) * UNITS[latency.group(2)],
        "errors": (sum(int(g) for g in errors.groups()) if errors else 0) + (int(non2xx.group(1)) if non2xx else 0),
    }


def tcp_sockets() -> int:
    """TCP sockets in this network namespace (TIME_WAIT included): what a read of /proc/net/tcp walks."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, "rb") as handle:
                count += max(handle.read().count(b"\n") - 1, 0)
        except OSError:
            pass
    return count


def run_wrk(world: World, service: Service, port: int, path: str, connections: int, duration: int) -> dict[str, float]:
    sockets = tcp_sockets()
    url = f"http://127.0.0.1:{port}{path}"
    args = [world.tools["wrk"], "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s",
            "-H", f"{SCRAPE_HEADER}: 10", url]
    cpu0, nginx0 = service.cpu(), world.nginx_requests()
    done = subprocess.run(args, capture_output=True, text=True, timeout=duration + 30)
    cpu1, nginx1 = service.cpu(), world.nginx_requests()
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}")
    result = parse_wrk(done.stdout)
    result["cpu"] = (cpu1 - cpu0) / max(result["requests"], 1)
    result["upstream"] = (nginx1 - nginx0 - 1) / max(result["requests"], 1)  # minus our own stub_status read
    result["sockets"] = sockets
    return result


def figure_probe_throughput(world: World, rounds: int, duration: int, concurrencies: tuple[int, ...]) -> Figure:
    log("figure 2: /probe vs blackbox http_2xx with wrk")
    ours_path = "/probe?target=single"
    theirs_path = world.bb_path("http_2xx", f"{world.app}/api/health")
    notes = []
    ours_client, bb_client = Client(world.ours_port), Client(world.blackbox_port)
    _, text, _ = ours_client.get(ours_path)
    if ours_failures(text):
        notes.append("ours: failing probes: " + "; ".join(ours_failures(text)))
    _, text, _ = bb_client.get(theirs_path)
    if theirs_failed(text):
        notes.append("theirs: the http_2xx probe failed")
    ours_client.close()
    bb_client.close()
    figure = Figure(
        "2. `/probe` of a single-endpoint target vs blackbox `http_2xx` on the same URL",
        ["connections", "figure", "ours", "theirs", "ratio ours/theirs", "goal"],
    )
    sockets = [1 << 62, 0]
    for connections in concurrencies:
        runs: dict[str, list[dict[str, float]]] = {"ours": [], "theirs": []}
        for r in range(rounds):
            log(f"  wrk -c{connections} round {r + 1}/{rounds}")
            runs["ours"].append(run_wrk(world, world.ours, world.ours_port, ours_path, connections, duration))
            runs["theirs"].append(run_wrk(world, world.blackbox, world.blackbox_port, theirs_path, connections, duration))

        def med(side: str, key: str) -> float:
            return median([run[key] for run in runs[side]])

        rps, lat, cpu = (ratio(med("ours", k), med("theirs", k)) for k in ("rps", "p99", "cpu"))
        figure.rows += [
            [str(connections), "throughput (req/s)", fmt(med("ours", "rps"), 0), fmt(med("theirs", "rps"), 0), fmt(rps), f"≥ 1: {verdict(rps >= 1)}"],
            [str(connections), "p99 latency (ms)", fmt(med("ours", "p99") * 1e3), fmt(med("theirs", "p99") * 1e3), fmt(lat), f"≤ 1: {verdict(lat <= 1)}"],
            [str(connections), "CPU per probe (ms)", fmt(med("ours", "cpu") * 1e3, 3), fmt(med("theirs", "cpu") * 1e3, 3), fmt(cpu), f"≤ 1: {verdict(cpu <= 1)}"],
            [str(connections), "nginx requests per answered probe", fmt(med("ours", "upstream")), fmt(med("theirs", "upstream")), fmt(ratio(med("ours", "upstream"), med("theirs", "upstream"))), "(1 = no sharing)"],
        ]
        sockets[0] = min(sockets[0], *(run["sockets"] for side in runs for run in runs[side]))
        sockets[1] = max(sockets[1], *(run["sockets"] for side in runs for run in runs[side]))
        errors = {side: sum(run["errors"] for run in runs[side]) for side in runs}
        if any(errors.values()):
            notes.append(f"{connections} connections: wrk errors (socket errors + non-2xx): ours {errors['ours']}, theirs {errors['theirs']}")
    figure.notes = notes + [
        f"`wrk -t1 -cN -d{duration}s --latency` with `{SCRAPE_HEADER}: 10`, {plural(rounds, 'round')} per concurrency, "
        "alternating; medians of the rounds. CPU per probe = the server process's CPU during the run / requests answered.",
        "nginx requests per answered probe comes from nginx's stub_status: below 1 means concurrent identical "
        "`/probe` requests shared one in-flight probe (the exporter coalesces them), so the same throughput "
        "is less work than blackbox's one probe per request.",
        f"TCP sockets on the machine (TIME_WAIT included, as listed in /proc/net/tcp) before each run: "
        f"{sockets[0]:,}–{sockets[1]:,}. Blackbox opens a new connection per probe, so each of its runs leaves "
        "thousands of TIME_WAIT sockets behind for the next run of either side.",
    ]
    return figure
