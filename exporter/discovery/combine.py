"""From what the sources found to targets: one per running app (with its nginx front when a site
proxies to its port), one per site whose app does not run (the incident), and a site pointing at
the wrong port paired with its project's app (``Mismatch``). Every value says where it came from.

Targets written in the config win: a discovered target whose app port a configured target already
watches is dropped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from exporter.config import Target
from exporter.discovery.model import Findings, Mismatch, NginxSite, RunningApp, ServiceUnit

NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def combine(found: Findings, configured: tuple[Target, ...] = (), names: dict[Path, str] | None = None) -> list[Target]:
    """``names``: package.json names of the units' working directories, so that a site whose app is
    down is named as the app will be once it runs."""
    apps = {app.port: app for app in sorted(found.apps, key=lambda a: (a.port, a.pid))}
    sites: dict[int, list[NginxSite]] = {}
    for site in found.sites:
        sites.setdefault(site.app_port, []).append(site)
    dangling = {port: group for port, group in sites.items() if port not in apps}
    unfronted = [app for port, app in apps.items() if port not in sites]
    pairs = _pairs(dangling, unfronted, found.units)
    paired_apps = {mismatch.app_port for mismatch in pairs.values()}
    targets = [
        _app_target(app, (sites.get(port) or [None])[0], found.units)
        for port, app in apps.items() if port not in paired_apps
    ]
    for port, group in sorted(dangling.items()):
        mismatch = pairs.get(port)
        if mismatch is not None:
            targets.append(_mismatch_target(apps[mismatch.app_port], group[0], mismatch))
        else:
            targets.append(_site_target(group[0], _unit_for(group[0], found.units), names or {}))
    taken = {t.app_port for t in configured}
    kept = [t for t in targets if t.app_port not in taken]
    return _unique_names(kept, {t.name for t in configured})


# --- pairing a dangling site with the app of its project ---------------------------------------


def _pairs(dangling: dict[int, list[NginxSite]], unfronted: list[RunningApp], units: list[ServiceUnit]) -> dict[int, Mismatch]:
    pairs: dict[int, Mismatch] = {}
    free = list(unfronted)
    for port, group in sorted(dangling.items()):
        site = group[0]
        for app in free:
            why = _same_project(site, app, units)
            if why:
                pairs[port] = _mismatch(site, app, why)
                free.remove(app)
                break
    if not pairs and len(dangling) == 1 and len(unfronted) == 1:
        port, group = next(iter(dangling.items()))
        pairs[port] = _mismatch(group[0], unfronted[0],
                                "inferred: the only nginx site without its app and the only Next.js app without a site")
    return pairs


def _same_project(site: NginxSite, app: RunningApp, units: list[ServiceUnit]) -> str | None:
    if app.project_dir is None:
        return None
    for unit in units:
        if unit.port == site.app_port and _same_dir(unit.working_directory, app.project_dir):
            return f"{unit.kind} {unit.name} runs {app.project_dir} on port {site.app_port}"
    for root in site.roots:
        if _inside(root, app.project_dir):
            return f"the site's root {root} is inside {app.project_dir}"
    return None


def _mismatch(site: NginxSite, app: RunningApp, why: str) -> Mismatch:
    return Mismatch(
        nginx_source=short_source(site.source), proxy_pass=site.upstream_server or site.proxy_pass,
        expected_port=site.app_port,
        app_port=app.port, app_pid=app.pid, app_process=app.process, inference=why,
    )


# --- targets ----------------------------------------------------------------------------------


def _app_target(app: RunningApp, site: NginxSite | None, units: list[ServiceUnit]) -> Target:
    origins = [("app_url", app.source)]
    project = app.project_dir
    if project is not None:
        origins.append(("project_dir", f"{app.source}: working directory with a Next.js package.json"))
    name = app.name or (project.name if project else f"next-{app.port}")
    origins.append(("name", f"{project}/package.json" if app.name else "derived"))
    return _with_site(Target(name=_clean(name), app_url=f"http://127.0.0.1:{app.port}", project_dir=project), site, origins)


def _site_target(site: NginxSite, unit: ServiceUnit | None, names: dict[Path, str]) -> Target:
    origins = [("app_url", short_source(site.source))]
    project = unit.working_directory if unit else None
    if unit is not None:
        origins.append(("project_dir", f"{unit.kind} {unit.name} ({unit.source})"))
    else:
        origins.append(("project_dir", "unknown: no systemd unit or pm2 entry runs an app on this port; project probes off"))
    package_name = names.get(unit.working_directory) if unit else None
    name = package_name or (unit.name.removesuffix(".service") if unit else None) or (site.host or f"nginx-{site.app_port}")
    origins.append(("name", f"{unit.working_directory}/package.json" if package_name else
                    unit.source if unit else short_source(site.listen_source)))
    target = Target(name=_clean(name), app_url=f"http://127.0.0.1:{site.app_port}", project_dir=project)
    return _with_site(target, site, origins)


def _mismatch_target(app: RunningApp, site: NginxSite, mismatch: Mismatch) -> Target:
    target = _app_target(app, site, [])
    return Target(**{**target.__dict__, "upstream_mismatch": mismatch})


def _with_site(target: Target, site: NginxSite | None, origins: list[tuple[str, str]]) -> Target:
    values = dict(target.__dict__)
    if site is not None:
        values.update(proxy_url=site.proxy_url, proxy_host=site.host, proxy_error_log=site.error_log,
                      access_log=site.access_log, access_log_format=site.access_log_format)
        origins += [("proxy_url", short_source(site.listen_source)), ("upstream", short_source(site.source))]
        if site.host:
            origins.append(("proxy_host", f"server_name in {short_source(site.listen_source)}"))
        if site.error_log:
            origins.append(("proxy_error_log", f"error_log of the server ({short_source(site.listen_source)})"))
        if site.access_log:
            origins.append(("access_log", f"access_log of the server ({short_source(site.listen_source)})"))
    values["origins"] = tuple(origins)
    return Target(**values)


def _unit_for(site: NginxSite, units: list[ServiceUnit]) -> ServiceUnit | None:
    for unit in units:
        if unit.port == site.app_port:
            return unit
    for unit in units:
        if any(_inside(root, unit.working_directory) for root in site.roots):
            return unit
    return None


def _unique_names(targets: list[Target], taken: set[str]) -> list[Target]:
    unique = []
    used = set(taken)
    for target in targets:
        name = target.name
        if name in used:
            name = f"{target.name}-{target.app_port}"
        suffix = 2
        while name in used:
            name, suffix = f"{target.name}-{target.app_port}-{suffix}", suffix + 1
        used.add(name)
        unique.append(target if name == target.name else Target(**{**target.__dict__, "name": name}))
    return unique


def _clean(name: str) -> str:
    cleaned = NAME_CHARS.sub("-", name.removeprefix("@").replace("/", "-")).strip("-.")
    return cleaned if cleaned and cleaned[0].isalnum() else f"app-{cleaned or 'x'}"


def _inside(path: Path, directory: Path) -> bool:
    path, directory = os.path.normpath(path), os.path.normpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _same_dir(a: Path, b: Path) -> bool:
    return os.path.normpath(a) == os.path.normpath(b)


def short_source(source: str) -> str:
    """``/etc/nginx/sites-enabled/inventory:14`` → ``sites-enabled/inventory:14`` (nginx's own directory left out)."""
    for prefix in ("/etc/nginx/", "/usr/local/nginx/conf/", "/usr/local/etc/nginx/"):
        if source.startswith(prefix):
            return source[len(prefix):]
    return source
