"""``inventory-exporter diagnose``: probe once, print the report, exit by the worst finding.

Exit codes: 0 ok, 1 warnings, 2 critical, 3 invalid config, 4 usage error. argparse exits 2 on a
usage error, which would read as "critical": the parser here exits 4 instead.

diagnose exits within ``--timeout`` (+ EXIT_MARGIN) whatever is stuck: a probe stuck in a blocking
call reads as timeout (its thread is a daemon thread nobody waits for), and a resolver thread
stuck in getaddrinfo is left behind with ``os._exit`` once the report is written.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NoReturn

from exporter.config import Config, ConfigError, default_config, load_config
from exporter.config_values import parse_duration
from exporter.discovery.flags import add_discovery_flags, overrides_from
from exporter.discovery.runner import DiscoveryState, with_discovery
from exporter.httpclient import make_session
from exporter.lang import LANGS, normalize_lang
from exporter.pool import ProbePool
from exporter.probing import PROBE_THREADS, Deadline, ProbeContext
from exporter.report import Report, build_report, render_json, render_markdown, render_text
from exporter.diagnose_history import add_storage_flag, with_history
from exporter.scrape import scrape

RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
DEFAULT_TIMEOUT = "10s"
MAX_TIMEOUT_SECONDS = 3600.0
EXIT_MARGIN = 1.0  # diagnose exits within --timeout plus this, whatever is stuck
RESOLVER_THREADS = "diagnose-resolver"
EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_INVALID_CONFIG, EXIT_USAGE = 0, 1, 2, 3, 4
EXIT_CODES_HELP = f"""exit codes:
  {EXIT_OK}  ok: no finding above info
  {EXIT_WARNING}  at least one warning finding, or a target not fully checked (probes timed out); no critical one
  {EXIT_CRITICAL}  at least one critical finding (or no report at all within --timeout + 1s)
  {EXIT_INVALID_CONFIG}  invalid config file (every problem is printed as file:line: key: reason)
  {EXIT_USAGE}  usage error (unknown option, bad --timeout, --lang or --format)
"""


class DiagnoseParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors exit 4, so that they never read as exit 2 (critical)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def timeout_arg(value: str) -> float:
    """``5s``, ``500ms``, ``2m`` or a bare number of seconds, as in the config; > 0 and ≤ 1 h."""
    text = value.strip()
    if text.startswith("-"):
        raise argparse.ArgumentTypeError(f"{value!r}: the timeout must be greater than zero")
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        reason = str(exc)
        raise argparse.ArgumentTypeError(reason if repr(text) in reason else f"{value!r}: {reason}") from None
    if seconds > MAX_TIMEOUT_SECONDS:
        raise argparse.ArgumentTypeError(f"{value!r}: the timeout must be at most 1h")
    return seconds


def lang_arg(value: str) -> str:
    lang = normalize_lang(value)
    if lang is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a supported language (use {' or '.join(LANGS)}; zh-cn, zh_CN, zh, en-US are accepted too)"
        )
    return lang


def build_parser() -> argparse.ArgumentParser:
    parser = DiagnoseParser(
        prog="inventory-exporter diagnose",
        description="Probe every configured target once and explain what is wrong: the root cause,\n"
        "findings by priority with evidence and fixes, and a verification checklist.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config.file", dest="config_file", type=Path, metavar="FILE",
                        help="YAML config file (default: the embedded default: the apps discovery finds on this host)")
    parser.add_argument("--format", choices=tuple(RENDERERS), default="text",
                        help="output format: text, markdown or json (JSON Schema: docs/diagnose.schema.json) (default: text)")
    parser.add_argument("--lang", type=lang_arg, default="en", metavar="LANG",
                        help="report language: en or zh-CN (also zh-cn, zh_CN, zh, en-US) (default: en)")
    parser.add_argument("--timeout", type=timeout_arg, default=timeout_arg(DEFAULT_TIMEOUT), metavar="DURATION",
                        help=f"time for the whole diagnosis, as in the config: 5s, 500ms, 2m or bare seconds; "
                        f"greater than zero, at most 1h (default: {DEFAULT_TIMEOUT})")
    add_storage_flag(parser)
    add_discovery_flags(parser, interval=False)
    return parser


async def diagnose_once(config: Config, timeout: float, discovery_errors: list = ()) -> Report:
    """Probe every target once under ``timeout``: a probe stuck in a blocking call reads as timeout."""
    executor = ProbePool(PROBE_THREADS)
    session = make_session()
    ctx = ProbeContext(session=session, executor=executor, config=config)
    try:
        result = await scrape(config, ctx, Deadline(timeout))
        return build_report(config, result.store, result.diagnoses, result.host_diagnosis, discovery_errors)  # reads no file
    finally:
        ctx.close()
        await session.close()
        executor.shutdown(wait=False, cancel_futures=True)  # daemon threads: a stuck one cannot hold the exit


def run_bounded(config: Config, timeout: float, discovery_errors: list = ()) -> Report | None:
    """``diagnose_once`` on a loop of its own, given up EXIT_MARGIN after ``timeout`` (None then).

    Not ``asyncio.run``: it joins the loop's resolver threads (the system DNS probe's getaddrinfo)
    however long they hang. Those threads are this loop's own executor, left to ``exit_promptly``.
    """
    loop = asyncio.new_event_loop()
    resolver = ThreadPoolExecutor(thread_name_prefix=RESOLVER_THREADS)
    loop.set_default_executor(resolver)
    try:
        return loop.run_until_complete(asyncio.wait_for(diagnose_once(config, timeout, discovery_errors), timeout + EXIT_MARGIN))
    except TimeoutError:
        return None
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        resolver.shutdown(wait=False, cancel_futures=True)
        loop.close()


def exit_promptly(code: int) -> None:
    """After the output is written: if a resolver thread is still inside a call, end the process
    now (the interpreter would join it at exit, for good if it hangs). Otherwise return."""
    lingering = [t for t in threading.enumerate() if t.name.startswith(RESOLVER_THREADS) and t.is_alive()]
    ends = time.monotonic() + 0.5
    for thread in lingering:  # idle ones end at once after the shutdown
        thread.join(max(ends - time.monotonic(), 0))
    if any(t.is_alive() for t in lingering):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        base = load_config(args.config_file) if args.config_file else default_config()
        discovery = DiscoveryState()
        config = with_discovery(overrides_from(args)(base), discovery)
    except ConfigError as exc:
        print(f"inventory-exporter: invalid config:\n{exc}", file=sys.stderr)
        return EXIT_INVALID_CONFIG
    report = run_bounded(config, args.timeout, discovery.errors)
    if report is None:
        print(f"inventory-exporter diagnose: no report within --timeout {args.timeout:g}s", file=sys.stderr)
        code = EXIT_CRITICAL
    else:
        rendered = RENDERERS[args.format](report, args.lang)
        sys.stdout.write(with_history(rendered, args.format, report, args.storage_path, args.lang))
        code = report.exit_code()
    exit_promptly(code)
    return code
