"""Errors a service raises for the caller to turn into an `error` event or response."""

from __future__ import annotations


class ServiceError(Exception):
    """A request that was understood but could not be carried out."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RateLimited(ServiceError):
    """Refused by a rate limit: the caller may try again after `retry_after_ms`."""

    def __init__(self, message: str, *, retry_after_ms: int) -> None:
        super().__init__("rate_limited", message)
        self.retry_after_ms = retry_after_ms
