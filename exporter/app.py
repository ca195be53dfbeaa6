"""The aiohttp application: routes, scrape coalescing, the exposition, reload, and app-lifetime resources."""

from __future__ import annotations

import asyncio
import functools
import logging
import platform
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from aiohttp import web
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from exporter import __version__, exposition
from exporter.build import revision
from exporter.accesslog.reader import readers_of
from exporter.config import Config, ConfigError, load_config
from exporter.discovery.runner import DiscoveryState, rediscover_forever, with_discovery
from exporter.config_view import config_yaml
from exporter.debug import render_debug
from exporter.httpclient import make_session
from exporter.logs import fields
from exporter.metrics import Samples
from exporter.probes import HOST_PROBES
from exporter.pool import ProbePool
from exporter.probing import PROBE_THREADS, Deadline, ProbeContext, ProbeFn
from exporter.redact import middleware as redact_middleware
from exporter.redact import MAX_BODY, cap, redact
from exporter.scrape import ScrapeResult, scrape
from exporter import heartbeat, history_store, landing
from exporter.history import history_of
from exporter.webconfig import WebConfig
from exporter.webconfig import middleware as webconfig_middleware

log = logging.getLogger("exporter.app")

RELOAD_TIMEOUT = 10.0
DEFAULT_SCRAPE_TIMEOUT = 30.0  # without the Prometheus header; each target's timeout still caps it
MAX_PARAMS = 8
MAX_PARAM_LENGTH = 128
PARAM_KEY_RE = re.compile(r"[A-Za-z0-9_.-]{1,32}")
PARAM_VALUE_RE = re.compile(r"[A-Za-z0-9_.:-]*")
DEFAULT_TELEMETRY_PATH = "/metrics"
RESERVED_PATHS = frozenset({"/", "/probe", "/config", "/-/healthy", "/-/ready", "/-/reload"})


@dataclass
class State:
    """Everything that lives as long as the app: config, reload status, probe context."""

    config: Config
    config_file: Path | None
    loader: Callable[[], Config]
    timeout_offset: float = 0.5
    reload_ok: bool = True
    reload_error: str = ""
    reload_time: float = field(default_factory=time.time)
    ctx: ProbeContext | None = None
    ready: bool = False
    inflight: dict = field(default_factory=dict)  # scrape key -> (deadline, task) of the scrape in flight
    exporter_metrics: bool = True  # the exporter's own process_*/python_* metrics (--web.disable-exporter-metrics)
    host_probes: Mapping[str, ProbeFn] = field(default_factory=lambda: dict(HOST_PROBES))  # --[no-]collector.*

    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    web_config: Any = None  # the WebConfig the app serves with (its password checks' counters)
    gate: Any = None  # the ConnectionGate the server listens through (its counters)
    discovery: DiscoveryState = field(default_factory=DiscoveryState)  # the last discovery run
    storage_path: Path | None = None  # --storage.path: the history is saved there (exporter.history_store)

    def reload(self) -> bool:
        """Load the config again; on failure keep the old one and remember why."""
        try:
            new = self.loader()
        except ConfigError as exc:
            return self._reload_failed(str(exc))
        return self._reload_done(new)

    async def reload_async(self) -> bool:
        """:meth:`reload` with the reading and parsing in a worker thread, one reload at a time, for
        at most RELOAD_TIMEOUT: a huge or hostile file cannot stall the event loop (the loader's own
        bounds, file size and alias expansion, end the thread soon after)."""
        async with self.reload_lock:
            loop = asyncio.get_running_loop()
            try:
                new = await asyncio.wait_for(loop.run_in_executor(None, self.loader), RELOAD_TIMEOUT)
            except ConfigError as exc:
                return self._reload_failed(str(exc))
            except TimeoutError:
                return self._reload_failed(f"loading the config took longer than {RELOAD_TIMEOUT:.0f}s")
            return self._reload_done(new)

    def _reload_failed(self, reason: str) -> bool:
        self.reload_ok, self.reload_error = False, cap(reason, MAX_BODY // 4)
        log.error("config reload failed, keeping the previous config", extra=fields(error=self.reload_error))
        return False

    def _reload_done(self, new: Config) -> bool:
        self.use(new)
        self.reload_ok, self.reload_error, self.reload_time = True, "", time.time()
        log.info("config reloaded", extra=fields(file=new.source, targets=len(new.targets)))
        return True

    def use(self, config: Config) -> None:
        """Probe ``config`` from the next scrape on (a reload, or discovery finding other targets)."""
        self.config = config
        if self.ctx is not None:
            self.ctx.config = config
            readers_of(self.ctx).sync(config)  # access logs: readers started, restarted, stopped
            history_of(self.ctx.cache).keep_only(t.name for t in config.targets)  # forget removed targets


STATE = web.AppKey("state", State)


TELEMETRY_PATH = web.AppKey("telemetry_path", str)


def _is_exposition(request: web.Request, telemetry_path: str) -> bool:
    return request.path == telemetry_path or (request.path == "/probe" and "debug" not in request.query)


def create_app(
    state: State, web_config: WebConfig | None = None, telemetry_path: str = DEFAULT_TELEMETRY_PATH
) -> web.Application:
    middlewares = [webconfig_middleware(web_config)] if web_config is not None else []
    # innermost: every body and error text redacted and capped; the exposition redacts its own labels
    middlewares.append(redact_middleware(lambda request: _is_exposition(request, telemetry_path)))
    app = web.Application(client_max_size=64 * 1024, middlewares=middlewares)
    app[STATE] = state
    state.web_config = web_config
    app[TELEMETRY_PATH] = telemetry_path
    app.cleanup_ctx.append(_resources)
    app.router.add_get("/", landing_page)
    app.router.add_get(telemetry_path, metrics_handler)
    app.router.add_get("/probe", probe_handler)
    app.router.add_get("/config", config_handler)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload_handler)
    return app


