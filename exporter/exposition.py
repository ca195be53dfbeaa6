"""The exposition of one scrape's samples, written directly (Prometheus text 0.0.4 or OpenMetrics 1.0).

prometheus-client's encoders build objects for every sample and were the largest cost of a
/probe; this writes the same bytes from the samples and the METRICS table. The exporter's own
process metrics still come from prometheus-client's collectors.
"""

from __future__ import annotations

import math
from typing import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.utils import floatToGoString
from prometheus_client.openmetrics import exposition as openmetrics

from exporter.metrics import METRICS, HistogramValue
from exporter.redact import label as redact_label

TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def wants_openmetrics(accept: str) -> bool:
    """As prometheus-client decides: OpenMetrics when the client lists it at all."""
    return any(part.split(";")[0].strip() == "application/openmetrics-text" for part in accept.split(","))


def wants_gzip(accept_encoding: str) -> bool:
    """True when ``Accept-Encoding`` lists gzip (or ``*``) with a non-zero q-value."""
    for part in accept_encoding.split(",")[:32]:
        coding, _, params = part.partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = params.strip()
        if not q.startswith("q="):
            return True
        try:
            return float(q[2:]) > 0
        except ValueError:
            return False
    return False


def number(value: float) -> str:
    """Floats as Go and prometheus-client print them (1e+06, +Inf, NaN).

    Whole numbers (flags, ports, counts, sizes) recur in every scrape: their text is remembered.
    """
    if value == 0.0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"  # -0.0 == 0.0 as a dict key
    text = _WHOLE.get(value)
    if text is None:
        text = floatToGoString(value)
        if value.is_integer() and len(_WHOLE) < 4096:
            _WHOLE[value] = text
    return text


_WHOLE: dict[float, str] = {}


def _escape_label(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        value = value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


_LABEL_TEXT: dict[str, str] = {}


def _label_text(value: object) -> str:
    """A label value as written: redacted (secrets never leave as labels) and escaped, remembered."""
    text = _LABEL_TEXT.get(value)  # type: ignore[arg-type]
    if text is None:
        raw = str(value)
        text = _escape_label(redact_label(raw))
        if len(_LABEL_TEXT) < 65536:
            _LABEL_TEXT[raw] = text
    return text


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _header(name: str, openmetrics_format: bool) -> str:
    spec = METRICS[name]
    family = name[:-6] if openmetrics_format and spec.kind == "counter" and name.endswith("_total") else name
    return f"# HELP {family} {_escape_help(spec.help)}\n# TYPE {family} {spec.kind}"


# Everything about a metric that does not change between scrapes, worked out once.
_ORDER = {name: index for index, name in enumerate(METRICS)}
_LABELS = {name: tuple(sorted(spec.labels)) for name, spec in METRICS.items()}
_HEADERS = {om: {name: _header(name, om) for name in METRICS} for om in (False, True)}
_HISTOGRAMS = frozenset(name for name, spec in METRICS.items() if spec.kind == "histogram")


def render(samples: Iterable[tuple[str, dict[str, str], float]], openmetrics_format: bool = False) -> str:
    grouped: dict[str, list[tuple[dict[str, str], float]]] = {}
    for name, labels, value in samples:
        grouped.setdefault(name, []).append((labels, value))
    headers = _HEADERS[openmetrics_format]
    lines: list[str] = []
    for name in sorted(grouped, key=_ORDER.__getitem__):
        lines.append(headers[name])
        if name in _HISTOGRAMS:
            _histogram_lines(name, grouped[name], lines)
            continue
        order = _LABELS[name]
        for labels, value in grouped[name]:
            if order:
                pairs = ",".join([f'{label}="{_label_text(labels.get(label, ""))}"' for label in order])
                lines.append(f"{name}{{{pairs}}} {number(value)}")
            else:
                lines.append(f"{name} {number(value)}")
    return "\n".join(lines) + "\n" if lines else ""


def _histogram_lines(name: str, rows: list[tuple[dict[str, str], HistogramValue]], lines: list[str]) -> None:
    """``_bucket`` (cumulative, +Inf last), ``_count`` and ``_sum`` of each label set, labels sorted (le among them)."""
    order = _LABELS[name]
    with_le = tuple(sorted(order + ("le",)))
    for labels, value in rows:
        pairs = [f'{label}="{_label_text(labels.get(label, ""))}"' for label in order]
        plain = "{" + ",".join(pairs) + "}" if pairs else ""
        for le, count in value.buckets:
            bucket = ",".join(
                f'le="{floatToGoString(le)}"' if label == "le" else f'{label}="{_label_text(labels.get(label, ""))}"'
                for label in with_le
            )
            lines.append(f"{name}_bucket{{{bucket}}} {number(count)}")
        lines.append(f"{name}_count{plain} {number(value.count)}")
        lines.append(f"{name}_sum{plain} {number(value.sum)}")


def render_process(registry: CollectorRegistry, openmetrics_format: bool) -> str:
    """The exporter's own process/platform/GC metrics, without OpenMetrics' closing # EOF."""
    if openmetrics_format:
        return openmetrics.generate_latest(registry).decode().removesuffix("# EOF\n")
    return generate_latest(registry).decode()
