#!/usr/bin/env python3
"""Compare: the exporter against blackbox_exporter + node_exporter doing the same checks, side by side.

Starts, on 127.0.0.1 only and under a temporary directory: nginx (the app's endpoints, a proxy front
and a stub_status counter), a dnspython DNS responder, a socket that accepts and never answers,
blackbox_exporter (http_2xx, tcp_connect, dns), node_exporter (cpu, meminfo, filesystem, loadavg
only) and the exporter itself. Then, for each figure of issue 6's goals, it runs both sides
alternately (A B A B ...), and prints a Markdown table of medians, p99, throughput, CPU per probe,
RSS and the ratio ours/theirs. Installs nothing: a missing tool is named and the exit code is 2.
It prints; it does not pass or fail on speed.

    python bench/compare.py                 # the full run recorded in bench/README.md (about 6 minutes on 2 cores)
    python bench/compare.py --quick         # a smoke run (about 40 s; tests/test_bench.py runs it)
    python bench/compare.py > table.md      # progress goes to stderr, the table to stdout
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The parts, each in a module of its own beside this one (bench/compare_*.py).
from bench.compare_configs import config_probe, reload_ours  # noqa: E402
from bench.compare_figure_hanging import figure_hanging  # noqa: E402
from bench.compare_figure_memory import figure_memory, rss  # noqa: E402
from bench.compare_figure_probe import figure_probe_throughput  # noqa: E402
from bench.compare_figure_scale import figure_scale  # noqa: E402
from bench.compare_figure_scrape import figure_full_scrape  # noqa: E402
from bench.compare_processes import Stack  # noqa: E402
from bench.compare_requirements import check_requirements  # noqa: E402
from bench.compare_settings import QUICK_SCALE_SIZES, SCALE_SIZES, log  # noqa: E402
from bench.compare_startup import start_world  # noqa: E402
from bench.compare_table import markdown  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds per figure (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="a fast smoke run: 1 round, 1 s wrk runs, fewer scrapes, scale up to 100 targets")
    args = parser.parse_args()
    tools = check_requirements()
    if args.quick:
        args.rounds, args.duration = 1, 1.0
    rounds, duration = max(1, args.rounds), max(1, round(args.duration))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally below stops everything

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="compare-") as tmpdir:
        stack = Stack(Path(tmpdir))
        try:
            log("starting nginx, the DNS responder, the hanging socket, blackbox_exporter, node_exporter, the exporter")
            world = start_world(tools, stack)
            time.sleep(0.5)  # let start-up settle before the idle RSS
            memory = {"idle": rss(world)}
            figures = [figure_full_scrape(world, rounds, 10 if args.quick else 50)]
            reload_ours(world, config_probe(world))
            figures.append(figure_probe_throughput(world, rounds, duration, (1, 10, 50)))
            figures.append(figure_hanging(world, rounds))
            memory["after load (figures 1–3)"] = rss(world)
            figures.append(figure_scale(world, rounds, QUICK_SCALE_SIZES if args.quick else SCALE_SIZES))
            memory["end (after figure 4)"] = rss(world)
            figures.append(figure_memory(memory))
            for service in world.stack.services:
                service.check_alive()
            print(markdown(figures, world, args, time.monotonic() - started), flush=True)
        finally:
            log("stopping everything")
            stack.stop_all()
    log(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
