"""Command line: ``inventory-exporter [flags]`` serves /metrics; ``--config.check`` validates and exits."""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import os
import logging
import sys
from pathlib import Path

from exporter import __version__
from exporter import logs
from exporter import config_check
from exporter.app import DEFAULT_SCRAPE_TIMEOUT, DEFAULT_TELEMETRY_PATH, RESERVED_PATHS, create_app, state_from_file
from exporter.build import revision, version_text
from exporter.config import ConfigError, default_config
from exporter.probes import HOST_PROBES
from exporter.serve import serve, split_listen
from exporter.web.connections import (
    DEFAULT_HEADER_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DESCRIPTOR_RESERVE, ConnectionGate,
    connection_cap, raise_descriptor_limit,
)
from exporter.discovery.flags import add_discovery_flags, overrides_from
from exporter.history_store import StorageError, check_storage_dir
from exporter.webconfig import load_web_config

DEFAULT_LISTEN = ":9731"
log = logging.getLogger("exporter")


class AppendAddress(argparse.Action):
    """Repeatable, as the Go exporters' --web.listen-address: the first use replaces the default."""

    def __call__(self, parser, namespace, values, option_string=None):
        current = getattr(namespace, self.dest)
        setattr(namespace, self.dest, ([] if current is self.default else current) + [values])


class PrintVersion(argparse.Action):
    """``--version``: the version and the source revision (worked out only when asked for)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number of at least 1")
    return int(text)


def positive_seconds(text: str) -> float:
    try:
        seconds = float(text.removesuffix("s"))
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 86400:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds above 0, e.g. 10 or 10s")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inventory-exporter",
        description="Prometheus exporter for the smart-inventory stack (Next.js + Prisma/SQLite + nginx). "
        "Run 'inventory-exporter diagnose --help' for the one-shot diagnosis report, "
        "'inventory-exporter discover --help' for what discovery finds on this host.",
    )
    parser.add_argument("--config.file", dest="config_file", type=Path, help="YAML config (default: embedded default)")
    parser.add_argument("--config.check", dest="config_check", action="store_true", help="validate the config and exit")
    parser.add_argument("--web.listen-address", dest="listen", action=AppendAddress, default=[DEFAULT_LISTEN],
                        help=f"[host]:port to listen on; repeat to listen on several (default {DEFAULT_LISTEN})")
    parser.add_argument("--web.telemetry-path", dest="telemetry_path", default=DEFAULT_TELEMETRY_PATH,
                        help=f"path of the metrics page (default {DEFAULT_TELEMETRY_PATH})")
    parser.add_argument("--web.disable-exporter-metrics", dest="disable_exporter_metrics", action="store_true",
                        help="leave out the exporter's own process_* and python_* metrics")
    for name in HOST_PROBES:
        parser.add_argument(f"--collector.{name}", dest=f"collector_{name}", action=argparse.BooleanOptionalAction,
                            default=True, help=f"run the {name} host probe on /metrics (default on)")
    parser.add_argument("--web.config.file", dest="web_config_file", type=Path, help="exporter-toolkit web config: TLS, basic auth, headers")
    parser.add_argument("--web.max-connections", dest="max_connections", type=positive_int, default=DEFAULT_MAX_CONNECTIONS,
                        help=f"connections open at once; over it the longest-idle one is closed (default {DEFAULT_MAX_CONNECTIONS}, "
                        f"and always {DESCRIPTOR_RESERVE} below the descriptor limit)")
    parser.add_argument("--web.header-timeout", dest="header_timeout", type=positive_seconds, default=DEFAULT_HEADER_TIMEOUT,
                        help=f"seconds a new connection (or TLS handshake) has to get a request through authentication (default {DEFAULT_HEADER_TIMEOUT:g})")
    parser.add_argument("--web.idle-timeout", dest="idle_timeout", type=positive_seconds, default=DEFAULT_IDLE_TIMEOUT,
                        help=f"seconds an idle keep-alive connection stays open (default {DEFAULT_IDLE_TIMEOUT:g})")
    parser.add_argument("--timeout-offset", dest="timeout_offset", type=float, default=0.5, help="seconds subtracted from Prometheus's scrape timeout (default 0.5)")
    parser.add_argument("--storage.path", dest="storage_path", type=Path, default=None,
                        help="directory to keep the status page's 24 h history in across restarts (never inside a "
                             "monitored project); default: in memory only")
    parser.add_argument("--log.level", dest="log_level", choices=logs.LEVELS, default="info")
    parser.add_argument("--log.format", dest="log_format", choices=("logfmt", "json"), default="logfmt")
    add_discovery_flags(parser)
    parser.add_argument("--version", action=PrintVersion, help="print the version and source revision, then exit")
    return parser


def check_telemetry_path(path: str) -> None:
    if not path.startswith("/") or any(c.isspace() for c in path) or "?" in path or "#" in path:
        raise ValueError(f"--web.telemetry-path {path!r}: expected a path starting with '/'")
    if path in RESERVED_PATHS:
        raise ValueError(f"--web.telemetry-path {path!r}: already used by another page ({', '.join(sorted(RESERVED_PATHS))})")


def enabled_host_probes(args: argparse.Namespace) -> dict:
    """HOST_PROBES without those turned off by --no-collector.NAME."""
    return {name: fn for name, fn in HOST_PROBES.items() if getattr(args, f"collector_{name}")}


M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's per-thread malloc arenas (as MALLOC_ARENA_MAX=2 would), so the probe threads'
    short-lived buffers do not spread RSS over many arenas in a long-running exporter."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False  # the operator chose
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False  # not glibc


GC_YOUNG_THRESHOLD = 10_000


def tune_gc(young: int = GC_YOUNG_THRESHOLD) -> None:
    """Keep the cycle collector off the scrape path.

    The modules, config and app built at start-up live as long as the process: ``gc.freeze()``
    takes them out of every later collection. A scrape of many targets allocates tens of thousands
    of short-lived containers (samples, tasks) that reference counting frees anyway; at Python's
    default of a young collection every 700 net allocations, a scrape of 1,000 targets spent
    ~15 % of its CPU in the collector (mostly full collections re-walking the same live objects),
    ~2 % with ``young`` at 10,000.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)


