"""A dashboard linter for the conventions of the best dashboards (grafana's dashboard-linter rules, the
mixins, Node Exporter Full), applied to a dashboard's JSON model as a dict.

``lint(dashboard, alerts)`` returns ``[(rule, where, message)]``; empty means clean. ``alerts`` is the set
of alert names a runbook link may point at (``docs/runbooks.md#<alert name lower-cased>``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import yaml
from exporter.metrics import METRICS, Spec

KNOWN_METRICS: dict[str, Spec] = METRICS
RULES_FILE = Path(__file__).resolve().parents[2] / "alerting-rules" / "inventory.rules.yml"
HISTOGRAM_SERIES = ("_bucket", "_count", "_sum")

RULES = (
    "uid",                      # stable, readable dashboard uid; unique positive panel ids
    "datasource-variable",      # a `datasource` variable of type prometheus
    "hardcoded-datasource",     # no datasource uid other than the variable, anywhere
    "template-variables",       # job / instance / target query variables, refreshed on time change
    "panel-type",               # timeseries & co, never the removed graph/singlestat panels
    "panel-title-description",  # every panel has a title and a description
    "panel-units",              # every panel has a valid unit
    "panel-runbook-link",       # every panel links to the runbook of an alert it is about
    "panel-targets",            # every panel has at least one query
    "target-selectors",         # every selector filters by $job, $instance (and $target for target metrics)
    "target-rate-interval",     # rate/irate/increase over $__rate_interval; no hard-coded ranges
    "target-counter-rate",      # counters only inside rate()/irate()/increase()
    "variables-defined",        # every $variable used is defined or a Grafana built-in
)

DS_VARIABLE_UIDS = {"${datasource}", "$datasource"}
BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range", "__interval_ms", "__range_s", "__range_ms"}
# Panel types in current Grafana; "graph", "singlestat" and "table-old" were removed (angular).
PANEL_TYPES = {"timeseries", "stat", "table", "bargauge", "gauge", "state-timeline", "status-history", "text",
               "barchart", "piechart", "heatmap", "histogram", "logs", "alertlist", "dashlist", "row"}
# Grafana unit ids (packages/grafana-data/src/valueFormats/categories.ts) that these dashboards may use.
UNITS = {"none", "short", "string", "percent", "percentunit", "s", "ms", "µs", "ns", "m", "h", "d", "dtdurations",
         "bytes", "decbytes", "bits", "reqps", "ops", "rps", "cps", "hertz", "bool", "bool_yes_no", "bool_on_off",
         "dateTimeAsIso", "dateTimeFromNow", "locale", "sci"}
ALLOWED_RANGES = {"$__rate_interval", "$__interval", "$__range"}
RATE_FUNCTIONS = ("rate", "irate", "increase")
EXPORTER_METRICS = {"up", "ALERTS"}
IDENT = r"[A-Za-z_:][A-Za-z0-9_:]*"
MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}|([A-Za-z_][A-Za-z0-9_]*))")
RUNBOOK = re.compile(r"docs/runbooks\.md#([a-z0-9-]+)$")
UID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")

Problem = tuple[str, str, str]


def panels(dashboard: dict) -> Iterator[dict]:
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", []) or []


def variables(dashboard: dict) -> dict[str, dict]:
    return {v.get("name"): v for v in (dashboard.get("templating") or {}).get("list", [])}


def strip_strings(expr: str) -> str:
    """``expr`` with string literals outside ``{...}`` emptied (label_replace arguments), matchers kept."""
    out, depth, quote, i = [], 0, None, 0
    while i < len(expr):
        ch = expr[i]
        if quote:
            if ch == "\\":
                if depth:
                    out.append(expr[i:i + 2])
                i += 2
                continue
            if ch == quote:
                quote = None
                out.append(ch)
            elif depth:
                out.append(ch)
            i += 1
            continue
        if ch in "\"'`":
            quote = ch
            out.append(ch)
        else:
            depth += ch == "{"
            depth -= ch == "}"
            out.append(ch)
        i += 1
    return "".join(out)


def recorded_names(path: Path = RULES_FILE) -> set[str]:
    """Series names the shipped recording rules write (inventory:...)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {r["record"] for g in doc["groups"] for r in g["rules"] if "record" in r}


