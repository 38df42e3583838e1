"""Errors a service raises for the caller to turn into an `error` event or response."""

from __future__ import annotations


class ServiceError(Exception):
    """A request that was understood but could not be carried out."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
