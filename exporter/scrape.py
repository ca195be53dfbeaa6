"""One scrape: run every applicable probe under one deadline and gather the samples.

Probes run concurrently (bounded by ``max_concurrency`` targets at a time). A probe that
overruns the deadline, or fails unexpectedly, becomes ``success 0`` with a reason: a scrape
always answers, in time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from exporter.config import Config, Target
from exporter.diagnosis import Diagnosis, add_samples, diagnose_host, diagnose_target
from exporter.heartbeat import note
from exporter.history import record_diagnosis
from exporter.logs import fields
from exporter.metrics import Samples
from exporter.probes import HOST_PROBES, TARGET_PROBES
from exporter.probing import Deadline, Outcome, ProbeContext, ProbeFn
from exporter.recovery import track_recovery

log = logging.getLogger("exporter.scrape")
GRACE = 0.02  # the outer guard fires just after the deadline every inner await was given


@dataclass
class TargetResult:
    target: Target
    samples: Samples
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    diagnosis: Diagnosis | None = None


async def run_probe(name: str, fn: ProbeFn, subject: Any, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(deadline.remaining() + GRACE):
            outcome = await fn(subject, ctx, out, deadline)
    except TimeoutError as exc:  # the deadline, or every probe thread stuck (PoolExhausted says so)
        outcome = Outcome.fail("timeout", str(exc) or f"deadline of the scrape reached after {time.perf_counter() - started:.3f}s")
    except Exception as exc:  # a probe bug must not fail the scrape
        log.exception("probe crashed", extra=fields(probe=name, target=out.base.get("target", "")))
        outcome = Outcome.fail("internal_error", repr(exc))
    out.add("inventory_probe_success", int(outcome.ok), probe=name)
    out.add("inventory_probe_duration_seconds", time.perf_counter() - started, probe=name)
    if not outcome.ok:
        out.add("inventory_probe_failure_info", 1, probe=name, reason=outcome.reason or "internal_error")
        log.debug("probe failed", extra=fields(probe=name, target=out.base.get("target", ""), reason=outcome.reason, detail=outcome.detail))
    return outcome


async def probe_target(target: Target, ctx: ProbeContext, store: list, deadline: Deadline) -> TargetResult:
    """Run the target's probes and its diagnosis on samples of its own; append them to ``store``."""
    out = Samples({"target": target.name})
    result = TargetResult(target, out)
    dl = deadline.capped(target.timeout)
    probes = [(name, p.fn) for name, p in TARGET_PROBES.items() if p.applies(target)]
    started = time.time()
    out.add("inventory_target_info", 1, source="discovery" if target.origins else "config")
    outcomes = await asyncio.gather(*(run_probe(name, fn, target, ctx, out, dl) for name, fn in probes))
    result.outcomes = dict(zip((name for name, _ in probes), outcomes))
    track_recovery(target.name, ctx, out, started)
    result.diagnosis = diagnose_target(out.store, target.name)
    add_samples(result.diagnosis, out)
    note(record_diagnosis(ctx.cache, result.diagnosis, out, started))  # the status page's history, since when
    store.extend(out.store)
    return result


async def probe_host(
    cfg: Config, ctx: ProbeContext, store: list, deadline: Deadline, probes: Mapping[str, ProbeFn] = HOST_PROBES
) -> Diagnosis:
    """The host-level ``probes`` (all of HOST_PROBES unless collectors are turned off)."""
    out = Samples({"target": ""})
    dl = deadline.capped(max((t.timeout for t in cfg.targets), default=5.0))
    await asyncio.gather(*(run_probe(name, fn, cfg, ctx, out, dl) for name, fn in probes.items()))
    diagnosis = diagnose_host(out.store)
    add_samples(diagnosis, out)
    store.extend(out.store)
    return diagnosis


@dataclass
class ScrapeResult:
    store: list
    targets: list[TargetResult]
    host_diagnosis: Diagnosis | None = None

    @property
    def diagnoses(self) -> list[Diagnosis]:
        return [t.diagnosis for t in self.targets if t.diagnosis is not None]


async def scrape(
    cfg: Config, ctx: ProbeContext, deadline: Deadline, targets: list[Target] | None = None, host: bool = True,
    host_probes: Mapping[str, ProbeFn] = HOST_PROBES,
) -> ScrapeResult:
    """Probe ``targets`` (all by default) and, if ``host``, the ``host_probes``, concurrently."""
    store: list = []
    limit = asyncio.Semaphore(cfg.max_concurrency)
    ctx = ctx.for_scrape()

    async def bounded(target: Target) -> TargetResult:
        async with limit:
            return await probe_target(target, ctx, store, deadline)

    chosen = list(cfg.targets) if targets is None else targets
    if len(chosen) == 1 and not host:  # /probe: one target, no task of its own needed
        return ScrapeResult(store, [await probe_target(chosen[0], ctx, store, deadline)])
    host_task = probe_host(cfg, ctx, store, deadline, host_probes) if host else _nothing()
    *results, host_diagnosis = await asyncio.gather(*(bounded(t) for t in chosen), host_task)
    return ScrapeResult(store, list(results), host_diagnosis)


async def _nothing() -> None:
    return None
