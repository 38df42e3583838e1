"""The status page's arithmetic over Prometheus samples. Pure."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from chat.ops.monitoring import bucket_quantile, latency_rows, totals


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0.5, 0.01), (0.9, 0.1), (0.99, math.inf), (0.01, 0.01)],
)
def test_a_quantile_is_the_upper_bound_of_its_bucket(q: float, expected: float) -> None:
    """Cumulative buckets (le, count): 6 of 10 <= 10 ms, 9 <= 100 ms, the last one beyond."""
    buckets = [(0.01, 6.0), (0.1, 9.0), (math.inf, 10.0)]
    assert bucket_quantile(buckets, q) == expected


def test_an_empty_histogram_has_no_quantile() -> None:
    assert bucket_quantile([], 0.5) is None
    assert bucket_quantile([(0.01, 0.0), (math.inf, 0.0)], 0.5) is None


def test_rows_per_label_and_totals_summed_over_labels() -> None:
    """One row per op with count, mean and bounds in ms; counters summed over labels."""
    registry = CollectorRegistry()
    latency = Histogram("op_seconds", "x", ["op"], buckets=(0.01, 0.1), registry=registry)
    refused = Counter("refused_total", "x", ["code"], registry=registry)
    latency.labels("insert").observe(0.004)
    latency.labels("insert").observe(0.006)
    latency.labels("find").observe(0.05)
    refused.labels("a").inc()
    refused.labels("b").inc(2)
    families = list(registry.collect())
    rows = {row.name: row for row in latency_rows(families, "op_seconds", "Mongo")}
    assert set(rows) == {"Mongo: insert", "Mongo: find"}
    assert (rows["Mongo: insert"].count, rows["Mongo: insert"].mean_ms) == (2, 5.0)
    assert (rows["Mongo: insert"].p50_ms, rows["Mongo: find"].p99_ms) == (10.0, 100.0)
    assert totals(families)["refused_total"] == 3
