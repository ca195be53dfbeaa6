"""The webpack cache probe: can the project's *owner* write .next/cache/webpack?

The tests run as root, so they give the project to an unprivileged owner (nobody, 65534) and
set real owners and modes on the cache directories; the probe must judge by that owner's access.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from exporter.probes.webpack_cache import MAX_DIRS, probe_webpack_cache
from tests.conftest import deadline, target
from tests.support.project_state import tree_state

NOBODY = 65534
ROOT = 0
CACHE = ".next/cache/webpack"
SUBDIR = ".next/cache/webpack/client-development"


def own(path: Path, uid: int, gid: int, mode: int) -> None:
    os.chown(path, uid, gid, follow_symlinks=False)
    os.chmod(path, mode)


@pytest.fixture
def owned_project(project: Path) -> Path:
    """The project as its unprivileged owner has it after a normal ``npm run dev``: everything theirs."""
    for directory, dirnames, filenames in os.walk(project):
        for name in [".", *dirnames, *filenames]:
            os.chown(Path(directory) / name, NOBODY, NOBODY)
    return project


async def test_a_cache_owned_by_the_project_owner_is_writable(owned_project, ctx, out):
    outcome = await probe_webpack_cache(target(project_dir=owned_project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (True, None)
    assert out.value("inventory_webpack_cache_present") == 1
    assert out.value("inventory_webpack_cache_writable") == 1
    assert out.value("inventory_webpack_cache_unwritable_paths") == 0


async def test_a_cache_left_to_root_by_sudo_npm_run_build_is_not_writable_for_the_owner(owned_project, ctx, out):
    for path in (CACHE, SUBDIR):
        own(owned_project / path, ROOT, ROOT, 0o755)
    outcome = await probe_webpack_cache(target(project_dir=owned_project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "permission_denied")
    assert outcome.detail == f"not writable by the project owner: {CACHE}, {SUBDIR}"
    assert out.value("inventory_webpack_cache_present") == 1
    assert out.value("inventory_webpack_cache_writable") == 0
    assert out.value("inventory_webpack_cache_unwritable_paths") == 2


@pytest.mark.parametrize(
    "uid, gid, mode, writable",
    [
        (NOBODY, NOBODY, 0o755, True),   # the owner's own, owner-writable
        (NOBODY, ROOT, 0o700, True),
        (ROOT, ROOT, 0o755, False),      # root's, the usual sudo leftover
        (ROOT, NOBODY, 0o775, True),     # group-writable, owner in the group
        (ROOT, NOBODY, 0o755, False),    # owner in the group, group may not write
        (ROOT, ROOT, 0o775, False),      # group-writable, but not the owner's group
        (ROOT, ROOT, 0o777, True),       # other-writable
        (ROOT, ROOT, 0o1777, True),      # other-writable, sticky
        (ROOT, ROOT, 0o776, False),      # other may write but not enter
        (NOBODY, NOBODY, 0o655, False),  # the owner may write but not enter
        (NOBODY, ROOT, 0o577, False),    # the owner class applies even though others may write
        (ROOT, NOBODY, 0o707, False),    # the group class applies even though others may write
    ],
)
async def test_writability_follows_the_owners_class_and_mode_bits(owned_project, ctx, out, uid, gid, mode, writable):
    for path in (CACHE, SUBDIR):
        own(owned_project / path, uid, gid, mode)
    outcome = await probe_webpack_cache(target(project_dir=owned_project), ctx, out, deadline())
    assert out.value("inventory_webpack_cache_writable") == int(writable)
    assert out.value("inventory_webpack_cache_unwritable_paths") == (0 if writable else 2)
    assert (outcome.ok, outcome.reason) == ((True, None) if writable else (False, "permission_denied"))


async def test_only_the_directories_the_owner_cannot_write_are_counted(owned_project, ctx, out):
    (owned_project / SUBDIR / "chunks").mkdir()
    (owned_project / CACHE / "server-development").mkdir()
    own(owned_project / CACHE / "server-development", NOBODY, NOBODY, 0o755)
    for path in (SUBDIR, f"{SUBDIR}/chunks"):
        own(owned_project / path, ROOT, ROOT, 0o755)
    outcome = await probe_webpack_cache(target(project_dir=owned_project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "permission_denied")
    assert outcome.detail == f"not writable by the project owner: {SUBDIR}, {SUBDIR}/chunks"
    assert out.value("inventory_webpack_cache_writable") == 0
    assert out.value("inventory_webpack_cache_unwritable_paths") == 2


async def test_a_root_owned_file_in_a_writable_cache_does_not_count(owned_project, ctx, out):
    pack = owned_project / SUBDIR / "0.pack"
    pack.write_bytes(b"pack")
    own(pack, ROOT, ROOT, 0o644)
    outcome = await probe_webpack_cache(target(project_dir=owned_project), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_webpack_cache_unwritable_paths") == 0


async def test_a_project_owned_by_root_can_write_anything(project, ctx, out):
    for path in (CACHE, SUBDIR):
        own(project / path, NOBODY, NOBODY, 0o555)
    outcome = await probe_webpack_cache(target(project_dir=project), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_webpack_cache_writable") == 1


async def test_a_missing_cache_with_a_writable_parent_is_absent_but_writable(owned_project, ctx, out):
    shutil.rmtree(owned_project / CACHE)
    outcome = await probe_webpack_cache(target(project_dir=owned_project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (True, None)
    assert out.value("inventory_webpack_cache_present") == 0
    assert out.value("inventory_webpack_cache_writable") == 1
    assert out.value("inventory_webpack_cache_unwritable_paths") == 0


@pytest.mark.parametrize("remove, blocking", [(".next/cache", ".next"), (".next", ".")])
async def test_a_missing_cache_whose_nearest_parent_is_root_owned_cannot_be_created(owned_project, ctx, out, remove, blocking):
    shutil.rmtree(owned_project / remove)
    own(owned_project / blocking, ROOT, ROOT, 0o755)
    outcome = await probe_webpack_cache(target(project_dir=owned_project), ctx, out, deadline())
    if blocking == ".":
        # the project now belongs to root: root can write it
        assert outcome.ok, outcome
        assert out.value("inventory_webpack_cache_writable") == 1
        return
    assert (outcome.ok, outcome.reason) == (False, "permission_denied")
    assert outcome.detail == f"not writable by the project owner: {blocking}"
    assert out.value("inventory_webpack_cache_present") == 0
    assert out.value("inventory_webpack_cache_writable") == 0
    assert out.value("inventory_webpack_cache_unwritable_paths") == 1


async def test_a_missing_next_dir_in_a_project_the_owner_cannot_write_is_unwritable(owned_project, ctx, out):
    shutil.rmtree(owned_project / ".next")
    os.chmod(owned_project, 0o555)
    outcome = await probe_webpack_cache(target(project_dir=owned_project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "permission_denied")
    assert out.value("inventory_webpack_cache_present") == 0
    assert out.value("inventory_webpack_cache_unwritable_paths") == 1


async def test_a_cache_linked_out_of_the_project_is_refused(owned_project, tmp_path, ctx, out):
    elsewhere = tmp_path / "elsewhere-next"
    shutil.move(owned_project / ".next", elsewhere)
    (owned_project / ".next").symlink_to(elsewhere)
    outcome = await probe_webpack_cache(target(project_dir=owned_project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "permission_denied")
    assert "outside the project" in outcome.detail
    assert out.value("inventory_webpack_cache_writable") == 0


async def test_a_link_inside_the_cache_is_not_followed(owned_project, tmp_path, ctx, out):
    outside = tmp_path / "root-only"
    outside.mkdir()
    own(outside, ROOT, ROOT, 0o700)
    (owned_project / SUBDIR / "linked").symlink_to(outside)
    outcome = await probe_webpack_cache(target(project_dir=owned_project), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_webpack_cache_unwritable_paths") == 0


@pytest.mark.parametrize("cache", [True, False], ids=["cache-present", "cache-missing"])
async def test_a_project_reached_through_a_link_is_checked_like_the_real_one(owned_project, tmp_path, ctx, out, cache):
    if cache:
        own(owned_project / SUBDIR, ROOT, ROOT, 0o755)
    else:
        shutil.rmtree(owned_project / ".next/cache")
        own(owned_project / ".next", ROOT, ROOT, 0o755)
    alias = tmp_path / "alias"
    alias.symlink_to(owned_project)
    outcome = await probe_webpack_cache(target(project_dir=alias), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "permission_denied")
    assert outcome.detail == f"not writable by the project owner: {SUBDIR if cache else '.next'}"
    assert out.value("inventory_webpack_cache_unwritable_paths") == 1


async def test_a_huge_cache_is_walked_only_up_to_the_limit(owned_project, ctx, out):
    shutil.rmtree(owned_project / SUBDIR)
    own(owned_project / CACHE, ROOT, ROOT, 0o755)
    for n in range(MAX_DIRS + 50):
        (owned_project / CACHE / f"d{n}").mkdir()  # root's, 0755 under the default umask
    outcome = await probe_webpack_cache(target(project_dir=owned_project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "permission_denied")
    assert out.value("inventory_webpack_cache_unwritable_paths") == MAX_DIRS


async def test_a_missing_project_dir_is_not_found(tmp_path, ctx, out):
    outcome = await probe_webpack_cache(target(project_dir=tmp_path / "gone"), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "not_found")
    assert out.value("inventory_webpack_cache_writable") is None
    assert not (tmp_path / "gone").exists()


async def test_probing_the_cache_changes_no_owner_mode_or_file(owned_project, ctx, out):
    own(owned_project / SUBDIR, ROOT, ROOT, 0o755)
    before = tree_state(owned_project)
    await probe_webpack_cache(target(project_dir=owned_project), ctx, out, deadline())
    assert tree_state(owned_project) == before
