"""``/config``: the effective configuration as YAML (defaults filled in), with secrets redacted.

The YAML uses the config file's own keys, so it loads back into the same configuration (the
round trip is tested). Secrets never leave: credentials in URLs and ``password=``/``token=``-style
values are masked by :func:`exporter.redact.redact`, and every value under a key that names a
secret (password, token, secret, api_key, authorization, headers, ...) is replaced whole.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any

import yaml

from exporter import __version__
from exporter.config import DNS_KEYS, HOST_KEYS, NPM_KEYS, TARGET_KEYS, TOP_KEYS, Config, Target
from exporter.config_values import parse_duration
from exporter.endpoints import PLACEHOLDER
from exporter.redact import SECRET, redact

SECRET_KEY = re.compile(
    r"(?:^|_)(?:pass(?:word|wd|phrase)?|pwd|secret|token|api_?key|access_?key|private_?key|"
    r"authorization|auth|credentials?|cookie|headers?|bearer)(?:$|_)",
    re.I,
)
DURATION_KEYS = frozenset(
    name
    for table in (TOP_KEYS, TARGET_KEYS, DNS_KEYS, HOST_KEYS, NPM_KEYS)
    for name, key in table.items()
    if key.parse is parse_duration
) | {"interval"}
SKIPPED_FIELDS = frozenset({"source", "origins", "upstream_mismatch", "endpoint_specs", "static_specs"})  # not keys
UNITS = (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0))


def duration_text(seconds: float) -> str:
    """``5.0`` → ``5s``, ``21600`` → ``6h``, ``0.25`` → ``250ms``: what parse_duration reads back."""
    if seconds > 0 and math.isfinite(seconds):
        for unit, size in UNITS:
            if seconds >= size and (seconds / size).is_integer():
                return f"{int(seconds / size)}{unit}"
        millis = seconds * 1000
        if millis.is_integer():
            return f"{int(millis)}ms"
    return f"{seconds:g}s"


def plain(value: Any, key: str = "") -> Any:
    """Dataclasses, tuples and paths as YAML-ready dicts, lists and strings; secrets masked."""
    if key and SECRET_KEY.search(key) and value not in (None, "", (), [], {}):
        return {k: SECRET for k in value} if isinstance(value, dict) else SECRET
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain(getattr(value, f.name), f.name)
            for f in dataclasses.fields(value)
            if f.name not in SKIPPED_FIELDS
        }
    if isinstance(value, dict):
        return {str(k): plain(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item, key) for item in value]
    if isinstance(value, Path):
        return redact(str(value))
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, float) and key in DURATION_KEYS:
        return duration_text(value)
    return value


def _endpoint_objects(target: Target, data: dict[str, Any]) -> dict[str, Any]:
    """endpoints / static_paths as the file writes them: paths, or objects (headers name their
    env variable or file, never a value; strings redacted)."""
    for key, specs in (("endpoints", target.endpoint_specs), ("static_paths", target.static_specs)):
        if specs:
            data[key] = [_redacted(spec.to_config()) for spec in specs]
    return data


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return _redact_around_placeholders(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def _redact_around_placeholders(text: str) -> str:
    """Redact the text between ``${env:NAME}`` / ``${file:/path}`` placeholders (they name where a
    secret is, never hold one; 'Bearer ${env:TOKEN}' stays as written, so the view loads back)."""
    parts, at = [], 0
    for match in PLACEHOLDER.finditer(text):
        parts += [redact(text[at:match.start()]), match[0]]
        at = match.end()
    return "".join(parts) + redact(text[at:])


def config_dict(config: Config) -> dict[str, Any]:
    data = plain(config)
    for target, target_data in zip(config.targets, data["targets"]):
        _endpoint_objects(target, target_data)
    # dns.names already holds the machine's hostname when include_hostname was on: do not add it twice.
    data["dns"]["include_hostname"] = False
    for target in data["targets"]:
        for name in [k for k, v in target.items() if v is None]:
            del target[name]  # an unset optional key reads as absent, as in the file
    return data


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)


def config_yaml(config: Config) -> str:
    header = (
        f"# Effective configuration of inventory-exporter {__version__}, loaded from {redact(config.source)}.\n"
        f"# Defaults are filled in; dns.names already includes the hostname when include_hostname was on;\n"
        f"# secrets are shown as {SECRET}.\n"
    )
    return header + _dump(config_dict(config))


def target_yaml(target: Target) -> str:
    data = {k: v for k, v in _endpoint_objects(target, plain(target)).items() if v is not None}
    return _dump(data)
