"""The direct exposition writes exactly what prometheus-client's encoders would, in both formats."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.parser import text_string_to_metric_families

from exporter.exposition import render, wants_openmetrics
from exporter.metrics import METRICS, families

label_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
values = st.one_of(st.floats(allow_nan=False), st.integers(min_value=0, max_value=2**53), st.just(float("inf")))


@st.composite
def scrapes(draw):
    rows = []
    for name in draw(st.lists(st.sampled_from(list(METRICS)), max_size=12)):
        labels = {label: draw(label_values) for label in METRICS[name].labels}
        rows.append((name, labels, float(draw(values))))
    return rows


class _Fixed:
    def __init__(self, metrics):
        self.metrics = metrics

    def collect(self):
        return self.metrics


def reference(rows, om: bool) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families(rows)))
    if om:
        return openmetrics.generate_latest(registry).decode().removesuffix("# EOF\n")
    return generate_latest(registry).decode()


@settings(max_examples=200, deadline=None)
@given(rows=scrapes(), om=st.booleans())
def test_the_direct_exposition_is_byte_for_byte_prometheus_clients(rows, om):
    assert render(rows, om) == reference(rows, om)


def test_the_output_parses_back_to_the_same_values():
    rows = [("inventory_http_up", {"target": 'a"b\\c\nd', "path": "/x", "kind": "api"}, 1.0),
            ("inventory_proxy_upstream_errors_total", {"target": "t", "reason": "timed_out"}, 7.0)]
    parsed = {(s.name, s.labels.get("target")): s.value for f in text_string_to_metric_families(render(rows)) for s in f.samples}
    assert parsed == {("inventory_http_up", 'a"b\\c\nd'): 1.0, ("inventory_proxy_upstream_errors_total", "t"): 7.0}


def test_openmetrics_is_chosen_as_prometheus_asks_for_it():
    prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    assert wants_openmetrics(prometheus)
    assert not wants_openmetrics("text/plain;version=0.0.4")
    assert not wants_openmetrics("")
