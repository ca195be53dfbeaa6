"""Reading the monitored project: dotenv files, the Prisma datasource, where the SQLite file is,
and never leaving the project directory through a link or ``..``."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from exporter.project import (
    Datasource,
    OutsideProject,
    Project,
    env_files,
    inside,
    locate_database,
    parse_datasource,
    parse_env,
    read_text,
    sqlite_path,
)
from exporter.metrics import Samples
from exporter.scrape import probe_target
from tests.conftest import deadline, make_project, target
from tests.support.project_state import tree_state

SCHEMA = 'datasource db {{\n  provider = "{provider}"\n  url      = {url}\n}}\n'


def write_schema(project: Path, provider: str = "sqlite", url: str = 'env("DATABASE_URL")') -> None:
    (project / "prisma/schema.prisma").write_text(
        'generator client {\n  provider = "prisma-client-js"\n}\n\n' + SCHEMA.format(provider=provider, url=url)
    )


# --- dotenv ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, expected",
    [
        ("PORT=3001", {"PORT": "3001"}),
        ('DATABASE_URL="file:../db/custom.db"', {"DATABASE_URL": "file:../db/custom.db"}),
        ("DATABASE_URL='file:./dev.db'", {"DATABASE_URL": "file:./dev.db"}),
        ("TOKEN=`abc`", {"TOKEN": "abc"}),
        ("export NODE_ENV=production", {"NODE_ENV": "production"}),
        ("  PORT  =  3001  ", {"PORT": "3001"}),
        ("PORT=3001 # the dev port", {"PORT": "3001"}),
        ('DATABASE_URL="file:./dev.db" # the dev database', {"DATABASE_URL": "file:./dev.db"}),
        ("DATABASE_URL='file:./dev.db'   # quoted, then a comment", {"DATABASE_URL": "file:./dev.db"}),
        ('SECRET="a # inside quotes stays"', {"SECRET": "a # inside quotes stays"}),
        ("SECRET=abc#def", {"SECRET": "abc"}),
        ("EMPTY=", {"EMPTY": ""}),
        ('EMPTY=""', {"EMPTY": ""}),
        ("URL=postgres://u:p@h/db?x=1", {"URL": "postgres://u:p@h/db?x=1"}),
        ("next.public-url=1", {"next.public-url": "1"}),
        ('UNCLOSED="abc', {"UNCLOSED": '"abc'}),
        ("# PORT=3001", {}),
        ("   # DATABASE_URL=file:./x.db", {}),
        ("", {}),
        ("just some words", {}),
        ("1BAD=x", {}),
    ],
)
def test_a_dotenv_line_parses_as_dotenv_reads_it(line, expected):
    assert parse_env(line) == expected


def test_a_dotenv_file_keeps_every_variable_and_the_last_assignment_wins():
    text = "# comment\nPORT=3000\n\nDATABASE_URL=file:./a.db\r\nPORT=3001\n"
    assert parse_env(text) == {"PORT": "3001", "DATABASE_URL": "file:./a.db"}


def test_env_files_parses_each_existing_dotenv_file_of_the_project(project):
    (project / ".env.local").write_text("SECRET=local\n")
    (project / "prisma/.env").write_text("SHADOW=1\n")
    found = env_files(project)
    assert found == {
        ".env": {"PORT": "3001", "DATABASE_URL": "file:../db/custom.db"},
        ".env.local": {"SECRET": "local"},
        "prisma/.env": {"SHADOW": "1"},
    }


def test_env_files_skips_a_dotenv_file_that_links_out_of_the_project(project, tmp_path):
    (tmp_path / "elsewhere.env").write_text("STOLEN=1\n")
    (project / ".env.local").symlink_to(tmp_path / "elsewhere.env")
    assert ".env.local" not in env_files(project)
    assert env_files(project)[".env"]["PORT"] == "3001"


# --- the Prisma datasource ---------------------------------------------------------------


@pytest.mark.parametrize(
    "schema, expected",
    [
        (SCHEMA.format(provider="sqlite", url='env("DATABASE_URL")'), Datasource("sqlite", "DATABASE_URL", None)),
        (SCHEMA.format(provider="sqlite", url='env( "MY_DB" )'), Datasource("sqlite", "MY_DB", None)),
        (SCHEMA.format(provider="sqlite", url='"file:./dev.db"'), Datasource("sqlite", None, "file:./dev.db")),
        (SCHEMA.format(provider="postgresql", url='env("DATABASE_URL")'), Datasource("postgresql", "DATABASE_URL", None)),
        (
            'generator client {\n  provider = "prisma-client-js"\n}\ndatasource db {\n  provider = "sqlite"\n'
            '  // url = "file:./old.db"\n  url = env("DATABASE_URL")\n  directUrl = env("DIRECT")\n}\n',
            Datasource("sqlite", "DATABASE_URL", None),
        ),
        ('datasource db {\n  provider = "sqlite"\n}\n', Datasource("sqlite", None, None)),
        ('generator client {\n  provider = "prisma-client-js"\n}\n', Datasource(None, None, None)),
        ("", Datasource(None, None, None)),
    ],
    ids=["env", "env-spaced", "literal", "postgresql", "comments-and-directUrl", "no-url", "no-datasource", "empty"],
)
def test_the_datasource_block_gives_provider_and_url(schema, expected):
    assert parse_datasource(schema) == expected


def test_the_generator_provider_is_not_taken_for_the_datasource_provider():
    schema = 'generator client {\n  provider = "prisma-client-js"\n}\n' + SCHEMA.format(provider="mysql", url='"x"')
    assert parse_datasource(schema).provider == "mysql"


# --- where the SQLite file is ------------------------------------------------------------


@pytest.mark.parametrize(
    "url, relative",
    [
        ("file:./dev.db", "prisma/dev.db"),
        ("file:dev.db", "prisma/dev.db"),
        ("file:../db/custom.db", "db/custom.db"),
        ("file:../db/custom.db?connection_limit=1", "db/custom.db"),
        ("file:./sub/../dev.db", "prisma/dev.db"),
    ],
)
def test_a_relative_file_url_is_relative_to_the_prisma_directory(tmp_path, url, relative):
    assert sqlite_path(tmp_path, url) == tmp_path / relative


@pytest.mark.parametrize(
    "url, path",
    [("file:/srv/db/app.db", "/srv/db/app.db"), ("file:///srv/db/app.db", "/srv/db/app.db")],
)
def test_an_absolute_file_url_is_taken_as_is(tmp_path, url, path):
    assert sqlite_path(tmp_path, url) == Path(path)


@pytest.mark.parametrize("url", ["postgresql://u:p@localhost/db", "mysql://localhost/db", "dev.db", ""])
def test_a_url_that_is_not_a_file_url_has_no_sqlite_path(tmp_path, url):
    assert sqlite_path(tmp_path, url) is None


def test_the_database_url_from_dotenv_resolves_relative_to_prisma(project):
    location = locate_database(project, None)
    assert (location.path, location.source, location.problem) == (project / "db/custom.db", "env", "")


def test_a_url_written_in_the_schema_is_used_before_the_environment(project):
    write_schema(project, url='"file:./dev.db"')
    location = locate_database(project, None)
    assert (location.path, location.source) == (project / "prisma/dev.db", "schema")


def test_the_schema_can_name_its_own_environment_variable(project):
    write_schema(project, url='env("INVENTORY_DB")')
    (project / ".env").write_text('INVENTORY_DB="file:./inventory.db"\nDATABASE_URL="file:./wrong.db"\n')
    location = locate_database(project, None)
    assert (location.path, location.source) == (project / "prisma/inventory.db", "env")


def test_env_local_overrides_env_as_next_loads_them(project):
    (project / ".env.local").write_text('DATABASE_URL="file:./local.db"\n')
    assert locate_database(project, None).path == project / "prisma/local.db"


def test_prisma_env_is_read_when_the_root_env_does_not_set_the_variable(tmp_path):
    project = make_project(tmp_path / "p", database_url=None)
    (project / "prisma/.env").write_text("DATABASE_URL=file:./from-prisma-env.db\n")
    assert locate_database(project, None).path == project / "prisma/from-prisma-env.db"


def test_without_a_schema_database_url_is_still_looked_up(project):
    (project / "prisma/schema.prisma").unlink()
    location = locate_database(project, None)
    assert (location.path, location.source) == (project / "db/custom.db", "env")


@pytest.mark.parametrize("provider", ["postgresql", "mysql", "sqlserver", "mongodb", "cockroachdb"])
def test_a_datasource_that_is_not_sqlite_is_unsupported(project, provider):
    write_schema(project, provider=provider)
    location = locate_database(project, None)
    assert (location.path, location.source, location.reason) == (None, "schema", "unsupported")
    assert provider in location.problem


@pytest.mark.parametrize("env", ["PORT=3001\n", "PORT=3001\nDATABASE_URL=\n", "# DATABASE_URL=file:./x.db\n"])
def test_an_unset_or_empty_database_url_is_not_found(project, env):
    (project / ".env").write_text(env)
    location = locate_database(project, None)
    assert (location.path, location.source, location.reason) == (None, "env", "not_found")
    assert "DATABASE_URL is not set" in location.problem


def test_a_database_url_that_is_not_a_file_url_is_unsupported(project):
    (project / ".env").write_text('DATABASE_URL="postgresql://app:secret@localhost:5432/inventory"\n')
    location = locate_database(project, None)
    assert (location.path, location.source, location.reason) == (None, "env", "unsupported")
    assert "not a SQLite file: URL" in location.problem


@pytest.mark.parametrize(
    "configured, expected",
    [("data/app.db", "{project}/data/app.db"), ("/srv/app.db", "/srv/app.db")],
)
def test_a_configured_database_wins_and_a_relative_one_is_inside_the_project(project, configured, expected):
    location = locate_database(project, Path(configured))
    assert (location.path, location.source) == (Path(expected.format(project=project)), "config")


def test_a_configured_database_needs_no_project(tmp_path):
    location = locate_database(None, tmp_path / "app.db")
    assert (location.path, location.source) == (tmp_path / "app.db", "config")


def test_with_neither_project_nor_database_there_is_nothing_to_locate():
    location = locate_database(None, None)
    assert (location.path, location.source, location.reason) == (None, "none", "not_found")


# --- staying inside the project ----------------------------------------------------------


@pytest.mark.parametrize(
    "relative, expected",
    [
        (".", ""),
        ("package.json", "package.json"),
        ("prisma/schema.prisma", "prisma/schema.prisma"),
        ("prisma/../.env", ".env"),
        ("not/there/yet.txt", "not/there/yet.txt"),
    ],
)
def test_a_path_inside_the_project_is_returned_resolved(project, relative, expected):
    assert inside(project, relative) == (project / expected).resolve()


@pytest.mark.parametrize("relative", ["..", "../outside.txt", "prisma/../../outside.txt", "/etc/passwd"])
def test_a_path_that_climbs_out_of_the_project_is_refused(project, relative):
    with pytest.raises(OutsideProject):
        inside(project, relative)


def test_a_file_link_out_of_the_project_is_refused(project, tmp_path):
    (tmp_path / "secret.txt").write_text("secret")
    (project / "link.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(OutsideProject):
        inside(project, "link.txt")
    with pytest.raises(PermissionError):  # OutsideProject is a PermissionError for the probes
        read_text(project, "link.txt")


def test_a_directory_link_out_of_the_project_is_refused_below_it(project, tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared/package.json").write_text("{}")
    os.symlink(tmp_path / "shared", project / "node_modules/shared")
    with pytest.raises(OutsideProject):
        inside(project, "node_modules/shared/package.json")


def test_a_link_that_stays_inside_the_project_is_followed(project):
    (project / "env-link").symlink_to(project / ".env")
    assert inside(project, "env-link") == (project / ".env").resolve()
    assert read_text(project, "env-link") == 'PORT=3001\nDATABASE_URL="file:../db/custom.db"\n'


def test_a_project_reached_through_a_link_is_still_its_own_inside(project, tmp_path):
    alias = tmp_path / "alias"
    alias.symlink_to(project)
    assert inside(alias, ".env") == (project / ".env").resolve()


def test_read_text_reads_at_most_the_limit(project):
    (project / "big.txt").write_bytes(b"a" * 100)
    assert read_text(project, "big.txt", limit=10) == "a" * 10


# --- the whole project, read-only --------------------------------------------------------


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
async def test_a_whole_target_scrape_creates_or_changes_nothing_in_the_project(tmp_path, ctx, journal_mode):
    project = make_project(tmp_path / "p", with_db=False)
    conn = sqlite3.connect(project / "db/custom.db")
    assert conn.execute(f"PRAGMA journal_mode={journal_mode}").fetchone() == (journal_mode,)
    conn.execute("CREATE TABLE Product (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    (project / "dev.log").write_text("ready\n")
    before = tree_state(project)
    t = target(project_dir=project, database=None, log_file=Path("dev.log"), timeout=2.0)
    store: list = []
    result = await probe_target(t, ctx, store, deadline(2.0))
    assert {name: result.outcomes[name].ok for name in ("database", "prisma", "files", "webpack_cache", "logs")} == {
        "database": True, "prisma": True, "files": True, "webpack_cache": True, "logs": True,
    }
    assert Samples(store=store).value("inventory_db_up", target="t") == 1
    assert tree_state(project) == before
    assert sorted(os.listdir(project / "db")) == ["custom.db"]


# --- one scrape's reading of a project ------------------------------------------------------


def test_one_project_reading_reads_each_file_once_and_the_next_one_sees_changes(project):
    reading = Project(project)
    first = reading.read_text(".env")
    assert reading.env_files()[".env"]["PORT"] == "3001"
    (project / ".env").write_text("PORT=4000\n")
    assert reading.read_text(".env") == first, "one scrape sees one state of the file"
    assert reading.env_files()[".env"]["PORT"] == "3001"
    fresh = Project(project)
    assert fresh.read_text(".env") == "PORT=4000\n"
    assert fresh.env_files()[".env"]["PORT"] == "4000"


def test_one_project_reading_lists_the_project_and_its_prisma_directory(project):
    names = Project(project).names()
    assert {"package.json", ".env", "prisma/schema.prisma"} <= names
    assert Project(project / "missing").names() == set()


def test_one_project_reading_still_refuses_links_out_of_the_project(project, tmp_path):
    (tmp_path / "secret.txt").write_text("secret")
    (project / "link.txt").symlink_to(tmp_path / "secret.txt")
    reading = Project(project)
    for _ in range(2):  # remembered answers do not lose the refusal
        with pytest.raises(OutsideProject):
            reading.read_text("link.txt")


async def test_every_scrape_of_a_crowded_project_reads_it_whole(tmp_path, ctx):
    # The probes of one scrape read the project from several threads at once (a second thread joins
    # a turn's calls after Batches.HELP_AFTER). With a listing that takes a while (20,000 names),
    # files and database list the project together: each must see every name, so a healthy project
    # never reads as missing .env, unset DATABASE_URL and a missing database.
    project = make_project(tmp_path / "p")
    for i in range(20_000):
        (project / f"upload-{i:05d}.png").touch()
    t = target(project_dir=project, timeout=5.0)
    for _ in range(12):
        store: list = []
        result = await probe_target(t, ctx.for_scrape(), store, deadline(5.0))
        assert (result.outcomes["files"].ok, result.outcomes["database"].ok) == (True, True), result.outcomes
        assert result.diagnosis.cause == "app_not_listening"  # nothing runs on the port; the project is whole
