"""The SQLite probe on real database files: healthy, missing, corrupt, locked, WAL, and read-only.

Not tested: a database file the exporter cannot read. The tests run as root, whom mode bits do
not stop, and faking the error would prove nothing about the real open.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from pathlib import Path

import pytest

from exporter.probes.database import probe_database
from tests.conftest import deadline, make_project, target
from tests.support.project_state import holding, tree_state

DB = "db/custom.db"
JOURNALS = ("-wal", "-shm", "-journal")


def make_wal_database(path: Path, tables: int = 1) -> None:
    """A WAL-mode database as an app leaves it after a clean shutdown: no -wal or -shm beside it."""
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
    for n in range(tables):
        conn.execute(f"CREATE TABLE t{n} (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    assert not any(Path(f"{path}{suffix}").exists() for suffix in JOURNALS)


async def test_healthy_database_resolved_from_env_is_up(project, ctx, out):
    outcome = await probe_database(target(project_dir=project), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_db_up") == 1
    assert out.value("inventory_db_info", source="env", path=str(project / "db/custom.db")) == 1


async def test_healthy_database_reports_its_size_tables_and_query_time(project, ctx, out):
    outcome = await probe_database(target(project_dir=project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (True, None)
    assert out.value("inventory_db_file_exists") == 1
    assert out.value("inventory_db_file_size_bytes") == (project / DB).stat().st_size > 0
    assert out.value("inventory_db_tables") == 1
    assert 0 <= out.value("inventory_db_query_seconds") < 5


async def test_a_database_with_several_tables_counts_them(project, ctx, out):
    conn = sqlite3.connect(project / DB)
    conn.executescript("CREATE TABLE Category (id INTEGER); CREATE TABLE Supplier (id INTEGER); "
                       "CREATE VIEW v AS SELECT * FROM Product; CREATE INDEX i ON Product(name);")
    conn.close()
    assert (await probe_database(target(project_dir=project), ctx, out, deadline())).ok
    assert out.value("inventory_db_tables") == 3


async def test_a_missing_database_file_is_not_found_and_not_created(tmp_path, ctx, out):
    project = make_project(tmp_path / "p", with_db=False)
    outcome = await probe_database(target(project_dir=project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "not_found")
    assert out.value("inventory_db_info", source="env", path=str(project / DB)) == 1
    assert out.value("inventory_db_file_exists") == 0
    assert out.value("inventory_db_up") == 0
    assert out.value("inventory_db_file_size_bytes") is None
    assert sorted(os.listdir(project / "db")) == []


async def test_a_file_of_random_bytes_is_corrupt_and_its_size_is_not_reported(project, ctx, out):
    (project / DB).write_bytes(random.Random(7).randbytes(8192))
    outcome = await probe_database(target(project_dir=project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "corrupt")
    assert "not a database (no SQLite header)" in outcome.detail
    assert out.value("inventory_db_file_exists") == 1
    assert out.value("inventory_db_file_size_bytes") is None  # not SQLite: never handed to SQLite, size not told
    assert out.value("inventory_db_up") == 0


async def test_an_empty_file_is_an_empty_database_with_no_tables(project, ctx, out):
    (project / DB).write_bytes(b"")
    outcome = await probe_database(target(project_dir=project), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_db_file_size_bytes") == 0
    assert out.value("inventory_db_tables") == 0
    assert (project / DB).stat().st_size == 0


async def test_a_database_locked_by_an_exclusive_writer_is_locked_within_the_deadline(project, ctx, out):
    limit = 0.5
    with holding(project / DB, "BEGIN EXCLUSIVE"):
        started = time.monotonic()
        outcome = await probe_database(target(project_dir=project), ctx, out, deadline(limit))
        elapsed = time.monotonic() - started
    assert (outcome.ok, outcome.reason) == (False, "locked")
    assert out.value("inventory_db_file_exists") == 1
    assert out.value("inventory_db_up") == 0
    assert out.value("inventory_db_query_seconds") is None
    assert elapsed < limit


async def test_a_locked_database_is_up_again_once_the_writer_is_gone(project, ctx, out):
    with holding(project / DB, "BEGIN EXCLUSIVE"):
        first = await probe_database(target(project_dir=project), ctx, out, deadline(0.5))
    second = await probe_database(target(project_dir=project), ctx, out.scoped(target="again"), deadline())
    assert (first.reason, second.ok) == ("locked", True)
    assert out.value("inventory_db_up", target="again") == 1


async def test_a_query_running_past_the_deadline_is_interrupted_as_a_timeout(project, ctx, out):
    # seconds of work, finite so that a probe that failed to interrupt it still ends
    slow = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 10000000) SELECT count(*) FROM n"
    limit = 0.5
    started = time.monotonic()
    outcome = await probe_database(target(project_dir=project, db_query=slow), ctx, out, deadline(limit))
    assert time.monotonic() - started < limit
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert out.value("inventory_db_up") == 0
    # the worker thread was freed, not left running the query: the pool answers at once
    assert await ctx.blocking(deadline(0.5), lambda: 42) == 42


@pytest.mark.parametrize(
    "query, message",
    [
        ("SELECT * FROM NoSuchTable", "no such table"),
        ("DELETE FROM Product", "not authorized: the check query may only read"),
        ("INSERT INTO Product (name) VALUES ('x')", "not authorized: the check query may only read"),
        ("this is not sql", "syntax error"),
    ],
)
async def test_a_failing_or_writing_check_query_is_a_query_error_and_changes_nothing(project, ctx, out, query, message):
    outcome = await probe_database(target(project_dir=project, db_query=query), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "query_error")
    assert message in outcome.detail
    assert out.value("inventory_db_up") == 0
    conn = sqlite3.connect(project / DB)
    assert conn.execute("SELECT name FROM Product").fetchall() == [("widget",)]
    conn.close()


async def test_a_custom_check_query_that_succeeds_keeps_the_database_up(project, ctx, out):
    outcome = await probe_database(target(project_dir=project, db_query="SELECT * FROM Product"), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_db_up") == 1


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative-to-project"])
async def test_an_explicit_database_path_wins_over_the_schema(project, ctx, out, relative):
    other = project / "data/other.db"
    other.parent.mkdir()
    conn = sqlite3.connect(other)
    conn.executescript("CREATE TABLE a (x); CREATE TABLE b (x);")
    conn.close()
    configured = Path("data/other.db") if relative else other
    outcome = await probe_database(target(project_dir=project, database=configured), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_db_info", source="config", path=str(other)) == 1
    assert out.value("inventory_db_tables") == 2


async def test_an_explicit_database_path_needs_no_project(tmp_path, ctx, out):
    path = tmp_path / "standalone.db"
    sqlite3.connect(path).close()
    outcome = await probe_database(target(database=path), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_db_info", source="config", path=str(path)) == 1
    assert out.value("inventory_db_tables") == 0


async def test_a_database_path_with_uri_special_characters_is_opened_as_that_file(tmp_path, ctx, out):
    path = tmp_path / "odd dir?#%" / "my db.db"
    path.parent.mkdir()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE x (y)")
    conn.close()
    outcome = await probe_database(target(database=path), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_db_tables") == 1
    assert sorted(os.listdir(path.parent)) == ["my db.db"]


@pytest.mark.parametrize("provider", ["postgresql", "mysql"])
async def test_a_schema_with_another_provider_is_unsupported(project, ctx, out, provider):
    schema = project / "prisma/schema.prisma"
    schema.write_text(schema.read_text().replace('"sqlite"', f'"{provider}"'))
    outcome = await probe_database(target(project_dir=project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "unsupported")
    assert provider in outcome.detail
    assert out.value("inventory_db_file_exists") == 0
    assert out.value("inventory_db_up") == 0
    assert out.value("inventory_db_info") is None


async def test_a_database_url_that_is_not_a_file_url_is_unsupported(project, ctx, out):
    (project / ".env").write_text('DATABASE_URL="postgresql://app@localhost/inventory"\n')
    outcome = await probe_database(target(project_dir=project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "unsupported")
    assert out.value("inventory_db_up") == 0


async def test_a_missing_database_url_is_not_found(tmp_path, ctx, out):
    project = make_project(tmp_path / "p", database_url=None)
    outcome = await probe_database(target(project_dir=project), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "not_found")
    assert "DATABASE_URL is not set" in outcome.detail
    assert out.value("inventory_db_file_exists") == 0
    assert out.value("inventory_db_up") == 0


# --- read-only -----------------------------------------------------------------------------


async def test_probing_a_healthy_database_changes_nothing_in_the_project(project, ctx, out):
    before = tree_state(project)
    for _ in range(2):
        assert (await probe_database(target(project_dir=project), ctx, out, deadline())).ok
    assert tree_state(project) == before


@pytest.mark.parametrize("damage", ["missing", "corrupt", "empty"])
async def test_probing_a_broken_database_creates_nothing(tmp_path, ctx, out, damage):
    project = make_project(tmp_path / "p", with_db=damage != "missing")
    if damage == "corrupt":
        (project / DB).write_bytes(random.Random(1).randbytes(4096))
    elif damage == "empty":
        (project / DB).write_bytes(b"")
    before = tree_state(project)
    await probe_database(target(project_dir=project), ctx, out, deadline())
    assert tree_state(project) == before


async def test_a_wal_mode_database_is_read_without_creating_wal_or_shm_files(tmp_path, ctx, out):
    project = make_project(tmp_path / "p", with_db=False)
    make_wal_database(project / DB, tables=3)
    before = tree_state(project)
    outcome = await probe_database(target(project_dir=project), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_db_up") == 1
    assert out.value("inventory_db_tables") == 3
    assert tree_state(project) == before
    assert sorted(os.listdir(project / "db")) == ["custom.db"]


async def test_a_wal_database_in_use_by_the_app_shows_its_uncheckpointed_commits(tmp_path, ctx, out):
    """With -wal and -shm present the probe reads as any reader, through the WAL, not just the main file."""
    project = make_project(tmp_path / "p", with_db=False)
    make_wal_database(project / DB, tables=1)
    app = sqlite3.connect(project / DB)
    try:
        app.execute("PRAGMA wal_autocheckpoint = 0")
        app.execute("CREATE TABLE only_in_the_wal (x)")
        app.commit()
        assert os.path.getsize(f"{project / DB}-wal") > 0
        before = {name: (project / "db" / name).stat().st_size for name in os.listdir(project / "db")}
        outcome = await probe_database(target(project_dir=project), ctx, out, deadline())
        after = {name: (project / "db" / name).stat().st_size for name in os.listdir(project / "db")}
    finally:
        app.close()
    assert outcome.ok, outcome
    assert out.value("inventory_db_tables") == 2
    assert after == before  # no new files beside the app's own -wal and -shm
    assert sorted(os.listdir(project / "db")) == ["custom.db"]  # the app's close removed them


async def test_a_wal_database_held_in_exclusive_locking_mode_is_locked_and_gets_no_shm(tmp_path, ctx, out):
    project = make_project(tmp_path / "p", with_db=False)
    make_wal_database(project / DB)
    limit = 0.5
    with holding(project / DB, "PRAGMA locking_mode = EXCLUSIVE", "SELECT count(*) FROM t0"):
        assert sorted(os.listdir(project / "db")) == ["custom.db", "custom.db-wal"]
        started = time.monotonic()
        outcome = await probe_database(target(project_dir=project), ctx, out, deadline(limit))
        elapsed = time.monotonic() - started
        assert sorted(os.listdir(project / "db")) == ["custom.db", "custom.db-wal"]
    assert (outcome.ok, outcome.reason) == (False, "locked")
    assert out.value("inventory_db_up") == 0
    assert elapsed < limit


async def test_a_rollback_journal_database_leaves_no_journal_behind(project, ctx, out):
    assert (await probe_database(target(project_dir=project), ctx, out, deadline())).ok
    assert sorted(os.listdir(project / "db")) == ["custom.db"]


# --- confined, regular, SQLite, and only read (issue 12, point 4) ---------------------------


@pytest.mark.parametrize(
    "query",
    [
        "ATTACH DATABASE 'stolen.db' AS stolen",
        "ATTACH DATABASE '../db/attached.db' AS a",
        "VACUUM INTO 'copy.db'",
        "VACUUM INTO '../db/copy.db'",
        "VACUUM",
        "CREATE TABLE planted (x)",
        "INSERT INTO Product (name) VALUES ('planted')",
        "UPDATE Product SET name = 'changed'",
        "DROP TABLE Product",
        "PRAGMA user_version = 7",
        "PRAGMA journal_mode = WAL",
        "BEGIN IMMEDIATE",
        "SELECT load_extension('x')",
    ],
)
async def test_a_check_query_that_writes_attaches_or_vacuums_is_refused_and_no_file_appears(project, ctx, out, query):
    before = tree_state(project)
    for _ in range(2):
        outcome = await probe_database(target(project_dir=project, db_query=query), ctx, out, deadline())
        assert (outcome.ok, outcome.reason) == (False, "query_error"), outcome
        assert "not authorized" in outcome.detail or "authorization denied" in outcome.detail, outcome.detail
    assert tree_state(project) == before
    assert not any(Path(name).exists() for name in ("stolen.db", "copy.db"))  # nor in the exporter's directory
    assert out.value("inventory_db_up") == 0


@pytest.mark.parametrize(
    "query", ["SELECT count(*) FROM Product", "PRAGMA quick_check", "PRAGMA table_info(Product)",
              "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5) SELECT sum(x) FROM n",
              "PRAGMA journal_mode", "SELECT lower(name) FROM Product"],
)
async def test_reading_check_queries_are_allowed(project, ctx, out, query):
    before = tree_state(project)
    outcome = await probe_database(target(project_dir=project, db_query=query), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_db_up") == 1
    assert tree_state(project) == before


async def test_a_fifo_at_the_database_path_is_not_regular_never_blocks_and_is_not_missing(project, ctx, out):
    (project / DB).unlink()
    os.mkfifo(project / DB)
    started = time.monotonic()
    outcome = await probe_database(target(project_dir=project), ctx, out, deadline(2.0))
    assert time.monotonic() - started < 1.0
    assert (outcome.ok, outcome.reason) == (False, "not_regular_file")
    assert out.value("inventory_db_file_exists") == 1
    assert out.value("inventory_db_file_size_bytes") is None
    assert out.value("inventory_db_up") == 0


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
async def test_a_device_is_refused_without_reading_or_reporting_a_size(tmp_path, ctx, out, device):
    outcome = await probe_database(target(database=Path(device)), ctx, out, deadline(2.0))
    assert (outcome.ok, outcome.reason) == (False, "not_regular_file")
    assert "character device" in outcome.detail
    assert out.value("inventory_db_file_size_bytes") is None


async def test_a_non_sqlite_file_outside_the_project_is_refused_without_its_size(tmp_path, ctx, out):
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$salt$hash:19000:0:99999:7:::\n")
    outcome = await probe_database(target(database=secret), ctx, out, deadline())
    assert (outcome.ok, outcome.reason) == (False, "corrupt")
    assert out.value("inventory_db_file_size_bytes") is None
    assert out.value("inventory_db_tables") is None


@pytest.mark.parametrize("how", ["absolute-config", "dotdot-url", "absolute-url", "link"])
async def test_a_database_outside_the_project_is_refused_unless_allowed(tmp_path, ctx, out, how):
    project = make_project(tmp_path / "p")
    outside = tmp_path / "elsewhere.db"
    conn = sqlite3.connect(outside)
    conn.executescript("CREATE TABLE a (x); CREATE TABLE b (x); CREATE TABLE c (x);")
    conn.close()
    configured = None
    if how == "absolute-config":
        configured = outside
    elif how == "dotdot-url":
        (project / ".env").write_text('DATABASE_URL="file:../../elsewhere.db"\n')
    elif how == "absolute-url":
        (project / ".env").write_text(f'DATABASE_URL="file:{outside}"\n')
    else:
        (project / DB).unlink()
        (project / DB).symlink_to(outside)
    refused = await probe_database(target(project_dir=project, database=configured), ctx, out, deadline())
    assert (refused.ok, refused.reason) == (False, "permission_denied"), refused
    assert out.value("inventory_db_tables") is None and out.value("inventory_db_file_size_bytes") is None
    out.store.clear()
    allowed = await probe_database(
        target(project_dir=project, database=configured, allow_outside_project=True), ctx, out, deadline()
    )
    assert allowed.ok, allowed
    assert out.value("inventory_db_tables") == 3


async def test_a_database_linked_inside_the_project_is_read(project, ctx, out):
    (project / "db/current.db").symlink_to("custom.db")
    (project / ".env").write_text('DATABASE_URL="file:../db/current.db"\n')
    outcome = await probe_database(target(project_dir=project), ctx, out, deadline())
    assert outcome.ok, outcome
    assert out.value("inventory_db_tables") == 1
