"""nginx ``log_format`` text to a line parser that runs in linear time.

A text format is literals and ``$variables`` in turn. The parser walks a line once: each variable
ends where the literal that follows it in the format begins (one ``bytes.find`` from the current
position, never looking back), so a line costs O(length) whatever it holds; there is no regular
expression and no backtracking. nginx writes a ``"`` inside a value as ``\\x22`` (escape=default),
so a quoted field ends at the first quote that follows it, spaces and all.

A format whose text is a JSON object (``log_format x escape=json '{"status":"$status",...}'``)
is read with ``json.loads`` (the reader has already capped the line at 64 KiB); each key whose
value is exactly one variable gives that variable.

The parser returns the values of ``wanted`` variables, in that order, as bytes (None when the
format does not have the variable). Variable names are checked to be identifiers before they name
anything in the generated function; literals are passed in as constants, never written into code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable

COMBINED = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
            '"$http_referer" "$http_user_agent"')
NAMED = {"combined": COMBINED}
MAX_FORMAT = 4096  # characters of log_format text

# What the aggregates read, in this order.
WANTED = ("request", "status", "body_bytes_sent", "bytes_sent", "request_time", "upstream_response_time",
          "upstream_status", "time_local", "time_iso8601", "msec")

_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_ESCAPE = re.compile(r"^\s*escape=(default|json|none)\s+")
_JSON_KEY = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:\s*"?\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?"?\s*[,}]')


class FormatError(ValueError):
    """A log_format this reader cannot follow; the message says why."""


@dataclass(frozen=True)
class LineFormat:
    text: str
    is_json: bool
    variables: tuple[str, ...]
    wanted: tuple[str, ...]
    parse: Callable[[bytes], "tuple[bytes | None, ...] | None"]  # None: the line is not in this format

    def has(self, variable: str) -> bool:
        return variable in self.variables


def compile_format(text: str | None, wanted: tuple[str, ...] = WANTED) -> LineFormat:
    """The parser of ``text`` (nginx log_format syntax; a name from NAMED; None for combined)."""
    text = COMBINED if text is None else NAMED.get(text.strip(), text)
    if len(text) > MAX_FORMAT:
        raise FormatError(f"the log format is longer than {MAX_FORMAT} characters")
    text = _ESCAPE.sub("", text, count=1).strip("\n")
    if text.strip().startswith("{"):
        return _json_format(text, wanted)
    literals, variables = split(text)
    if not variables:
        raise FormatError("the log format has no $variable")
    for index, literal in enumerate(literals[1:-1], start=1):
        if not literal:
            raise FormatError(f"${variables[index - 1]} and ${variables[index]} follow each other without a "
                              "literal between them: the line cannot be split")
    return LineFormat(text, False, tuple(variables), wanted, _generate(literals, variables, wanted))


def split(text: str) -> tuple[list[str], list[str]]:
    """(literals, variables): literals[i] comes before variables[i]; the last literal ends the line."""
    literals, variables, at = [], [], 0
    for match in _VARIABLE.finditer(text):
        literals.append(text[at:match.start()])
        variables.append(match.group(1) or match.group(2))
        at = match.end()
    literals.append(text[at:])
    return literals, variables


def _generate(literals: list[str], variables: list[str], wanted: tuple[str, ...]) -> Callable:
    """A function with one find per variable, unrolled (a loop over the fields is ~2x slower)."""
    consts = [literal.encode() for literal in literals]
    slots = {name: index for index, name in enumerate(variables)}  # a repeated variable: its last value
    code = ["def parse(line):"]
    if consts[0]:
        code += ["    if not line.startswith(C0): return None", f"    p = {len(consts[0])}"]
    else:
        code.append("    p = 0")
    last = len(variables) - 1
    for index in range(len(variables)):
        keep = slots.get(variables[index]) == index and variables[index] in wanted
        after = consts[index + 1]
        if index < last:
            code += [f"    e = line.find(C{index + 1}, p)", "    if e < 0: return None"]
            if keep:
                code.append(f"    v{index} = line[p:e]")
            code.append(f"    p = e + {len(after)}")
        elif after:
            code += [f"    if not line.endswith(C{index + 1}) or len(line) - {len(after)} < p: return None"]
            if keep:
                code.append(f"    v{index} = line[p:len(line) - {len(after)}]")
        elif keep:
            code.append(f"    v{index} = line[p:]")
    values = [f"v{slots[name]}" if name in slots else "None" for name in wanted]
    code.append(f"    return ({', '.join(values)}{',' if len(values) == 1 else ''})")
    namespace = {f"C{index}": const for index, const in enumerate(consts)}
    exec(compile("\n".join(code), "<log_format>", "exec"), namespace)  # names: identifiers checked by _VARIABLE
    return namespace["parse"]


def _json_format(text: str, wanted: tuple[str, ...]) -> LineFormat:
    keys = {variable: key for key, variable in _JSON_KEY.findall(text)}
    if not keys:
        raise FormatError('the JSON log format maps no key to a $variable (e.g. {"status":"$status"})')
    pairs = tuple((keys.get(name)) for name in wanted)

    def parse(line: bytes) -> tuple[bytes | None, ...] | None:
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(record, dict):
            return None
        return tuple(None if key is None else _json_value(record.get(key)) for key in pairs)

    return LineFormat(text, True, tuple(keys), wanted, parse)


def _json_value(value: object) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8", "replace")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value).encode()
    return None


def check_format(value: object) -> str:
    """The config key ``access_log_format``: a log_format text this reader can follow."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string (nginx log_format text, or 'combined')")
    try:
        compile_format(value)
    except FormatError as exc:
        raise ValueError(str(exc)) from None
    return value
