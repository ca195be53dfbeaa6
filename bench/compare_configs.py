"""bench/compare.py: the exporter's config for each figure, and reloading it."""

from __future__ import annotations

import http.client

from bench.compare_settings import HANGING_SCRAPES
from bench.compare_world import World


def dns_section(world: World) -> str:
    return f"""dns:
  names: [localhost]
  resolvers: ["127.0.0.1:{world.dns_port}"]
  include_hostname: false
  timeout: 2s
"""


def full_target(world: World) -> str:
    return f"""  - name: full
    app_url: {world.app}
    endpoints: [/api/health, /api/products]
    static_paths: [/favicon.ico]
    proxy_url: http://127.0.0.1:{world.proxy_port}/
    proxy_error_log: {world.nginx_error_log}
    project_dir: {world.project}
    log_file: dev.log
    app_process_names: [nginx]
"""


def config_full(world: World) -> str:
    """Figure 1: only the full target."""
    return "targets:\n" + full_target(world) + dns_section(world)


def config_probe(world: World) -> str:
    """Figures 2 and 3: the single-endpoint target and 100 distinct hanging targets (distinct names,
    so that concurrent scrapes of them cannot share one in-flight scrape)."""
    hanging = "".join(
        f"  - name: hang{i:03d}\n    app_url: http://127.0.0.1:{world.hang_port}\n    timeout: 10s\n"
        for i in range(HANGING_SCRAPES)
    )
    single = f"  - name: single\n    app_url: {world.app}\n    endpoints: [/api/health]\n    app_process_names: [nginx]\n"
    return "targets:\n" + full_target(world) + single + hanging + dns_section(world)


def config_scale(world: World, count: int) -> str:
    """Figure 4: ``count`` local healthy targets, one endpoint each, all on nginx."""
    targets = "".join(
        f"  - name: t{i:04d}\n    app_url: {world.app}\n    endpoints: [/api/health]\n    app_process_names: [nginx]\n"
        for i in range(count)
    )
    return "targets:\n" + targets + dns_section(world)


def reload_ours(world: World, text: str) -> None:
    world.ours_config.write_text(text)
    conn = http.client.HTTPConnection("127.0.0.1", world.ours_port, timeout=60)
    try:
        conn.request("POST", "/-/reload")
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"POST /-/reload answered {response.status}: {body}")
