"""Is nginx still proxying to the port discovery found empty, while the project's app listens elsewhere?

Discovery (``exporter.discovery.combine``) pairs a site whose upstream port has no listener with the
running app of the same project; this probe confirms, on each scrape, that the port nginx expects
is still empty before the pairing is reported as evidence.
"""

from __future__ import annotations

import asyncio

from exporter.config import Target
from exporter.metrics import Samples
from exporter.probes.port import connect
from exporter.probing import Deadline, Outcome, ProbeContext


async def probe_upstream_mismatch(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    mismatch = target.upstream_mismatch
    assert mismatch is not None
    try:
        await connect("127.0.0.1", mismatch.expected_port, deadline)
    except (OSError, asyncio.TimeoutError):
        out.add(
            "inventory_discovery_upstream_mismatch_info", 1,
            nginx_source=mismatch.nginx_source, proxy_pass=mismatch.proxy_pass,
            expected_port=str(mismatch.expected_port), app_port=str(mismatch.app_port),
            app_pid=str(mismatch.app_pid), inference=mismatch.inference,
        )
        return Outcome.success()
    return Outcome.success()  # something listens there now: the pairing no longer holds
