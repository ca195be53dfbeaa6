"""Reading the monitored project's files, read-only, without following links out of it.

Everything here is blocking and is called through ``ProbeContext.blocking``.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from exporter.parsers import Datasource, load_json, parse_datasource, parse_env
from exporter.safeopen import NotRegularFile, OutsideProject, Root, read_fd

__all__ = [  # the parsers and the opening primitive, as the probes and tests know them from here
    "Datasource", "NotRegularFile", "OutsideProject", "Project", "load_json", "parse_datasource", "parse_env",
]

ENV_FILES = (
    ".env",
    ".env.local",
    ".env.production",
    ".env.production.local",
    ".env.development",
    ".env.development.local",
    "prisma/.env",
)
SCHEMA_FILE = "prisma/schema.prisma"
# Where a variable is set in more than one file, the first of these wins, as in Next.js
# (.env.$(NODE_ENV).local, .env.local, .env.$(NODE_ENV), .env), then Prisma's prisma/.env.
ENV_PRECEDENCE = (
    ".env.development.local",
    ".env.production.local",
    ".env.local",
    ".env.development",
    ".env.production",
    ".env",
    "prisma/.env",
)
FILE_LIMIT = 1 << 20  # bytes read at most from any project file (dotenv, schema, package.json)
_TEXTS: dict[tuple, str] = {}  # (dev, inode, size, mtime, ctime, limit) -> text: unchanged files are not read again
_TEXTS_MAX = 512


def inside(project_dir: Path, relative: str | Path) -> Path:
    """``project_dir/relative``, refusing any path whose real location leaves the project."""
    return Project(project_dir).inside(relative)


def _inside_root(root: str, relative: str | Path) -> Path:
    """The components of ``relative`` are looked at one by one below the resolved ``root``; a link
    among them sends the whole path through realpath. For naming a path only: readers open files
    with ``Root`` (exporter.safeopen), which resolves and opens in one step."""
    parts = Path(relative).parts
    if os.path.isabs(relative) or ".." in parts:
        return _resolved_inside(root, relative)
    path = root
    for index, part in enumerate(parts):
        path = os.path.join(path, part)
        try:
            mode = os.lstat(path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return Path(os.path.join(path, *parts[index + 1:]))  # nothing further to follow
        if stat.S_ISLNK(mode):
            return _resolved_inside(root, relative)
    return Path(path)


def _resolved_inside(root: str, relative: str | Path) -> Path:
    candidate = os.path.realpath(os.path.join(root, relative))
    if candidate != root and not candidate.startswith(root.rstrip("/") + "/"):
        raise OutsideProject(f"{relative} resolves outside the project ({candidate})")
    return Path(candidate)


def read_text(project_dir: Path, relative: str | Path, limit: int = FILE_LIMIT) -> str:
    """The file's text, at most ``limit`` bytes of it; never outside the project, never a FIFO or device."""
    return Project(project_dir).read_text(relative, limit)


def read_text_below(root: Root, relative: str | Path, limit: int) -> str:
    """Open through ``root`` (one step, no link out), then read unless the same file was read before."""
    fd, st = root.open_regular(relative)
    try:
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, limit)
        text = _TEXTS.get(key)
        if text is None:
            text = read_fd(fd, limit).decode("utf-8", errors="replace")
            if len(_TEXTS) >= _TEXTS_MAX:
                _TEXTS.clear()
            _TEXTS[key] = text
        return text
    finally:
        os.close(fd)


def env_files(project_dir: Path) -> dict[str, dict[str, str]]:
    """Each existing dotenv file of the project, parsed; unreadable ones are skipped."""
    return Project(project_dir).env_files()


def listing(directory: Path) -> set[str]:
    """Names in ``directory`` (empty if it cannot be listed)."""
    try:
        return set(os.listdir(directory))
    except OSError:
        return set()


