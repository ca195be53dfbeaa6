"""The host probe: CPU, memory, disk and load read from the real machine through psutil."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psutil
import pytest

from exporter.config import Config, HostConfig, Target
from exporter.probes.host import probe_host
from tests.conftest import deadline, make_project


def host_config(mountpoints: tuple[str, ...] = ("/",), projects: tuple[Path, ...] = ()) -> Config:
    targets = tuple(Target(name=f"t{i}", project_dir=p) for i, p in enumerate(projects))
    return Config(targets=targets, host=HostConfig(mountpoints=mountpoints))


def expected_mountpoint(path: Path) -> str:
    """The mountpoint holding ``path``, from the mount table (not from the probe's own walk)."""
    real = os.path.realpath(path)
    mounts = {p.mountpoint for p in psutil.disk_partitions(all=True)}
    inside = [m for m in mounts if real == m or real.startswith(m.rstrip("/") + "/")]
    return max(inside, key=len)


@pytest.fixture
def shm_project():
    """A project on /dev/shm, a filesystem other than /, where the machine has one."""
    if not os.path.ismount("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        pytest.skip("no writable /dev/shm mount")
    root = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="inventory-exporter-test-"))
    yield make_project(root / "smart-inventory")
    shutil.rmtree(root)


@pytest.mark.parametrize(
    ("metric", "labels"),
    [
        ("inventory_cpu_usage_ratio", {}),
        ("inventory_memory_usage_ratio", {}),
        ("inventory_disk_usage_ratio", {"mountpoint": "/"}),
    ],
    ids=["cpu", "memory", "disk"],
)
async def test_usage_ratios_lie_between_zero_and_one(ctx, out, metric, labels):
    outcome = await probe_host(host_config(), ctx, out, deadline())

    assert outcome.ok, outcome
    value = out.value(metric, **labels)
    assert value is not None, f"{metric} missing"
    assert 0.0 <= value <= 1.0


async def test_memory_and_cpus_match_what_psutil_reports(ctx, out):
    await probe_host(host_config(), ctx, out, deadline())

    memory = psutil.virtual_memory()
    assert out.value("inventory_memory_total_bytes") == memory.total
    assert 0 < out.value("inventory_memory_available_bytes") <= memory.total
    assert out.value("inventory_memory_usage_ratio") == pytest.approx(
        1 - out.value("inventory_memory_available_bytes") / memory.total
    )
    assert out.value("inventory_cpus") == psutil.cpu_count()


async def test_root_disk_usage_is_reported_as_df_shows_it(ctx, out):
    await probe_host(host_config(("/",)), ctx, out, deadline())

    usage = psutil.disk_usage("/")
    free = out.value("inventory_disk_free_bytes", mountpoint="/")
    assert free == pytest.approx(usage.free, rel=0.01)  # other processes write meanwhile
    assert out.value("inventory_disk_usage_ratio", mountpoint="/") == pytest.approx(
        usage.used / (usage.used + usage.free), abs=0.01
    )


@pytest.mark.parametrize("where", ["tmp_path", "dev_shm"], ids=["project-under-tmp", "project-on-dev-shm"])
async def test_the_filesystem_of_each_targets_project_is_reported_too(ctx, out, request, where):
    project = request.getfixturevalue("project" if where == "tmp_path" else "shm_project")
    mountpoint = expected_mountpoint(project)

    outcome = await probe_host(host_config(("/",), (project,)), ctx, out, deadline())

    assert outcome.ok, outcome
    reported = {labels["mountpoint"] for labels, _ in out.matching("inventory_disk_free_bytes")}
    assert reported == {"/", mountpoint}
    assert out.value("inventory_disk_free_bytes", mountpoint=mountpoint) == pytest.approx(
        psutil.disk_usage(mountpoint).free, rel=0.01
    )


async def test_load_average_comes_for_the_1m_5m_and_15m_windows(ctx, out):
    await probe_host(host_config(), ctx, out, deadline())

    load = dict((labels["window"], value) for labels, value in out.matching("inventory_load_average"))
    assert set(load) == {"1m", "5m", "15m"}
    assert all(value >= 0 for value in load.values())


async def test_a_missing_mountpoint_fails_with_not_found_but_every_other_metric_still_comes(ctx, out, tmp_path):
    missing = str(tmp_path / "not-mounted-here")

    outcome = await probe_host(host_config(("/", missing)), ctx, out, deadline())

    assert not outcome.ok
    assert outcome.reason == "not_found"
    assert missing in outcome.detail
    assert out.value("inventory_disk_free_bytes", mountpoint=missing) is None
    assert out.value("inventory_disk_free_bytes", mountpoint="/") > 0
    for metric in ("inventory_cpu_usage_ratio", "inventory_memory_total_bytes", "inventory_load_average"):
        assert out.value(metric) is not None, f"{metric} missing"
