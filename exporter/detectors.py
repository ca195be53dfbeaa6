"""The detectors behind the diagnosis checks: each reads a target's (or the host's) facts and returns
evidence when its problem is present, None when it is absent, False when it cannot be judged."""

from __future__ import annotations

import time
from typing import Callable

from exporter.facts import THRESHOLDS, Evidence, Facts



def _fmt_seconds(v: float) -> str:
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def _port_closed(f: Facts):
    listening = f.all("inventory_app_port_listening")
    if not listening:
        return False
    labels, value = listening[0]
    if value:
        return None
    return {"port": labels.get("port", ""), "connect": f.failure("port") or "refused"}


def _port_conflict(f: Facts):
    conflict = f.get("inventory_app_port_conflict")
    if conflict is None:
        return False
    if not conflict:
        return None
    owner = f.all("inventory_app_port_owner_info")
    labels = owner[0][0] if owner else {}
    return {"port": labels.get("port", ""), "pid": labels.get("pid", ""), "process": labels.get("process", "")}


def _endpoints(f: Facts, kinds: tuple[str, ...]) -> list[tuple[dict[str, str], float]]:
    return [(l, v) for l, v in f.all("inventory_http_up") if l.get("kind") in kinds]


def _endpoint_timeouts(f: Facts):
    paths = _endpoints(f, ("api", "page"))
    if not paths or not f.get("inventory_app_port_listening"):
        return False
    hung = [l["path"] for l, v in paths if not v and f.get("inventory_http_status_code", path=l["path"]) == 0]
    if not hung:
        return None
    return {"paths": ", ".join(hung), "reason": f.failure("http") or "timeout"}


def _endpoint_errors(f: Facts):
    paths = _endpoints(f, ("api", "page"))
    if not paths:
        return False
    failing = [(l["path"], f.get("inventory_http_status_code", path=l["path"])) for l, v in paths if not v]
    failing = [(p, s) for p, s in failing if s]
    if not failing:
        return None
    return {"status": ", ".join(f"{p} → {int(s)}" for p, s in failing)}


def _static_errors(f: Facts):
    paths = _endpoints(f, ("static",))
    if not paths or not f.get("inventory_app_port_listening"):
        return False
    failing = [l["path"] for l, v in paths if not v]
    return {"paths": ", ".join(failing)} if failing else None


def _proxy_bad_gateway(f: Facts):
    status = f.get("inventory_proxy_status_code")
    if status is None:
        return False
    return {"status": str(int(status))} if status in (502, 503, 504) else None


def _proxy_down(f: Facts):
    up = f.get("inventory_proxy_up")
    if up is None:
        return False
    return None if up else {"reason": f.failure("proxy") or "unknown"}


def _clock(unix: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(unix))


def live_log_counts(f: Facts, reasons: tuple[str, ...]) -> dict[str, int] | None:
    """nginx's upstream errors of the last 5 minutes that still describe the present, by reason.

    While the live probes fail, every recent line corroborates them. Once they pass again
    (``inventory_up_since_timestamp_seconds``), a class of lines counts only if its last line was
    written since then: errors that keep arriving while the front answers (an intermittent
    failure). Lines from before the recovery are history. None when the log is not read.
    """
    rows = [(l["reason"], v) for l, v in f.all("inventory_proxy_upstream_errors_recent") if l.get("reason") in reasons]
    if not rows:
        return None
    up_since = f.get("inventory_up_since_timestamp_seconds")
    last = {l["reason"]: v for l, v in f.all("inventory_proxy_upstream_errors_last_timestamp_seconds")}
    return {r: int(n) for r, n in rows if n and (up_since is None or last.get(r, 0.0) >= up_since)}


def _upstream_log(reasons: tuple[str, ...]):
    def detect(f: Facts):
        live = live_log_counts(f, reasons)
        if live is None:
            return False
        if not live:
            return None
        last = {l["reason"]: v for l, v in f.all("inventory_proxy_upstream_errors_last_timestamp_seconds")}
        evidence = {"last_5m": ", ".join(f"{r}={n}" for r, n in live.items())}
        newest = max((last[r] for r in live if r in last), default=None)
        if newest is not None:
            evidence["last_line"] = _clock(newest)
        return evidence

    return detect


