"""A file system that never answers, as a dead NFS server: a FUSE mount whose daemon never reads.

The mount is made with the raw ``mount(2)`` call on an open ``/dev/fuse`` (no libfuse, no daemon):
the kernel queues every request for a reader that never comes, so any ``stat``, ``open`` or
``listdir`` below the mount point blocks for real in the kernel, whatever the flags
(``O_NONBLOCK`` does not help: the lookup itself never returns). Unmounting and closing the
descriptor aborts the connection: the blocked calls then fail with ENOTCONN.

Needs /dev/fuse and the right to mount (root in the test container); ``dead_mount`` raises
``Unavailable`` otherwise, and the fixture skips with the reason.
"""

from __future__ import annotations

import ctypes
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

MNT_DETACH = 2


class Unavailable(Exception):
    pass


@contextmanager
def dead_mount(directory: Path) -> Iterator[Path]:
    """Mount a never-answering FUSE file system on ``directory`` (created) for the block's life."""
    directory.mkdir(parents=True, exist_ok=True)
    libc = ctypes.CDLL(None, use_errno=True)
    try:
        fd = os.open("/dev/fuse", os.O_RDWR)
    except OSError as exc:
        raise Unavailable(f"/dev/fuse: {exc.strerror}") from None
    options = f"fd={fd},rootmode=40000,user_id={os.getuid()},group_id={os.getgid()}".encode()
    if libc.mount(b"deadfs", str(directory).encode(), b"fuse.deadfs", 0, options) != 0:
        error = ctypes.get_errno()
        os.close(fd)
        raise Unavailable(f"mount: {os.strerror(error)}")
    try:
        yield directory
    finally:
        libc.umount2(str(directory).encode(), MNT_DETACH)
        os.close(fd)  # aborts the connection: every call still blocked below the mount fails now
