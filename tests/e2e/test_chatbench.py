"""`manage.py chatbench --json` against a real two-worker server with a tiny load."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.chatserver import ROOT, run_chat_server
from tests.conftest import require_services


def test_chatbench_delivers_every_message_once_and_prints_one_json_object() -> None:
    """1 room, 3 receivers, 2 senders x 20 messages: 120 deliveries, no loss, no duplicates."""
    require_services()
    with run_chat_server(workers=2) as server:
        done = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "chatbench",
                "--json",
                "--url",
                f"ws://127.0.0.1:{server.port}",
                "--rooms",
                "1",
                "--receivers",
                "3",
                "--senders",
                "2",
                "--messages",
                "20",
                "--idle-timeout",
                "10",
                "--connect-timeout",
                "10",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["expected"] == 3 * 2 * 20
    assert result["deliveries"] == result["expected"]
    assert (result["loss"], result["duplicates"], result["errors"]) == (0, 0, 0)
    assert (result["sent"], result["acked"], result["connect_failures"]) == (40, 40, 0)
    assert result["deliveries_per_s"] > 0
    for key in ("latency_ms", "ack_latency_ms"):
        assert set(result[key]) == {"p50", "p99", "p999"}
        assert 0 < result[key]["p50"] <= result[key]["p99"] <= result[key]["p999"]
    # The server's own figures, from /metrics, agree with what the benchmark counted.
    metrics = result["metrics"]
    assert metrics["chat_messages_received_total"] == 40
    assert metrics["chat_messages_stored_total"] == 40
    # The senders are room members too: they get broadcasts until they leave.
    assert 120 <= metrics["chat_messages_delivered_total"] <= 200
    # One fan-out sample per broadcast and client; a broadcast may carry several messages.
    assert 0 < metrics["chat_fanout_seconds_count"] <= metrics["chat_messages_delivered_total"]
    assert result["config"]["receivers"] == 3
    assert "delivered 120/120" in done.stderr
