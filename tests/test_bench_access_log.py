"""bench/access_log.py --quick runs end to end and prints its table: a smoke test, no speed asserted."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_access_log_bench_prints_both_figures():
    done = subprocess.run([sys.executable, "bench/access_log.py", "--quick"], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert re.search(r"\d+ cores \(nproc\) · goaccess \S+", out), out[:500]
    assert re.search(r"\| lines/s \(wall\) \| [\d,]+ \| [\d,]+ \| \d+\.\d\d \| ≥ 1: (met|missed) \|", out), out
    assert re.search(r"\| lines nginx logged \| [1-9][\d,]* in ", out), out
    assert re.search(r"\| share of one core per 1,000 lines/s \| \d+\.\d\d % \| < 5 %: (met|missed) \|", out), out
