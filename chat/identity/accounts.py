"""Who a chat connection speaks as: a signed-in user's username is theirs; guests pick others."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async

from chat.identity.names import name_key
from chat.models import NameKey
from chat.protocol import ProtocolError, validate_name

NAME_TAKEN = "that name belongs to a registered user; log in to use it, or pick another"


@dataclass(frozen=True)
class Identity:
    """The name shown next to messages, and the account behind it (None: a guest)."""

    name: str
    account: str | None
    # A guest's browser key (chat.identity.guests); None for accounts and cookie-less guests.
    guest_key: str | None = None


def name_looks_registered(*, name: str) -> bool:
    """True when a user account's name looks like this one (same skeleton: chat.identity.names)."""
    return NameKey.objects.filter(key=name_key(name)).exists()


@database_sync_to_async
def name_is_registered(name: str) -> bool:
    """True when a user account has this name or one that looks like it, in any letter case.

    Through database_sync_to_async, which closes stale connections around the query: the
    consumer's dispatch does not (chat/realtime/consumers.py).
    """
    return name_looks_registered(name=name)


def sync_name_key(*, user: Any) -> None:
    """Store the user's current name key; called on every save of a user (chat/apps.py)."""
    NameKey.objects.update_or_create(user=user, defaults={"key": name_key(user.get_username())})


async def identity_for(
    *, user: Any, requested_name: str | None, guest_key: str | None = None
) -> Identity:
    """A signed-in user chats as their username; a guest under a free, valid name.

    Raises ProtocolError `invalid_name` or `name_taken` for a guest's name.
    """
    if user is not None and user.is_authenticated:
        return Identity(name=user.get_username(), account=user.get_username())
    name = validate_name(requested_name)
    if await name_is_registered(name):
        raise ProtocolError("name_taken", NAME_TAKEN)
    return Identity(name=name, account=None, guest_key=guest_key)
