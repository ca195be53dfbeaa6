"""The probe table: adding a probe is one module, one entry here, and one test file.

A target probe is ``async (target, ctx, out, deadline) -> Outcome``; a host probe takes the
whole config in place of the target. ``applies`` says whether a target's config enables it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from exporter.config import Target
from exporter.probing import ProbeFn
from exporter.probes.access_log import probe_access_log
from exporter.probes.database import probe_database
from exporter.probes.dns import probe_dns
from exporter.probes.files import probe_files
from exporter.probes.host import probe_host
from exporter.probes.http import probe_http
from exporter.probes.logs import probe_logs
from exporter.probes.loopback import probe_loopback
from exporter.probes.port import probe_port
from exporter.probes.prisma import probe_prisma
from exporter.probes.proxy import probe_proxy
from exporter.probes.proxy_log import probe_proxy_log
from exporter.probes.redirect import probe_redirect
from exporter.probes.tls import https_urls, probe_tls
from exporter.probes.upstream_mismatch import probe_upstream_mismatch
from exporter.probes.webpack_cache import probe_webpack_cache


@dataclass(frozen=True)
class TargetProbe:
    fn: ProbeFn
    applies: Callable[[Target], bool]


def _always(target: Target) -> bool:
    return True


def _has_project(target: Target) -> bool:
    return target.project_dir is not None


TARGET_PROBES: dict[str, TargetProbe] = {
    # The requests first: they are on the wire while the probes after them do their own work.
    "http": TargetProbe(probe_http, lambda t: bool(t.endpoints or t.static_paths)),
    "proxy": TargetProbe(probe_proxy, lambda t: t.proxy_url is not None),
    "tls": TargetProbe(probe_tls, lambda t: bool(https_urls(t))),
    "redirect": TargetProbe(probe_redirect, lambda t: t.redirect_from is not None),
    "port": TargetProbe(probe_port, _always),
    "proxy_log": TargetProbe(probe_proxy_log, lambda t: t.proxy_error_log is not None),
    "access_log": TargetProbe(probe_access_log, lambda t: t.access_log is not None),
    "database": TargetProbe(probe_database, lambda t: t.project_dir is not None or t.database is not None),
    "prisma": TargetProbe(probe_prisma, _has_project),
    "files": TargetProbe(probe_files, _has_project),
    "webpack_cache": TargetProbe(probe_webpack_cache, _has_project),
    "logs": TargetProbe(probe_logs, lambda t: t.log_file is not None),
    "upstream_mismatch": TargetProbe(probe_upstream_mismatch, lambda t: t.upstream_mismatch is not None),
}

HOST_PROBES: dict[str, ProbeFn] = {
    "host": probe_host,
    "loopback": probe_loopback,
    "dns": probe_dns,
}