_BACKGROUND: set[asyncio.Task] = set()


def _background(coroutine) -> None:
    """Run ``coroutine`` as a task kept alive until it ends (SIGHUP reloads)."""
    task = asyncio.ensure_future(coroutine)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


async def _resources(app: web.Application):
    state = app[STATE]
    executor = ProbePool(PROBE_THREADS)
    session = make_session()
    state.ctx = ProbeContext(session=session, executor=executor, config=state.config)
    readers_of(state.ctx).sync(state.config)  # the access logs are read from now on (stopped by ctx.close)
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGHUP, lambda: _background(state.reload_async()))
    except (NotImplementedError, RuntimeError, ValueError):
        pass  # not on the main thread (tests) or not supported
    rediscovery = asyncio.ensure_future(rediscover_forever(lambda: state.discovery, state.use))
    saver = history_store.start(state.ctx.cache, state.storage_path)
    heartbeat.note_all(history_of(state.ctx.cache).targets.values())  # a loaded history: formatted before the first page
    state.ready = True
    yield
    state.ready = False
    rediscovery.cancel()
    history_store.stop(saver, state.ctx.cache, state.storage_path)
    try:
        loop.remove_signal_handler(signal.SIGHUP)
    except (NotImplementedError, RuntimeError, ValueError):
        pass
    state.ctx.close()
    await session.close()
    executor.shutdown(wait=False, cancel_futures=True)


def scrape_deadline(request: web.Request, offset: float) -> Deadline:
    """The Prometheus scrape timeout header minus ``offset``; without it, a generous default."""
    header = request.headers.get("X-Prometheus-Scrape-Timeout-Seconds")
    seconds = DEFAULT_SCRAPE_TIMEOUT
    if header:
        try:
            timeout = float(header)
        except ValueError:
            timeout = DEFAULT_SCRAPE_TIMEOUT
        if 0 < timeout < float("inf"):
            seconds = timeout - offset if timeout > offset else timeout
    return Deadline(seconds)


