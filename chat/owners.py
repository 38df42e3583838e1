"""Who a connection or request acts for: the one place that decides a job's owner."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest

from chat.protocol import validate_name


def owner_of(source: HttpRequest | Mapping[str, Any], *, name: str) -> str:
    """The owner of jobs started from `source` (a request or a WebSocket scope).

    Without accounts it is the chat name the client gave (validated like on the socket);
    once there are accounts, the signed-in user read from `source` takes its place.
    """
    return validate_name(name)
