"""Host CPU, memory, disk and load: the report's resource checks (CPU < 50 %, memory < 80 %)."""

from __future__ import annotations

import asyncio
import os

import psutil

from exporter.config import Config
from exporter.cpu import CpuMeter
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext


def mountpoints(cfg: Config) -> tuple[str, ...]:
    """The configured mountpoints plus the filesystem of each target's project."""
    points = list(cfg.host.mountpoints)
    for target in cfg.targets:
        if target.project_dir is not None and target.project_dir.exists():
            points.append(mountpoint_of(target.project_dir))
    return tuple(dict.fromkeys(points))


def mountpoint_of(path: os.PathLike) -> str:
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def read_host(points: tuple[str, ...], cpu: CpuMeter) -> dict:
    memory = psutil.virtual_memory()
    disks = {}
    for point in points:
        try:
            disks[point] = psutil.disk_usage(point)
        except OSError:
            continue
    return {
        "cpu": cpu.ratio(),
        "cpus": psutil.cpu_count() or 1,
        "memory": memory,
        "disks": disks,
        "load": os.getloadavg(),
    }


async def probe_host(cfg: Config, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    points = ctx.cache.get(("mountpoints", cfg))
    if points is None:
        points = ctx.cache[("mountpoints", cfg)] = await ctx.blocking(deadline, mountpoints, cfg)
    wait = min(ctx.cpu.wait_needed(), deadline.remaining() - 0.05)
    if wait > 0:
        await asyncio.sleep(wait)  # the rest of the meter's first interval (just after start-up), within the deadline
    host = await ctx.blocking(deadline, read_host, points, ctx.cpu)
    memory = host["memory"]
    if host["cpu"] is not None:
        out.add("inventory_cpu_usage_ratio", host["cpu"])
    out.add("inventory_cpus", host["cpus"])
    out.add("inventory_memory_total_bytes", memory.total)
    out.add("inventory_memory_available_bytes", memory.available)
    out.add("inventory_memory_usage_ratio", (memory.total - memory.available) / memory.total)
    for point, usage in host["disks"].items():
        size = usage.used + usage.free
        out.add("inventory_disk_usage_ratio", usage.used / size if size else 0.0, mountpoint=point)
        out.add("inventory_disk_free_bytes", usage.free, mountpoint=point)
    for window, value in zip(("1m", "5m", "15m"), host["load"]):
        out.add("inventory_load_average", value, window=window)
    missing = [p for p in points if p not in host["disks"]]
    return Outcome.fail("not_found", "mountpoints: " + ", ".join(missing)) if missing else Outcome.success()
