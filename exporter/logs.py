"""logfmt and JSON log formats, as the Go exporters' --log.format offers."""

from __future__ import annotations

import json
import logging
import sys
import time

from exporter.redact import MAX_LOG, cap, redact

LEVELS = ("debug", "info", "warn", "error")


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def _level(record: logging.LogRecord) -> str:
    return {"WARNING": "warn", "CRITICAL": "error"}.get(record.levelname, record.levelname.lower())


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = _clean(record.getMessage())
        if record.exc_info:
            message += " " + _clean(self.formatException(record.exc_info)).replace("\n", " | ")
        pairs = "".join(f" {k}={_quote(_clean(str(v)))}" for k, v in getattr(record, "fields", {}).items())
        return f"ts={_timestamp(record)} level={_level(record)} logger={record.name} msg={_quote(message)}{pairs}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": _timestamp(record), "level": _level(record), "logger": record.name, "msg": _clean(record.getMessage())}
        entry.update({k: _clean(str(v)) for k, v in getattr(record, "fields", {}).items()})
        if record.exc_info:
            entry["exc"] = _clean(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def _clean(text: str) -> str:
    """Redacted, and no longer than MAX_LOG characters: a hostile input cannot flood the log."""
    return cap(redact(text[: 4 * MAX_LOG]), MAX_LOG)  # redact before cutting: a cut must not split a secret out of its URL


def _quote(value: str) -> str:
    if value and not any(c in value for c in ' "=\\') and value.isprintable():
        return value
    return json.dumps(value, ensure_ascii=False)


def setup(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel({"warn": logging.WARNING}.get(level, getattr(logging, level.upper(), logging.INFO)))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def fields(**values: object) -> dict:
    """``log.info("message", extra=fields(target=...))``: structured key/value pairs."""
    return {"fields": values}
