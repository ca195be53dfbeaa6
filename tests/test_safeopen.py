"""exporter.safeopen: reads below a directory held open by descriptor, from several probe threads at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from exporter.project import Project
from exporter.safeopen import Root

NAMES = {f"file-{i:04d}" for i in range(1500)}
LISTERS = 4
ROUNDS = 30


def directory_of(tmp_path: Path, names: set[str]) -> Path:
    (tmp_path / "prisma").mkdir()
    for name in names:
        (tmp_path / name).write_text("x")
        (tmp_path / "prisma" / name).write_text("x")
    return tmp_path


def listings_at_once(list_once, threads: int = LISTERS) -> list[set[str]]:
    """``list_once()`` from ``threads`` threads released together (a barrier), so the reads overlap."""
    start = threading.Barrier(threads)

    def one() -> set[str]:
        start.wait()
        return set(list_once())

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda _: one(), range(threads)))


def test_threads_listing_the_root_at_once_each_get_every_name(tmp_path: Path):
    # The probe threads of one scrape list the project together (files and database both ask for its
    # names). A listing must not share its read position with the root descriptor or with another
    # listing: each sees every name, never the ones another thread has not consumed.
    root = Root(directory_of(tmp_path, NAMES))
    try:
        for _ in range(ROUNDS):
            for names in listings_at_once(root.listdir):
                assert names == NAMES | {"prisma"}, f"{len(names)} of {len(NAMES) + 1} names"
    finally:
        root.close()


def test_threads_listing_a_subdirectory_at_once_each_get_every_name(tmp_path: Path):
    root = Root(directory_of(tmp_path, NAMES))
    try:
        for _ in range(ROUNDS):
            for names in listings_at_once(lambda: root.listdir("prisma")):
                assert names == NAMES
    finally:
        root.close()


def test_the_root_lists_the_same_after_being_listed(tmp_path: Path):
    root = Root(directory_of(tmp_path, {"a", "b"}))
    try:
        assert [set(root.listdir()) for _ in range(3)] == [{"a", "b", "prisma"}] * 3
        with root.directory("") as fd:
            assert fd != root.fileno()
    finally:
        root.close()


def test_a_project_reading_shared_by_probe_threads_sees_every_file(tmp_path: Path):
    # What broke a scrape under I/O load: one thread's partial listing cached as the project's names,
    # so .env read as missing, DATABASE_URL as unset and the database as missing.
    directory = directory_of(tmp_path, NAMES)
    (directory / ".env").write_text('DATABASE_URL="file:./dev.db"\n')
    for _ in range(ROUNDS):
        project = Project(directory)
        try:
            for names in listings_at_once(project.names):
                assert ".env" in names and len(names) == 2 * len(NAMES) + 2
            assert project.env_files() == {".env": {"DATABASE_URL": "file:./dev.db"}}
        finally:
            project.close()
