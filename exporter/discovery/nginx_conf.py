"""Reading an nginx configuration as nginx would, without running nginx (no ``nginx -T``).

Each file is read by us, bounded and safely (``safeopen.open_configured``: links followed as the
config's author chose them, never blocking on a FIFO, only regular files, at most MAX_FILE_BYTES),
then parsed by crossplane from an in-memory copy (a memfd), so the text parsed is the text checked.
crossplane is asked for one file at a time (``single=True``); ``include`` is followed here, as nginx
does: a relative pattern is resolved against the main file's directory (nginx's conf prefix), a glob
is expanded and sorted, a missing glob match is no error, a missing plain file is. The included
directives are spliced in place of the ``include``, each keeping its own file and line, so the tree
reads like nginx's view of the config. Directives crossplane does not know (third-party modules)
are kept as they are: context and argument checks are off.

Bounds: MAX_FILE_BYTES per file, MAX_FILES distinct files read, MAX_INCLUSIONS includes expanded
(a snippet included in every location counts each time) and MAX_DEPTH nested includes (a file
that includes itself). What cannot be read becomes a DiscoveryError and the rest is still read.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

import crossplane

from ..safeopen import open_configured, read_fd
from .model import DiscoveryError
from .reading import error_reason

MAX_FILE_BYTES = 1 << 20
MAX_FILES = 512
MAX_INCLUSIONS = 4096
MAX_DEPTH = 16


@dataclass
class Directive:
    """One nginx directive where it was written; ``block`` holds a block's directives (includes spliced)."""

    name: str
    args: list[str]
    file: str
    line: int
    block: list[Directive] | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def text(self) -> str:
        """The directive as written (quotes dropped): ``proxy_pass http://127.0.0.1:3001``."""
        return " ".join([self.name, *self.args])


class TooLarge(OSError):
    pass


def read_config_file(path: str) -> bytes:
    """The bytes of one config file; OSError (NotRegularFile, TooLarge, PermissionError...) if refused."""
    fd, st = open_configured(path)
    try:
        if st.st_size > MAX_FILE_BYTES:
            raise TooLarge(f"{st.st_size} bytes, over {MAX_FILE_BYTES}")
        data = read_fd(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:
        raise TooLarge(f"grew over {MAX_FILE_BYTES} bytes")
    return data


def parse_text(data: bytes) -> dict:
    """crossplane's payload for one file's text (no include followed, unknown directives kept)."""
    fd = os.memfd_create("nginx-config", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        return crossplane.parse(
            f"/proc/self/fd/{fd}", onerror=_message, catch_errors=True, single=True,
            strict=False, combine=False, check_ctx=False, check_args=False,
        )
    finally:
        os.close(fd)


def _message(exc: Exception) -> str:
    """An error's text without the file name crossplane appends (ours is a memfd)."""
    return getattr(exc, "strerror", None) or str(exc)


def _reason(exc: OSError) -> str:
    return "too_large" if isinstance(exc, TooLarge) else error_reason(exc)


class Loader:
    """Loads a main nginx config and everything it includes into one tree of Directives."""

    def __init__(self, main: Path):
        self.main = os.path.abspath(main)
        self.conf_dir = os.path.dirname(self.main)
        self.errors: list[DiscoveryError] = []
        self._parsed: dict[str, list[dict] | None] = {}
        self._inclusions = 0
        self._capped = False
        self._reported: set[tuple[str, str]] = set()

    def load(self) -> list[Directive]:
        return self._file(self.main, None, 0)

    def _error(self, reason: str, detail: str) -> None:
        if (reason, detail) in self._reported:
            return
        self._reported.add((reason, detail))
        self.errors.append(DiscoveryError(source="nginx", reason=reason, detail=detail))

    def _file(self, path: str, origin: Directive | None, depth: int) -> list[Directive]:
        statements = self._statements(path, origin)
        return self._convert(statements or [], path, depth)

    def _statements(self, path: str, origin: Directive | None) -> list[dict] | None:
        """crossplane's statements of one file, read once (None, reported once, if unreadable)."""
        if path in self._parsed:
            return self._parsed[path]
        if len(self._parsed) >= MAX_FILES:
            return self._cap(f"more than {MAX_FILES} files", origin)
        self._parsed[path] = None
        try:
            payload = parse_text(read_config_file(path))
        except OSError as exc:
            where = f" (include at {origin.where})" if origin else ""
            self._error(_reason(exc), f"{path}{where}: {exc.strerror or exc}")
            return None
        for failure in payload["errors"]:
            self._error("parse_error", f"{path}:{failure.get('line')}: {failure.get('callback')}")
        self._parsed[path] = payload["config"][0]["parsed"]
        return self._parsed[path]

    def _cap(self, what: str, origin: Directive | None) -> None:
        if not self._capped:
            self._capped = True
            self._error("too_many_files", f"{origin.where if origin else self.main}: {what}, the rest not read")
        return None

    def _convert(self, statements: list[dict], path: str, depth: int) -> list[Directive]:
        out: list[Directive] = []
        for stmt in statements:
            directive = Directive(stmt["directive"], list(stmt.get("args", [])), path, stmt.get("line", 0))
            if directive.name == "include" and directive.args:
                out.extend(self._include(directive, depth))
                continue
            if "block" in stmt:
                directive.block = self._convert(stmt["block"], path, depth)
            out.append(directive)
        return out

    def _include(self, directive: Directive, depth: int) -> list[Directive]:
        if depth >= MAX_DEPTH:
            self._error("include_depth", f"{directive.where}: includes nested deeper than {MAX_DEPTH}")
            return []
        out: list[Directive] = []
        for path in self._matches(directive.args[0]):
            self._inclusions += 1
            if self._inclusions > MAX_INCLUSIONS:
                self._cap(f"more than {MAX_INCLUSIONS} includes", directive)
                return out
            out.extend(self._file(path, directive, depth + 1))
        return out

    def _matches(self, pattern: str) -> list[str]:
        """The files an include names, as nginx finds them: relative to the conf prefix, globs sorted."""
        full = pattern if os.path.isabs(pattern) else os.path.join(self.conf_dir, pattern)
        return sorted(glob.glob(full)) if glob.has_magic(full) else [full]


def load_config(main: Path) -> tuple[list[Directive], list[DiscoveryError]]:
    """The main file's directives with every include spliced in, and what could not be read."""
    loader = Loader(main)
    tree = loader.load()
    return tree, loader.errors
