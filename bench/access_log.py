"""Access-log reading speed (issue 14, point 6), printed as a Markdown table.

1. Lines per second on one generated combined-format log (1,000,000 lines by default): ours is the
   full read path of the exporter (a Reader: tail, parse, aggregate, fold under the lock; the file
   arrives by a rotation, so it is read from its start), goaccess 1.x (Debian package) on the same
   file (``goaccess FILE --log-format=COMBINED -o report.csv``). Wall time, CPU time.
2. The exporter's CPU while a real nginx serves sustained traffic from wrk (loopback only): the
   exporter runs as a process with the access log configured; its utime+stime from /proc/PID/stat
   over the run, divided by the lines nginx wrote, as CPU per 1,000 lines and as the share of one
   core per 1,000 lines/s.

Goals: ours ≥ goaccess in lines/s; under 5 % of one core per 1,000 lines/s.
``--quick`` (the smoke test) uses 20,000 lines and 2 s of traffic.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from exporter.accesslog.reader import Reader, ReaderKey  # noqa: E402

PATHS = ["/api/products/{n}", "/api/health", "/", "/products/{n}", "/_next/static/chunks/main-{h:016x}.js",
         "/favicon.ico", "/api/orders?page={n}"]
STATUSES = [200] * 18 + [304, 404, 500, 502]
AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"


def generate(path: Path, lines: int) -> None:
    rng = random.Random(14)
    start = int(time.time()) - lines // 1000
    with open(path, "w") as handle:
        for i in range(lines):
            target = rng.choice(PATHS).format(n=rng.randint(1, 5000), h=rng.getrandbits(64))
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(start + i // 1000))
            handle.write(f'10.0.{i % 7}.{i % 250} - - [{stamp}] "GET {target} HTTP/1.1" {rng.choice(STATUSES)} '
                         f'{rng.randint(0, 60000)} "https://shop.example/" "{AGENT}"\n')


def ours(log: Path, lines: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) for the exporter's reader to count every line of ``log``."""
    live = log.with_name("live.log")
    live.write_text("")
    reader = Reader(ReaderKey("bench", live, None, False))
    reader.read_pass()  # started at the end of the (empty) live log
    wall, cpu = time.perf_counter(), time.process_time()
    os.rename(log, live)  # rotated in: read from its start, as after a rename rotation
    while reader.totals.lines < lines:
        reader.read_pass()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert sum(reader.totals.requests.values()) == lines, "not every line was counted"
    reader.tail.close()
    os.rename(live, log)
    return wall, cpu


