"""Personal API tokens: made for a user with scopes, shown once, kept only as a SHA-256,
revocable; what a bearer of one may do (docs/api.md#tokens)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from chat.models import ApiToken

SCOPES = ("chat", "scheduled", "jobs", "queues", "admin")
PREFIX = "cs_"
# A use is recorded at most this often per token: not one database write per request.
LAST_USE_EVERY = timedelta(minutes=1)


class TokenError(Exception):
    """The token is unknown, revoked or malformed (401), or lacks a scope (403)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Bearer:
    """Who a valid token acts for, and what it may do."""

    user: AbstractBaseUser
    scopes: frozenset[str]
    token_id: int

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise TokenError(403, "forbidden", f"this token lacks the {scope!r} scope")


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(user: AbstractBaseUser, *, name: str, scopes: list[str]) -> tuple[ApiToken, str]:
    """A new token for `user`; returns it with its secret, which is never stored."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(f"scopes must be some of {', '.join(SCOPES)} (got {unknown or 'none'})")
    name = name.strip()
    if not name or len(name) > 64:
        raise ValueError("a token's name is 1-64 characters")
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, scopes=" ".join(sorted(set(scopes))), digest=digest(raw)
    )
    return token, raw


def authenticate(raw: str) -> Bearer:
    """The bearer of this token, or TokenError 401; records the use (at most once a minute)."""
    if not raw.startswith(PREFIX) or len(raw) > 200:
        raise TokenError(401, "invalid_token", "the token is malformed")
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=digest(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        raise TokenError(401, "invalid_token", "the token is unknown or revoked")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USE_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return Bearer(user=token.user, scopes=frozenset(token.scopes.split()), token_id=token.pk)


def from_header(header: str, *, scope: str) -> Bearer:
    """The bearer of an `Authorization: Bearer <token>` header allowed `scope`, or
    TokenError (401 for anything but a valid token, 403 for a missing scope)."""
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise TokenError(401, "invalid_token", "send Authorization: Bearer <token>")
    bearer = authenticate(raw.strip())
    bearer.require(scope)
    return bearer


def tokens_of(user: AbstractBaseUser) -> list[ApiToken]:
    """The user's tokens that are not revoked, newest first."""
    return list(ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at"))


def revoke(user: AbstractBaseUser, token_id: int) -> bool:
    """Revoke one of the user's tokens; False when it is not theirs or already revoked."""
    revoked = ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    return revoked == 1
