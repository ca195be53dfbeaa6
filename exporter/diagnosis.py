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
5. ``app_error``: the app answers, but its endpoints fail (5xx/4xx, or a status, body or JSON condition of
   their ``expect`` fails, e.g. 200 with ``{"error": ...}``) while the database is fine. A failed
   ``max_seconds`` or an unreadable secret is a finding (``endpoint_condition_failed``), not this cause.
6. ``proxy_upstream_misconfigured``: the app is healthy, yet nginx answers 502/504 (wrong upstream).
7. ``proxy_down``: the app is healthy, nginx does not answer at all.
8. ``https_front_rejected``: the app and nginx answer, but browsers refuse the https front: its
   certificate has expired, is for another host name, or does not chain to a trusted CA, or it
   speaks nothing newer than TLS 1.1.
9. ``upstream_keepalive_mismatch``: all probes pass, but nginx keeps logging upstreams closing
   connections prematurely (Node's keep-alive timeout shorter than nginx's).

Evidence from logs is dated: nginx error-log lines written before the live probes last recovered
(``inventory_up_since_timestamp_seconds``) are history. They stay in the counters and the
"recent" gauge, but never keep a finding or a root cause alive; only lines that keep arriving
while the front answers < 500 may (see :func:`live_log_counts`).
10. ``not_checked``: none of the above, but a probe of the target timed out (a blocking call stuck
   on a hung file system or database, every probe thread stuck, or a deadline too short): the
   checks it feeds could not be judged, so the diagnosis cannot say the target is fine. The
   probes that timed out are in ``inventory_probe_failure_info{reason="timeout"}``.
11. otherwise ``none`` (warnings and info findings are still listed, but are not a cause of an outage).

A probe that timed out is never read as absence: the checks that report something *missing*
(database file, log file, config files, env vars, Prisma packages) are not evaluated when the probe
that feeds them failed with reason ``timeout`` (see ``ABSENCE_CHECKS``), whatever samples it left.

Host findings (CPU, memory, disk, DNS, loopback) are diagnosed once, with an empty target label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from exporter.detectors import (  # noqa: F401  (the detectors the checks below name)
    _config_files_missing,
    _db_missing,
    _db_unavailable,
    _disk_full,
    _dns,
    _endpoint_errors,
    _endpoint_timeouts,
    _env_missing,
    _flag,
    _fmt_seconds,
    _log_errors,
    _log_missing,
    _port_closed,
    _port_conflict,
    _prisma_mismatch,
    _prisma_missing,
    _prisma_update,
    _proxy_bad_gateway,
    _proxy_down,
    _ratio,
    _schema_or_url_missing,
    _slow_paths,
    _slow_traffic,
    _static_errors,
    _threshold,
    _upstream_log,
    _upstream_wrong_port,
    _webpack_cache_failing,
    live_log_counts,
)
from exporter.detectors_tls import _cert_expiry, _cert_invalid, _old_protocol, _redirect_missing, leaf_expired, only_old_tls
from exporter.detectors_functional import _condition_failures, _page_assets, _stale_build, app_condition_failed
from exporter.facts import THRESHOLDS, Evidence, Facts  # noqa: F401  (re-exported)
from exporter.impact import Impact, impact_of
from exporter.metrics import Samples

SEVERITIES = ("critical", "warning", "info")

