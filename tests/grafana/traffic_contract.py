"""The access-log metrics the Traffic row queries, as the metric contract of issue 14 names them.

REMOVE AT MERGE: the access-log probe (another branch) declares these in exporter/metrics.py METRICS. Until
then the lint reads them from here; once METRICS has them, METRICS wins and
tests/grafana/test_traffic.py::test_the_contract_agrees_with_exporter_metrics_once_declared checks they agree.
"""

from __future__ import annotations

from exporter.metrics import Spec

T = "target"
CONTRACT: dict[str, Spec] = {
    "inventory_requests_total": Spec("counter", (T, "kind", "code_class", "route"), "Requests nginx logged."),
    "inventory_request_duration_seconds": Spec("histogram", (T, "kind"), "$request_time of the logged requests."),
}