def use_uvloop() -> bool:
    """uvloop, when installed (pip install 'inventory-exporter[fast]'), runs the event loop faster."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["diagnose"]:
        from exporter.diagnose_cli import main as diagnose_main

        return diagnose_main(argv[1:])
    if argv[:1] == ["discover"]:
        from exporter.discover_cli import main as discover_main

        return discover_main(argv[1:])
    args = build_parser().parse_args(argv)
    logs.setup(args.log_level, args.log_format)
    if args.config_check and args.config_file is not None and not config_check.passes(args.config_file):
        return 1  # every error and warning printed, in file order
    try:
        state = state_from_file(args.config_file, args.timeout_offset, default_config, overrides_from(args))
    except ConfigError as exc:
        print(f"inventory-exporter: invalid config:\n{exc}", file=sys.stderr)
        return 1
    try:
        web_config = load_web_config(args.web_config_file) if args.web_config_file else None
    except ConfigError as exc:
        print(f"inventory-exporter: invalid web config:\n{exc}", file=sys.stderr)
        return 1
    if args.config_check:
        print(f"{state.config.source}: OK ({len(state.config.targets)} target(s))")
        return 0
    try:
        for address in args.listen:
            split_listen(address)
        check_telemetry_path(args.telemetry_path)
    except ValueError as exc:
        print(f"inventory-exporter: {exc}", file=sys.stderr)
        return 2
    if args.storage_path is not None:
        try:
            state.storage_path = check_storage_dir(
                args.storage_path, (t.project_dir for t in state.config.targets if t.project_dir is not None))
        except StorageError as exc:
            print(f"inventory-exporter: {exc}", file=sys.stderr)
            return 2
    state.exporter_metrics = not args.disable_exporter_metrics
    state.host_probes = enabled_host_probes(args)
    descriptors = raise_descriptor_limit()
    max_connections = connection_cap(args.max_connections, descriptors)
    if max_connections < args.max_connections:
        log.warning("--web.max-connections lowered to keep descriptors for the probes",
                    extra=logs.fields(asked=args.max_connections, used=max_connections, descriptor_limit=descriptors,
                                      reserve=DESCRIPTOR_RESERVE))
    fast = use_uvloop()
    limit_malloc_arenas()
    tune_gc()
    log.info(
        "starting inventory-exporter",
        extra=logs.fields(version=__version__, revision=revision() or "unknown", config=state.config.source,
                          uvloop=fast, tls=bool(web_config and web_config.ssl_context),
                          auth=bool(web_config and web_config.users), collectors=",".join(state.host_probes) or "none",
                          max_connections=max_connections, descriptor_limit=descriptors),
    )
    app = create_app(state, web_config, args.telemetry_path)
    ssl_context = web_config.ssl_context if web_config else None
    gate = state.gate = ConnectionGate(max_connections, args.header_timeout, web_config.peer_check if web_config else None)
    return asyncio.run(serve(app, args.listen, ssl_context, grace=DEFAULT_SCRAPE_TIMEOUT + 1, gate=gate,
                             idle_timeout=args.idle_timeout))


if __name__ == "__main__":
    sys.exit(main())