def goaccess(log: Path, out: Path) -> tuple[float, float]:
    binary = shutil.which("goaccess")
    if binary is None:
        raise SystemExit("goaccess is needed: apt-get install goaccess (scripts/install-test-deps.sh installs it)")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run([binary, str(log), "--log-format=COMBINED", "-o", str(out)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def goaccess_version() -> str:
    try:
        text = subprocess.run(["goaccess", "--version"], capture_output=True, text=True).stdout
    except OSError:
        return "?"
    return text.split("\n", 1)[0].replace("GoAccess - ", "").strip(" .")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def under_traffic(tmp: Path, seconds: float, connections: int) -> dict[str, float]:
    """The exporter's CPU while nginx logs wrk's requests (the app answers through nginx)."""
    from tests.conftest import free_port
    from tests.support.exporter_proc import Exporter, fetch
    from tests.support.stack import require, start_app
    from tests.test_access_log_e2e import FORMAT, start_nginx

    app_port, port, exporter_port = free_port(), free_port(), free_port()
    log = tmp / "access.log"
    app = start_app(tmp / "bin", app_port)
    nginx = start_nginx(tmp / "nginx", port, app_port, log)
    config = tmp / "config.yml"
    config.write_text(f"targets:\n  - name: shop\n    app_url: http://127.0.0.1:{app_port}\n    endpoints: []\n"
                      f"    access_log: {log}\n    access_log_format: '{FORMAT}'\n"
                      "dns: {names: [localhost], include_hostname: false}\n")
    exporter = Exporter([f"--config.file={config}", f"--web.listen-address=127.0.0.1:{exporter_port}"],
                        exporter_port, tmp / "exporter.log", tmp)
    try:
        fetch(exporter.url + "/probe?target=shop")  # the reader is at the end of the log
        time.sleep(1.0)
        before = cpu_seconds(exporter.proc.pid)
        wall = time.perf_counter()
        subprocess.run([require("wrk"), "-t1", f"-c{connections}", f"-d{seconds:g}s", f"http://127.0.0.1:{port}/api/health"],
                       check=True, capture_output=True)
        lines = sum(1 for _ in open(log, "rb"))
        for _ in range(200):  # until the exporter has counted them (bounded)
            body = fetch(exporter.url + "/probe?target=shop")[2].decode()
            if f'inventory_access_log_lines_total{{target="shop"}} {float(lines)}' in body:
                break
            time.sleep(0.05)
        wall = time.perf_counter() - wall
        cpu = cpu_seconds(exporter.proc.pid) - before
    finally:
        exporter.stop()
        nginx.stop()
        app.stop()
    return {"lines": lines, "wall": wall, "cpu": cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk's run for the CPU figure")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="20,000 lines and 2 s of traffic (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.lines, args.seconds = 20_000, 2.0
    with tempfile.TemporaryDirectory(prefix="access-bench-") as directory:
        tmp = Path(directory)
        log = tmp / "combined.log"
        generate(log, args.lines)
        size = log.stat().st_size
        our_wall, our_cpu = ours(log, args.lines)
        their_wall, their_cpu = goaccess(log, tmp / "report.csv")
        traffic = under_traffic(tmp / "traffic", args.seconds, args.connections)
    ours_rate, theirs_rate = args.lines / our_wall, args.lines / their_wall
    per_thousand = traffic["cpu"] / traffic["lines"] * 1000
    share = 100 * per_thousand  # % of one core per 1,000 lines/s: (cpu/T) / (lines/T/1000)
    rate = traffic["lines"] / traffic["wall"]
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print("## Benchmark: access log reading, inventory-exporter vs goaccess\n")
    print(f"{when} · {os.cpu_count()} cores (nproc) · goaccess {goaccess_version()} · Python {platform.python_version()} · "
          f"`python bench/access_log.py{' --quick' if args.quick else ''}`\n")
    print(f"### 1. Lines per second, {args.lines:,} combined-format lines ({size / 1e6:.0f} MB)\n")
    print("| figure | ours | goaccess | ratio ours/goaccess | goal |")
    print("|---|---|---|---|---|")
    print(f"| lines/s (wall) | {ours_rate:,.0f} | {theirs_rate:,.0f} | {ours_rate / theirs_rate:.2f} | "
          f"≥ 1: {'met' if ours_rate >= theirs_rate else 'missed'} |")
    print(f"| wall time (s) | {our_wall:.2f} | {their_wall:.2f} | {our_wall / their_wall:.2f} |  |")
    print(f"| CPU time (s) | {our_cpu:.2f} | {their_cpu:.2f} | {our_cpu / their_cpu:.2f} |  |")
    print("\n### 2. The exporter's CPU while nginx serves wrk's traffic\n")
    print("| figure | value | goal |")
    print("|---|---|---|")
    print(f"| lines nginx logged | {traffic['lines']:,} in {traffic['wall']:.1f} s ({rate:,.0f} lines/s) |  |")
    print(f"| exporter CPU (utime+stime) | {traffic['cpu']:.2f} s |  |")
    print(f"| CPU per 1,000 lines | {per_thousand * 1000:.2f} ms |  |")
    print(f"| share of one core per 1,000 lines/s | {share:.2f} % | < 5 %: {'met' if share < 5 else 'missed'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
