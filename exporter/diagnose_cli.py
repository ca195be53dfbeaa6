"""``inventory-exporter diagnose``: probe once, print the report, exit by the worst finding.

Exit codes: 0 ok, 1 warnings, 2 critical, 3 invalid config, 4 usage error. argparse exits 2 on a
usage error, which would read as "critical": the parser here exits 4 instead.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NoReturn

from exporter.config import Config, ConfigError, default_config, load_config, parse_duration
from exporter.httpclient import make_session
from exporter.lang import LANGS, normalize_lang
from exporter.probing import PROBE_THREADS, Deadline, ProbeContext
from exporter.report import Report, build_report, render_json, render_markdown, render_text
from exporter.scrape import scrape

RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}
DEFAULT_TIMEOUT = "10s"
MAX_TIMEOUT_SECONDS = 3600.0
EXIT_OK, EXIT_WARNING, EXIT_CRITICAL, EXIT_INVALID_CONFIG, EXIT_USAGE = 0, 1, 2, 3, 4
EXIT_CODES_HELP = f"""exit codes:
  {EXIT_OK}  ok: no finding above info
  {EXIT_WARNING}  at least one warning finding, no critical one
  {EXIT_CRITICAL}  at least one critical finding
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
                        help="YAML config file (default: the embedded default, project dir = current directory)")
    parser.add_argument("--format", choices=tuple(RENDERERS), default="text",
                        help="output format: text, markdown or json (JSON Schema: docs/diagnose.schema.json) (default: text)")
    parser.add_argument("--lang", type=lang_arg, default="en", metavar="LANG",
                        help="report language: en or zh-CN (also zh-cn, zh_CN, zh, en-US) (default: en)")
    parser.add_argument("--timeout", type=timeout_arg, default=timeout_arg(DEFAULT_TIMEOUT), metavar="DURATION",
                        help=f"time for the whole diagnosis, as in the config: 5s, 500ms, 2m or bare seconds; "
                        f"greater than zero, at most 1h (default: {DEFAULT_TIMEOUT})")
    return parser


async def diagnose_once(config: Config, timeout: float) -> Report:
    executor = ThreadPoolExecutor(max_workers=PROBE_THREADS, thread_name_prefix="probe")
    session = make_session()
    try:
        ctx = ProbeContext(session=session, executor=executor, config=config)
        result = await scrape(config, ctx, Deadline(timeout))
        return build_report(config, result.store, result.diagnoses, result.host_diagnosis)
    finally:
        ctx.close()
        await session.close()
        executor.shutdown(wait=False, cancel_futures=True)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config_file) if args.config_file else default_config()
    except ConfigError as exc:
        print(f"inventory-exporter: invalid config:\n{exc}", file=sys.stderr)
        return EXIT_INVALID_CONFIG
    report = asyncio.run(diagnose_once(config, args.timeout))
    sys.stdout.write(RENDERERS[args.format](report, args.lang))
    return report.exit_code()
