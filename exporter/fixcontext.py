"""The values a finding's fix commands are written with (``{port}``, ``{db_path}``, ``{nginx_file}``...),
from the target's config and what its probes found. No file is read here, so rendering a report
cannot block on the project (the landing page renders on the loop)."""

from __future__ import annotations

from urllib.parse import urlsplit

from exporter.config import Target
from exporter.facts import Facts


class Blank(dict):
    """A placeholder the context does not know stays as written (``{name}``)."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def probed_db_path(target: Target, facts: Facts | None) -> str | None:
    """The database the probe found (``inventory_db_info``), else the configured one."""
    for labels, _ in facts.all("inventory_db_info") if facts is not None else ():
        return labels.get("path") or None
    if target.database is None:
        return None
    if target.database.is_absolute() or target.project_dir is None:
        return str(target.database)
    return str(target.project_dir / target.database)


def fix_context(target: Target, facts: Facts | None = None) -> dict[str, str]:
    project = str(target.project_dir) if target.project_dir else "."
    db = probed_db_path(target, facts)
    log_file = target.log_file
    if log_file is not None and not log_file.is_absolute() and target.project_dir is not None:
        log_file = target.project_dir / log_file
    return Blank(
        port=str(target.app_port),
        app_url=target.app_url,
        proxy_url=target.proxy_url or "http://127.0.0.1/",
        nginx_error_log=str(target.proxy_error_log or "/var/log/nginx/error.log"),
        access_log=str(getattr(target, "access_log", None) or "/var/log/nginx/access.log"),
        project_dir=project,
        log_file=str(log_file or f"{project}/dev.log"),
        db_path=str(db or f"{project}/db/custom.db"),
        **_mismatch_context(target),
        **_tls_context(target),
    )


def _tls_context(target: Target) -> dict[str, str]:
    """The https front as openssl s_client and curl are pointed at it (exporter.probes.tls)."""
    https = next((u for u in (target.proxy_url, target.app_url) if u and u.startswith("https://")), None)
    parts = urlsplit(https or "https://127.0.0.1")
    host = parts.hostname or "127.0.0.1"
    return {"tls_connect": f"{host}:{parts.port or 443}", "tls_server_name": target.proxy_host or host,
            "tls_ca_option": f"-CAfile {target.tls_ca_file}" if target.tls_ca_file else "",
            "redirect_from": target.redirect_from or f"http://{target.proxy_host or host}/"}


def _mismatch_context(target: Target) -> dict[str, str]:
    """The nginx line to change and the port to put there, when discovery found nginx pointing elsewhere."""
    mismatch = target.upstream_mismatch
    if mismatch is None:
        return {}
    path, _, line = mismatch.nginx_source.rpartition(":")
    if not path.startswith("/"):
        path = f"/etc/nginx/{path}"
    return {"nginx_file": path, "nginx_line": line, "app_real_port": str(mismatch.app_port),
            "proxy_pass": mismatch.proxy_pass, "proxy_pass_fixed": mismatch.proxy_pass.replace(
                str(mismatch.expected_port), str(mismatch.app_port))}