# A probe that ran out of time, or found a FIFO or device in the file's place, says nothing about
# whether the file is missing: the "missing" checks cannot be judged then.
NOT_A_VERDICT_ON_PRESENCE = ("timeout", "not_regular_file")


def _upstream_wrong_port(f: Facts):
    """Discovery paired a site whose upstream port is empty with its project's app listening elsewhere."""
    if f.get("inventory_probe_success", probe="upstream_mismatch") is None:
        return False
    rows = f.all("inventory_discovery_upstream_mismatch_info")
    if not rows:
        return None
    labels = rows[0][0]
    return {"nginx": f"{labels['nginx_source']} {labels['proxy_pass']}", "nothing_on": labels["expected_port"],
            "app_listens_on": f"{labels['app_port']} (pid {labels['app_pid']})", "why_paired": labels["inference"]}


def _db_missing(f: Facts):
    exists = f.get("inventory_db_file_exists")
    if exists is None or f.failure("database") in NOT_A_VERDICT_ON_PRESENCE:
        return False
    if exists:
        return None
    path = f.all("inventory_db_info")
    return {"path": path[0][0].get("path", "") if path else "(unresolved)", "reason": f.failure("database") or ""}


def _db_unavailable(f: Facts):
    up, exists = f.get("inventory_db_up"), f.get("inventory_db_file_exists")
    if up is None or not exists:
        return False
    if up:
        return None
    path = f.all("inventory_db_info")
    return {"path": path[0][0].get("path", "") if path else "", "reason": f.failure("database") or ""}


def _threshold(metric: str, limit_key: str, unit: Callable[[float], str], **labels: str):
    def detect(f: Facts):
        value = f.get(metric, **labels)
        if value is None:
            return False
        limit = THRESHOLDS[limit_key]
        return {"value": unit(value), "threshold": unit(limit)} if value > limit else None

    return detect


def _slow_paths(kinds: tuple[str, ...], limit_key: str):
    def detect(f: Facts):
        rows = [(l, v) for l, v in f.all("inventory_http_response_seconds") if l.get("kind") in kinds]
        if not rows:
            return False
        limit = THRESHOLDS[limit_key]
        slow = [(l["path"], v) for l, v in rows if v > limit]
        if not slow:
            return None
        return {"paths": ", ".join(f"{p} {_fmt_seconds(v)}" for p, v in slow), "threshold": _fmt_seconds(limit)}

    return detect


def _ratio(v: float) -> str:
    return f"{v * 100:.1f}%"


def _disk_full(f: Facts):
    rows = f.all("inventory_disk_usage_ratio")
    if not rows:
        return False
    full = [(l["mountpoint"], v) for l, v in rows if v > THRESHOLDS["disk_ratio"]]
    return {"mountpoints": ", ".join(f"{m} {_ratio(v)}" for m, v in full)} if full else None


def _flag(metric: str, bad: float, **labels: str):
    def detect(f: Facts):
        value = f.get(metric, **labels)
        if value is None:
            return False
        return {metric.removeprefix("inventory_"): str(int(value))} if value == bad else None

    return detect


def _prisma_mismatch(f: Facts):
    mismatch = f.get("inventory_prisma_version_mismatch")
    if mismatch is None:
        return False
    if not mismatch:
        return None
    versions = {l["package"]: l["version"] for l, _ in f.all("inventory_prisma_version_info", source="installed")}
    return {"prisma": versions.get("prisma", "?"), "@prisma/client": versions.get("@prisma/client", "?")}


def _prisma_missing(f: Facts):
    if f.get("inventory_prisma_client_generated") is None:
        return False
    installed = {l["package"] for l, _ in f.all("inventory_prisma_version_info", source="installed")}
    missing = [p for p in ("prisma", "@prisma/client") if p not in installed]
    return {"missing": ", ".join(missing)} if missing else None


