"""Reading a file discovery found: bounded, never blocking, regular files only; what cannot be read
becomes a DiscoveryError (permission_denied, not_found, not_regular_file, too_large), never a raise."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ..safeopen import NotRegularFile, open_configured, open_regular, read_fd
from .model import DiscoveryError

FILE_LIMIT = 1 << 20  # package.json, a unit file, an EnvironmentFile, a pm2 dump: 1 MiB is plenty


def read_limited(path: Path, source: str, limit: int = FILE_LIMIT,
                 follow: bool = False) -> tuple[str | None, DiscoveryError | None]:
    """(text, None), or (None, the error) when ``path`` cannot be read as a regular file of at most
    ``limit`` bytes. ``follow``: a link in the last component is followed (else refused)."""
    try:
        fd, _ = (open_configured if follow else open_regular)(path)
    except OSError as exc:
        return None, DiscoveryError(source, error_reason(exc), str(path))
    try:
        data = read_fd(fd, limit + 1)
    except OSError as exc:
        return None, DiscoveryError(source, error_reason(exc), str(path))
    finally:
        os.close(fd)
    if len(data) > limit:
        return None, DiscoveryError(source, "too_large", str(path))
    return data.decode("utf-8", errors="replace"), None


def error_reason(exc: OSError) -> str:
    """The DiscoveryError reason of a file that could not be read."""
    if isinstance(exc, NotRegularFile) or exc.errno in (errno.ELOOP, errno.EISDIR):
        return "not_regular_file"  # ELOOP: a link where none is followed
    if isinstance(exc, FileNotFoundError) or exc.errno == errno.ENOTDIR:
        return "not_found"
    if isinstance(exc, PermissionError):
        return "permission_denied"
    return "unreadable"
