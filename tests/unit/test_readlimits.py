"""History pages and searches a client may ask for: per connection, and per address."""

from __future__ import annotations

from typing import Any

import pytest

from chat.limits import readlimits


@pytest.fixture(autouse=True)
def limits(settings: Any) -> None:
    settings.CHAT_HISTORY_RATE_PER_S = 1
    settings.CHAT_HISTORY_BURST = 3
    settings.CHAT_SEARCH_RATE_PER_S = 1
    settings.CHAT_SEARCH_BURST = 2
    settings.CHAT_READ_ADDRESS_FACTOR = 2
    readlimits._addresses.clear()


def test_a_connection_reads_its_burst_then_waits() -> None:
    reads = readlimits.ConnectionReads()
    assert [reads.refused("history", "10.0.0.1") for _ in range(3)] == [None] * 3
    wait_ms = reads.refused("history", "10.0.0.1")
    assert wait_ms is not None and 0 < wait_ms <= 1000


def test_searches_of_many_sockets_share_their_address_bucket() -> None:
    """Each socket may search twice at once; their address four times, however many sockets."""
    sockets = [readlimits.ConnectionReads() for _ in range(5)]
    outcomes = [socket.refused("search", "10.0.0.2") for socket in sockets for _ in range(2)]
    assert outcomes.count(None) == 4
    assert readlimits.ConnectionReads().refused("search", "10.0.0.3") is None  # another address


def test_history_over_a_socket_is_limited_per_connection_only() -> None:
    sockets = [readlimits.ConnectionReads() for _ in range(5)]
    assert all(s.refused("history", "10.0.0.4") is None for s in sockets for _ in range(3))


def test_the_address_bucket_is_per_kind_of_read() -> None:
    for _ in range(6):
        readlimits.address_refused("history", "10.0.0.5")
    assert readlimits.address_refused("history", "10.0.0.5") is not None
    assert readlimits.address_refused("search", "10.0.0.5") is None


def test_a_rate_of_zero_switches_a_limit_off(settings: Any) -> None:
    settings.CHAT_SEARCH_RATE_PER_S = 0
    reads = readlimits.ConnectionReads()
    assert all(reads.refused("search", "10.0.0.6") is None for _ in range(100))


def test_the_least_recently_seen_addresses_are_forgotten_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(readlimits, "MAX_ADDRESSES", 3)
    for address in ("a", "b", "c", "a", "d"):
        readlimits.address_refused("search", address)
    assert [address for _, address in readlimits._addresses] == ["c", "a", "d"]