def resolve(name: str, metrics: Mapping[str, Spec]) -> Spec | None:
    """The spec of a series name: a declared metric, or the _bucket/_count/_sum series of a declared histogram
    (counters: only inside rate(); _bucket adds the le label)."""
    if name in metrics:
        return metrics[name]
    for suffix in HISTOGRAM_SERIES:
        base = metrics.get(name.removesuffix(suffix)) if name.endswith(suffix) else None
        if base is not None and base.kind == "histogram":
            return Spec("counter", base.labels + (("le",) if suffix == "_bucket" else ()), base.help)
    return None


def selectors(expr: str) -> Iterator[tuple[str, dict[str, list[tuple[str, str]]]]]:
    """(metric name, {label: [(op, value)]}) for every metric selector of a PromQL expression."""
    code = strip_strings(expr)
    for match in re.finditer(rf"(?<![\w:.$])({IDENT})\s*(\{{[^}}]*\}})?", code):
        name, braces = match.group(1), match.group(2)
        if not (name.startswith(("inventory_", "inventory:")) or (name in EXPORTER_METRICS and braces is not None)):
            continue
        matchers: dict[str, list[tuple[str, str]]] = {}
        for label, op, value in MATCHER.findall(braces or ""):
            matchers.setdefault(label, []).append((op, value))
        yield name, matchers


def _filters_by(matchers: dict, label: str, variable: str) -> bool:
    return any(op == "=~" and f"${variable}" in value for op, value in matchers.get(label, []))


def _inside_rate(code: str, start: int) -> bool:
    """Whether position ``start`` lies inside the parentheses of rate(), irate() or increase()."""
    depth = 0
    for i in range(start - 1, -1, -1):
        if code[i] == ")":
            depth += 1
        elif code[i] == "(":
            if depth == 0:
                name = re.search(rf"({IDENT})\s*$", code[:i])
                if name and name.group(1) in RATE_FUNCTIONS:
                    return True
            else:
                depth -= 1
    return False


def lint_expr(expr: str, where: str, defined: set[str], metrics: Mapping[str, Spec] = KNOWN_METRICS,
              recorded: set[str] | frozenset[str] = frozenset()) -> list[Problem]:
    problems: list[Problem] = []
    code = strip_strings(expr)
    for name, matchers in selectors(expr):
        spec = resolve(name, metrics)
        if name.startswith("inventory_") and spec is None:
            problems.append(("target-selectors", where, f"{name} is not a metric the exporter emits"))
            continue
        if name.startswith("inventory:"):
            if name not in recorded:
                problems.append(("target-selectors", where, f"{name} is not recorded by the shipped rules"))
                continue
            spec = Spec("gauge", ("target",), "recording rule per job, instance, target")
        for label in ("job", "instance"):
            if not _filters_by(matchers, label, label):
                problems.append(("target-selectors", where, f'{name} is not filtered by {label}=~"${label}"'))
        if spec is not None and "target" in spec.labels and not _filters_by(matchers, "target", "target"):
            problems.append(("target-selectors", where, f'{name} is not filtered by target=~"$target"'))
        if spec is not None and spec.kind == "counter":
            for occurrence in re.finditer(rf"(?<![\w:]){re.escape(name)}\b", code):
                if not _inside_rate(code, occurrence.start()):
                    problems.append(("target-counter-rate", where, f"counter {name} used outside rate()/increase()"))
    for match in re.finditer(r"\[([^\]]*)\]", code):
        window = match.group(1).split(":")[0].strip()
        if window not in ALLOWED_RANGES:
            problems.append(("target-rate-interval", where, f"hard-coded range [{match.group(1)}]"))
        elif window != "$__rate_interval" and _inside_rate(code, match.start()):
            problems.append(("target-rate-interval", where, f"rate over [{window}], not [$__rate_interval]"))
    for match in VARIABLE.finditer(code):
        name = match.group(1) or match.group(2)
        if name not in defined and name not in BUILTIN_VARIABLES:
            problems.append(("variables-defined", where, f"${name} is not a variable of the dashboard"))
    return problems


