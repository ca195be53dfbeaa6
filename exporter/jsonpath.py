"""A small, safe JSON path subset and the comparisons of an endpoint's ``expect.json`` conditions.

Paths: ``$`` (the whole document), ``.key``, ``["key"]`` / ``['key']`` and ``[index]`` (negative
counts from the end), e.g. ``$.items[0].id`` or ``$["user-name"]``. No wildcards, filters or
recursion: a path names at most one value, and looking it up is linear in the path's length.

Expectations (a YAML string, or a YAML scalar meaning equality):

- ``exists``: the path is present (its value may be null); ``absent``: it is not (e.g. ``$.error``);
- ``== x`` / ``!= x``: equal / not equal to the literal ``x``;
- ``> n``, ``>= n``, ``< n``, ``<= n``: numeric comparison; an array or object compares its length;
- any other text (or a YAML number, boolean, null): equality with that literal.

A literal is read as JSON when it is a number, ``true``, ``false``, ``null`` or a quoted string,
else as plain text; a found string also equals a literal whose text is the same (``"1"`` == ``1``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

MAX_PATH = 256
MAX_STEPS = 32
_KEY = re.compile(r"\.([A-Za-z_$][A-Za-z0-9_$-]*)")
_INDEX = re.compile(r"\[(-?[0-9]{1,9})\]")
_QUOTED = re.compile(r"\[(\"(?:[^\"\\]|\\.){0,200}\"|'[^']{0,200}')\]")
OPERATORS = ("==", "!=", ">=", "<=", ">", "<")
_MISSING = object()


def parse_path(text: Any) -> tuple[str | int, ...]:
    """``$.items[0].id`` → ``("items", 0, "id")``; ValueError naming what is wrong."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise ValueError(f"{text!r} is not a JSON path (start with $, e.g. $.status or $.items[0].id)")
    if len(text) > MAX_PATH:
        raise ValueError(f"JSON path longer than {MAX_PATH} characters")
    steps: list[str | int] = []
    at = 1
    while at < len(text):
        for pattern in (_KEY, _INDEX, _QUOTED):
            match = pattern.match(text, at)
            if match:
                break
        else:
            raise ValueError(f"{text!r}: cannot read the path at {text[at:at + 12]!r} (use .key, [0] or [\"key\"])")
        raw = match.group(1)
        if pattern is _INDEX:
            steps.append(int(raw))
        elif pattern is _QUOTED:
            steps.append(json.loads(raw) if raw.startswith('"') else raw[1:-1])
        else:
            steps.append(raw)
        at = match.end()
    if len(steps) > MAX_STEPS:
        raise ValueError(f"{text!r}: more than {MAX_STEPS} steps")
    return tuple(steps)


def lookup(document: Any, steps: tuple[str | int, ...]) -> Any:
    """The value at ``steps``, or ``MISSING``."""
    value = document
    for step in steps:
        if isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return _MISSING
    return value


MISSING = _MISSING


@dataclass(frozen=True)
class Expectation:
    op: str  # one of OPERATORS, "exists" or "absent"
    operand: Any  # the literal (a JSON scalar), a number for the ordering operators, None for exists
    text: str  # as written, for messages and /config

    def holds(self, value: Any) -> bool:
        if self.op == "absent":
            return value is _MISSING
        if value is _MISSING:
            return False
        if self.op == "exists":
            return True
        if self.op in ("==", "!="):
            return _equal(value, self.operand) == (self.op == "==")
        number = _as_number(value)
        if number is None:
            return False
        return {">": number > self.operand, ">=": number >= self.operand,
                "<": number < self.operand, "<=": number <= self.operand}[self.op]


def parse_expectation(value: Any) -> Expectation:
    """A condition's right-hand side: ``"ok"``, ``">= 1"``, ``"exists"``, ``true``, ``3``, ``null``."""
    if isinstance(value, (dict, list)):
        raise ValueError("expected a literal or an operator and a literal, e.g. ok, '>= 1', exists")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("a number must be finite")
    if not isinstance(value, str):
        return Expectation("==", value, _literal_text(value))
    text = value.strip()
    if text in ("exists", "absent"):
        return Expectation(text, None, text)
    for op in OPERATORS:
        if text.startswith(op):
            literal = _literal(text[len(op):].strip())
            if op not in ("==", "!=") and _as_number(literal) is None:
                raise ValueError(f"{value!r}: {op} needs a number, e.g. '{op} 1'")
            return Expectation(op, literal, text)
    return Expectation("==", _literal(text), text)


def _literal(text: str) -> Any:
    if len(text) > 1024:
        raise ValueError("a literal longer than 1024 characters")
    if text in ("true", "false", "null") or (text[:1] in '"-0123456789' and text):
        try:
            parsed = json.loads(text)
        except ValueError:
            return text
        if isinstance(parsed, float) and not math.isfinite(parsed):
            return text
        return parsed
    return text


def _literal_text(value: Any) -> str:
    return json.dumps(value)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (list, dict)):
        return float(len(value))
    return None


def _equal(value: Any, literal: Any) -> bool:
    if isinstance(value, bool) or isinstance(literal, bool):
        return value is literal or (isinstance(value, str) and value == _literal_text(literal))
    if isinstance(value, (int, float)) and isinstance(literal, (int, float)):
        return value == literal
    if isinstance(value, str):
        return value == (literal if isinstance(literal, str) else _literal_text(literal))
    return value == literal


def describe(value: Any, limit: int = 120) -> str:
    """What was found at a path, as compact JSON, cut to ``limit`` characters."""
    if value is _MISSING:
        return "(missing)"
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"
