"""History pages and searches a client may ask for: per connection, and per address."""

from __future__ import annotations

from typing import Any

import pytest

from chat.errors import RateLimited
from chat.limits import readlimits


@pytest.fixture(autouse=True)
def limits(settings: Any) -> None:
    settings.CHAT_HISTORY_RATE_PER_S = 1
    settings.CHAT_HISTORY_BURST = 3
    settings.CHAT_SEARCH_RATE_PER_S = 1
    settings.CHAT_SEARCH_BURST = 2
    settings.CHAT_READ_ADDRESS_FACTOR = 2
    for table in readlimits._addresses.values():
        table.clear()


def allowed(check: Any, *args: Any) -> bool:
    try:
        check(*args)
    except RateLimited:
        return False
    return True


def test_a_connection_reads_its_burst_then_waits() -> None:
    reads = readlimits.ConnectionReads()
    assert [allowed(reads.check, "history", "10.0.0.1") for _ in range(3)] == [True] * 3
    with pytest.raises(RateLimited) as refused:
        reads.check("history", "10.0.0.1")
    assert 0 < refused.value.retry_after_ms <= 1000


def test_searches_of_many_sockets_share_their_address_bucket() -> None:
    """Each socket may search twice at once; their address four times, however many sockets."""
    sockets = [readlimits.ConnectionReads() for _ in range(5)]
    outcomes = [allowed(s.check, "search", "10.0.0.2") for s in sockets for _ in range(2)]
    assert outcomes.count(True) == 4
    assert allowed(readlimits.ConnectionReads().check, "search", "10.0.0.3")  # another address


def test_history_over_a_socket_is_limited_per_connection_only() -> None:
    sockets = [readlimits.ConnectionReads() for _ in range(5)]
    assert all(allowed(s.check, "history", "10.0.0.4") for s in sockets for _ in range(3))


def test_the_address_bucket_is_per_kind_of_read() -> None:
    for _ in range(6):
        allowed(readlimits.check_address, "history", "10.0.0.5")
    assert not allowed(readlimits.check_address, "history", "10.0.0.5")
    assert allowed(readlimits.check_address, "search", "10.0.0.5")


def test_a_rate_of_zero_switches_a_limit_off(settings: Any) -> None:
    settings.CHAT_SEARCH_RATE_PER_S = 0
    reads = readlimits.ConnectionReads()
    assert all(allowed(reads.check, "search", "10.0.0.6") for _ in range(100))
