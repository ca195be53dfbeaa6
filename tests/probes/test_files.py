"""The config files and env vars probe on real project trees."""

from __future__ import annotations

import asyncio
import os
import shutil

import pytest

from exporter.probes.files import probe_files
from tests.conftest import deadline, make_project, target
from tests.support.project_state import tree_state

FILES = ("package.json", "next.config", ".env", "prisma/schema.prisma")


def file_values(out) -> dict[str, float]:
    return {labels["file"]: value for labels, value in out.matching("inventory_config_file_present")}


def env_values(out) -> dict[str, float]:
    return {labels["name"]: value for labels, value in out.matching("inventory_env_var_present")}


async def test_a_complete_project_has_every_file_and_variable(project, ctx, out):
    outcome = await probe_files(target(project_dir=project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (True, None)
    assert file_values(out) == {name: 1 for name in FILES}
    assert env_values(out) == {"DATABASE_URL": 1, "PORT": 1}


@pytest.mark.parametrize("variant", ["next.config.js", "next.config.mjs", "next.config.cjs", "next.config.ts"])
async def test_any_next_config_variant_counts_as_next_config(project, ctx, out, variant):
    (project / "next.config.js").unlink()
    (project / variant).write_text("export default {}\n")
    outcome = await probe_files(target(project_dir=project), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_config_file_present", file="next.config") == 1


@pytest.mark.parametrize(
    "remove, logical",
    [
        ("package.json", "package.json"),
        ("next.config.js", "next.config"),
        (".env", ".env"),
        ("prisma/schema.prisma", "prisma/schema.prisma"),
    ],
)
async def test_a_missing_config_file_is_reported_and_fails_the_probe(project, ctx, out, remove, logical):
    (project / remove).unlink()
    (project / ".env.local").write_text("PORT=3001\nDATABASE_URL=file:../db/custom.db\n")  # keep the vars set
    outcome = await probe_files(target(project_dir=project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "not_found")
    assert outcome.detail == f"missing: {logical}"
    assert file_values(out) == {name: int(name != logical) for name in FILES}
    assert env_values(out) == {"DATABASE_URL": 1, "PORT": 1}


@pytest.mark.parametrize("kind", ["directory", "fifo"])
@pytest.mark.parametrize("name", ["next.config.js", "package.json", ".env"])
async def test_a_directory_or_fifo_with_a_config_file_name_is_not_regular_and_never_read(project, ctx, out, name, kind):
    """Something is there (not "missing"), but it is not a file: reported, never opened for reading."""
    (project / name).unlink()
    (project / name).mkdir() if kind == "directory" else os.mkfifo(project / name)
    before = tree_state(project)
    outcome = await asyncio.wait_for(probe_files(target(project_dir=project), ctx, out, deadline(2.0)), 3.0)
    assert (outcome.ok, outcome.reason) == (False, "not_regular_file")
    assert outcome.detail.startswith(f"not a regular file: {name.removesuffix('.js')}")
    assert out.value("inventory_config_file_present", file=name.removesuffix(".js")) == 1
    assert tree_state(project) == before


async def test_a_config_file_linked_out_of_the_project_does_not_count(project, tmp_path, ctx, out):
    (tmp_path / "shared.config.js").write_text("module.exports = {}\n")
    (project / "next.config.js").unlink()
    (project / "next.config.js").symlink_to(tmp_path / "shared.config.js")
    outcome = await probe_files(target(project_dir=project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "not_found")
    assert out.value("inventory_config_file_present", file="next.config") == 0


@pytest.mark.parametrize(
    "files, expected",
    [
        ({".env": "PORT=3001\nDATABASE_URL=file:./dev.db\n"}, {"PORT": 1, "DATABASE_URL": 1}),
        ({".env": "PORT=3001\n", ".env.local": "DATABASE_URL=file:./dev.db\n"}, {"PORT": 1, "DATABASE_URL": 1}),
        ({".env": "PORT=3001\n", "prisma/.env": "DATABASE_URL=file:./dev.db\n"}, {"PORT": 1, "DATABASE_URL": 1}),
        ({".env": "PORT=3001\n", ".env.production": 'DATABASE_URL="file:./p.db"\n'}, {"PORT": 1, "DATABASE_URL": 1}),
        ({".env": "PORT=3001\n"}, {"PORT": 1, "DATABASE_URL": 0}),
        ({".env": "PORT=3001\nDATABASE_URL=\n"}, {"PORT": 1, "DATABASE_URL": 0}),
        ({".env": 'PORT=3001\nDATABASE_URL=""\n'}, {"PORT": 1, "DATABASE_URL": 0}),
        ({".env": "PORT=3001\n# DATABASE_URL=file:./dev.db\n"}, {"PORT": 1, "DATABASE_URL": 0}),
        ({".env": "export PORT=3001\nexport DATABASE_URL=file:./dev.db\n"}, {"PORT": 1, "DATABASE_URL": 1}),
        ({".env": ""}, {"PORT": 0, "DATABASE_URL": 0}),
    ],
    ids=["env", "env.local", "prisma-env", "env.production", "unset", "empty", "empty-quoted", "commented", "export", "empty-file"],
)
async def test_env_vars_are_present_when_set_non_empty_in_any_dotenv_file(project, ctx, out, files, expected):
    for name, text in files.items():
        (project / name).write_text(text)
    outcome = await probe_files(target(project_dir=project), ctx, out, deadline())
    assert env_values(out) == expected
    missing = [name for name in ("DATABASE_URL", "PORT") if not expected[name]]  # in the target's order
    assert (outcome.ok, outcome.reason) == ((True, None) if not missing else (False, "not_found"))
    if missing:
        assert outcome.detail == "missing: " + ", ".join(missing)


async def test_the_target_chooses_which_env_vars_to_require(project, ctx, out):
    (project / ".env.local").write_text("NEXTAUTH_SECRET=s3cret\n")
    t = target(project_dir=project, env_vars=("NEXTAUTH_SECRET", "SMTP_HOST"))
    outcome = await probe_files(t, ctx, out, deadline())
    assert env_values(out) == {"NEXTAUTH_SECRET": 1, "SMTP_HOST": 0}
    assert (outcome.ok, outcome.detail) == (False, "missing: SMTP_HOST")


async def test_an_env_file_linked_out_of_the_project_is_not_read(tmp_path, ctx, out):
    project = make_project(tmp_path / "p", database_url=None)
    (tmp_path / "secrets.env").write_text("DATABASE_URL=file:./dev.db\n")
    (project / ".env.local").symlink_to(tmp_path / "secrets.env")
    outcome = await probe_files(target(project_dir=project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "not_found")
    assert out.value("inventory_env_var_present", name="DATABASE_URL") == 0


async def test_an_empty_directory_has_nothing(tmp_path, ctx, out):
    empty = tmp_path / "empty"
    empty.mkdir()
    outcome = await probe_files(target(project_dir=empty), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "not_found")
    assert outcome.detail == "missing: " + ", ".join([*FILES, "DATABASE_URL", "PORT"])
    assert file_values(out) == {name: 0 for name in FILES}
    assert env_values(out) == {"DATABASE_URL": 0, "PORT": 0}


@pytest.mark.parametrize("kind", ["missing", "a-file"])
async def test_a_project_dir_that_is_not_a_directory_reports_everything_absent(tmp_path, ctx, out, kind):
    path = tmp_path / "smart-inventory"
    if kind == "a-file":
        path.write_text("not a directory")
    outcome = await probe_files(target(project_dir=path), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "not_found")
    assert "is not a directory" in outcome.detail
    assert file_values(out) == {name: 0 for name in FILES}
    assert env_values(out) == {"DATABASE_URL": 0, "PORT": 0}
    assert kind == "a-file" or not path.exists()


async def test_probing_files_changes_nothing_in_the_project(project, ctx, out):
    (project / ".env.local").write_text("SECRET=x\n")
    shutil.rmtree(project / "node_modules")
    before = tree_state(project)
    assert (await probe_files(target(project_dir=project), ctx, out, deadline())).ok
    assert tree_state(project) == before