class Project:
    """One scrape's reading of a project directory: the root opened once (a descriptor every read
    walks from), each directory listed, each file read and each dotenv file parsed at most once,
    however many probes ask.

    Blocking (used in the probe threads). A new one is made for every scrape, so a change on disk
    is seen by the next scrape; probes that run at once may both fill the same entry, with the
    same result. The root descriptor is closed with ``close()`` or when the reading is dropped.
    """

    def __init__(self, project_dir: Path):
        self.dir = project_dir
        self.handle = Root(project_dir)
        self._inside: dict[str | Path, Path] = {}
        self._listings: dict[str, set[str]] = {}
        self._texts: dict[tuple[str | Path, int], str | OSError] = {}
        self._env: dict[str, dict[str, str]] | None = None

    @property
    def root(self) -> str:
        """The project directory with every link resolved."""
        try:
            return self.handle.real
        except OSError:
            return os.path.realpath(self.dir)

    def close(self) -> None:
        self.handle.close()

    def inside(self, relative: str | Path) -> Path:
        """``dir/relative``, refusing any path whose real location leaves the project (OutsideProject).

        A name for messages and metadata; to read a file use ``read_text`` (or ``handle``), which
        resolves and opens in one step.
        """
        path = self._inside.get(relative)
        if path is None:
            path = self._inside[relative] = _inside_root(self.root, relative)
        return path

    def read_text(self, relative: str | Path, limit: int = FILE_LIMIT) -> str:
        """At most ``limit`` bytes of a regular file below the project, as text (OSError otherwise:
        OutsideProject, NotRegularFile, FileNotFoundError...)."""
        key = (relative, limit)
        text = self._texts.get(key)
        if text is None:
            try:
                text = read_text_below(self.handle, relative, limit)
            except OSError as exc:
                text = exc
            self._texts[key] = text
        if isinstance(text, OSError):
            raise text
        return text

    def listing(self, relative: str = "") -> set[str]:
        """Names in the project directory (or ``relative`` below it); empty if it cannot be listed."""
        names = self._listings.get(relative)
        if names is None:
            try:
                names = set(self.handle.listdir(relative))
            except OSError:
                names = set()
            self._listings[relative] = names
        return names

    def names(self) -> set[str]:
        """The names in the project directory and, as ``prisma/<name>``, in its prisma directory."""
        return self.listing() | {f"prisma/{name}" for name in self.listing("prisma")}

    def env_files(self) -> dict[str, dict[str, str]]:
        """Each existing dotenv file of the project, parsed; unreadable ones are skipped."""
        if self._env is None:
            found, listed = {}, self.names()
            for name in ENV_FILES:
                if name not in listed:
                    continue  # one directory listing instead of a failed open per absent file
                try:
                    found[name] = parse_env(self.read_text(name))
                except (OSError, UnicodeError):
                    continue
            self._env = found
        return self._env


@dataclass(frozen=True)
class DatabaseLocation:
    path: Path | None
    source: str  # config, env, schema, or none
    problem: str = ""
    reason: str = "not_found"  # why there is no path: not_found or unsupported


def locate_database(project: Project | Path | None, configured: Path | None) -> DatabaseLocation:
    """Where the SQLite file is, resolved as Prisma resolves it (relative to prisma/schema.prisma)."""
    if isinstance(project, Path):
        project = Project(project)
    if configured is not None:
        if configured.is_absolute() or project is None:
            return DatabaseLocation(configured, "config")
        return DatabaseLocation(project.dir / configured, "config")
    if project is None:
        return DatabaseLocation(None, "none", "no project_dir or database configured")
    try:
        source = parse_datasource(project.read_text(SCHEMA_FILE))
    except OSError:
        source = Datasource(None, "DATABASE_URL", None)
    if source.provider not in (None, "sqlite"):
        return DatabaseLocation(
            None, "schema", f"datasource provider is {source.provider}, not sqlite", "unsupported"
        )
    url, origin, name = source.url, "schema", "the datasource url"
    if url is None:
        name = source.url_env or "DATABASE_URL"
        url, origin = _env_value(project, name), "env"
        if not url:
            return DatabaseLocation(None, "env", f"{name} is not set in the project's .env")
    path = sqlite_path(project.dir, url)
    if path is None:
        return DatabaseLocation(None, origin, f"{name} is not a SQLite file: URL", "unsupported")
    return DatabaseLocation(path, origin)


def _env_value(project: Project, name: str) -> str | None:
    found = project.env_files()
    for file in ENV_PRECEDENCE:
        if name in found.get(file, {}):
            return found[file][name]
    return None


def sqlite_path(project_dir: Path, url: str) -> Path | None:
    """``file:./dev.db`` relative to the schema's directory, as Prisma does; None if not a file: URL."""
    if not url.startswith("file:"):
        return None
    path = url[len("file:"):].split("?", 1)[0]
    if path.startswith("//"):
        path = path[2:]
    candidate = Path(path)
    if candidate.is_absolute():
        return candidate
    return Path(os.path.normpath(project_dir / "prisma" / candidate))
