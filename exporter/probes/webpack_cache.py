"""Can the project's owner write .next/cache/webpack?

After a ``sudo npm run build`` the cache belongs to root and the dev server, running as the
owner, fails to write it. The check uses ownership and mode bits for the owner of the project
directory, never the exporter's own (often root) access.
"""

from __future__ import annotations

import functools
import grp
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from exporter.config import Target
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext
from exporter.project import OutsideProject, Project

CACHE_DIR = ".next/cache/webpack"
MAX_DIRS = 2000


@dataclass(frozen=True)
class User:
    uid: int
    gids: frozenset[int]

    @staticmethod
    def owning(path: Path) -> "User":
        st = path.stat()
        return User(st.st_uid, groups_of(st.st_uid, st.st_gid, _stamp("/etc/passwd"), _stamp("/etc/group")))

    def can_write(self, st: os.stat_result) -> bool:
        if self.uid == 0:
            return True
        if st.st_uid == self.uid:
            return bool(st.st_mode & stat.S_IWUSR and st.st_mode & stat.S_IXUSR)
        if st.st_gid in self.gids:
            return bool(st.st_mode & stat.S_IWGRP and st.st_mode & stat.S_IXGRP)
        return bool(st.st_mode & stat.S_IWOTH and st.st_mode & stat.S_IXOTH)


def _stamp(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


@functools.lru_cache(maxsize=64)
def groups_of(uid: int, fallback_gid: int, passwd_stamp: int, group_stamp: int) -> frozenset[int]:
    """The user's primary and supplementary groups, looked up again only when /etc/passwd or /etc/group change."""
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return frozenset({fallback_gid})
    return frozenset({entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if entry.pw_name in g.gr_mem})


def unwritable_dirs(project: Project) -> tuple[bool, list[str]]:
    """(cache present, directories the owner cannot write); a missing cache checks its nearest parent."""
    project_dir = Path(project.root)  # the paths below are resolved; relative_to needs the same form
    owner = User.owning(project_dir)
    cache = project.inside(CACHE_DIR)
    if not cache.is_dir():
        parent = cache
        while not parent.exists() and parent != project_dir:
            parent = parent.parent
        ok = owner.can_write(parent.stat())
        return False, [] if ok else [str(parent.relative_to(project_dir))]
    bad: list[str] = []
    for count, (directory, dirnames, _) in enumerate(os.walk(cache, followlinks=False)):
        if count >= MAX_DIRS:
            break
        if not owner.can_write(os.lstat(directory)):
            bad.append(str(Path(directory).relative_to(project_dir)))
    return True, bad


async def probe_webpack_cache(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    assert target.project_dir is not None
    try:
        present, bad = await ctx.blocking(deadline, unwritable_dirs, ctx.project(target.project_dir))
    except OutsideProject as exc:
        out.add("inventory_webpack_cache_writable", 0)
        return Outcome.fail("permission_denied", str(exc))
    except FileNotFoundError as exc:
        return Outcome.fail("not_found", str(exc))
    out.add("inventory_webpack_cache_present", int(present))
    out.add("inventory_webpack_cache_writable", int(not bad))
    out.add("inventory_webpack_cache_unwritable_paths", len(bad))
    if bad:
        return Outcome.fail("permission_denied", "not writable by the project owner: " + ", ".join(bad[:5]))
    return Outcome.success()
