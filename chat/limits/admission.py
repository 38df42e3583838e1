"""Whether a new WebSocket, event stream or long-poll may open: the connection limits, with
the code, message and close code a refusal is told with (chat.limits.connlimits counts)."""

from __future__ import annotations

from django.conf import settings

from chat.limits import connlimits
from chat.protocol import CLOSE_LIMITED, CLOSE_SERVER_FULL


async def admit(conn_id: str, address: str) -> tuple[str, str, int] | None:
    """None when the connection counts as open now; else (code, message, close code)."""
    refused = await connlimits.admit(
        conn_id,
        address,
        per_worker=settings.CHAT_MAX_CONNECTIONS_PER_WORKER,
        per_address=settings.CHAT_MAX_CONNECTIONS_PER_IP,
        new_per_s=settings.CHAT_NEW_CONNECTIONS_PER_S_PER_IP,
    )
    if refused is None:
        return None
    close = CLOSE_SERVER_FULL if refused == "server_full" else CLOSE_LIMITED
    return refused, connlimits.MESSAGES[refused], close


async def admit_poll(poll_id: str, address: str) -> tuple[str, str] | None:
    """A held long-poll counts as a connection while it waits; re-polling is not connecting
    anew, so the rate of new connections does not apply. None, else (code, message)."""
    refused = await connlimits.admit(
        poll_id,
        address,
        per_worker=settings.CHAT_MAX_CONNECTIONS_PER_WORKER,
        per_address=settings.CHAT_MAX_CONNECTIONS_PER_IP,
        new_per_s=0,
    )
    return None if refused is None else (refused, connlimits.MESSAGES[refused])
