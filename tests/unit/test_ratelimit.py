"""The per-connection token bucket."""

from __future__ import annotations

import pytest

from chat.limits.ratelimit import MAX_RESERVATIONS, BucketTable, TokenBucket, bucket_from_settings


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


def test_refused_messages_keep_their_order_against_a_later_one() -> None:
    """The CI case: three and four refused, five arrives after a token came back; five is
    refused too, and the resends of three, four, five go in that order, each at its time."""
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=1, clock=clock)
    assert bucket.take("one")
    assert not bucket.take("three") and bucket.retry_after_ms("three") == 500
    assert not bucket.take("four") and bucket.retry_after_ms("four") == 1000
    clock.now += 0.75  # three's token is there, but it is three's
    assert not bucket.take("five") and bucket.retry_after_ms("five") == 750
    assert not bucket.take("four")  # early: its token is 0.25 s away still
    assert bucket.take("three")
    clock.now += 0.25
    assert bucket.take("four")
    assert not bucket.take("five")
    clock.now += 0.5
    assert bucket.take("five")
    assert not bucket.take("six")  # the reservations spent every token up to now


def test_a_reservation_never_resent_expires_and_costs_only_its_token() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=1, clock=clock)
    bucket.take("a")
    assert not bucket.take("gone")
    clock.now += 120  # long past; a new refusal drops the stale reservation
    assert bucket.take("b") and not bucket.take("c")
    assert list(bucket.reserved) == ["c"]
    clock.now += 1
    assert bucket.take("gone")  # no longer reserved: an ordinary token
    assert bucket.take("c")


def test_messages_without_a_key_are_refused_without_a_reservation() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=8, burst=1, clock=clock)
    bucket.take()
    assert not bucket.take() and not bucket.take()
    assert bucket.reserved == {}
    clock.now += 0.125
    assert bucket.take()


def test_a_flood_reserves_at_most_max_reservations_tokens() -> None:
    """A client that floods and never resends owes a bounded number of tokens."""
    clock = FakeClock()
    bucket = TokenBucket(rate=8, burst=1, clock=clock)
    bucket.take("first")
    refused = [bucket.take(f"m{i}") for i in range(MAX_RESERVATIONS + 50)]
    assert not any(refused) and len(bucket.reserved) == MAX_RESERVATIONS
    clock.now += (MAX_RESERVATIONS + 1) / 8
    assert bucket.take("later")


def test_a_bucket_table_makes_a_bucket_per_key_and_forgets_the_least_recent_first() -> None:
    table = BucketTable(lambda: TokenBucket(rate=1, burst=1), size=3)
    first = table.get("a")
    assert first is not None and table.get("a") is first
    for key in ("b", "c", "a", "d"):
        table.get(key)
    assert table.keys() == ["c", "a", "d"]
    assert table.get("a") is first


def test_a_bucket_table_holds_nothing_while_its_limit_is_off() -> None:
    table = BucketTable(lambda: None)
    assert table.get("a") is None and table.keys() == []