def _prisma_update(f: Facts):
    rows = f.all("inventory_prisma_update_available")
    if not rows:
        return False
    latest = {l["package"]: l["version"] for l, _ in f.all("inventory_prisma_latest_version_info")}
    installed = {l["package"]: l["version"] for l, _ in f.all("inventory_prisma_version_info", source="installed")}
    updates = [l["package"] for l, v in rows if v]
    if not updates:
        return None
    return {"update": ", ".join(f"{p} {installed.get(p, '?')} → {latest.get(p, '?')}" for p in updates)}


def _schema_or_url_missing(f: Facts):
    schema = f.get("inventory_config_file_present", file="prisma/schema.prisma")
    url = f.get("inventory_env_var_present", name="DATABASE_URL")
    if schema is None and url is None:
        return False
    missing = [n for n, v in (("prisma/schema.prisma", schema), ("DATABASE_URL", url)) if v == 0]
    return {"missing": ", ".join(missing)} if missing else None


def _config_files_missing(f: Facts):
    rows = [(l["file"], v) for l, v in f.all("inventory_config_file_present") if l["file"] != "prisma/schema.prisma"]
    if not rows or f.failure("files") == "timeout":
        return False
    missing = [name for name, v in rows if not v]
    return {"missing": ", ".join(missing)} if missing else None


def _env_missing(f: Facts):
    rows = [(l["name"], v) for l, v in f.all("inventory_env_var_present") if l["name"] != "DATABASE_URL"]
    if not rows:
        return False
    missing = [name for name, v in rows if not v]
    return {"missing": ", ".join(missing)} if missing else None


def _webpack_cache_failing(f: Facts):
    """The cache directory is not writable for the project owner, or the app log shows webpack failing to write it."""
    writable = f.get("inventory_webpack_cache_writable")
    failures = f.get("inventory_log_webpack_cache_failures")
    if writable is None and failures is None:
        return False
    evidence: Evidence = {}
    if writable == 0:
        evidence["unwritable_dirs"] = str(int(f.get("inventory_webpack_cache_unwritable_paths") or 0))
    if failures:
        evidence["log_lines"] = str(int(failures))
        quoted = f.all("inventory_log_last_webpack_cache_failure_info")
        if quoted:
            evidence["last_line"] = quoted[0][0].get("line", "")
        evidence["log_last_written"] = _log_written(f)
    return evidence or None


def _log_missing(f: Facts):
    present = f.get("inventory_log_file_present")
    if present is None or f.failure("logs") in NOT_A_VERDICT_ON_PRESENCE:
        return False
    return None if present else {"reason": f.failure("logs") or "not_found"}


def _log_written(f: Facts) -> str:
    """When the app log was last written (its lines carry no time of their own), as "N s ago"."""
    age = f.get("inventory_log_age_seconds")
    return "unknown" if age is None else f"{age:.0f} s ago"


def _log_errors(f: Facts):
    errors = f.get("inventory_log_lines", level="error")
    if errors is None:
        return False
    if not errors:
        return None
    return {"error_lines": str(int(errors)), "warn_lines": str(int(f.get("inventory_log_lines", level="warn") or 0)),
            "last_written": _log_written(f)}


def _dns(resolver_is_system: bool):
    def detect(f: Facts):
        rows = [(l, v) for l, v in f.all("inventory_dns_lookup_success") if (l["resolver"] == "system") == resolver_is_system]
        if not rows:
            return False
        failed = [f"{l['name']}@{l['resolver']}" for l, v in rows if not v]
        return {"failed": ", ".join(failed)} if failed else None

    return detect


MIN_TRAFFIC_REQUESTS = 20  # real requests of a kind in 5 minutes before their p95 can be an incident


def _slow_traffic(kind: str, limit_key: str):
    """p95 of users' requests of ``kind`` over 5 minutes, from nginx's access log, above the report's target."""
    def detect(f: Facts):
        p95 = f.get("inventory_request_duration_recent_p95_seconds", kind=kind)
        if p95 is None:
            return False
        count = int(sum(v for _, v in f.all("inventory_requests_recent", kind=kind)))
        limit = THRESHOLDS[limit_key]
        if count < MIN_TRAFFIC_REQUESTS or p95 <= limit:
            return None
        return {"p95_5m": _fmt_seconds(p95), "requests_5m": str(count), "threshold": _fmt_seconds(limit)}

    return detect
