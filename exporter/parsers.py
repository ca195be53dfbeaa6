"""Parsers of the monitored project's files, in time linear in their input.

The project is hostile input: a developer's machine can hold anything. Every parser here works on
text already capped at the file's byte limit (``exporter.project.FILE_LIMIT``), skips lines longer
than LINE_LIMIT, and uses only str methods (split, partition, strip, find) and regexes without
repetition that can overlap, so a run of spaces, quotes or blank lines costs its length, never
its square.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

LINE_LIMIT = 64 << 10  # longer lines are skipped: no dotenv assignment or schema line is that long
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")  # one quantifier, used with fullmatch: linear
_QUOTES = ("'", '"', "`")
# "\bdatasource" starts only at a word boundary, so no two attempts scan the same word or run of spaces.
_DATASOURCE = re.compile(r"\bdatasource\s+\w+\s*\{")


CHUNK = 64 << 10  # text is split into lines a piece at a time: one C call never holds the GIL for long


def _lines(text: str):
    """The lines of ``text`` up to LINE_LIMIT long, split a piece at a time (a mebibyte of blank
    lines split at once would hold the GIL, and so the event loop, for ~100 ms)."""
    start = 0
    while start < len(text):
        cut = text.find("\n", start + CHUNK)
        end = len(text) if cut == -1 else cut + 1
        for line in text[start:end].splitlines():
            if len(line) <= LINE_LIMIT:
                yield line
        start = end


# --- dotenv -------------------------------------------------------------------------------


def parse_env(text: str) -> dict[str, str]:
    """The variables of a dotenv file (quotes stripped; comments and blank lines ignored)."""
    values: dict[str, str] = {}
    for line in _lines(text):
        key, eq, value = line.partition("=")
        if not eq:
            continue
        key = key.strip()
        if key.startswith("export") and key[6:7].isspace():
            key = key[6:].lstrip()
        if not _KEY.fullmatch(key):
            continue  # also a comment line: "#" cannot start a key
        values[key] = _env_value(value.strip())
    return values


def _env_value(value: str) -> str:
    close = value.find(value[0], 1) if value[:1] in _QUOTES else -1
    if close != -1:
        return value[1:close]  # a quoted value ends at its closing quote; a comment may follow
    return value.split("#", 1)[0].strip()  # as dotenv: # starts a comment in an unquoted value


# --- the Prisma schema --------------------------------------------------------------------


@dataclass(frozen=True)
class Datasource:
    provider: str | None
    url_env: str | None
    url: str | None


def parse_datasource(schema: str) -> Datasource:
    """The first ``datasource`` block's provider and url (``env("NAME")`` or a literal)."""
    block = _DATASOURCE.search(schema)
    if not block:
        return Datasource(None, None, None)
    end = schema.find("}", block.end())
    body = schema[block.end(): end if end != -1 else len(schema)]
    provider = url_env = url = None
    for line in _lines(body):
        name, eq, value = line.partition("=")
        if not eq:
            continue
        name, value = name.strip(), value.strip()
        if name == "provider" and provider is None:
            provider = _quoted(value)
        elif name == "url" and url_env is None and url is None:
            if value.startswith("env("):
                url_env = _env_call(value[4:])
            else:
                url = _quoted(value)
    return Datasource(provider, url_env, url)


def _quoted(value: str) -> str | None:
    """The text between a leading quote and the next one."""
    if not value.startswith('"'):
        return None
    close = value.find('"', 1)
    return value[1:close] if close != -1 else None


def _env_call(rest: str) -> str | None:
    """``"NAME" )`` (the part after ``env(``) -> NAME."""
    rest = rest.lstrip()
    name = _quoted(rest)
    if not name:
        return None
    return name if rest[len(name) + 2:].lstrip().startswith(")") else None


# --- package.json -------------------------------------------------------------------------


def load_json(text: str) -> Any:
    """A JSON document; ValueError for anything json cannot read, deep nesting included.

    The input is capped by the file limit; json's C parser is linear and refuses nesting deeper
    than the interpreter's recursion limit with RecursionError, reported here as ValueError.
    """
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
