"""Token buckets: how many messages a connection may send, refilled over time. Pure."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; one token per message."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.tokens = float(self.burst)
        self.updated = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self) -> bool:
        """Spend a token if one is there."""
        self._refill()
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def retry_after_ms(self) -> int:
        """How long until the next token, in whole milliseconds (at least 1)."""
        self._refill()
        missing = max(0.0, 1 - self.tokens)
        return max(1, math.ceil(missing / self.rate * 1000))


def bucket_from_settings(rate: float, burst: int) -> TokenBucket | None:
    """The bucket a new connection gets; None when the limit is switched off (rate 0)."""
    return TokenBucket(rate=rate, burst=burst) if rate > 0 else None
