"""Failed log-ins limited per username and client address, and per address (Django's cache).

Counts live in the `logins` cache (Redis, so every runchat worker sees the same counts): a
fixed window starts at the first failure and the count expires with it. A refused attempt
is not counted and never reaches the password check. Every log-in that goes through
`django.contrib.auth.authenticate` with a request is covered: the log-in page and the
admin's. If the cache cannot be reached, log-ins are not throttled (logged as a warning):
the password is still checked, and staff can still reach the admin during a Redis outage.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from redis.exceptions import RedisError

from chat.identity.names import name_key

log = logging.getLogger(__name__)

CACHE = "logins"
THROTTLED = (
    "Too many failed log-ins from your address. Wait a few minutes, then try again "
    "(the password is not checked until then)."
)
# Marks a request refused here, so its failure is not counted and the form says why.
_REFUSED_ATTR = "chat_login_throttled"


def client_address(request: HttpRequest) -> str:
    """The address the request came from, as the server saw it."""
    return request.META.get("REMOTE_ADDR") or "-"


def _counts(*, username: str, address: str) -> list[tuple[str, int]]:
    """Each count that applies to this attempt: its cache key and its limit (0: none)."""
    return [
        # Look-alike spellings of one name (ALICE, a Cyrillic a) share a count.
        (f"pair:{address}:{name_key(username)}", settings.CHAT_LOGIN_FAILURES_PER_NAME),
        (f"addr:{address}", settings.CHAT_LOGIN_FAILURES_PER_ADDRESS),
    ]


def is_refused(*, username: str, address: str) -> bool:
    """True while this username from this address, or this address, has used its failures."""
    counts = _counts(username=username, address=address)
    try:
        found = caches[CACHE].get_many([key for key, _ in counts])
    except (RedisError, OSError):
        log.warning("login throttle: cache unreachable, not throttling", exc_info=True)
        return False
    return any(limit > 0 and int(found.get(key, 0)) >= limit for key, limit in counts)


def record_failure(*, username: str, address: str) -> None:
    """Count a failed log-in against the username from this address and against the address."""
    cache = caches[CACHE]
    window = settings.CHAT_LOGIN_WINDOW_S
    try:
        for key, _ in _counts(username=username, address=address):
            # add() starts the window only for the first failure; incr() keeps its expiry.
            cache.add(key, 0, timeout=window)
            try:
                cache.incr(key)
            except ValueError:  # the window ended between add() and incr()
                cache.set(key, 1, timeout=window)
    except (RedisError, OSError):
        log.warning("login throttle: cache unreachable, failure not counted", exc_info=True)


def clear(*, username: str, address: str, address_too: bool = False) -> None:
    """Forget the username's failures from this address (and the address's, if asked)."""
    (pair, _), (per_address, _) = _counts(username=username, address=address)
    try:
        caches[CACHE].delete_many([pair, per_address] if address_too else [pair])
    except (RedisError, OSError):
        log.warning("login throttle: cache unreachable, counts not cleared", exc_info=True)


class LoginThrottleBackend:
    """First in AUTHENTICATION_BACKENDS: refuses a throttled attempt before any password check.

    PermissionDenied stops Django trying the backends after it. It never authenticates
    anyone and has no get_user, so sessions keep naming ModelBackend (and stay valid).
    """

    def authenticate(self, request: HttpRequest | None, **credentials: Any) -> None:
        username = credentials.get(get_user_model().USERNAME_FIELD)
        if request is None or not isinstance(username, str):
            return None
        address = client_address(request)
        if is_refused(username=username, address=address):
            setattr(request, _REFUSED_ATTR, True)
            log.info("log-in refused from %s: too many failures", address)
            raise PermissionDenied(THROTTLED)
        return None


def was_refused(request: HttpRequest | None) -> bool:
    """True when this request's log-in was refused by the throttle, not by the password."""
    return bool(getattr(request, _REFUSED_ATTR, False))


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """user_login_failed: count a wrong password (not an attempt the throttle refused)."""
    username = credentials.get(get_user_model().USERNAME_FIELD)
    if request is None or was_refused(request) or not isinstance(username, str):
        return
    record_failure(username=username, address=client_address(request))


def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """user_logged_in: the right password resets the username's count (not the address's)."""
    if request is None:
        return
    clear(username=user.get_username(), address=client_address(request))
