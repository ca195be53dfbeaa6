"""The --discovery.* flags, shared by the exporter, ``diagnose`` and ``discover``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from exporter.config import Config
from exporter.config_values import parse_duration
from exporter.discovery.runner import with_overrides


def interval_arg(text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if seconds < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the discovery interval must be at least 1s")
    return seconds


def add_discovery_flags(parser: argparse.ArgumentParser, interval: bool = True) -> None:
    parser.add_argument("--discovery.nginx-config", dest="discovery_nginx_config", type=Path, metavar="FILE",
                        help="nginx's main config for discovery (default: the config's discovery.nginx_config, "
                        "/etc/nginx/nginx.conf); include globs, sites-enabled links and conf.d are followed")
    parser.add_argument("--discovery.systemd-unit-path", dest="discovery_unit_paths", type=Path, action="append",
                        metavar="DIR", help="a directory of systemd units to look in (repeatable; default: "
                        "/etc/systemd/system, /run/systemd/system, /lib/systemd/system, /usr/lib/systemd/system)")
    if interval:
        parser.add_argument("--discovery.interval", dest="discovery_interval", type=interval_arg, metavar="DURATION",
                            help="how often discovery runs again (default: the config's discovery.interval, 60s)")


def overrides_from(args: argparse.Namespace) -> Callable[[Config], Config]:
    return lambda config: with_overrides(
        config, getattr(args, "discovery_nginx_config", None), getattr(args, "discovery_interval", None),
        getattr(args, "discovery_unit_paths", None),
    )
