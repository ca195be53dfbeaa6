"""``/probe?target=NAME&debug=true``: what the probe of one target did, in plain text, as blackbox_exporter's
``debug=true`` shows it: each probe's outcome, reason, detail and duration, then the metrics the probe
would have returned, then the target's configuration. Secrets are redacted."""

from __future__ import annotations

import json

from exporter import exposition
from exporter.config_view import target_yaml
from exporter.redact import redact
from exporter.scrape import TargetResult

DURATION = "inventory_probe_duration_seconds"


def _value(text: str) -> str:
    """logfmt: bare when it can be, else a quoted string."""
    if text and text.isprintable() and not any(c in text for c in ' "=\\'):
        return text
    return json.dumps(text, ensure_ascii=False)


def durations(store: list, target: str) -> dict[str, float]:
    """Each probe's duration, from the scrape's own ``inventory_probe_duration_seconds`` samples."""
    return {
        labels["probe"]: value
        for name, labels, value in store
        if name == DURATION and labels.get("target") == target
    }


def probe_lines(result: TargetResult, store: list) -> list[str]:
    took = durations(store, result.target.name)
    lines = []
    for probe, outcome in result.outcomes.items():
        pairs = [("probe", probe), ("outcome", "success" if outcome.ok else "failure")]
        if not outcome.ok:
            pairs.append(("reason", outcome.reason or "internal_error"))
        if outcome.detail:
            pairs.append(("detail", outcome.detail))
        if probe in took:
            pairs.append(("duration_seconds", f"{took[probe]:.6f}"))
        lines.append(" ".join(f"{key}={_value(value)}" for key, value in pairs))
    return lines


def diagnosis_lines(result: TargetResult) -> list[str]:
    diagnosis = result.diagnosis
    if diagnosis is None:
        return []
    lines = [f"root_cause={_value(diagnosis.cause)}"]
    for finding in diagnosis.findings:
        facts = finding.evidence.items() if isinstance(finding.evidence, dict) else ()
        evidence = "".join(f" {key}={_value(str(value))}" for key, value in facts)
        lines.append(f"finding={_value(finding.id)} severity={finding.severity}{evidence}")
    return lines


def render_debug(result: TargetResult, store: list) -> str:
    """The debug page of one target's probe (``store``: the samples that probe produced)."""
    failed = sum(1 for outcome in result.outcomes.values() if not outcome.ok)
    sections = [
        f"Probe of target {result.target.name}: {len(result.outcomes)} probe(s), {failed} failed.",
        "",
        "Logs for the probe:",
        *probe_lines(result, store),
        "",
        "Diagnosis:",
        *diagnosis_lines(result),
        "",
        "Metrics that would have been returned:",
        exposition.render(store).rstrip("\n"),
        "",
        "Target configuration:",
        target_yaml(result.target).rstrip("\n"),
    ]
    return redact("\n".join(sections) + "\n")
