"""``--config.check``: the config's errors, and warnings for the paths a target names that do not
exist on this machine, all in file order (by line), each as ``file:line: key.path: reason``.

Warnings do not fail the check: a config is often checked on a machine other than the one it
watches (a CI job, a laptop). They are read from the YAML nodes, so they are found even in a file
that also has errors.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from exporter.endpoints import secret_refs
from exporter.config import TARGET_KEYS, ConfigError, expanded_size, load_config, read_config_file
from exporter.project import locate_database

WARNING = "warning: "
_STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class Problem:
    line: int  # 0 when the problem is not about one line (e.g. the file cannot be read)
    text: str  # "file:line: key.path: reason", with "warning: " in front of a warning
    error: bool


def passes(path: str | os.PathLike) -> bool:
    """Print the config's errors and warnings to stderr in file order; True when there are no errors."""
    problems = check(path)
    errors = [p for p in problems if p.error]
    if errors:
        print("inventory-exporter: invalid config:", file=sys.stderr)
    for problem in problems:
        print(problem.text, file=sys.stderr)
    return not errors


def check(path: str | os.PathLike) -> list[Problem]:
    source = str(path)
    try:
        load_config(path)
        errors: list[Problem] = []
    except ConfigError as exc:
        errors = [Problem(_line_of(text, source), text, True) for text in exc.problems]
    # sorted() is stable: on one line, an error comes before a warning, each kind in its own order
    return sorted(errors + path_warnings(path), key=lambda p: p.line)


def _line_of(problem: str, source: str) -> int:
    match = re.match(r":(\d+):", problem[len(source):]) if problem.startswith(source) else None
    return int(match.group(1)) if match else 0


# --- warnings ----------------------------------------------------------------


def path_warnings(path: str | os.PathLike) -> list[Problem]:
    """Each target's project_dir, log_file, proxy_error_log, tls_ca_file and database that is not on this machine."""
    source = str(path)
    try:
        root = yaml.compose(read_config_file(path), Loader=yaml.SafeLoader)
        expanded_size(root)
    except (ConfigError, ValueError, yaml.YAMLError, RecursionError):
        return []  # load_config has reported it as an error
    targets = _mapping(root).get("targets", (None, None))[1]
    if not isinstance(targets, yaml.SequenceNode):
        return []
    warnings = []
    for index, item in enumerate(targets.value):
        warnings += _target_warnings(source, f"targets[{index}]", _mapping(item))
    return warnings


def _mapping(node: yaml.Node | None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """key -> (key node, value node) of a mapping node; the first of duplicate keys, as the loader reports."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    found: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            found.setdefault(str(key_node.value), (key_node, value_node))
    return found


def _path_value(keys: dict[str, tuple[yaml.Node, yaml.Node]], key: str) -> tuple[Path, int] | None:
    """The key's path as the loader parses it, and its line; None when absent or invalid (an error)."""
    if key not in keys:
        return None
    node = keys[key][1]
    if not isinstance(node, yaml.ScalarNode) or node.tag != _STR_TAG:
        return None
    try:
        return TARGET_KEYS[key].parse(node.value), node.start_mark.line + 1
    except ValueError:
        return None


def _target_warnings(source: str, where: str, keys: dict[str, tuple[yaml.Node, yaml.Node]]) -> list[Problem]:
    def warn(line: int, key: str, reason: str) -> None:
        out.append(Problem(line, f"{WARNING}{source}:{line}: {where}.{key}: {reason}", False))

    out: list[Problem] = []
    for key in ("endpoints", "static_paths"):
        if key in keys and isinstance(keys[key][1], yaml.SequenceNode):
            _secret_warnings(warn, key, keys[key][1])
    project = _path_value(keys, "project_dir")
    project_dir = Path(os.path.abspath(project[0])) if project else None
    project_missing = _missing(project_dir, want_dir=True) if project_dir else None
    if project and project_missing:
        warn(project[1], "project_dir", project_missing)
    log_file = _path_value(keys, "log_file")
    if log_file:
        file = log_file[0] if log_file[0].is_absolute() or project_dir is None else project_dir / log_file[0]
        _warn_if_missing(warn, log_file[1], "log_file", file)
    proxy_log = _path_value(keys, "proxy_error_log")
    if proxy_log:
        _warn_if_missing(warn, proxy_log[1], "proxy_error_log", proxy_log[0])
    ca_file = _path_value(keys, "tls_ca_file")
    if ca_file:
        _warn_if_missing(warn, ca_file[1], "tls_ca_file", ca_file[0])
    database = _path_value(keys, "database")
    if database:
        _warn_if_missing(warn, database[1], "database", locate_database(project_dir, database[0]).path)
    elif project and not project_missing:
        _located_database_warning(warn, project_dir, project[1])
    return out


def _secret_warnings(warn, key: str, node: yaml.SequenceNode) -> None:
    """Secrets an endpoint sends that this environment cannot give (an unset variable, no file):
    the request would not be sent, and its condition ``secrets`` would fail."""
    from exporter.config import _construct

    for index, item in enumerate(node.value):
        try:
            value = _construct(item) if isinstance(item, yaml.MappingNode) else None
        except ValueError:
            continue
        if not isinstance(value, dict):
            continue
        for kind, name in sorted(set(secret_refs(value))):
            if kind == "env" and name not in os.environ:
                warn(item.start_mark.line + 1, f"{key}[{index}]", f"environment variable {name} is not set here")
            elif kind == "file" and not os.path.isfile(name):
                warn(item.start_mark.line + 1, f"{key}[{index}]", f"secret file {name} does not exist here")


def _located_database_warning(warn, project_dir: Path, line: int) -> None:
    """The database the project's schema and .env point at, as the database probe finds it."""
    location = locate_database(project_dir, None)
    if location.path is not None:
        origin = {"env": "the project's .env", "schema": "prisma/schema.prisma"}.get(location.source, location.source)
        _warn_if_missing(warn, line, "database", location.path, f" (located from {origin})")
    elif location.reason == "not_found":
        warn(line, "database", f"no SQLite database located in the project: {location.problem}")


def _warn_if_missing(warn, line: int, key: str, path: Path, origin: str = "") -> None:
    reason = _missing(path, want_dir=False)
    if reason:
        warn(line, key, reason + origin)


def _missing(path: Path, want_dir: bool) -> str | None:
    """Why ``path`` is not usable here, or None when it exists and is of the expected kind."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return f"{path} does not exist on this machine"
    except OSError as exc:
        return f"{path} cannot be checked: {exc.strerror or exc}"
    if want_dir and not stat.S_ISDIR(mode):
        return f"{path} is not a directory"
    if not want_dir and stat.S_ISDIR(mode):
        return f"{path} is a directory, not a file"
    return None
