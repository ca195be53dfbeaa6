"""bench/compare.py --quick runs end to end and prints its Markdown table: a smoke test, no speed asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("1. One full scrape", "2. `/probe`", "3. Hanging targets", "4. Scale", "5. Memory")


def sections(markdown: str) -> dict[str, list[str]]:
    """The lines under each '### ' heading."""
    found: dict[str, list[str]] = {}
    current = None
    for line in markdown.splitlines():
        if line.startswith("### "):
            current = line[4:]
            found[current] = []
        elif current is not None:
            found[current].append(line)
    return found


def ratios(lines: list[str]) -> list[float]:
    """The numbers in the table's ratio column."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines if line.startswith("|")]
    header = rows[0]
    column = next(i for i, name in enumerate(header) if name.startswith("ratio ours/"))
    values = []
    for row in rows[2:]:  # past the header and the |---| line
        cell = row[column].replace(",", "")
        if re.fullmatch(r"\d+(\.\d+)?", cell):
            values.append(float(cell))
    return values


def test_quick_comparison_prints_a_table_with_a_ratio_for_every_figure():
    done = subprocess.run(
        [sys.executable, "bench/compare.py", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "## Benchmark: inventory-exporter vs blackbox_exporter + node_exporter" in out
    assert re.search(r"\d+ cores \(nproc\) · blackbox_exporter \S+ · node_exporter \S+", out), out[:500]
    found = sections(out)
    for figure in FIGURES:
        title = next((t for t in found if t.startswith(figure)), None)
        assert title is not None, f"no section {figure!r} in:\n{out}"
        assert any("ratio ours/" in line for line in found[title]), f"no ratio column under {title!r}"
        assert ratios(found[title]), f"no numeric ratio under {title!r}:\n" + "\n".join(found[title])
    for header in ("| figure | ours | theirs | ratio ours/theirs | goal |",
                   "| connections | figure | ours | theirs | ratio ours/theirs | goal |",
                   "| when | ours | blackbox_exporter | node_exporter | ratio ours/blackbox | goal |"):
        assert header in out
    assert "| targets | ours median (s) |" in out
    assert "stopping everything" in done.stderr  # and it cleaned up after itself


def test_the_discovery_cost_bench_prints_a_scrape_with_and_without_discovery():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, str(root / "bench" / "discovery_cost.py"), "--scrapes", "10", "--rounds", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| target written by hand, discovery off |" in result.stdout
    assert "| same target found by discovery (every 1 s) |" in result.stdout
    assert "one discovery run (processes, nginx, systemd, pm2):" in result.stdout
