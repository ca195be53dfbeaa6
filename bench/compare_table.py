"""bench/compare.py: a figure's rows and notes, its cells' formatting, and the Markdown it prints."""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone

from bench.compare_world import World


@dataclass
class Figure:
    title: str
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def fmt(value: float, digits: int = 2) -> str:
    if value != value:  # NaN
        return "n/a"
    return f"{value:,.{digits}f}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def tool_version(path: str) -> str:
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = re.search(r"version (\S+)", done.stdout + done.stderr)
    return match.group(1) if match else "unknown"


def markdown(figures: list[Figure], world: World, args: argparse.Namespace, elapsed: float) -> str:
    nginx = subprocess.run([world.tools["nginx"], "-v"], capture_output=True, text=True, timeout=10).stderr.strip()
    lines = [
        "## Benchmark: inventory-exporter vs blackbox_exporter + node_exporter",
        "",
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC · {os.cpu_count()} cores (nproc) · "
        f"blackbox_exporter {tool_version(world.tools['blackbox_exporter'])} · "
        f"node_exporter {tool_version(world.tools['node_exporter'])} · {nginx.replace('nginx version: ', '')} · "
        f"Python {platform.python_version()} · `python bench/compare.py"
        f"{' --quick' if args.quick else ''} --rounds {args.rounds} --duration {args.duration:g}` "
        f"({elapsed:.0f} s). Ratio = ours/theirs; below 1 is better for times, CPU and memory, above 1 for throughput.",
    ]
    for figure in figures:
        lines += ["", f"### {figure.title}", "", "| " + " | ".join(figure.header) + " |",
                  "|" + "|".join("---" for _ in figure.header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in figure.rows]
        if figure.notes:
            lines.append("")
            lines += [f"- {note}" for note in figure.notes]
    return "\n".join(lines)
