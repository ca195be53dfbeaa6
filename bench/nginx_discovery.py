"""What one nginx discovery costs: a Debian-like layout (nginx.conf, mime.types, proxy_params,
conf.d, N sites in sites-available linked from sites-enabled, each with an upstream, two proxying
locations that include proxy_params, and an alias) under a temporary directory, checked with the
real nginx (``nginx -t``, when installed), then discovered ``--repeat`` times.

    PYTHONPATH=$PWD python3 bench/nginx_discovery.py [--sites 50] [--repeat 20]

Prints the sites and errors found, the median and worst wall time and the CPU time per run.
It prints; it does not pass or fail on speed. Nothing is started and nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.discovery.nginx import discover_sites  # noqa: E402
from tests.discovery.nginx_layouts import Layout  # noqa: E402

SITE = """
upstream app{n} {{ server 127.0.0.1:{port} max_fails=3; keepalive 4; }}
server {{
    listen {listen};
    listen [::]:{listen};
    server_name app{n}.example.com www.app{n}.example.com;
    access_log logs/app{n}.access.log;
    error_log logs/app{n}.error.log;
    root /srv/app{n}/public;
    location / {{ include proxy_params; proxy_pass http://app{n}; }}
    location /api/ {{ include proxy_params; proxy_pass http://127.0.0.1:{port}; }}
    location /_next/static/ {{ alias /srv/app{n}/.next/static/; expires 30d; }}
}}
"""

PROXY_PARAMS = """
proxy_set_header Host $http_host;
proxy_set_header X-Real-IP $remote_addr;
proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
proxy_set_header X-Forwarded-Proto $scheme;
"""


def build(prefix: Path, sites: int) -> Layout:
    http = "include mime.types;\ndefault_type application/octet-stream;\n"
    layout = Layout(prefix, http=http, connections=4 * sites + 64)  # nginx -t wants more than the listens
    mime = Path("/etc/nginx/mime.types")
    layout.write("mime.types", mime.read_text() if mime.exists() else "types { text/html html; }\n")
    layout.write("proxy_params", PROXY_PARAMS)
    for n in range(sites):
        layout.site(f"app{n}", SITE.format(n=n, port=3000 + n, listen=8000 + n))
    return layout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="nginx-discovery-"))
    try:
        layout = build(base / "nginx", args.sites)
        if shutil.which("nginx") or Path("/usr/sbin/nginx").exists():
            layout.check()
        walls, cpus = [], []
        for _ in range(args.repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            sites, errors = discover_sites(layout.main, prefix=layout.prefix)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        print(f"{args.sites} sites in the layout: {len(sites)} found, {len(errors)} errors")
        print(f"wall per run: median {statistics.median(walls) * 1000:.1f} ms, worst {max(walls) * 1000:.1f} ms")
        print(f"CPU per run: median {statistics.median(cpus) * 1000:.1f} ms")
    finally:
        shutil.rmtree(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
