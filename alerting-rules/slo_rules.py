"""Service-level objectives of alerting-rules/config.yml (`slos`, `burn_rate_alerts`) as Prometheus rules:
per SLO, error-ratio recording rules over every burn window and over the whole SLO window, the error
budget remaining, and multiwindow multi-burn-rate alerts (Google SRE workbook, "Alerting on SLOs", as
sloth and pyrra generate them). Used by generate.py; the SLIs are the access-log probe's metrics.

Availability: bad = requests nginx answered 5xx, of all requests of ``inventory_requests_total``.
Latency: bad = requests of one ``kind`` slower than ``threshold_seconds``
(``inventory_request_duration_seconds_bucket{le=threshold}`` vs ``_count``).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

BY = "job, instance, target"
# inventory_request_duration_seconds buckets (metric contract of issue 14): a latency threshold must be one
# of them, as the SLI counts the requests in the bucket le=threshold.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 3, 5, 10)
KINDS = ("api", "page", "static")
SLO_KINDS = ("availability", "latency")
PERIOD_STEP = "5m"  # the SLO-window ratio sums the 5m rates recorded every evaluation (traffic-weighted)
BUDGET_RULE = "inventory:slo_error_budget_remaining:ratio"
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


class ConfigError(ValueError):
    """A bad `slos` / `burn_rate_alerts` entry: the message names the key and the reason."""


# --- reading the config ----------------------------------------------------------------------------


def _percent(value, where: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ConfigError(f"{where}: {value!r} is not a number (a percentage such as 99.5)") from None
    if not Decimal(0) < number < Decimal(100):
        raise ConfigError(f"{where}: {value} must be a percentage between 0 and 100 (exclusive), such as 99.5")
    return number


def _duration(value, where: str) -> str:
    if not isinstance(value, str) or not DURATION.match(value):
        raise ConfigError(f"{where}: {value!r} is not a Prometheus duration such as 5m, 6h, 28d")
    return value


def _number(value: Decimal) -> str:
    """A decimal without float noise or a trailing exponent: 0.005, 14.4, 1."""
    return format(value.normalize(), "f")


def go_float(value: float) -> str:
    """A bucket boundary as the Prometheus text exposition writes it (prometheus-client: 3 -> "3.0")."""
    return repr(float(value))


def le_matcher(threshold: float) -> str:
    """``le`` matching the bucket however the exposition spelled it (0.5; 3 or 3.0)."""
    spellings = sorted({go_float(threshold), f"{threshold:g}"})
    if len(spellings) == 1:
        return f'le="{spellings[0]}"'
    return 'le=~"' + "|".join(s.replace(".", "\\\\.") for s in spellings) + '"'


def slos(config: dict, source: str = "config.yml") -> list[dict]:
    """The validated SLOs: name, kind, objective (percent), budget (ratio), window, and for latency
    kind and threshold."""
    entries = config.get("slos") or {}
    if not isinstance(entries, dict):
        raise ConfigError(f"{source}: slos: expected a mapping of SLO name to its settings")
    out = []
    for name, entry in entries.items():
        where = f"{source}: slos.{name}"
        if not re.fullmatch(r"[a-z][a-z0-9_]*", str(name)):
            raise ConfigError(f"{where}: the name must be lower case letters, digits and _ (it becomes a rule name)")
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping with sli, objective and window")
        sli = entry.get("sli")
        if sli not in SLO_KINDS:
            raise ConfigError(f"{where}.sli: {sli!r} must be one of {', '.join(SLO_KINDS)}")
        objective = _percent(entry.get("objective"), f"{where}.objective")
        slo = {"name": name, "sli": sli, "objective": objective, "budget": (100 - objective) / 100,
               "window": _duration(entry.get("window"), f"{where}.window")}
        if sli == "latency":
            kind = entry.get("kind", "api")
            if kind not in KINDS:
                raise ConfigError(f"{where}.kind: {kind!r} must be one of {', '.join(KINDS)}")
            threshold = entry.get("threshold_seconds")
            if not isinstance(threshold, (int, float)) or float(threshold) not in DURATION_BUCKETS:
                raise ConfigError(f"{where}.threshold_seconds: {threshold!r} must be a bucket of "
                                  f"inventory_request_duration_seconds: {', '.join(f'{b:g}' for b in DURATION_BUCKETS)}")
            slo.update(kind=kind, threshold=float(threshold))
        out.append(slo)
    return out


def burn_alerts(config: dict, source: str = "config.yml") -> list[dict]:
    entries = config.get("burn_rate_alerts") or []
    if entries and not isinstance(entries, list):
        raise ConfigError(f"{source}: burn_rate_alerts: expected a list")
    out = []
    for i, entry in enumerate(entries):
        where = f"{source}: burn_rate_alerts[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping")
        suffix = entry.get("suffix")
        if not isinstance(suffix, str) or not re.fullmatch(r"(?:[A-Z][a-z0-9]*)+", suffix):
            raise ConfigError(f"{where}.suffix: {suffix!r} must be CamelCase, e.g. BurnFast")
        if entry.get("severity") not in ("critical", "warning", "info"):
            raise ConfigError(f"{where}.severity: {entry.get('severity')!r} must be critical, warning or info")
        try:
            rate = Decimal(str(entry.get("burn_rate")))
        except InvalidOperation:
            rate = Decimal(0)
        if not rate > 0:
            raise ConfigError(f"{where}.burn_rate: {entry.get('burn_rate')!r} must be a positive number such as 14.4")
        out.append({"suffix": suffix, "severity": entry["severity"], "burn_rate": rate,
                    "long": _duration(entry.get("long_window"), f"{where}.long_window"),
                    "short": _duration(entry.get("short_window"), f"{where}.short_window"),
                    "for": _duration(entry.get("for"), f"{where}.for"), "summary": entry.get("summary", "")})
    return out


# --- the SLIs --------------------------------------------------------------------------------------


def rate_name(slo: dict, what: str, window: str) -> str:
    """The recorded per-second rate of an SLO's requests or errors, e.g. inventory:slo_availability_errors:rate5m."""
    return f"inventory:slo_{slo['name']}_{what}:rate{window}"


