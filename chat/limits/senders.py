"""How fast one sender may write (messages, schedules): the same rule on every write path.

A sender is a name (a guest's, or a signed-in user's username) from one client address: a
token bucket of `CHAT_RATE_PER_S`, bursting to `CHAT_RATE_BURST`, in this process. The
WebSocket answers a refusal with an `error` event, REST with 429 and `Retry-After`, both
saying when to try again (chat.limits.ratelimit reserves the next token for a refused
client_id, so resends keep their order).
"""

from __future__ import annotations

from django.conf import settings

from chat.errors import RateLimited
from chat.limits.ratelimit import BucketTable, TokenBucket, bucket_from_settings

RATE_LIMITED = "you are sending messages too quickly; wait a moment"


def _bucket() -> TokenBucket | None:
    return bucket_from_settings(settings.CHAT_RATE_PER_S, settings.CHAT_RATE_BURST)


_senders = BucketTable(_bucket)


def check_write(*, sender: str, address: str, client_id: str | None) -> None:
    """Spend one of the sender's tokens, or raise RateLimited with when to try again."""
    bucket = _senders.get(f"{address} {sender}")
    if bucket is not None and not bucket.take(client_id):
        raise RateLimited(RATE_LIMITED, retry_after_ms=bucket.retry_after_ms(client_id))
