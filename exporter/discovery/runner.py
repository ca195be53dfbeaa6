"""Running discovery: every source once (blocking, in a worker thread), combined into targets
beside the configured ones; at start, on reload and every ``discovery.interval``, never per scrape.

Targets that appear or vanish between runs are logged once each; what a source could not read is
kept for ``inventory_discovery_errors{source,reason}`` and the page.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from exporter.config import DEFAULT_NGINX_CONFIG, Config, DiscoveryConfig, Target
from exporter.discovery.combine import combine
from exporter.discovery.model import DiscoveryError, Findings
from exporter.logs import fields

log = logging.getLogger("exporter.discovery")


def _sources(cfg: DiscoveryConfig) -> list[tuple[str, str, Callable[[], tuple[list, list]]]]:
    from exporter.discovery import nginx, pm2, processes, systemd

    return [
        ("processes", "apps", processes.discover_apps),
        ("nginx", "sites", lambda: _without_absent_default(nginx.discover_sites(cfg.nginx_config), cfg)),
        ("systemd", "units", lambda: systemd.discover_units(cfg.systemd_unit_paths)),
        ("pm2", "units", pm2.discover_pm2),
    ]


def _without_absent_default(result: tuple[list, list], cfg: DiscoveryConfig) -> tuple[list, list]:
    """No nginx installed (the default main config absent) is not an error; a configured path that is absent is."""
    sites, errors = result
    if cfg.nginx_config == DEFAULT_NGINX_CONFIG and not cfg.nginx_config.exists():
        errors = [e for e in errors if not (e.reason == "not_found" and str(cfg.nginx_config) in e.detail)]
    return sites, errors


def find(cfg: DiscoveryConfig) -> Findings:
    """Every source once; a source that fails outright is an error of that source, not a crash."""
    found = Findings()
    for source, attribute, fn in _sources(cfg):
        try:
            items, errors = fn()
        except Exception as exc:  # a bug or an unforeseen input in one source must not stop the others
            log.warning("discovery source failed", extra=fields(source=source, error=repr(exc)))
            items, errors = [], [DiscoveryError(source, "internal_error", repr(exc))]
        getattr(found, attribute).extend(items)
        found.errors.extend(errors)
    return found


@dataclass
class DiscoveryState:
    """The last run: for the exporter's metrics, the page, and logging what changed."""

    base: Config | None = None  # the config as loaded, before discovery added targets
    targets: tuple[Target, ...] = ()
    errors: list[DiscoveryError] = field(default_factory=list)
    last_run: float = 0.0  # Unix time
    duration: float = 0.0
    runs: int = 0

    def error_counts(self) -> Counter:
        return Counter((e.source, e.reason) for e in self.errors)

    def record(self, targets: tuple[Target, ...], errors: list[DiscoveryError], duration: float) -> None:
        before = {t.name: t for t in self.targets}
        after = {t.name: t for t in targets}
        if self.runs:
            for name in after.keys() - before.keys():
                log.info("target discovered", extra=fields(target=name, app_url=after[name].app_url))
            for name in before.keys() - after.keys():
                log.info("target no longer discovered", extra=fields(target=name, app_url=before[name].app_url))
        else:
            log.info("discovery", extra=fields(targets=",".join(after) or "none", errors=len(errors)))
        new_errors = {(e.source, e.reason, e.detail) for e in errors} - {(e.source, e.reason, e.detail) for e in self.errors}
        for source, reason, detail in sorted(new_errors):
            log.info("discovery could not read", extra=fields(source=source, reason=reason, detail=detail))
        self.targets, self.errors, self.duration, self.last_run = targets, errors, duration, time.time()
        self.runs += 1


def unit_project_names(found: Findings) -> dict:
    """package.json names of the directories systemd units and pm2 entries run apps in."""
    from exporter.discovery.processes import project_name

    names = {}
    for unit in found.units[:64]:
        name = project_name(unit.working_directory)
        if name:
            names[unit.working_directory] = name
    return names


def with_discovery(base: Config, state: DiscoveryState) -> Config:
    """``base`` plus the discovered targets (blocking); ``base`` itself when discovery is off."""
    state.base = base
    if not base.discovery.enabled:
        return base
    started = time.monotonic()
    found = find(base.discovery)
    discovered = tuple(combine(found, base.targets, unit_project_names(found)))
    state.record(discovered, found.errors, time.monotonic() - started)
    return dataclasses.replace(base, targets=base.targets + discovered) if discovered else base


def with_overrides(config: Config, nginx_config=None, interval=None, unit_paths=None) -> Config:
    """The command line's --discovery.* flags over the config's discovery section."""
    changes = {k: v for k, v in (("nginx_config", nginx_config), ("interval", interval),
                                  ("systemd_unit_paths", tuple(unit_paths) if unit_paths else None)) if v is not None}
    return dataclasses.replace(config, discovery=dataclasses.replace(config.discovery, **changes)) if changes else config


async def rediscover_forever(get_state, apply: Callable[[Config], None]) -> None:
    """Every ``discovery.interval``: run discovery again in a worker thread; apply a changed config."""
    while True:
        discovery: DiscoveryState = get_state()
        base = discovery.base
        interval = base.discovery.interval if base is not None else 60.0
        await asyncio.sleep(interval)
        base = discovery.base
        if base is None or not base.discovery.enabled:
            continue
        previous = discovery.targets
        config = await asyncio.to_thread(with_discovery, base, discovery)
        if discovery.targets != previous:
            apply(config)
