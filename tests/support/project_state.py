"""Proof that the monitored project is only read: its full state, and a writer holding SQLite locks."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def tree_state(root: Path) -> dict[str, tuple]:
    """Every file and directory under ``root``: kind, mode, owner, size, mtime and content hash."""
    state = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in [".", *dirnames, *filenames]:
            path = Path(directory) / name
            st = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() and not path.is_symlink() else ""
            state[str(path.relative_to(root))] = (st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns, digest)
    return state


@contextmanager
def holding(path: Path, *statements: str) -> Iterator[None]:
    """A writer thread that runs ``statements`` on its own connection and keeps it (and its locks)
    until the block ends."""
    ready, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            for statement in statements:
                conn.execute(statement).fetchall()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            ready.set()
        release.wait(10)
        conn.close()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    assert ready.wait(5), "writer did not start"
    assert not errors, errors
    try:
        yield
    finally:
        release.set()
        thread.join(5)
        assert not thread.is_alive()