def ratio_name(slo: dict, window: str) -> str:
    """The recorded error ratio over ``window``, e.g. inventory:slo_availability_errors:ratio_rate1h."""
    return f"inventory:slo_{slo['name']}_errors:ratio_rate{window}"


def requests_rate(slo: dict, window: str) -> str:
    if slo["sli"] == "availability":
        return f"sum by ({BY}) (rate(inventory_requests_total[{window}]))"
    return f'sum by ({BY}) (rate(inventory_request_duration_seconds_count{{kind="{slo["kind"]}"}}[{window}]))'


def errors_rate(slo: dict, window: str) -> str:
    total = requests_rate(slo, window)
    if slo["sli"] == "availability":
        # no 5xx series at all until the first 5xx: fall back to 0 so the ratio is 0, not absent
        return f'sum by ({BY}) (rate(inventory_requests_total{{code_class="5xx"}}[{window}])) or 0 * {total}'
    good = (f'sum by ({BY}) (rate(inventory_request_duration_seconds_bucket{{kind="{slo["kind"]}", '
            f'{le_matcher(slo["threshold"])}}}[{window}]))')
    return f"{total} - {good}"


def windows(alerts: list[dict]) -> list[str]:
    """Every burn window the alerts use, shortest first (5m always: the SLO-window ratio is built from it)."""
    from_alerts = {w for a in alerts for w in (a["long"], a["short"])} | {PERIOD_STEP}
    return sorted(from_alerts, key=seconds)


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration))


