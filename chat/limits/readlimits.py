"""Limits on what a client reads: history pages and searches, per connection (WebSocket) and
per address (searches on every transport, history over REST, which has no connection).

A search scans a room on FerretDB (docs/performance.md), so a few sockets searching in a
loop would starve everyone else's searches; the per-address bucket keeps one address's
share bounded however many sockets it opens. Kept in this process: with N workers an
address may read N times as fast, still bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from django.conf import settings

from chat.errors import RateLimited
from chat.limits.ratelimit import BucketTable, TokenBucket, bucket_from_settings

Read = Literal["history", "search"]
# Addresses whose buckets this process keeps; the least recently used goes first.
MAX_ADDRESSES = 10_000
RATE_LIMITED_READS = "you are asking for history or searching too quickly; wait a moment"


def _bucket(read: Read, *, per_address: bool = False) -> TokenBucket | None:
    factor = settings.CHAT_READ_ADDRESS_FACTOR if per_address else 1
    if read == "history":
        rate, burst = settings.CHAT_HISTORY_RATE_PER_S, settings.CHAT_HISTORY_BURST
    else:
        rate, burst = settings.CHAT_SEARCH_RATE_PER_S, settings.CHAT_SEARCH_BURST
    return bucket_from_settings(rate * factor, burst * factor)


@dataclass
class ConnectionReads:
    """One connection's history and search buckets (made on first use)."""

    buckets: dict[Read, TokenBucket | None] = field(default_factory=dict)

    def check(self, read: Read, address: str) -> None:
        """Count the read; raise RateLimited when the connection (or, for a search, its
        address) asks too fast."""
        if read not in self.buckets:
            self.buckets[read] = _bucket(read)
        _spend(self.buckets[read])
        if read == "search":
            check_address(read, address)


_addresses: dict[Read, BucketTable] = {
    read: BucketTable(partial(_bucket, read, per_address=True), size=MAX_ADDRESSES)
    for read in ("history", "search")
}


def check_address(read: Read, address: str) -> None:
    """Count the read against the address; raise RateLimited past its limit."""
    _spend(_addresses[read].get(address))


def _spend(bucket: TokenBucket | None) -> None:
    if bucket is not None and not bucket.take():
        raise RateLimited(RATE_LIMITED_READS, retry_after_ms=bucket.retry_after_ms())
