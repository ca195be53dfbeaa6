"""Secrets never leave the exporter: credentials in URLs and secret-looking query values are masked
before anything is logged, labelled or shown."""

from __future__ import annotations

import re

SECRET = "<secret>"
_URL_PASSWORD = re.compile(r"(?P<prefix>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^@/\s]*@")
_QUERY_SECRET = re.compile(r"(?P<key>\b(?:password|passwd|pwd|pass|token|secret|api[_-]?key|access[_-]?key)=)[^&\s'\"]+", re.I)


def redact(text: str) -> str:
    """``postgresql://app:hunter2@db/x`` → ``postgresql://app:<secret>@db/x``; ``?password=x`` → ``?password=<secret>``."""
    if "://" not in text and "=" not in text:
        return text
    return _QUERY_SECRET.sub(rf"\g<key>{SECRET}", _URL_PASSWORD.sub(rf"\g<prefix>:{SECRET}@", text))
