"""The history on disk (``--storage.path DIR``): one JSON state file, written atomically (a temporary
file in the same directory, then a rename) every SAVE_SECONDS and at shutdown, loaded at start, so
a restart keeps the status page's 24 h.

The directory must not be inside a monitored project (the exporter never writes there): checked at
start. The file is bounded by the history's own bounds (about 250 kB a target); a file larger than
MAX_FILE_BYTES, or not the expected shape, is refused with a clear message and the history starts
empty.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from exporter.history import CELL_LIMIT, INCIDENT_LIMIT, RANK_SEVERITY, RAW_LIMIT, Cell, History, Incident, Point, TargetHistory
from exporter.history import _intern, history_of, pack_latencies, unpack_latencies
from exporter.logs import fields

log = logging.getLogger("exporter.history")

FILE_NAME = "history.json"
SAVE_SECONDS = 60.0
MAX_FILE_BYTES = 256 << 20
VERSION = 1


class StorageError(ValueError):
    pass


def check_storage_dir(directory: Path, project_dirs: Iterable[Path]) -> Path:
    """The resolved directory; StorageError when it is inside (or is) a monitored project directory."""
    resolved = directory.expanduser().resolve()
    for project in project_dirs:
        root = Path(project).expanduser().resolve()
        if resolved == root or root in resolved.parents:
            raise StorageError(f"--storage.path {directory}: inside the monitored project {root}; "
                               "the exporter never writes into a project: choose a directory outside it")
    if resolved.exists() and not resolved.is_dir():
        raise StorageError(f"--storage.path {directory}: not a directory")
    return resolved


def _point(p: Point) -> list:
    return [p.at, p.cause, p.worst, list(p.failing), list(p.paths), unpack_latencies(p.latencies), p.proxy_status]


def _cell(c: Cell) -> list:
    return [c.start, c.cause, c.worst, list(c.failing), c.scrapes, c.down, list(c.paths),
            unpack_latencies(c.latencies), c.proxy_status]


def snapshot(history: History) -> dict[str, tuple]:
    """What to_json needs, copied: the points and cells are immutable, so copying their deques (C
    speed, no formatting) is all the loop does; the formatting runs in a thread (save_forever)."""
    return {name: (tuple(h.raw), tuple(h.cells), tuple((i.start, i.cause, i.end) for i in h.incidents),
                   h.cause, h.since, h.changes)
            for name, h in history.targets.items()}


def to_json(history: History | dict[str, tuple]) -> dict[str, Any]:
    copied = snapshot(history) if isinstance(history, History) else history
    return {"version": VERSION, "targets": {
        name: {"raw": [_point(p) for p in raw], "cells": [_cell(c) for c in cells],
               "incidents": [list(i) for i in incidents], "cause": cause, "since": since, "changes": changes}
        for name, (raw, cells, incidents, cause, since, changes) in copied.items()
    }}


def _rank(worst) -> int:
    rank = int(worst)
    if rank not in RANK_SEVERITY:
        raise ValueError(f"severity rank {rank} is not one of {sorted(RANK_SEVERITY)}")
    return rank


def _target(data: dict) -> TargetHistory:
    h = TargetHistory()
    for at, cause, worst, failing, paths, latencies, proxy in data["raw"][-RAW_LIMIT:]:
        h.raw.append(Point(float(at), str(cause), _rank(worst), _intern(failing), _intern(paths),
                           pack_latencies(latencies), int(proxy)))
    for start, cause, worst, failing, scrapes, down, paths, latencies, proxy in data["cells"][-CELL_LIMIT:]:
        h.cells.append(Cell(float(start), str(cause), _rank(worst), _intern(failing), int(scrapes), int(down),
                            _intern(paths), pack_latencies(latencies), int(proxy)))
    h.day_scrapes, h.day_down = sum(c.scrapes for c in h.cells), sum(c.down for c in h.cells)
    for start, cause, end in data["incidents"][-INCIDENT_LIMIT:]:
        h.incidents.append(Incident(float(start), str(cause), None if end is None else float(end)))
    h.cause, h.since, h.changes = data["cause"], data["since"], int(data["changes"])
    return h


def from_json(data: Any) -> History:
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("targets"), dict):
        raise StorageError(f"not a version {VERSION} history file")
    history = History()
    for name, target in data["targets"].items():
        try:
            history.targets[str(name)] = _target(target)
        except (KeyError, TypeError, ValueError) as exc:
            raise StorageError(f"target {name!r}: malformed history ({exc.__class__.__name__}: {exc})") from None
    return history


def load(directory: Path) -> History:
    """The saved history, or an empty one (with a logged reason) when there is none or it is unusable."""
    path = directory / FILE_NAME
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise StorageError(f"{size} bytes, more than the limit of {MAX_FILE_BYTES}")
        with path.open("rb") as f:
            history = from_json(json.loads(f.read(MAX_FILE_BYTES + 1)))
    except FileNotFoundError:
        return History()
    except (OSError, ValueError, StorageError) as exc:  # json.JSONDecodeError is a ValueError
        log.warning("history file not loaded, starting with an empty history",
                    extra=fields(file=str(path), error=str(exc)))
        return History()
    log.info("history loaded", extra=fields(file=str(path), targets=len(history.targets)))
    return history


def save(history: History | dict, directory: Path) -> Path:
    """Write the history (or its to_json) atomically: a reader sees the old file or the new one, never half of one."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAME
    text = json.dumps(history if isinstance(history, dict) else to_json(history), separators=(",", ":"))
    fd, temp = tempfile.mkstemp(prefix=".history-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def save_snapshot(copied: dict[str, tuple], directory: Path) -> Path:
    return save(to_json(copied), directory)


async def save_forever(cache: dict, directory: Path, every: float = SAVE_SECONDS) -> None:
    """Every ``every`` seconds: the history copied on the loop (the scrapes change it there), turned
    into JSON and written in a thread."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(every)
        try:
            await loop.run_in_executor(None, save_snapshot, snapshot(history_of(cache)), directory)
        except OSError as exc:
            log.error("history not saved", extra=fields(directory=str(directory), error=str(exc)))


def start(cache: dict, directory: Path | None) -> asyncio.Task | None:
    """Load the saved history into ``cache`` and start saving it; None without a storage directory."""
    if directory is None:
        return None
    cache["history"] = load(directory)
    return asyncio.ensure_future(save_forever(cache, directory))


def stop(task: asyncio.Task | None, cache: dict, directory: Path | None) -> None:
    """Stop the saving and save once more (shutdown)."""
    if task is None or directory is None:
        return
    task.cancel()
    try:
        save(history_of(cache), directory)
    except OSError as exc:
        log.error("history not saved at shutdown", extra=fields(directory=str(directory), error=str(exc)))
