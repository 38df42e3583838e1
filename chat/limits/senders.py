"""How fast one sender may write (messages, schedules, jobs): one rule on every write path.

Two token buckets, in this process: one per sender, `CHAT_RATE_PER_S` bursting to
`CHAT_RATE_BURST` (a sender is an account or a guest's browser wherever it writes from, and a
cookie-less guest's name from one address), and one per client address for all its senders
together, `CHAT_ADDRESS_RATE_PER_S` bursting to `CHAT_ADDRESS_RATE_BURST`, so names made up
by the thousand do not multiply a flood. The WebSocket answers a refusal with an `error`
event, REST with 429 and `Retry-After`, both saying when to try again
(chat.limits.ratelimit reserves the next token for a refused client_id, so resends keep
their order).
"""

from __future__ import annotations

from django.conf import settings

from chat.errors import RateLimited
from chat.identity.accounts import Identity
from chat.limits.ratelimit import BucketTable, TokenBucket, bucket_from_settings

RATE_LIMITED = "you are sending messages too quickly; wait a moment"


def _sender_bucket() -> TokenBucket | None:
    return bucket_from_settings(settings.CHAT_RATE_PER_S, settings.CHAT_RATE_BURST)


_senders = BucketTable(_sender_bucket)
# By (rate, burst): an address's bucket follows the settings it was made under, so a change
# (a test's, an operator's reload) is not hidden by a bucket made before it.
_addresses: dict[tuple[float, int], BucketTable] = {}


def _address_bucket(address: str) -> TokenBucket | None:
    rate, burst = settings.CHAT_ADDRESS_RATE_PER_S, settings.CHAT_ADDRESS_RATE_BURST
    rate = 10 * settings.CHAT_RATE_PER_S if rate < 0 else rate
    burst = 10 * settings.CHAT_RATE_BURST if burst < 0 else burst
    if rate <= 0:
        return None
    table = _addresses.get((rate, burst))
    if table is None:
        table = _addresses[(rate, burst)] = BucketTable(lambda: bucket_from_settings(rate, burst))
    return table.get(address)


def sender_key(identity: Identity, address: str) -> str:
    """The bucket of one sender (see the module docstring)."""
    if identity.account:
        return f"account {identity.account}"
    if identity.guest_key:
        return f"guest {identity.guest_key}"
    return f"{address} {identity.name}"


def check_write(*, identity: Identity, address: str, client_id: str | None) -> None:
    """Spend one of the sender's tokens and one of its address's, or raise RateLimited with
    when to try again."""
    for bucket in (_senders.get(sender_key(identity, address)), _address_bucket(address)):
        if bucket is not None and not bucket.take(client_id):
            raise RateLimited(RATE_LIMITED, retry_after_ms=bucket.retry_after_ms(client_id))
