"""Opening files below a directory in one step: resolve and open together, never leave the directory,
never block, and read only regular files, at most a stated number of bytes.

The walk starts at a descriptor of the root directory and opens each component relative to the
previous one with ``O_NOFOLLOW`` (``O_DIRECTORY`` for directories; ``O_NONBLOCK`` for the last
component, so a FIFO never blocks the open). A link met on the way is not followed by the kernel:
its target is read (``readlinkat``) and walked again below the root, lexically (``..`` pops a
descriptor we hold, and never above the root; an absolute target must name the root's own path),
at most MAX_LINKS times. Whatever is swapped in the project while we walk, each step opens what is
there now relative to a directory already proven inside, so no race leads outside. The opened file
is then ``fstat``-ed: anything but a regular file is refused (NotRegularFile) before any read.

Every descriptor is closed by the function that opened it, except the one handed to the caller, which
is always an open of its own (never a ``dup``: a duplicate shares the read position of a directory, and
the probe threads list the same directories at once).
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from contextlib import contextmanager
from typing import Iterator

MAX_LINKS = 16  # links followed in one path, as a bound on hops (the kernel allows 40)
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC  # the configured directory itself may be a link


class OutsideProject(PermissionError):
    """A path that resolves (through a link or ..) outside the project directory."""


class NotRegularFile(OSError):
    """A FIFO, device, socket or directory where a regular file was expected: never read."""

    def __init__(self, path: str, mode: int):
        super().__init__(errno.EINVAL, f"not a regular file ({_kind(mode)})", path)
        self.mode = mode


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "FIFO"), (stat.S_ISDIR, "directory"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def open_regular(path: str | os.PathLike, dir_fd: int | None = None) -> tuple[int, os.stat_result]:
    """Open one file read-only without following a link in its last component and without
    blocking; (descriptor, stat) if it is a regular file, else NotRegularFile (nothing read)."""
    fd = os.open(path, FILE_FLAGS, dir_fd=dir_fd)
    return fd, _checked(fd, os.fspath(path))


def open_configured(path: str | os.PathLike) -> tuple[int, os.stat_result]:
    """Open a file the config names by absolute path (nginx's error log, a log or database outside
    the project): links are followed, as the config's author chose the path, but the open never
    blocks and anything but a regular file is refused before any read."""
    fd = os.open(path, FILE_FLAGS & ~os.O_NOFOLLOW)
    return fd, _checked(fd, os.fspath(path))


def _checked(fd: int, name: str) -> os.stat_result:
    try:
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFile(name, st.st_mode)
    return st


def read_fd(fd: int, limit: int, offset: int = 0) -> bytes:
    """Up to ``limit`` bytes from ``offset`` (pread: no shared file position)."""
    chunks, got = [], 0
    while got < limit:
        chunk = os.pread(fd, min(limit - got, 1 << 20), offset + got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class Root:
    """A directory held open by descriptor; paths below it are opened by walking (see the module doc).

    Blocking; safe to use from several threads (the root descriptor is opened once, under a lock).
    ``close()`` (or garbage collection) closes it.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._fd: int | None = None
        self._real: str | None = None
        self._lock = threading.Lock()

    def fileno(self) -> int:
        if self._fd is None:
            with self._lock:
                if self._fd is None:
                    self._fd = os.open(self.path, ROOT_FLAGS)
        return self._fd

    @property
    def real(self) -> str:
        """The root's path with every link resolved (as the kernel has the open directory)."""
        if self._real is None:
            fd = self.fileno()
            try:
                self._real = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                self._real = os.path.realpath(self.path)
        return self._real

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def open(self, relative: str | os.PathLike, directory: bool = False) -> int:
        """A descriptor of ``relative`` below the root (a directory if ``directory``), never outside it.

        The caller closes it. OutsideProject if the path or a link on it leaves the root.
        """
        return _walk(self.fileno(), self._roots(), os.fspath(relative), directory)

    def open_regular(self, relative: str | os.PathLike) -> tuple[int, os.stat_result]:
        """(descriptor, stat) of a regular file below the root; NotRegularFile for anything else."""
        return (fd := self.open(relative)), _checked(fd, os.fspath(relative))

    def read(self, relative: str | os.PathLike, limit: int) -> tuple[os.stat_result, bytes]:
        fd, st = self.open_regular(relative)
        try:
            return st, read_fd(fd, limit)
        finally:
            os.close(fd)

    def listdir(self, relative: str | os.PathLike = "") -> list[str]:
        fd = self.open(relative or ".", directory=True)
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)

    @contextmanager
    def directory(self, relative: str | os.PathLike) -> Iterator[int]:
        fd = self.open(relative, directory=True)
        try:
            yield fd
        finally:
            os.close(fd)

    def _roots(self) -> tuple[str, ...]:
        """The spellings of the root an absolute link target may start with: resolved, and as configured."""
        given = os.path.abspath(self.path)
        return (self.real,) if given == self.real else (self.real, given)


def _split(path: str) -> list[str]:
    return [part for part in path.split("/") if part not in ("", ".")]


def _below(target: str, roots: tuple[str, ...]) -> list[str]:
    """The components of absolute ``target`` below one of ``roots``; OutsideProject otherwise."""
    normal = os.path.normpath(target)
    for root in roots:
        if normal == root:
            return []
        if normal.startswith(root.rstrip("/") + "/"):
            return _split(normal[len(root.rstrip("/")) + 1:])
    raise OutsideProject(f"{target} is outside the project")


def _walk(root_fd: int, roots: tuple[str, ...], relative: str, directory: bool) -> int:
    pending = _below(relative, roots) if relative.startswith("/") else _split(relative)
    pending.reverse()  # a stack: the next component last
    held: list[int] = []  # descriptors of the directories walked into, below the root
    links = 0
    try:
        while pending:
            part = pending.pop()
            if part == "..":
                if not held:
                    raise OutsideProject(f"{relative} leaves the project")
                os.close(held.pop())
                continue
            parent = held[-1] if held else root_fd
            as_dir = directory or bool(pending)
            try:
                fd = os.open(part, DIR_FLAGS if as_dir else FILE_FLAGS, dir_fd=parent)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise
                try:
                    target = os.readlink(part, dir_fd=parent)
                except OSError:
                    raise exc from None  # not a link: a file where a directory was expected
                links += 1
                if links > MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many links", relative) from None
                if target.startswith("/"):
                    rest = _below(target, roots)
                    while held:
                        os.close(held.pop())
                else:
                    rest = _split(target)
                pending.extend(reversed(rest))
                continue
            held.append(fd)
        if held:
            return held.pop()
        # The root itself: a fresh open, not os.dup(), which would share the directory's read
        # position with the root descriptor, so two threads listing it at once would each get
        # part of the names.
        return os.open(".", DIR_FLAGS if directory else FILE_FLAGS, dir_fd=root_fd)
    finally:
        for fd in held:
            os.close(fd)
