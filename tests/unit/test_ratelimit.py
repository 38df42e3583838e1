"""The per-connection token bucket."""

from __future__ import annotations

import pytest

from chat.ratelimit import TokenBucket, bucket_from_settings


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_allows_a_burst_then_refuses() -> None:
    """burst messages at once, then none until time passes."""
    bucket = TokenBucket(rate=10, burst=20, clock=FakeClock())
    assert all(bucket.take() for _ in range(20))
    assert bucket.take() is False


def test_tokens_come_back_at_the_rate() -> None:
    """10/s: after 0.25 s two more messages may go."""
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=20, clock=clock)
    for _ in range(20):
        bucket.take()
    clock.now += 0.25
    assert [bucket.take() for _ in range(3)] == [True, True, False]


def test_refill_never_exceeds_the_burst() -> None:
    """An idle hour saves up only `burst` tokens."""
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    clock.now += 3600
    assert sum(bucket.take() for _ in range(10)) == 5


def test_retry_after_says_when_the_next_token_arrives() -> None:
    """Empty at 10/s: the next token is 100 ms away; then less as time passes."""
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=1, clock=clock)
    bucket.take()
    assert bucket.retry_after_ms() == 100
    clock.now += 0.06
    assert bucket.retry_after_ms() == 40


@pytest.mark.parametrize(("rate", "burst"), [(0.5, 0), (-1, 5)])
def test_nonsense_limits_are_refused(rate: float, burst: int) -> None:
    """A misconfigured limit fails at start, not silently."""
    with pytest.raises(ValueError):
        TokenBucket(rate=rate, burst=burst)


def test_rate_zero_switches_the_limit_off() -> None:
    """CHAT_RATE_PER_S=0: no bucket, every message goes."""
    assert bucket_from_settings(0, 20) is None
    assert isinstance(bucket_from_settings(10, 20), TokenBucket)
