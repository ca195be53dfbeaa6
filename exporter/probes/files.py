"""Are the project's key config files there, and are the required env vars set?"""

from __future__ import annotations

from exporter.config import Target
from exporter.metrics import Samples
from exporter.probing import Deadline, Outcome, ProbeContext
from exporter.project import OutsideProject, Project

# Logical name -> the file names that satisfy it.
CONFIG_FILES: dict[str, tuple[str, ...]] = {
    "package.json": ("package.json",),
    "next.config": ("next.config.js", "next.config.mjs", "next.config.cjs", "next.config.ts"),
    ".env": (".env",),
    "prisma/schema.prisma": ("prisma/schema.prisma",),
}


def present(project: Project, names: tuple[str, ...], listed: set[str]) -> bool:
    """Any of ``names`` is a regular file in the project (a link counts only if it stays inside)."""
    for name in names:
        if name not in listed:
            continue  # one directory listing instead of a failed stat per absent name
        try:
            if project.inside(name).is_file():
                return True
        except OutsideProject:
            continue
    return False


def read_files(project: Project, env_vars: tuple[str, ...]) -> tuple[dict[str, bool], dict[str, bool]] | None:
    """(config file -> present, env var -> set), or None if the project directory is not there."""
    if not project.dir.is_dir():
        return None
    listed = project.names()
    files = {logical: present(project, names, listed) for logical, names in CONFIG_FILES.items()}
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
        out.add("inventory_config_file_present", int(found), file=name)
    for name, found in variables.items():
        out.add("inventory_env_var_present", int(found), name=name)
    missing = [n for n, f in files.items() if not f] + [n for n, f in variables.items() if not f]
    return Outcome.fail("not_found", "missing: " + ", ".join(missing)) if missing else Outcome.success()
