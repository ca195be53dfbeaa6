"""Since when, for ``diagnose``: it probes once, so it knows only this moment unless
``--storage.path DIR`` names the state directory of a running exporter (exporter.history_store).
Then each target's line says "down since 21:04:13 (23 min), 3 outages in 24 h, longest 41 min,
uptime 97.1 %", from the saved history with this run added (in memory: the file is the exporter's,
diagnose never writes it)."""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path

from exporter.history import point_from_samples
from exporter.history_store import FILE_NAME, load
from exporter.pagetext import clock, duration
from exporter.report import Report
from exporter.statuspage import summary

HEADING = {"en": "History", "zh-CN": "历史"}
FROM = {"en": "from {file}, saved at {at} ({ago} ago; the exporter saves it every minute), this run included",
        "zh-CN": "来自 {file}，保存于 {at}（{ago}前；导出器每分钟保存一次），含本次运行"}
NOT_SAVED = {"en": "{file} not saved yet (the exporter saves it every minute and when it stops)",
             "zh-CN": "{file} 尚未保存（导出器每分钟及退出时保存）"}
NONE = {"en": "no history yet (only this run)", "zh-CN": "尚无历史记录（仅本次运行）"}


def add_storage_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage.path", dest="storage_path", type=Path, default=None, metavar="DIR",
                        help="the --storage.path of a running exporter: add since when and the last 24 h's outages "
                             "from its saved history (read only); without it diagnose sees only this moment")


def summaries(report: Report, directory: Path, lang: str) -> dict[str, str]:
    """Each target's since-when line, from the saved history plus this run."""
    history = load(directory)
    now = time.time()
    out = {}
    for target, diagnosis, facts in report.targets:
        if target.name not in history.targets:
            out[target.name] = NONE[lang]
            continue
        failing = [f.id for f in diagnosis.findings]
        point = point_from_samples(now, diagnosis.cause, diagnosis.worst(), failing, facts.store)
        out[target.name] = summary(history.record(target.name, point), now, lang)
    return out


def saved_at(path: Path) -> float | None:
    """When the running exporter last wrote its state file (it lags the exporter by up to a minute)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _rfc3339(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")


def with_history(rendered: str, fmt: str, report: Report, directory: Path | None, lang: str) -> str:
    """``rendered`` (the report in ``fmt``) with the history lines added; unchanged without a directory."""
    if directory is None:
        return rendered
    lines = summaries(report, directory, lang)
    saved = saved_at(directory / FILE_NAME)
    source = (NOT_SAVED[lang].format(file=directory / FILE_NAME) if saved is None else
              FROM[lang].format(file=directory / FILE_NAME, at=clock(saved), ago=duration(time.time() - saved, lang)))
    if fmt == "json":
        data = json.loads(rendered)
        data["history"] = {"source": str(directory / FILE_NAME), "targets": lines, "saved": _rfc3339(saved)}
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    heading = f"## {HEADING[lang]}" if fmt == "markdown" else f"{HEADING[lang]}:"
    body = "\n".join(f"{'- ' if fmt == 'markdown' else '  '}{name}: {line}" for name, line in lines.items())
    return f"{rendered.rstrip()}\n\n{heading} ({source})\n{body}\n"
