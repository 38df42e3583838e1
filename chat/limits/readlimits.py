"""Limits on what a client reads: history pages and searches, per connection (WebSocket) and
per address (searches on every transport, history over REST, which has no connection).

A search scans a room on FerretDB (docs/performance.md), so a few sockets searching in a
loop would starve everyone else's searches; the per-address bucket keeps one address's
share bounded however many sockets it opens. Kept in this process: with N workers an
address may read N times as fast, still bounded.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

from django.conf import settings

from chat.limits.ratelimit import TokenBucket, bucket_from_settings

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

    def refused(self, read: Read, address: str) -> int | None:
        """None when the read may go ahead; else how long to wait, in milliseconds."""
        if read not in self.buckets:
            self.buckets[read] = _bucket(read)
        bucket = self.buckets[read]
        if bucket is not None and not bucket.take():
            return bucket.retry_after_ms()
        return address_refused(read, address) if read == "search" else None


_addresses: OrderedDict[tuple[Read, str], TokenBucket] = OrderedDict()


def address_refused(read: Read, address: str) -> int | None:
    """The address's bucket for this kind of read: None, or how long to wait (milliseconds)."""
    key = (read, address)
    bucket = _addresses.get(key)
    if bucket is None:
        bucket = _bucket(read, per_address=True)
        if bucket is None:
            return None
        _addresses[key] = bucket
        while len(_addresses) > MAX_ADDRESSES:
            _addresses.popitem(last=False)
    _addresses.move_to_end(key)
    return None if bucket.take() else bucket.retry_after_ms()