_S_CLIENT = "echo | openssl s_client -connect {tls_connect} -servername {tls_server_name} 2>/dev/null"
_RELOAD = "sudo nginx -t && sudo systemctl reload nginx"


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
    impact: Impact | None = None  # what users got, from nginx's access log (exporter.impact)

    def worst(self) -> str | None:
        for severity in SEVERITIES:
            if any(f.severity == severity for f in self.findings):
                return severity
        return None


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
    Check("endpoint_condition_failed", "critical", "Endpoints answer, but not what their conditions expect",
          "端点有响应，但不符合预期条件",
          ("curl -i {app_url}/api/health   # repeat the failing endpoint's request (its method, headers, body)",
           "tail -n 100 {log_file}"),
          _condition_failures),
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
    Check("tls_cert_expired", "critical", "The https certificate has expired or expires within 3 days",
          "HTTPS 证书已过期或将在 3 天内过期",
          (_S_CLIENT + " | openssl x509 -noout -enddate -subject",
           "sudo certbot renew   # or install the renewed certificate (ssl_certificate)", _RELOAD),
          _cert_expiry(None, "cert_critical_days")),
    Check("tls_cert_invalid", "critical", "The https certificate does not match the host or its chain is not trusted",
          "HTTPS 证书与域名不匹配或证书链不受信任",
          (_S_CLIENT.replace("s_client", "s_client -verify_hostname {tls_server_name} {tls_ca_option}")
           + " | grep -E 'Verify return code|subject=|issuer='",
           "install a certificate for {tls_server_name} with its full chain (ssl_certificate fullchain.pem)", _RELOAD),
          _cert_invalid),
    Check("static_assets_failing", "warning", "Static assets do not load", "静态资源无法加载",
          ("curl -I {app_url}/favicon.ico", "ls {project_dir}/public {project_dir}/.next/static"),
          _static_errors),
    Check("page_assets_failing", "warning", "A page's scripts or stylesheets do not load", "页面的脚本或样式表无法加载",
          ("curl -s {app_url}/ | grep -o '/_next/static/[^\"]*' | sort -u | head   # what the page asks for",
           "ls {project_dir}/.next/static"),
          _page_assets),
    Check("stale_build", "warning", "The running server serves an older build than .next/BUILD_ID (ChunkLoadError)",
          "运行中的服务使用的构建与 .next/BUILD_ID 不一致（ChunkLoadError）",
          ("cat {project_dir}/.next/BUILD_ID",
           "cd {project_dir} && npm run build && restart the server (pm2 restart / systemctl restart)",
           "purge the CDN cache for /_next/static and reload the page without the browser cache"),
          _stale_build),
    Check("proxy_upstream_errors", "warning", "nginx logs upstream time-outs or resets", "Nginx 日志显示上游超时或连接被重置",
          ("sudo tail -n 50 {nginx_error_log}",
           "set Node's keepAliveTimeout above nginx's keepalive_timeout (server.keepAliveTimeout = 65000)"),
          _upstream_log(("timed_out", "prematurely_closed", "connection_reset", "other"))),
    Check("tls_cert_expiring", "warning", "The https certificate expires within 14 days", "HTTPS 证书将在 14 天内过期",
          (_S_CLIENT + " | openssl x509 -noout -enddate", "sudo certbot renew --dry-run && sudo certbot renew", _RELOAD),
          _cert_expiry("cert_critical_days", "cert_warning_days")),
    Check("tls_old_protocol", "warning", "The https front accepts TLS below 1.2", "HTTPS 前端接受 TLS 1.2 以下的旧协议",
          ("grep -rn ssl_protocols /etc/nginx/   # set: ssl_protocols TLSv1.2 TLSv1.3;", _RELOAD,
           "openssl s_client -connect {tls_connect} -servername {tls_server_name} -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' "
           "</dev/null   # must now fail"),
          _old_protocol),
    Check("https_redirect_missing", "warning", "http:// does not redirect to https://", "HTTP 未重定向到 HTTPS",
          ("curl -sI {redirect_from} | grep -iE '^(HTTP|location)'",
           "in nginx's port 80 server block: return 301 https://$host$request_uri;", _RELOAD),
          _redirect_missing),
    Check("api_slow", "warning", "API responses are slower than 500 ms", "API 响应时间超过 500ms",
          ("curl -o /dev/null -s -w '%{{time_total}}\\n' {app_url}/api/health",),
          _slow_paths(("api",), "api_seconds")),
    Check("page_slow", "warning", "Pages load slower than 3 s", "页面加载时间超过 3 秒",
          ("curl -o /dev/null -s -w '%{{time_total}}\\n' {app_url}/",),
          _slow_paths(("page",), "page_seconds")),
    Check("api_slow_traffic", "warning", "Users' API requests are slower than 500 ms (p95 over 5 minutes)",
          "用户 API 请求 p95 超过 500ms（最近 5 分钟）",
          ("awk '{print $NF, $7}' {access_log} | sort -n | tail -n 20   # the slowest requests (if $request_time is last)",
           "curl -o /dev/null -s -w '%{{time_total}}\\n' {app_url}/api/health"),
          _slow_traffic("api", "api_seconds")),
    Check("page_slow_traffic", "warning", "Users' pages load slower than 3 s (p95 over 5 minutes)",
          "用户页面加载 p95 超过 3 秒（最近 5 分钟）",
          ("curl -o /dev/null -s -w '%{{time_total}}\\n' {app_url}/", "top -b -n 1 | head -n 15"),
          _slow_traffic("page", "page_seconds")),
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
    "https_front_rejected",
    "upstream_keepalive_mismatch",
    "not_checked",
    "none",
)


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
    if "endpoint_failing" in active or ("endpoint_condition_failed" in active and app_condition_failed(facts)):
        return "app_error"
    if "proxy_bad_gateway" in active or "proxy_upstream_refused" in active:
        return "proxy_upstream_misconfigured"
    if "proxy_down" in active:
        return "proxy_down"
    if "tls_cert_invalid" in active or ("tls_cert_expired" in active and leaf_expired(facts)) or only_old_tls(facts):
        return "https_front_rejected"
    if live_log_counts(facts, ("prematurely_closed",)):
        return "upstream_keepalive_mismatch"
    if timed_out(facts):
        return "not_checked"
    return "none"


def diagnose_target(samples: list, target: str) -> Diagnosis:
    facts = Facts(samples, target)
    findings, evaluated = run_checks(TARGET_CHECKS, facts)
    return Diagnosis(target, root_cause({f.id for f in findings}, facts), findings, evaluated, impact_of(facts))


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
