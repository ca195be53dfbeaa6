"""Since when a target's live probes have passed: the line between past evidence and the present.

Log files describe the past. After an outage, nginx's error log still holds the refused
connections of the last minutes; the diagnosis must not take them for a present cause once the
live probes answer again. This module remembers, per target, the start of the first scrape of
the current run of passing scrapes, and reports it as ``inventory_up_since_timestamp_seconds``
(absent while the probes fail). Evidence dated before that moment is history.

"Live probes pass" means: the nginx front answers with a status below 500 when the target has
one; without a front, the app port accepts connections and no api/page endpoint fails.
"""

from __future__ import annotations

from exporter.metrics import Samples
from exporter.probing import ProbeContext


def live_probes_pass(out: Samples) -> bool | None:
    """Whether this scrape's live probes passed; None when nothing live was probed."""
    status = out.value("inventory_proxy_status_code")
    if status is not None:
        return 0 < status < 500
    listening = out.value("inventory_app_port_listening")
    if listening is None:
        return None
    if not listening:
        return False
    return all(value for labels, value in out.matching("inventory_http_up") if labels.get("kind") in ("api", "page"))


def track_recovery(target_name: str, ctx: ProbeContext, out: Samples, scrape_started: float) -> float | None:
    """Remember and report since when the live probes of ``target_name`` have passed.

    ``scrape_started`` is the wall time at which this scrape's probes began: when they pass now
    after failing (or for the first time), the run of passing scrapes starts there.
    """
    key = ("up_since", target_name)
    passing = live_probes_pass(out)
    if not passing:
        ctx.cache[key] = None
        return None
    since = ctx.cache.get(key)
    if since is None or since > scrape_started:
        since = ctx.cache[key] = scrape_started
    out.add("inventory_up_since_timestamp_seconds", since)
    return since
