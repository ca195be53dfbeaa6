"""Following an access log from its end: rotation (rename, then nginx reopens), copytruncate,
truncation, over-long lines, a FIFO refused; no line lost or read twice."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from exporter.accesslog.tail import LINE_LIMIT, Tail
from exporter.safeopen import NotRegularFile


def write(path: Path, *lines: str, mode: str = "a") -> None:
    with open(path, mode) as handle:
        handle.writelines(line + "\n" for line in lines)


def read_all(tail: Tail) -> list[bytes]:
    lines, _, _ = tail.read()
    return lines


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "access.log"
    write(path, "old 1", "old 2")
    return path


def test_it_starts_at_the_end_and_seeds_with_what_is_there(log):
    tail = Tail(log)
    assert tail.start() == [b"old 1", b"old 2"]
    assert read_all(tail) == []
    write(log, "new 1")
    assert read_all(tail) == [b"new 1"]
    tail.close()


def test_a_rename_rotation_reads_the_old_file_to_its_end_then_the_new_one(log):
    clock = [0.0]
    tail = Tail(log, clock=lambda: clock[0])
    tail.start()
    write(log, "a")
    os.rename(log, log.with_suffix(".log.1"))
    write(log.with_suffix(".log.1"), "b")  # nginx still writes to the renamed file until it reopens
    assert read_all(tail) == [b"a", b"b"]
    write(log, "c", mode="w")  # reopened: the new file
    write(log.with_suffix(".log.1"), "d")  # a late line of the old one (logrotate's create, then the signal)
    assert sorted(read_all(tail)) == [b"c", b"d"]
    clock[0] = 100.0
    write(log, "e")
    assert read_all(tail) == [b"e"] and tail.old == []
    tail.close()


def test_copytruncate_and_truncation_restart_from_the_start(log):
    tail = Tail(log)
    tail.start()
    write(log, "x" * 100)
    assert read_all(tail) == [b"x" * 100]
    os.truncate(log, 0)
    write(log, "short")
    assert read_all(tail) == [b"short"]
    os.truncate(log, 0)  # truncated, then written past our offset before we looked
    write(log, "y" * 200, "z")
    assert read_all(tail) == [b"y" * 200, b"z"]
    tail.close()


def test_over_long_lines_are_counted_and_skipped_without_being_held(log):
    tail = Tail(log, budget=1 << 16)
    tail.start()
    write(log, "ok 1", "x" * (LINE_LIMIT + 1), "ok 2", "y" * (3 * LINE_LIMIT), "ok 3")
    got, too_long = [], 0
    for _ in range(10):
        lines, skipped, _ = tail.read()
        got += lines
        too_long += skipped
    assert got == [b"ok 1", b"ok 2", b"ok 3"] and too_long == 2
    assert len(tail.current.pending) <= LINE_LIMIT
    tail.close()


def test_a_missing_log_is_read_from_its_start_once_it_appears(tmp_path):
    tail = Tail(tmp_path / "later.log")
    with pytest.raises(FileNotFoundError):
        tail.start()
    with pytest.raises(FileNotFoundError):
        tail.read()
    write(tmp_path / "later.log", "first")
    assert read_all(tail) == [b"first"]
    tail.close()


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "access.log"
    os.mkfifo(fifo)
    with pytest.raises(NotRegularFile):
        Tail(fifo).start()


def test_no_line_is_lost_or_read_twice_while_a_writer_rotates(log):
    """A writer appends numbered lines and rotates (rename + reopen) every 500 lines, as nginx does,
    each rotation once the reader has opened the previous new file (rotations are hours apart, passes
    a second: a file renamed away before the reader ever opened it could not be found)."""
    clock = [0.0]
    tail = Tail(log, budget=4096, clock=lambda: clock[0])
    tail.start()
    total = 5000
    done, took = threading.Event(), threading.Event()

    def writer():
        handle = open(log, "a", buffering=1)
        for n in range(total):
            handle.write(f"line {n}\n")
            if n % 500 == 499:
                os.rename(log, f"{log}.{n}")
                handle.write(f"late {n}\n")  # still the old file's
                handle.close()
                handle = open(log, "a", buffering=1)
                inode = os.fstat(handle.fileno()).st_ino
                while not (tail.current is not None and tail.current.ino == inode):
                    took.wait(1.0)
                    took.clear()
        handle.close()
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen: list[bytes] = []
    passes = 0
    while not done.is_set() or passes < 3:
        seen += read_all(tail)
        took.set()
        passes = passes + 1 if done.is_set() else 0
    thread.join()
    clock[0] = 100.0
    seen += read_all(tail)
    expected = [f"line {n}".encode() for n in range(total)] + [f"late {n}".encode() for n in range(499, total, 500)]
    assert sorted(seen) == sorted(expected)
    tail.close()
