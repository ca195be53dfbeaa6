"""Reading the monitored project's files, read-only, without following links out of it.

Everything here is blocking and is called through ``ProbeContext.blocking``.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

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
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$")
_DATASOURCE = re.compile(r"datasource\s+\w+\s*\{(.*?)\}", re.S)
_PROVIDER = re.compile(r"^\s*provider\s*=\s*\"([^\"]*)\"", re.M)
_URL_ENV = re.compile(r"^\s*url\s*=\s*env\(\s*\"([^\"]+)\"\s*\)", re.M)
_URL_LITERAL = re.compile(r"^\s*url\s*=\s*\"([^\"]*)\"", re.M)


class OutsideProject(PermissionError):
    """A path that resolves (through a link or ..) outside the project directory."""


def inside(project_dir: Path, relative: str | Path) -> Path:
    """``project_dir/relative``, refusing any path whose real location leaves the project."""
    return Project(project_dir).inside(relative)


def _inside_root(root: str, relative: str | Path) -> Path:
    """The components of ``relative`` are looked at one by one below the resolved ``root``; a link
    among them sends the whole path through realpath."""
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


def read_text(project_dir: Path, relative: str | Path, limit: int = 1 << 20) -> str:
    """The file's text; unchanged files (same inode, size and mtime) are not read again."""
    return Project(project_dir).read_text(relative, limit)


def _read_file(path: Path, limit: int) -> str:
    st = os.stat(path)
    return _read(str(path), st.st_ino, st.st_size, st.st_mtime_ns, limit)


@functools.lru_cache(maxsize=512)
def _read(path: str, inode: int, size: int, mtime_ns: int, limit: int) -> str:
    with open(path, "rb") as handle:
        return handle.read(limit).decode("utf-8", errors="replace")


def parse_env(text: str) -> dict[str, str]:
    """The variables of a dotenv file (quotes stripped; comments and blank lines ignored)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if not match:
            continue
        key, value = match.groups()
        close = value.find(value[0], 1) if value[:1] in ("'", '"', "`") else -1
        if close != -1:
            value = value[1:close]  # a quoted value ends at its closing quote; a comment may follow
        else:
            value = value.split("#", 1)[0].strip()  # as dotenv: # starts a comment in an unquoted value
        values[key] = value
    return values


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
    """One scrape's reading of a project directory: the root resolved, each directory listed, each
    file read and each dotenv file parsed at most once, however many probes ask.

    Blocking (used in the probe threads). A new one is made for every scrape, so a change on disk
    is seen by the next scrape; probes that run at once may both fill the same entry, with the
    same result.
    """

    def __init__(self, project_dir: Path):
        self.dir = project_dir
        self._root: str | None = None
        self._inside: dict[str | Path, Path] = {}
        self._listings: dict[str, set[str]] = {}
        self._texts: dict[tuple[str | Path, int], str] = {}
        self._env: dict[str, dict[str, str]] | None = None

    @property
    def root(self) -> str:
        """The project directory with every link resolved."""
        if self._root is None:
            self._root = os.path.realpath(self.dir)
        return self._root

    def inside(self, relative: str | Path) -> Path:
        """``dir/relative``, refusing any path whose real location leaves the project (OutsideProject)."""
        path = self._inside.get(relative)
        if path is None:
            path = self._inside[relative] = _inside_root(self.root, relative)
        return path

    def read_text(self, relative: str | Path, limit: int = 1 << 20) -> str:
        key = (relative, limit)
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = _read_file(self.inside(relative), limit)
        return text

    def listing(self, relative: str = "") -> set[str]:
        """Names in the project directory (or ``relative`` below it); empty if it cannot be listed."""
        names = self._listings.get(relative)
        if names is None:
            names = self._listings[relative] = listing(self.dir / relative if relative else self.dir)
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
class Datasource:
    provider: str | None
    url_env: str | None
    url: str | None


def parse_datasource(schema: str) -> Datasource:
    block = _DATASOURCE.search(schema)
    if not block:
        return Datasource(None, None, None)
    body = block.group(1)
    provider = _PROVIDER.search(body)
    env = _URL_ENV.search(body)
    literal = _URL_LITERAL.search(body)
    return Datasource(
        provider.group(1) if provider else None,
        env.group(1) if env else None,
        literal.group(1) if literal else None,
    )


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