def recording_rules(slo: dict, alerts: list[dict]) -> list[dict]:
    step = PERIOD_STEP
    requests, errors = rate_name(slo, "requests", step), rate_name(slo, "errors", step)
    period = ratio_name(slo, slo["window"])
    exprs = [
        (requests, requests_rate(slo, step)),
        (errors, errors_rate(slo, step)),
        (ratio_name(slo, step), f"{errors} / {requests}"),
        *((ratio_name(slo, w), f"({errors_rate(slo, w)}) / {requests_rate(slo, w)}") for w in windows(alerts) if w != step),
        # the whole SLO window from the recorded 5m rates: traffic-weighted, cheap, unaffected by quiet hours
        (period, f"sum_over_time({errors}[{slo['window']}]) / sum_over_time({requests}[{slo['window']}])"),
        (BUDGET_RULE, f"1 - {period} / {_number(slo['budget'])}"),
    ]
    return [{"record": name, "expr": expr, "labels": {"slo": slo["name"]}} for name, expr in exprs]


# --- the alerts ------------------------------------------------------------------------------------


def alert_name(slo: dict, alert: dict) -> str:
    return "InventorySLO" + "".join(p.capitalize() for p in slo["name"].split("_")) + alert["suffix"]


def what_is_bad(slo: dict) -> str:
    if slo["sli"] == "availability":
        return "requests answered 5xx"
    return f"{slo['kind']} requests slower than {slo['threshold']:g}s"


def objective_text(slo: dict) -> str:
    objective = _number(slo["objective"])
    if slo["sli"] == "availability":
        return f"{objective}% of requests without a 5xx over {slo['window']}"
    return f"{objective}% of {slo['kind']} requests within {slo['threshold']:g}s over {slo['window']}"


def remaining_budget_template(slo: dict) -> str:
    """Template text: the target's error budget remaining in percent (negative once overspent)."""
    selector = f'100 * {BUDGET_RULE}{{slo=\\"{slo["name"]}\\", job=\\"%s\\", instance=\\"%s\\", target=\\"%s\\"}}'
    return (f'{{{{ with printf "{selector}" $labels.job $labels.instance $labels.target | query }}}}'
            f'{{{{ . | first | value | printf "%.1f" }}}}%{{{{ else }}}}unknown{{{{ end }}}}')


def alert_rule(slo: dict, alert: dict, runbook_base: str, dashboard_url: str) -> dict:
    name = alert_name(slo, alert)
    budget, rate = _number(slo["budget"]), _number(alert["burn_rate"])
    long_ratio = ratio_name(slo, alert["long"])
    short_ratio = ratio_name(slo, alert["short"])
    title = slo["name"].replace("_", " ")
    summary = alert["summary"] or f"burning faster than {rate}x"
    return {
        "alert": name,
        "expr": f"{long_ratio} / {budget} > {rate} and {short_ratio} / {budget} > {rate}",
        "for": alert["for"],
        "labels": {"severity": alert["severity"], "slo": slo["name"]},
        "annotations": {
            "summary": f"The {title} SLO's error budget is {summary} ({alert['long']} and {alert['short']} windows).",
            "description": (
                f"Target {{{{ $labels.target }}}} ({{{{ $labels.instance }}}}): {what_is_bad(slo)} over the last "
                f"{alert['long']} burn the error budget {{{{ printf \"%.1f\" $value }}}}x as fast as the objective "
                f"allows ({objective_text(slo)}; alert above {rate}x over both {alert['long']} and {alert['short']}). "
                f"Error budget remaining over {slo['window']}: {remaining_budget_template(slo)}."
            ),
            "runbook_url": f"{runbook_base}#{name.lower()}",
            "dashboard_url": dashboard_url,
        },
    }


def group(config: dict, runbook_base: str, dashboard_url: str, source: str = "config.yml") -> dict | None:
    """The `inventory-slo` rule group: every SLO's recording rules, then its alerts (rules of a group run
    in order, so the alerts read the ratios of the same evaluation)."""
    objectives, alerts = slos(config, source), burn_alerts(config, source)
    if not objectives:
        return None
    records = [r for slo in objectives for r in recording_rules(slo, alerts)]
    pages = [alert_rule(slo, a, runbook_base, dashboard_url) for slo in objectives for a in alerts]
    return {"name": "inventory-slo", "rules": records + pages}
