"""Token buckets: how many messages a connection may send, refilled over time. Pure."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

# A refused message's reserved token is kept this long past its time for the resend; at
# most this many at once (as many messages as a connection may have in flight), so a client
# that floods and never resends owes at most that many tokens.
RESERVATION_TTL_S = 60.0
MAX_RESERVATIONS = 64


@dataclass
class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; one token per message.

    A message refused under a key (its client_id) is given the next free token at once: the
    bucket goes into debt, and `take(key)` of its resend succeeds from that token's time on.
    So messages refused in a row get tokens in the order they came, and one sent after them
    finds none before theirs: a client resending them in order keeps its order, even for
    messages it sent before it heard of the first refusal.
    """

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)
    # key -> when its reserved token is there (clock seconds), oldest first.
    reserved: dict[str, float] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.tokens = float(self.burst)
        self.updated = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self, key: str | None = None) -> bool:
        """Spend a token if one is there, or the one reserved for `key` once it is due.

        Refused with a key, the next free token is reserved for that key.
        """
        self._refill()
        due = self.reserved.get(key) if key is not None else None
        if due is not None:
            if self.updated < due:
                return False
            del self.reserved[key]
            return True
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        if key is not None and self._make_room():
            self._reserve(key)
        return False

    def retry_after_ms(self, key: str | None = None) -> int:
        """How long until the next token (or `key`'s), in whole milliseconds (at least 1)."""
        self._refill()
        due = self.reserved.get(key) if key is not None else None
        if due is None:
            due = self.updated + max(0.0, 1 - self.tokens) / self.rate
        return max(1, math.ceil((due - self.updated) * 1000))

    def _make_room(self) -> bool:
        """Drop reservations long past their time (never resent); True if one more fits."""
        for old, due in list(self.reserved.items()):
            if due > self.updated - RESERVATION_TTL_S:
                break
            del self.reserved[old]  # its token is spent all the same
        return len(self.reserved) < MAX_RESERVATIONS

    def _reserve(self, key: str) -> None:
        self.tokens -= 1
        self.reserved[key] = self.updated - self.tokens / self.rate


def bucket_from_settings(rate: float, burst: int) -> TokenBucket | None:
    """The bucket a new connection gets; None when the limit is switched off (rate 0)."""
    return TokenBucket(rate=rate, burst=burst) if rate > 0 else None


class BucketTable:
    """Token buckets by key, each made on its first use; past `size` keys the least recently
    used is forgotten (a forgotten key starts again with a full bucket)."""

    def __init__(self, make: Callable[[], TokenBucket | None], *, size: int = 10_000) -> None:
        self._make = make
        self._size = size
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def get(self, key: str) -> TokenBucket | None:
        """The key's bucket; None when `make` says the limit is off."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._make()
            if bucket is None:
                return None
            self._buckets[key] = bucket
            while len(self._buckets) > self._size:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(key)
        return bucket

    def keys(self) -> list[str]:
        """The keys held, least recently used first."""
        return list(self._buckets)

    def clear(self) -> None:
        self._buckets.clear()
