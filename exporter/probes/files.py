"""Are the project's key config files there, and are the required env vars set?"""

from __future__ import annotations

import os

from exporter.config import Target
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext
from exporter.project import NotRegularFile, Project

# Logical name -> the file names that satisfy it.
CONFIG_FILES: dict[str, tuple[str, ...]] = {
    "package.json": ("package.json",),
    "next.config": ("next.config.js", "next.config.mjs", "next.config.cjs", "next.config.ts"),
    ".env": (".env",),
    "prisma/schema.prisma": ("prisma/schema.prisma",),
}


PRESENT, ABSENT, NOT_REGULAR = "present", "absent", "not_regular"


def state(project: Project, names: tuple[str, ...], listed: set[str]) -> str:
    """PRESENT if any of ``names`` is a regular file in the project (a link counts only if it stays
    inside), else NOT_REGULAR if one is there as something else (FIFO, device, directory), else ABSENT."""
    found = ABSENT
    for name in names:
        if name not in listed:
            continue  # one directory listing instead of a failed open per absent name
        try:
            fd, _ = project.handle.open_regular(name)
        except NotRegularFile:
            found = NOT_REGULAR
            continue
        except OSError:  # OutsideProject, gone meanwhile
            continue
        os.close(fd)
        return PRESENT
    return found


def read_files(project: Project, env_vars: tuple[str, ...]) -> tuple[dict[str, str], dict[str, bool]] | None:
    """(config file -> PRESENT/ABSENT/NOT_REGULAR, env var -> set), or None if the project directory is not there."""
    try:
        project.handle.fileno()
    except OSError:
        return None
    listed = project.names()
    files = {logical: state(project, names, listed) for logical, names in CONFIG_FILES.items()}
    variables: set[str] = set()
    for values in project.env_files().values():
        variables.update(k for k, v in values.items() if v != "")
    return files, {name: name in variables for name in env_vars}


async def probe_files(target: Target, ctx: ProbeContext, out: Samples, deadline: Deadline) -> Outcome:
    assert target.project_dir is not None
    read = await ctx.blocking(deadline, read_files, ctx.project(target.project_dir), target.env_vars)
    if read is None:
        for name in CONFIG_FILES:
            out.add("inventory_config_file_present", 0, file=name)
        for name in target.env_vars:
            out.add("inventory_env_var_present", 0, name=name)
        return Outcome.fail("not_found", f"project_dir {target.project_dir} is not a directory")
    files, variables = read
    for name, found in files.items():
        # a FIFO or directory in the file's place is there, but never read: not_regular_file, not "missing"
        out.add("inventory_config_file_present", int(found != ABSENT), file=name)
    for name, found in variables.items():
        out.add("inventory_env_var_present", int(found), name=name)
    missing = [n for n, f in files.items() if f == ABSENT] + [n for n, f in variables.items() if not f]
    irregular = [n for n, f in files.items() if f == NOT_REGULAR]
    if irregular:
        detail = "not a regular file: " + ", ".join(irregular) + ("; missing: " + ", ".join(missing) if missing else "")
        return Outcome.fail("not_regular_file", detail)
    return Outcome.fail("not_found", "missing: " + ", ".join(missing)) if missing else Outcome.success()