def _datasource_refs(node, path: str = "") -> Iterator[tuple[str, object]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield f"{path}.datasource", value
            yield from _datasource_refs(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _datasource_refs(value, f"{path}[{i}]")


def lint(dashboard: dict, alerts: Iterable[str], metrics: Mapping[str, Spec] = KNOWN_METRICS,
         recorded: Iterable[str] | None = None) -> list[Problem]:
    anchors = {a.lower() for a in alerts}
    recorded = set(recorded_names() if recorded is None else recorded)
    problems: list[Problem] = []
    title = dashboard.get("title", "?")

    uid = dashboard.get("uid")
    if not isinstance(uid, str) or not UID.match(uid):
        problems.append(("uid", title, f"uid {uid!r} is not a stable readable uid ([a-z0-9-], at most 40)"))
    ids = [p.get("id") for p in panels(dashboard)]
    if any(not isinstance(i, int) or i <= 0 for i in ids) or len(set(ids)) != len(ids):
        problems.append(("uid", title, f"panel ids must be unique positive integers: {ids}"))

    found = variables(dashboard)
    ds = found.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append(("datasource-variable", title, "no `datasource` variable of type prometheus"))
    for where, ref in _datasource_refs(dashboard):
        uid_ = ref.get("uid") if isinstance(ref, dict) else ref
        if isinstance(ref, dict) and ref.get("type") == "grafana":
            continue  # the built-in annotations query
        if uid_ not in DS_VARIABLE_UIDS:
            problems.append(("hardcoded-datasource", f"{title}{where}", f"datasource {uid_!r} is not $datasource"))

    for name in ("job", "instance", "target"):
        var = found.get(name)
        if var is None:
            problems.append(("template-variables", title, f"no `{name}` variable"))
            continue
        query = var.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        ok = (var.get("type") == "query" and (var.get("datasource") or {}).get("uid") in DS_VARIABLE_UIDS
              and var.get("refresh") == 2 and isinstance(query, str) and query.startswith("label_values(")
              and query.rstrip().endswith(f", {name})") and var.get("multi") and var.get("includeAll")
              and var.get("allValue"))
        if not ok:
            problems.append(("template-variables", title, f"`{name}` must be a multi-value query variable on "
                             f"$datasource with All, label_values(..., {name}), refreshed on time range change"))

    defined = set(found)
    for panel in panels(dashboard):
        where = f"{title} / {panel.get('title', '?')}"
        kind = panel.get("type")
        if kind not in PANEL_TYPES:
            problems.append(("panel-type", where, f"panel type {kind!r} (use timeseries, stat, table, ...)"))
        if kind == "row":
            continue
        if not (panel.get("title") or "").strip() or not (panel.get("description") or "").strip():
            problems.append(("panel-title-description", where, "panel needs a title and a description"))
        unit = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
        if unit not in UNITS:
            problems.append(("panel-units", where, f"unit {unit!r} is missing or not a Grafana unit"))
        links = [(link.get("url") or "") for link in panel.get("links") or []]
        runbook_links = [m.group(1) for m in (RUNBOOK.search(url) for url in links) if m]
        if not runbook_links or any(anchor not in anchors for anchor in runbook_links):
            problems.append(("panel-runbook-link", where,
                             f"needs links to docs/runbooks.md#<alert> of shipped alerts, has {links}"))
        targets = panel.get("targets") or []
        if not targets:
            problems.append(("panel-targets", where, "panel has no query"))
        if (panel.get("datasource") or {}).get("uid") not in DS_VARIABLE_UIDS:
            problems.append(("hardcoded-datasource", where, "panel datasource is not $datasource"))
        for target in targets:
            expr = target.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                problems.append(("panel-targets", where, f"query {target.get('refId')} has no expr"))
                continue
            problems.extend(lint_expr(expr, f"{where} [{target.get('refId')}]", defined, metrics, recorded))
    for name, var in found.items():
        query = var.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        if var.get("type") == "query" and isinstance(query, str):
            for match in VARIABLE.finditer(query):
                used = match.group(1) or match.group(2)
                if used not in defined and used not in BUILTIN_VARIABLES:
                    problems.append(("variables-defined", f"{title} / ${name}", f"${used} is not defined"))
    return problems
