"""Prisma CLI and client versions: installed, declared, and (optionally) the latest published.

The report found CLI 6.19.0 beside a different client and an update notice to 7.1.0.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from exporter.config import NpmRegistryConfig, Target
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext
from exporter.project import Project, load_json

PACKAGES = ("prisma", "@prisma/client")
FAILED_LOOKUP_RETRY = 300.0


def installed_versions(project: Project) -> dict[str, str]:
    versions = {}
    for package in PACKAGES:
        try:
            manifest = load_json(project.read_text(f"node_modules/{package}/package.json"))
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and isinstance(manifest.get("version"), str):
            versions[package] = manifest["version"]
    return versions


def declared_versions(project: Project) -> dict[str, str]:
    try:
        manifest = load_json(project.read_text("package.json"))
    except (OSError, ValueError):
        return {}
    versions = {}
    for section in ("dependencies", "devDependencies"):
        deps = manifest.get(section) if isinstance(manifest, dict) else None
        for package in PACKAGES:
            if isinstance(deps, dict) and isinstance(deps.get(package), str):
                versions[package] = deps[package]
    return versions


def client_generated(project: Project) -> bool:
    try:
        project.read_text("node_modules/.prisma/client/index.js", limit=1)
        return True
    except OSError:
        return False


def read_prisma(project: Project) -> tuple[dict[str, str], dict[str, str], bool]:
    return installed_versions(project), declared_versions(project), client_generated(project)


async def probe_prisma(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    assert target.project_dir is not None
    installed, declared, generated = await ctx.blocking(deadline, read_prisma, ctx.project(target.project_dir))
    for package, version in installed.items():
        out.add("inventory_prisma_version_info", 1, package=package, version=version, source="installed")
    for package, version in declared.items():
        out.add("inventory_prisma_version_info", 1, package=package, version=version, source="declared")
    out.add("inventory_prisma_client_generated", int(generated))
    registry: NpmRegistryConfig | None = getattr(ctx.config, "npm_registry", None)
    if registry is not None and registry.enabled:
        await report_latest(ctx, registry, installed, out, deadline)
    if len(installed) < len(PACKAGES):
        missing = ", ".join(p for p in PACKAGES if p not in installed)
        return Outcome.fail("not_found", f"not installed in node_modules: {missing}")
    mismatch = installed["prisma"] != installed["@prisma/client"]
    out.add("inventory_prisma_version_mismatch", int(mismatch))
    if mismatch:
        return Outcome.fail("mismatch", f"prisma {installed['prisma']} vs @prisma/client {installed['@prisma/client']}")
    return Outcome.success()


async def report_latest(
    ctx: ProbeContext, registry: NpmRegistryConfig, installed: dict[str, str], out: Samples, deadline: Deadline
) -> None:
    for package in PACKAGES:
        latest = await latest_version(ctx, registry, package, deadline)
        if latest is None:
            continue
        out.add("inventory_prisma_latest_version_info", 1, package=package, version=latest)
        if package in installed:
            out.add("inventory_prisma_update_available", int(installed[package] != latest), package=package)


async def latest_version(
    ctx: ProbeContext, registry: NpmRegistryConfig, package: str, deadline: Deadline
) -> str | None:
    """The registry's ``<package>/latest`` version, cached for ``refresh_interval`` (failures for 5 min)."""
    key = f"npm_latest:{registry.url}:{package}"
    cached = ctx.cache.get(key)
    now = time.monotonic()
    if cached and cached[0] > now:
        return cached[1]
    url = f"{registry.url.rstrip('/')}/{package.replace('/', '%2F')}/latest"
    version, ttl = None, FAILED_LOOKUP_RETRY
    try:
        # total=0 would mean "no timeout" to aiohttp
        timeout = aiohttp.ClientTimeout(total=max(deadline.remaining(), 0.001))
        async with ctx.session.get(url, timeout=timeout) as response:
            if response.status == 200:
                document = load_json(await read_capped(response, 1 << 20))
                if isinstance(document, dict) and isinstance(document.get("version"), str):
                    version, ttl = document["version"], registry.refresh_interval
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError):
        pass
    if version is None and cached:
        version = cached[1]  # keep the last known answer through a registry outage
    ctx.cache[key] = (now + ttl, version)
    return version


async def read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, up to ``limit`` bytes (``content.read(n)`` returns only what has arrived so far)."""
    body = bytearray()
    while len(body) < limit:
        chunk = await response.content.read(limit - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)
