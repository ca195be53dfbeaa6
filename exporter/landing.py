"""The landing page ``/``: the live diagnosis of every target with its history (the status page),
in English or Chinese, plain HTML under a strict Content-Security-Policy, built within LANDING_TIMEOUT
whatever is stuck."""

from __future__ import annotations

import functools
import html
import logging
import time
from typing import TYPE_CHECKING, Awaitable, Callable, Mapping

from exporter import __version__, statuspage
from exporter.config import Config
from exporter.history import history_of
from exporter.lang import from_accept_language, normalize_lang
from exporter.pool import ProbePool
from exporter.probing import Deadline
from exporter.report import build_report, render_html_body
from exporter.scrape import ScrapeResult

if TYPE_CHECKING:
    from exporter.app import State

log = logging.getLogger("exporter.app")

LANDING_TIMEOUT = 5.0  # the landing page answers within this, whatever is stuck
REPORT_SECONDS = 0.5  # of which the report may take this much
REFRESH_SECONDS = 30  # the page reloads itself (meta refresh: no script)
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
PAGE_CSS = (
    "body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em;overflow-wrap:anywhere}"
    "pre{background:#f4f4f4;padding:.5em;white-space:pre-wrap}small{color:#666;font-weight:normal}"
    "@media (prefers-color-scheme: dark){body{background:#121212;color:#e0e0e0}a{color:#90caf9}"
    "pre{background:#1e1e1e}small{color:#aaa}table.incidents td,table.incidents th{border-color:#444}}"
)
NAV = {"en": ("Metrics", "Config", "Health", "Readiness", "config"),
       "zh-CN": ("指标", "配置", "存活", "就绪", "配置文件")}
INTRO = {
    "en": "Watches the smart-inventory stack (Next.js, Prisma/SQLite, nginx) and says why it is down.",
    "zh-CN": "监控智慧库存系统（Next.js、Prisma/SQLite、Nginx），出现故障时指出根本原因。",
}


def page(state: State, lang: str, telemetry_path: str, body: str) -> str:
    """The whole page around ``body`` (landing_body): links, language switch, refresh, generated-at."""
    other = ("zh-CN", "中文") if lang == "en" else ("en", "English")
    nav = NAV[lang]
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>inventory-exporter</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,"><meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<style>{PAGE_CSS}{statuspage.CSS}</style>
</head><body><h1>inventory-exporter {html.escape(__version__)}</h1>
{statuspage.generated_line(time.time(), REFRESH_SECONDS, lang)}
<p>{INTRO[lang]}
<a href="{html.escape(telemetry_path.lstrip("/"))}">{nav[0]}</a> · <a href="config">{nav[1]}</a> ·
<a href="-/healthy">{nav[2]}</a> · <a href="-/ready">{nav[3]}</a> ·
<a href="?lang={other[0]}">{other[1]}</a> · {nav[4]}: {html.escape(state.config.source)}</p>
{body}
</body></html>"""


async def landing_body(state: State, lang: str, run_scrape: Callable[..., Awaitable[ScrapeResult]]) -> str:
    """The live diagnosis, always within LANDING_TIMEOUT: the probes get all but REPORT_SECONDS of
    it (a stuck one reads as timeout); the report is built in the probe threads, or on the loop if
    they cannot take it in time (every thread stuck), since it reads no file and so cannot block."""
    assert state.ctx is not None
    deadline = Deadline(LANDING_TIMEOUT)
    probes = deadline.capped(LANDING_TIMEOUT - REPORT_SECONDS)
    result = await run_scrape(deadline=probes, host_probes=state.host_probes)
    errors = state.discovery.errors if state.config.discovery.enabled else []
    history = statuspage.render_history(history_of(state.ctx.cache), (t.name for t in state.config.targets), time.time(), lang)
    build = functools.partial(render_landing, state.config, result, lang, errors, history)
    try:
        body = await state.ctx.blocking(deadline, build)
    except TimeoutError:  # PoolExhausted included
        log.warning("landing page: probe threads busy or stuck, rendering the report on the loop")
        body = build()
    return stuck_notice(state.ctx.executor, lang) + body


STUCK_NOTICE = {
    "en": "{n} probe thread(s) stuck in calls that outlived their deadline (a hung file system, /proc read "
          "or database?): the probes that needed them report timeout. See the exporter's log.",
    "zh-CN": "{n} 个探测线程卡在超过期限的调用中（文件系统、/proc 读取或数据库挂起？）：依赖它们的探测报告超时。请查看导出器日志。",
}


def stuck_notice(executor: object, lang: str) -> str:
    stuck = executor.stuck if isinstance(executor, ProbePool) else 0
    return f'<p class="stuck"><strong>⚠ {html.escape(STUCK_NOTICE[lang].format(n=stuck))}</strong></p>\n' if stuck else ""


def render_landing(config: Config, result: ScrapeResult, lang: str, discovery_errors: list = (),
                   history: Mapping[str, str] = {}) -> str:
    report = build_report(config, result.store, result.diagnoses, result.host_diagnosis, discovery_errors)
    return render_html_body(report, lang, history)


def page_lang(query_lang: str | None, accept_language: str) -> str:
    """``?lang=`` in any of its spellings (zh-CN, zh-cn, zh_CN, zh); without it, the browser's Accept-Language."""
    if query_lang:
        return normalize_lang(query_lang) or "en"
    return from_accept_language(accept_language)
