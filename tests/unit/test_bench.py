"""The benchmark's pure helpers: percentiles, message texts, frames, metrics and results."""

from __future__ import annotations

import json

import pytest

from bench.chatbench import (
    BenchConfig,
    Tally,
    events_of,
    format_progress,
    format_report,
    latency_summary,
    make_text,
    metrics_url,
    parse_metrics,
    parse_text,
    percentile,
    room_url,
    summarize,
)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([5.0], 0.5, 5.0),
        ([5.0], 0.999, 5.0),
        ([1.0, 2.0], 0.5, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0),
        ([1.0, 2.0, 3.0, 4.0], 0.75, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 1.0, 4.0),
        ([float(i) for i in range(1, 101)], 0.99, 99.0),
        ([float(i) for i in range(1, 1001)], 0.999, 999.0),
        ([float(i) for i in range(1, 11)], 0.999, 10.0),
    ],
)
def test_percentile_is_nearest_rank(values: list[float], q: float, expected: float) -> None:
    """The q-quantile is the smallest value with at least q of the samples at or below it."""
    assert percentile(values, q) == expected


def test_percentile_of_nothing_is_none() -> None:
    """No samples, no percentile (a run that delivered nothing)."""
    assert percentile([], 0.5) is None


@pytest.mark.parametrize("q", [0.0, -0.1, 1.5])
def test_percentile_rejects_quantiles_outside_the_unit_interval(q: float) -> None:
    """A quantile of 0 or above 1 is a caller's mistake."""
    with pytest.raises(ValueError):
        percentile([1.0], q)


def test_latency_summary_sorts_and_reports_milliseconds() -> None:
    """Samples in seconds, unsorted, come out as p50/p99/p999 in milliseconds."""
    samples = [i / 1000 for i in range(1000, 0, -1)]
    assert latency_summary(samples) == {"p50": 500.0, "p99": 990.0, "p999": 999.0}
    assert latency_summary([]) == {"p50": None, "p99": None, "p999": None}


@pytest.mark.parametrize("size", [1, 40, 64, 1000])
def test_text_round_trips_origin_and_send_time(size: int) -> None:
    """A bench text names its sender, index and send time, and is padded to the asked size."""
    text = make_text("abcd1234", "s3", 17, 12345.678901, size)
    assert parse_text(text, "abcd1234") == ("s3", 17, 12345.678901)
    assert len(text) == max(size, len(text.rstrip("x")) + 1)


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "bench:otherrun:s1:0:1.0:x",
        "bench:abcd1234:s1:notanint:1.0:x",
        "bench:abcd1234:s1:0:notatime:x",
        "bench:abcd1234:s1:0",
    ],
)
def test_parse_text_ignores_texts_of_other_runs_and_people(text: str) -> None:
    """Only this run's well-formed texts count as deliveries."""
    assert parse_text(text, "abcd1234") is None


@pytest.mark.parametrize(
    ("frame", "types"),
    [
        ('{"type": "message", "seq": 1}', ["message"]),
        ('{"type": "batch", "events": [{"type": "message"}, {"type": "ack"}]}', ["message", "ack"]),
        ('{"type": "batch", "events": []}', []),
        ('{"type": "batch"}', []),
        ('[{"type": "message"}, {"type": "message"}]', ["message", "message"]),
        ('[{"type": "message"}, 3, "x"]', ["message"]),
        ("not json", []),
        ("42", []),
        (b'{"type": "ack"}', ["ack"]),
    ],
)
def test_events_of_unpacks_single_batch_and_array_frames(
    frame: str | bytes, types: list[str]
) -> None:
    """Receivers accept one event, a batch event, or a JSON array per frame."""
    assert [event.get("type") for event in events_of(frame)] == types


@pytest.mark.parametrize(
    ("ws_url", "expected"),
    [
        ("ws://127.0.0.1:4810", "http://127.0.0.1:4810/metrics"),
        ("ws://127.0.0.1:4810/", "http://127.0.0.1:4810/metrics"),
        ("wss://chat.example.org", "https://chat.example.org/metrics"),
    ],
)
def test_metrics_url_follows_the_websocket_address(ws_url: str, expected: str) -> None:
    """Metrics are read over HTTP(S) from the same host and port."""
    assert metrics_url(ws_url) == expected


def test_room_url_quotes_the_member_name() -> None:
    """Names with spaces or symbols still make a valid address."""
    assert room_url("ws://h:1/", "bench-1", "r 1&") == "ws://h:1/ws/rooms/bench-1/?name=r%201%26"


def test_parse_metrics_reads_prometheus_text_and_json() -> None:
    """Prometheus samples become {name: float}; a JSON object is passed through."""
    text = '# HELP x\n# TYPE x counter\nchat_deliveries_total{worker="w1"} 12\nbad line\nup 1\n'
    assert parse_metrics(text) == {'chat_deliveries_total{worker="w1"}': 12.0, "up": 1.0}
    assert parse_metrics(json.dumps({"deliveries": 3})) == {"deliveries": 3}


def test_summarize_counts_loss_rate_and_percentiles() -> None:
    """Loss is expected minus unique deliveries; the rate is over first send to last delivery."""
    config = BenchConfig(rooms=1, receivers=3, senders=2, messages=5)
    tally = Tally(sent=10, acked=10, deliveries=28, duplicates=1, started=100.0)
    tally.last_delivery = 102.0
    tally.latencies = [0.001, 0.002, 0.003]
    result = summarize(config, tally, run_id="r1")
    assert result["expected"] == 30
    assert result["loss"] == 2
    assert result["duplicates"] == 1
    assert result["wall_s"] == 2.0
    assert result["deliveries_per_s"] == 14
    assert result["latency_ms"] == {"p50": 2.0, "p99": 3.0, "p999": 3.0}
    assert result["ack_latency_ms"]["p50"] is None
    assert result["config"]["receivers"] == 3
    assert result["metrics"] is None
    json.dumps(result)


def test_summarize_without_deliveries_has_no_rate() -> None:
    """A run where nothing arrived reports full loss and no rate instead of dividing by zero."""
    result = summarize(BenchConfig(receivers=2, senders=1, messages=3), Tally(started=5.0))
    assert (result["loss"], result["deliveries_per_s"], result["wall_s"]) == (6, None, 0.0)


def test_report_says_when_metrics_are_not_available() -> None:
    """A server without /metrics gets one line saying so; one with it gets its samples."""
    result = summarize(BenchConfig(receivers=1, senders=1, messages=1), Tally())
    lines = format_report(result)
    assert lines[-1] == "metrics: not available"
    assert any(line.startswith("loss: 1") for line in lines)
    result["metrics"] = {"up": 1.0, 'lat_bucket{le="0.1"}': 3.0, "lat_count": 3.0}
    assert format_report(result)[-3:] == ["metrics:", "  lat_count 3.0", "  up 1.0"]


def test_progress_line_shows_sent_acked_delivered() -> None:
    """The per-second line names all three counters, and errors only when there are any."""
    assert format_progress(Tally(sent=3, acked=2, deliveries=5), 9) == (
        "sent 3  acked 2  delivered 5/9"
    )
    assert format_progress(Tally(errors=1), 9).endswith("errors 1")
