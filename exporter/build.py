"""What was built: the version, and the source revision when it is known.

The revision comes from ``INVENTORY_EXPORTER_REVISION`` (the Dockerfile sets it from its
``REVISION`` build argument), else from ``git rev-parse HEAD`` when the package is run from a git
checkout of this project; otherwise it is empty. It is worked out once per process.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path
from typing import Mapping

from exporter import __version__

REVISION_ENV = "INVENTORY_EXPORTER_REVISION"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # the directory holding exporter/
_REVISION_RE = re.compile(r"[0-9A-Za-z._-]{1,64}")


def _from_git(root: Path) -> str:
    """HEAD of the checkout ``root`` is the top of; empty when ``root`` is not a checkout's top
    (an installed package inside some other repository must not take that repository's revision)."""
    if not (root / ".git").exists():
        return ""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != root.resolve():
        return ""
    return lines[1]


def find_revision(environ: Mapping[str, str] = os.environ, root: Path = PACKAGE_ROOT) -> str:
    value = environ.get(REVISION_ENV, "").strip()
    if value:
        return value if _REVISION_RE.fullmatch(value) else ""
    return _from_git(root)


@functools.cache
def revision() -> str:
    return find_revision()


def version_text() -> str:
    """What ``--version`` prints."""
    return f"inventory-exporter {__version__} (revision: {revision() or 'unknown'})"
