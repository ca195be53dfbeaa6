"""``inventory-exporter discover``: what discovery finds on this host, as a config to pin.

The YAML is what ``--config.file`` accepts unchanged; each value is commented with where it came
from (an nginx file and line, a pid, a systemd unit). ``--format json`` gives the same for scripts,
with the sources and what could not be read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

from exporter import __version__
from exporter.config import Config, ConfigError, Target, default_config, load_config
from exporter.config_view import plain
from exporter.discovery.combine import combine
from exporter.discovery.flags import add_discovery_flags, overrides_from
from exporter.discovery.model import DiscoveryError
from exporter.discovery.runner import find, unit_project_names

KEYS = ("name", "app_url", "proxy_url", "proxy_host", "proxy_error_log", "access_log", "access_log_format", "project_dir")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inventory-exporter discover",
        description="Find the Next.js apps and their nginx fronts on this host and print them as a config "
        "(each value commented with its source). Nothing is executed: /proc, nginx's config files, systemd "
        "units and pm2 dumps are only read.",
    )
    parser.add_argument("--config.file", dest="config_file", type=Path, metavar="FILE",
                        help="a config whose targets win over discovered ones for the same app port, and whose "
                        "discovery section is used (default: none)")
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml", help="output format (default: yaml)")
    add_discovery_flags(parser, interval=False)
    return parser


def discovered(config: Config) -> tuple[list[Target], list[DiscoveryError]]:
    found = find(config.discovery)
    return combine(found, config.targets, unit_project_names(found)), found.errors


def target_dict(target: Target) -> dict[str, Any]:
    data = plain(target)
    return {key: data[key] for key in KEYS if data.get(key) is not None}


def render_yaml(targets: list[Target], errors: list[DiscoveryError]) -> str:
    lines = [
        f"# Discovered by inventory-exporter {__version__} on {socket.gethostname()} at "
        f"{time.strftime('%Y-%m-%d %H:%M:%S %z')}.",
        "# Pin it with --config.file; add `discovery: {enabled: true}` to keep finding new apps as well.",
    ]
    lines += [f"# could not read ({e.source}, {e.reason}): {e.detail}" for e in errors]
    if not targets:
        lines += ["# Nothing found: no Next.js server listens here and no nginx site proxies to a loopback port.",
                  "# Write a target by hand (see examples/config.yml), or point --discovery.nginx-config at nginx's config.",
                  "discovery:", "  enabled: true"]
        return "\n".join(lines) + "\n"
    lines.append("targets:")
    for target in targets:
        sources = dict(target.origins)
        if target.upstream_mismatch is not None:
            m = target.upstream_mismatch
            lines.append(f"  # nginx {m.nginx_source} `{m.proxy_pass}`: nothing listens on {m.expected_port}; this app "
                         f"listens on {m.app_port} (pid {m.app_pid}); paired because {m.inference}")
        if target.project_dir is None:
            lines.append(f"  # project_dir: {sources.get('project_dir', 'unknown')}")
        for index, (key, value) in enumerate(target_dict(target).items()):
            lead = "  - " if index == 0 else "    "
            comment = sources.get(key)
            lines.append(f"{lead}{key}: {json.dumps(value, ensure_ascii=False)}" + (f"  # {comment}" if comment else ""))
        if "upstream" in sources:
            lines.append(f"    # nginx proxies to it at {sources['upstream']}")
    return "\n".join(lines) + "\n"


def render_json(targets: list[Target], errors: list[DiscoveryError]) -> str:
    items = []
    for target in targets:
        item = {**target_dict(target), "sources": dict(target.origins)}
        if target.upstream_mismatch is not None:
            item["upstream_mismatch"] = dataclasses.asdict(target.upstream_mismatch)
        items.append(item)
    return json.dumps({"targets": items, "errors": [dataclasses.asdict(e) for e in errors]}, ensure_ascii=False, indent=2) + "\n"


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config_file) if args.config_file else default_config()
    except ConfigError as exc:
        print(f"inventory-exporter: invalid config:\n{exc}", file=sys.stderr)
        return 1
    config = overrides_from(args)(dataclasses.replace(config, discovery=dataclasses.replace(config.discovery, enabled=True)))
    targets, errors = discovered(config)
    sys.stdout.write((render_json if args.format == "json" else render_yaml)(targets, errors))
    return 0
