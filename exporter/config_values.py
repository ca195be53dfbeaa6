"""The config's value parsers: each takes a YAML value and returns it checked (and normalised), or
raises ValueError with the reason the config error shows. No import of the rest of the package, so
every module that reads config-like values (config.py, endpoints.py) can use them.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

@dataclass(frozen=True)
class Key:
    """A config key: its value parser, whether it must be there, and whether the parser reads the YAML node."""

    parse: Callable[[Any], Any]
    required: bool = False
    node: bool = False  # the parser gets the YAML node (read by the caller, with its own lines)


NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")

_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """'500ms', '5s', '2m', '6h' or a bare number of seconds; must be positive."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 5s or 500ms")
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
    else:
        match = _DURATION_RE.match(str(value).strip())
        if not match:
            raise ValueError(f"{value!r} is not a duration (use e.g. 5s, 500ms, 2m)")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if math.isnan(seconds):
        raise ValueError(f"{value!r} is not a duration (use e.g. 5s, 500ms, 2m)")
    if seconds <= 0:
        raise ValueError("duration must be greater than zero")
    if math.isinf(seconds):
        raise ValueError("duration must be finite")
    return seconds


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def name(value: Any) -> str:
    value = text(value)
    if not NAME_RE.match(value):
        raise ValueError(f"{value!r} must match {NAME_RE.pattern}")
    return value


def http_url(value: Any) -> str:
    value = text(value)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL with a host")
    try:
        parts.port
    except ValueError as exc:
        raise ValueError(f"{value!r}: {exc}") from None
    return value.rstrip("/") if parts.path in ("", "/") else value


def plain_http_url(value: Any) -> str:
    value = http_url(value)
    if urlsplit(value).scheme != "http":
        raise ValueError(f"{value!r} must be an http:// URL (the one that should redirect to https://)")
    return value


def url_path(value: Any) -> str:
    value = text(value)
    if not value.startswith("/") or "://" in value or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} must be a path starting with '/'")
    return value


def path(value: Any) -> Path:
    value = text(value)
    if "\0" in value:
        raise ValueError("a path cannot contain a NUL character")
    return Path(os.path.expanduser(value))


def host_header(value: Any) -> str:
    host = text(value)
    if not host or any(c.isspace() or c in "/@" for c in host) or len(host) > 253:
        raise ValueError(f"{host!r} is not a host name")
    return host


def interval(value: Any) -> float:
    seconds = parse_duration(value)
    if seconds < 1:
        raise ValueError("the discovery interval must be at least 1s")
    return seconds


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("expected a whole number of at least 1")
    return value


def resolver(value: Any) -> str:
    value = text(value)
    if value == "system":
        return value
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not re.fullmatch(r"[0-9]{1,5}", port) or not 0 < int(port) < 65536 or not is_ip(host):
        raise ValueError(f"{value!r}: expected 'system' or an IP address and port, e.g. 127.0.0.1:53 or [::1]:53")
    return value


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def list_of(item: Callable[[Any], Any]) -> Callable[[Any], tuple]:
    def parse(value: Any) -> tuple:
        if not isinstance(value, list):
            raise ValueError("expected a list")
        return tuple(dict.fromkeys(item(v) for v in value))

    parse.item = item  # type: ignore[attr-defined]  # lets the reader check items one by one
    return parse
