"""``inventory-exporter diagnose``: probe once, print the report, exit 0 / 1 (warnings) / 2 (critical)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from exporter.config import Config, ConfigError, default_config, load_config
from exporter.httpclient import make_session
from exporter.probing import PROBE_THREADS, Deadline, ProbeContext
from exporter.report import LANGS, Report, build_report, render_json, render_markdown, render_text
from exporter.scrape import scrape

RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inventory-exporter diagnose", description="Probe once and explain what is wrong.")
    parser.add_argument("--config.file", dest="config_file", type=Path, help="YAML config (default: embedded default)")
    parser.add_argument("--format", choices=tuple(RENDERERS), default="text")
    parser.add_argument("--lang", choices=LANGS, default="en")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds for the whole diagnosis (default 10)")
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
        return 3
    report = asyncio.run(diagnose_once(config, args.timeout))
    sys.stdout.write(RENDERERS[args.format](report, args.lang))
    return report.exit_code()
