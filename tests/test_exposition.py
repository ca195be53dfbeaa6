"""The direct exposition writes exactly what prometheus-client's encoders would, in both formats."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.parser import text_string_to_metric_families

from exporter.exposition import render, wants_openmetrics
from exporter.metrics import METRICS, HistogramValue, Samples, families

label_values = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
values = st.one_of(st.floats(allow_nan=False), st.integers(min_value=0, max_value=2**53), st.just(float("inf")))


counts = st.integers(min_value=0, max_value=2**40)
bounds = st.floats(min_value=0, max_value=1e9, allow_nan=False)  # durations and sizes: never negative


@st.composite
def histograms(draw) -> HistogramValue:
    """Cumulative buckets (increasing bounds, non-decreasing counts), +Inf last; as an exporter would add them."""
    les = sorted(set(draw(st.lists(bounds, max_size=6))))
    steps = draw(st.lists(counts, min_size=len(les) + 1, max_size=len(les) + 1))
    cumulative, running = [], 0
    for le, step in zip(les + [float("inf")], steps):
        running += step
        cumulative.append((le, float(running)))
    out = Samples()
    out.add_histogram("inventory_request_duration_seconds", cumulative, draw(st.floats(min_value=0, max_value=1e12)))
    return out.store[0][2]


@st.composite
def scrapes(draw):
    rows = []
    for name in draw(st.lists(st.sampled_from(list(METRICS)), max_size=12)):
        labels = {label: draw(label_values) for label in METRICS[name].labels}
        value = draw(histograms()) if METRICS[name].kind == "histogram" else float(draw(values))
        rows.append((name, labels, value))
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


def test_a_histogram_is_written_as_buckets_count_and_sum():
    out = Samples({"target": "shop"})
    out.add_histogram("inventory_request_duration_seconds", [(0.1, 3), (0.5, 4), (float("inf"), 5)], 2.25, kind="api")
    text = render(out.store)
    assert text.splitlines()[1:] == [
        "# TYPE inventory_request_duration_seconds histogram",
        'inventory_request_duration_seconds_bucket{kind="api",le="0.1",target="shop"} 3.0',
        'inventory_request_duration_seconds_bucket{kind="api",le="0.5",target="shop"} 4.0',
        'inventory_request_duration_seconds_bucket{kind="api",le="+Inf",target="shop"} 5.0',
        'inventory_request_duration_seconds_count{kind="api",target="shop"} 5.0',
        'inventory_request_duration_seconds_sum{kind="api",target="shop"} 2.25',
    ]
    parsed = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if "le" not in s.labels}
    assert parsed == {"inventory_request_duration_seconds_count": 5.0, "inventory_request_duration_seconds_sum": 2.25}


def test_a_histogram_without_its_inf_bucket_is_refused():
    import pytest

    with pytest.raises(ValueError, match=r"\+Inf"):
        Samples().add_histogram("inventory_request_duration_seconds", [(0.1, 3)], 1.0)