_SELF = CollectorRegistry(auto_describe=False)  # the exporter's own process, platform and GC metrics
ProcessCollector(registry=_SELF)
PlatformCollector(registry=_SELF)
GCCollector(registry=_SELF)


def gzipped(request: web.Request, response: web.Response) -> web.Response:
    """gzip whenever the client accepts it, whatever the size (as client_golang's promhttp does)."""
    if exposition.wants_gzip(request.headers.get("Accept-Encoding", "")):
        response.enable_compression(web.ContentCoding.gzip)
    return response


def render(request: web.Request, store: list, with_process: bool) -> web.Response:
    """Text 0.0.4, or OpenMetrics when the client asks for it (Prometheus does)."""
    om = exposition.wants_openmetrics(request.headers.get("Accept", ""))
    text = exposition.render(store, om)
    if with_process:
        text += exposition.render_process(_SELF, om)
    if om:
        text += "# EOF\n"
    response = web.Response(
        body=text.encode(), headers={"Content-Type": exposition.OPENMETRICS if om else exposition.TEXT}
    )
    return gzipped(request, response)


def exporter_samples(state: State, store: list, started: float) -> None:
    out = Samples(store=store)
    out.add(
        "inventory_exporter_build_info", 1,
        version=__version__, revision=revision(), python_version=platform.python_version(),
    )
    out.add("inventory_exporter_targets", len(state.config.targets))
    out.add("inventory_exporter_config_last_reload_successful", int(state.reload_ok))
    out.add("inventory_exporter_config_last_reload_success_timestamp_seconds", state.reload_time)
    out.add("inventory_exporter_scrape_duration_seconds", time.perf_counter() - started)
    executor = state.ctx.executor if state.ctx is not None else None
    if isinstance(executor, ProbePool):
        out.add("inventory_exporter_stuck_threads", executor.stuck)
    web_samples(state, out)
    discovery_samples(state.discovery, state.config, out)


def discovery_samples(discovery: DiscoveryState, config: Config, out: Samples) -> None:
    """The last discovery run, when discovery is on: when, how long, what it found, what it could not read."""
    if not config.discovery.enabled or not discovery.runs:
        return
    out.add("inventory_discovery_last_run_timestamp_seconds", discovery.last_run)
    out.add("inventory_discovery_duration_seconds", discovery.duration)
    out.add("inventory_discovery_targets", len(discovery.targets))
    for (source, reason), count in sorted(discovery.error_counts().items()):
        out.add("inventory_discovery_errors", count, source=source, reason=reason)


def web_samples(state: State, out: Samples) -> None:
    """The connection gate's and the password checks' counters, when they are in use."""
    gate = state.gate
    if gate is not None:
        out.add("inventory_exporter_connections_open", gate.in_use())
        out.add("inventory_exporter_connections_evicted_total", gate.evicted)
        out.add("inventory_exporter_connections_refused_total", gate.refused)
        out.add("inventory_exporter_connections_timed_out_total", gate.timed_out)
    auth = state.web_config.auth if state.web_config is not None else None
    if auth is not None:
        out.add("inventory_exporter_auth_checks_total", auth.checks_run)
        out.add("inventory_exporter_auth_checks_dropped_total", auth.checks_dropped)


async def run_scrape(state: State, request: web.Request, deadline: Deadline | None = None, **kwargs) -> ScrapeResult:
    """Probe under the request's deadline. Requests that arrive while an identical scrape is in
    flight, and whose deadline is no earlier than its own, share its result instead of probing
    again (so 100 concurrent scrapes cost one round of probes, and a target is not hammered)."""
    assert state.ctx is not None
    deadline = deadline or scrape_deadline(request, state.timeout_offset)
    key = (id(state.config), tuple(t.name for t in kwargs.get("targets") or ()), kwargs.get("host", True),
           tuple(kwargs.get("host_probes") or ()))
    flight = state.inflight.get(key)
    if flight is None or flight[0].at > deadline.at:
        task = asyncio.ensure_future(scrape(state.config, state.ctx, deadline, **kwargs))
        flight = state.inflight[key] = (deadline, task)
        task.add_done_callback(lambda _: state.inflight.pop(key, None) if state.inflight.get(key) is flight else None)
    return await asyncio.shield(flight[1])


