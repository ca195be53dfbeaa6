"""From one scrape's samples to findings, ranked by the incident report's priorities, and one root cause.

Severities encode the report's priorities: critical = 🔴 high, warning = 🟡 medium, info = 🟢 low.
Every check reads only the metrics a scrape produced, so what the diagnosis says is what
Prometheus stores, and alert rules can say the same thing.

Root cause decision order (first match wins; a cascade shows as one cause):

1. ``port_conflict``: the app port is held by a process that is not the app.
   ``proxy_upstream_misconfigured`` comes next when discovery found nginx proxying to an empty port
   while the same project's app listens on another (``proxy_upstream_wrong_port``).
2. ``app_not_listening``: nothing accepts connections on the app port.
3. ``app_unresponsive``: the port accepts, but the endpoints time out (or nginx logs upstream time-outs).
4. ``database_unavailable``: the database is missing, locked, corrupt or unreadable (the app
   answers 5xx or would as soon as it touches the database).
5. ``app_error``: the app answers, but its endpoints fail (5xx/4xx) while the database is fine.
6. ``proxy_upstream_misconfigured``: the app is healthy, yet nginx answers 502/504 (wrong upstream).
7. ``proxy_down``: the app is healthy, nginx does not answer at all.
8. ``upstream_keepalive_mismatch``: all probes pass, but nginx keeps logging upstreams closing
   connections prematurely (Node's keep-alive timeout shorter than nginx's).

Evidence from logs is dated: nginx error-log lines written before the live probes last recovered
(``inventory_up_since_timestamp_seconds``) are history. They stay in the counters and the
"recent" gauge, but never keep a finding or a root cause alive; only lines that keep arriving
while the front answers < 500 may (see :func:`live_log_counts`).
9. ``not_checked``: none of the above, but a probe of the target timed out (a blocking call stuck
   on a hung file system or database, every probe thread stuck, or a deadline too short): the
   checks it feeds could not be judged, so the diagnosis cannot say the target is fine. The
   probes that timed out are in ``inventory_probe_failure_info{reason="timeout"}``.
10. otherwise ``none`` (warnings and info findings are still listed, but are not a cause of an outage).

A probe that timed out is never read as absence: the checks that report something *missing*
(database file, log file, config files, env vars, Prisma packages) are not evaluated when the probe
that feeds them failed with reason ``timeout`` (see ``ABSENCE_CHECKS``), whatever samples it left.

Host findings (CPU, memory, disk, DNS, loopback) are diagnosed once, with an empty target label.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from exporter.metrics import Samples

SEVERITIES = ("critical", "warning", "info")

# The report's performance and resource thresholds, in base units (one place to change them).
THRESHOLDS = {
    "api_seconds": 0.5,
    "page_seconds": 3.0,
    "db_query_seconds": 0.1,
    "cpu_ratio": 0.5,
    "memory_ratio": 0.8,
    "disk_ratio": 0.9,
    "log_stale_seconds": 3600.0,
}


class Facts(Samples):
    """Read-only view of one target's (or, with target "", the host's) samples."""

    def __init__(self, samples: Iterable[tuple[str, dict[str, str], float]], target: str | None):
        """``target`` None keeps every sample (a view over a target and the host together)."""
        rows = list(samples) if target is None else [row for row in samples if row[1].get("target", "") == target]
        super().__init__(store=rows)
        self.by_name: dict[str, list[tuple[dict[str, str], float]]] = {}
        for name, labels, value in self.store:  # the checks ask ~80 questions: look up by name, not scan
            self.by_name.setdefault(name, []).append((labels, value))

    def matching(self, name: str, /, **labels: str) -> Iterator[tuple[dict[str, str], float]]:
        for sample_labels, value in self.by_name.get(name, ()):
            if all(sample_labels.get(k) == v for k, v in labels.items()):
                yield sample_labels, value

    def value(self, name: str, /, **labels: str) -> float | None:
        return next((value for _, value in self.matching(name, **labels)), None)

    get = value

    def all(self, name: str, /, **labels: str) -> list[tuple[dict[str, str], float]]:
        return list(self.matching(name, **labels))

    def failure(self, probe: str) -> str | None:
        for labels, _ in self.all("inventory_probe_failure_info", probe=probe):
            return labels.get("reason")
        return None


Evidence = dict[str, str]


@dataclass(frozen=True)
class Check:
    id: str
    severity: str
    title: str
    title_zh: str
    fix: tuple[str, ...]
    detect: Callable[[Facts], Evidence | None | bool]
    """Returns evidence when the problem is present, None when absent, False when it cannot be judged."""


@dataclass
class Finding:
    check: Check
    evidence: Evidence

    @property
    def id(self) -> str:
        return self.check.id

    @property
    def severity(self) -> str:
        return self.check.severity


@dataclass
class Diagnosis:
    target: str
    cause: str
    findings: list[Finding] = field(default_factory=list)
    evaluated: list[str] = field(default_factory=list)

    def worst(self) -> str | None:
        for severity in SEVERITIES:
            if any(f.severity == severity for f in self.findings):
                return severity
        return None


# --- detectors ------------------------------------------------------------------------------


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


# --- the checks, in report order ----------------------------------------------------------------

TARGET_CHECKS: tuple[Check, ...] = (
    Check("port_conflict", "critical", "Another process holds the app port", "应用端口被其他进程占用",
          ("ss -tlnp 'sport = :{port}'", "sudo fuser -k {port}/tcp   # stop the foreign process, then: npm run dev"),
          _port_conflict),
    Check("app_not_listening", "critical", "The app is not listening on its port", "应用未在预期端口上运行",
          ("cd {project_dir} && npm run dev   # or: npm run build && npm start", "ss -tln 'sport = :{port}'",
           "curl -fsS {app_url}/api/health"),
          _port_closed),
    Check("app_unresponsive", "critical", "The app accepts connections but does not answer", "应用端口可连接但请求无响应（超时）",
          ("ss -tlnp 'sport = :{port}'", "tail -n 100 {log_file}", "restart the app: npm run dev"),
          _endpoint_timeouts),
    Check("endpoint_failing", "critical", "API endpoints answer with errors", "API 端点返回错误状态码",
          ("curl -i {app_url}/api/health", "tail -n 100 {log_file}"),
          _endpoint_errors),
    Check("proxy_bad_gateway", "critical", "nginx answers 502/504 Bad Gateway", "Nginx 返回 502/504 网关错误",
          ("curl -I {proxy_url}", "sudo tail -n 50 {nginx_error_log}", "grep -rn proxy_pass /etc/nginx/"),
          _proxy_bad_gateway),
    Check("proxy_down", "critical", "nginx does not answer", "Nginx 无响应",
          ("sudo systemctl status nginx", "sudo nginx -t && sudo systemctl restart nginx"),
          _proxy_down),
    Check("proxy_upstream_refused", "critical", "nginx logs refused upstream connections", "Nginx 日志显示上游连接被拒绝",
          ("sudo tail -n 50 {nginx_error_log}", "ss -tln 'sport = :{port}'"),
          _upstream_log(("connection_refused", "no_live_upstreams"))),
    Check("proxy_upstream_wrong_port", "critical", "nginx proxies to a port where the app is not listening",
          "Nginx 代理到了应用未监听的端口",
          ("sudoedit {nginx_file}   # line {nginx_line}: {proxy_pass} -> {proxy_pass_fixed}",
           "sudo nginx -t && sudo systemctl reload nginx", "curl -I {proxy_url}"),
          _upstream_wrong_port),
    Check("database_missing", "critical", "The SQLite database file is missing", "SQLite 数据库文件不存在",
          ("ls -l {project_dir}/db/", "grep DATABASE_URL {project_dir}/.env", "npx prisma db push   # recreates the schema"),
          _db_missing),
    Check("database_unavailable", "critical", "The database cannot be queried (locked, corrupt or unreadable)",
          "数据库无法查询（被锁定、损坏或不可读）",
          ("sqlite3 -readonly {db_path} 'PRAGMA quick_check;'", "fuser -v {db_path}   # who holds it open"),
          _db_unavailable),
    Check("static_assets_failing", "warning", "Static assets do not load", "静态资源无法加载",
          ("curl -I {app_url}/favicon.ico", "ls {project_dir}/public {project_dir}/.next/static"),
          _static_errors),
    Check("proxy_upstream_errors", "warning", "nginx logs upstream time-outs or resets", "Nginx 日志显示上游超时或连接被重置",
          ("sudo tail -n 50 {nginx_error_log}",
           "set Node's keepAliveTimeout above nginx's keepalive_timeout (server.keepAliveTimeout = 65000)"),
          _upstream_log(("timed_out", "prematurely_closed", "connection_reset", "other"))),
    Check("api_slow", "warning", "API responses are slower than 500 ms", "API 响应时间超过 500ms",
          ("curl -o /dev/null -s -w '%{{time_total}}\\n' {app_url}/api/health",),
          _slow_paths(("api",), "api_seconds")),
    Check("page_slow", "warning", "Pages load slower than 3 s", "页面加载时间超过 3 秒",
          ("curl -o /dev/null -s -w '%{{time_total}}\\n' {app_url}/",),
          _slow_paths(("page",), "page_seconds")),
    Check("db_query_slow", "warning", "Database queries are slower than 100 ms", "数据库查询时间超过 100ms",
          ("sqlite3 -readonly {db_path} 'PRAGMA quick_check;'", "ls -l {db_path}*"),
          _threshold("inventory_db_query_seconds", "db_query_seconds", _fmt_seconds)),
    Check("prisma_version_mismatch", "warning", "Prisma CLI and client versions differ", "Prisma CLI 与客户端版本不匹配",
          ("npm i --save-dev prisma@latest && npm i @prisma/client@latest", "npx prisma generate"),
          _prisma_mismatch),
    Check("prisma_not_installed", "warning", "Prisma packages are not installed", "Prisma 依赖未安装",
          ("npm install", "npx prisma generate"),
          _prisma_missing),
    Check("prisma_client_not_generated", "warning", "The Prisma client has not been generated", "Prisma 客户端尚未生成",
          ("npx prisma generate",),
          _flag("inventory_prisma_client_generated", 0)),
    Check("prisma_config_missing", "warning", "Prisma schema or DATABASE_URL is missing", "Prisma schema 或 DATABASE_URL 缺失",
          ("ls {project_dir}/prisma/schema.prisma", "echo 'DATABASE_URL=\"file:../db/custom.db\"' >> {project_dir}/.env"),
          _schema_or_url_missing),
    Check("webpack_cache_unwritable", "warning", "The webpack cache cannot be written (webpack cache operation failed)",
          "Webpack 缓存操作失败（缓存目录不可写）",
          ("sudo chown -R $(stat -c %U {project_dir}) {project_dir}/.next", "rm -rf {project_dir}/.next/cache",
           "grep -n 'PackFileCacheStrategy\\|EACCES' {log_file} | tail -n 5"),
          _webpack_cache_failing),
    Check("config_file_missing", "warning", "Required config files are missing", "关键配置文件缺失",
          ("ls -la {project_dir}",),
          _config_files_missing),
    Check("prisma_update_available", "info", "A newer Prisma release is available", "Prisma 有新版本可用",
          ("npm i --save-dev prisma@latest && npm i @prisma/client@latest", "npx prisma generate"),
          _prisma_update),
    Check("env_var_missing", "info", "Expected environment variables are not set", "环境变量未设置",
          ("cat {project_dir}/.env", "echo $PORT $DATABASE_URL"),
          _env_missing),
    Check("log_missing", "info", "The app log file is missing", "应用日志文件缺失",
          ("npm run dev > {log_file} 2>&1",),
          _log_missing),
    Check("log_stale", "info", "The app log has not been written for an hour", "应用日志超过一小时未更新",
          ("ls -l {log_file}",),
          _threshold("inventory_log_age_seconds", "log_stale_seconds", lambda v: f"{v:.0f} s")),
    Check("log_errors", "info", "Errors in the app log's recent lines", "应用日志近期出现错误",
          ("grep -nE 'error|warn' {log_file} | tail -n 20",),
          _log_errors),
)

HOST_CHECKS: tuple[Check, ...] = (
    Check("loopback_down", "critical", "The loopback interface does not answer", "本地回环不可用",
          ("ping -c 3 127.0.0.1", "ip addr show lo"),
          _flag("inventory_loopback_up", 0)),
    Check("dns_system_failing", "critical", "Names do not resolve through the system resolver", "DNS 解析失败（系统解析）",
          ("getent hosts localhost $(hostname)", "echo \"127.0.0.1 $(hostname)\" | sudo tee -a /etc/hosts"),
          _dns(True)),
    Check("dns_server_failing", "warning", "A DNS server does not answer", "DNS 服务器解析失败（nslookup）",
          ("nslookup localhost", "cat /etc/resolv.conf"),
          _dns(False)),
    Check("cpu_high", "warning", "Host CPU above 50 %", "CPU 使用率超过 50%",
          ("top -b -n 1 | head -n 15",),
          _threshold("inventory_cpu_usage_ratio", "cpu_ratio", _ratio)),
    Check("memory_high", "warning", "Host memory above 80 %", "内存使用率超过 80%",
          ("free -h", "ps aux --sort=-rss | head"),
          _threshold("inventory_memory_usage_ratio", "memory_ratio", _ratio)),
    Check("disk_nearly_full", "warning", "A filesystem is more than 90 % full", "磁盘空间即将耗尽（超过 90%）",
          ("df -h", "du -sh {project_dir}/.next {project_dir}/node_modules"),
          _disk_full),
)

CHECKS = {c.id: c for c in TARGET_CHECKS + HOST_CHECKS}
CAUSES = (
    "port_conflict",
    "app_not_listening",
    "app_unresponsive",
    "database_unavailable",
    "app_error",
    "proxy_upstream_misconfigured",
    "proxy_down",
    "upstream_keepalive_mismatch",
    "not_checked",
    "none",
)
CAUSE_TEXT = {
    "port_conflict": ("Another process holds the app port, so the app cannot listen there",
                      "应用端口被其他进程占用，应用无法监听"),
    "app_not_listening": ("The app is not running on its port: every request through nginx gets 502 Bad Gateway",
                          "应用未在预期端口上运行：经 Nginx 的所有请求都返回 502 Bad Gateway"),
    "app_unresponsive": ("The app accepts connections but does not answer in time (hung or overloaded)",
                         "应用端口可连接，但请求超时无响应（进程卡死或过载）"),
    "database_unavailable": ("The database is unavailable, so the app cannot serve data",
                             "数据库不可用，应用无法提供数据"),
    "app_error": ("The app is up but its endpoints fail", "应用在运行，但接口返回错误"),
    "proxy_upstream_misconfigured": ("The app is healthy, but nginx cannot reach it: check proxy_pass and the upstream port",
                                     "应用正常，但 Nginx 无法访问应用：请检查 proxy_pass 与上游端口配置"),
    "proxy_down": ("The app is healthy, but nginx does not answer", "应用正常，但 Nginx 无响应"),
    "upstream_keepalive_mismatch": ("nginx sees upstream connections closed early: Node's keep-alive timeout is shorter than nginx's",
                                    "Nginx 发现上游连接被提前关闭：Node 的 keep-alive 超时短于 Nginx"),
    "not_checked": ("Some probes timed out, so the target could not be fully checked (a hung file system or "
                    "database, or probe threads stuck): its state is unknown",
                    "部分探测超时，无法完整检查该目标（文件系统或数据库挂起，或探测线程卡住）：状态未知"),
    "none": ("No problem found", "未发现问题"),
}


# Checks that report something missing, and the probe whose samples they read: when that probe
# timed out, "not there" only means "not looked at in time", so the check is not evaluated.
ABSENCE_CHECKS = {
    "database_missing": "database",
    "log_missing": "logs",
    "config_file_missing": "files",
    "prisma_config_missing": "files",
    "env_var_missing": "files",
    "prisma_not_installed": "prisma",
    "prisma_client_not_generated": "prisma",
}


def timed_out(facts: Facts) -> list[str]:
    """The probes that failed with reason ``timeout``, in sample order."""
    return [l["probe"] for l, _ in facts.all("inventory_probe_failure_info", reason="timeout")]


def run_checks(checks: Iterable[Check], facts: Facts) -> tuple[list[Finding], list[str]]:
    findings, evaluated = [], []
    late = set(timed_out(facts))
    for check in checks:
        if ABSENCE_CHECKS.get(check.id) in late:
            continue
        evidence = check.detect(facts)
        if evidence is False:
            continue
        evaluated.append(check.id)
        if evidence:
            findings.append(Finding(check, evidence))
    return findings, evaluated


def root_cause(active: set[str], facts: Facts) -> str:
    """The decision order of the module docstring."""
    if "port_conflict" in active:
        return "port_conflict"
    if "proxy_upstream_wrong_port" in active:
        return "proxy_upstream_misconfigured"
    if "app_not_listening" in active:
        return "app_not_listening"
    recent_timeouts = bool(live_log_counts(facts, ("timed_out",)))
    if "app_unresponsive" in active or ("proxy_bad_gateway" in active and recent_timeouts):
        return "app_unresponsive"
    if active & {"database_missing", "database_unavailable"}:
        return "database_unavailable"
    if "endpoint_failing" in active:
        return "app_error"
    if "proxy_bad_gateway" in active or "proxy_upstream_refused" in active:
        return "proxy_upstream_misconfigured"
    if "proxy_down" in active:
        return "proxy_down"
    if live_log_counts(facts, ("prematurely_closed",)):
        return "upstream_keepalive_mismatch"
    if timed_out(facts):
        return "not_checked"
    return "none"


def diagnose_target(samples: list, target: str) -> Diagnosis:
    facts = Facts(samples, target)
    findings, evaluated = run_checks(TARGET_CHECKS, facts)
    return Diagnosis(target, root_cause({f.id for f in findings}, facts), findings, evaluated)


def diagnose_host(samples: list) -> Diagnosis:
    findings, evaluated = run_checks(HOST_CHECKS, Facts(samples, ""))
    critical = [f.id for f in findings if f.severity == "critical"]
    return Diagnosis("", critical[0] if critical else "none", findings, evaluated)


def add_samples(diagnosis: Diagnosis, out: Samples) -> None:
    """``inventory_finding`` for every evaluated check (1 active, 0 not) and the root cause."""
    active = {f.id for f in diagnosis.findings}
    scoped = out.scoped(target=diagnosis.target)
    for check_id in diagnosis.evaluated:
        scoped.add("inventory_finding", int(check_id in active), check=check_id, severity=CHECKS[check_id].severity)
    if diagnosis.target:
        scoped.add("inventory_root_cause_info", 1, cause=diagnosis.cause)