async def metrics_handler(request: web.Request) -> web.Response:
    state = request.app[STATE]
    started = time.perf_counter()
    result = await run_scrape(state, request, host_probes=state.host_probes)
    store = list(result.store)  # shared with concurrent requests: add our own samples to a copy
    exporter_samples(state, store, started)
    return render(request, store, with_process=state.exporter_metrics)


def checked_query(request: web.Request) -> dict[str, str]:
    """Every query parameter, bounded in count, length and characters; anything else is a 400."""
    query = request.query
    if len(query) > MAX_PARAMS:
        raise web.HTTPBadRequest(text="too many query parameters\n")
    for key, value in query.items():
        if not PARAM_KEY_RE.fullmatch(key) or len(value) > MAX_PARAM_LENGTH or not PARAM_VALUE_RE.fullmatch(value):
            raise web.HTTPBadRequest(
                text=f"query parameters are limited to {MAX_PARAM_LENGTH} characters of [A-Za-z0-9_.:-]\n"
            )
    return dict(query)


async def probe_handler(request: web.Request) -> web.Response:
    """One configured target by name: never an arbitrary URL, so never an open proxy.
    ``debug=true`` answers what each probe did, in plain text, as blackbox_exporter does."""
    state = request.app[STATE]
    query = checked_query(request)
    name = query.get("target", "")
    target = state.config.target(name) if name else None
    if target is None:
        raise web.HTTPBadRequest(text="the target parameter must name a configured target\n")
    result = await run_scrape(state, request, targets=[target], host=False)
    if query.get("debug", "").lower() == "true":
        text = render_debug(result.targets[0], result.store)
        return gzipped(request, web.Response(text=text, content_type="text/plain", charset="utf-8"))
    return render(request, result.store, with_process=False)


async def config_handler(request: web.Request) -> web.Response:
    """The effective configuration, secrets redacted (behind the same auth as every page)."""
    text = config_yaml(request.app[STATE].config)
    return web.Response(text=text, content_type="text/plain", charset="utf-8", headers={"Cache-Control": "no-store"})


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="Healthy\n")


async def ready(request: web.Request) -> web.Response:
    if not request.app[STATE].ready:
        raise web.HTTPServiceUnavailable(text="Not ready\n")
    return web.Response(text="Ready\n")


async def reload_handler(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if await state.reload_async():
        return web.Response(text="config reloaded\n")
    raise web.HTTPInternalServerError(text=f"config reload failed, previous config kept:\n{state.reload_error}\n")


async def landing_page(request: web.Request) -> web.Response:
    """Links, and the live diagnosis of every target: plain HTML, fresh on each load (exporter.landing)."""
    state = request.app[STATE]
    lang = landing.page_lang(checked_query(request).get("lang"), request.headers.get("Accept-Language", ""))
    body = await landing.landing_body(state, lang, functools.partial(run_scrape, state, request))
    page = landing.page(state, lang, request.app[TELEMETRY_PATH], body)
    return web.Response(text=redact(page), content_type="text/html",
                        headers={"Cache-Control": "no-store", "Content-Security-Policy": landing.PAGE_CSP})


def state_from_file(
    config_file: Path | None, timeout_offset: float, default: Callable[[], Config],
    overrides: Callable[[Config], Config] = lambda config: config,
) -> State:
    """Build the app state; raise ConfigError when the file is bad. Loading (at start and on each
    reload) runs discovery too when the config enables it, with ``overrides`` (the --discovery.*
    flags) applied first."""
    discovery = DiscoveryState()

    def loader() -> Config:
        base = load_config(config_file) if config_file is not None else default()
        return with_discovery(overrides(base), discovery)

    return State(config=loader(), config_file=config_file, loader=loader, timeout_offset=timeout_offset,
                 discovery=discovery)
