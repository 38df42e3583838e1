"""What the API's routers share: the caller's identity, name checks, limits, wire types."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Path, Schema
from ninja.errors import ValidationError
from pydantic import PlainSerializer, TypeAdapter, WithJsonSchema
from pydantic_core import PydanticCustomError

from chat.identity import accounts, guests
from chat.identity.loginthrottle import client_address
from chat.identity.owners import owner_of
from chat.limits import readlimits, senders
from chat.protocol import MessageOut, ProtocolError, validate_name, validate_room
from chat.web.tokenauth import bearer_of


def read_allowed(request: HttpRequest, read: readlimits.Read) -> None:
    """Count a history page or search against the caller's address; 429 past its limit."""
    readlimits.check_address(read, client_address(request))


def checked(validate: Callable[[str], str], raw: str, *, where: str, field: str) -> str:
    """A path or query value validated like on the WebSocket; a 422 naming it otherwise."""
    try:
        return validate(raw)
    except ProtocolError as exc:
        error = {"loc": (where, field), "type": exc.code, "msg": exc.message}
        raise ValidationError([error]) from None


def room_of(raw: str) -> str:
    return checked(validate_room, raw, where="path", field="room")


def author_of(raw: str) -> str:
    return checked(validate_name, raw, where="query", field="author")


def name_checked(raw: str) -> str:
    try:
        return validate_name(raw)
    except ProtocolError as exc:
        raise PydanticCustomError(exc.code, exc.message) from None


def room_checked(raw: str) -> str:
    try:
        return validate_room(raw)
    except ProtocolError as exc:
        raise PydanticCustomError(exc.code, exc.message) from None


async def request_user(request: HttpRequest) -> Any:
    """The token's user, else the session's (AnonymousUser without either)."""
    bearer = bearer_of(request)
    return bearer.user if bearer is not None else await request.auser()


async def identity_of(
    request: HttpRequest, name: str, *, where: str, field: str
) -> accounts.Identity:
    """Who the request acts as: a token's or the signed-in user, else the guest `name` (422
    if not free)."""
    user = await request_user(request)
    try:
        return await accounts.identity_for(
            user=user, requested_name=name, guest_key=guests.key_of(request)
        )
    except ProtocolError as exc:
        error = {"loc": (where, field), "type": exc.code, "msg": exc.message}
        raise ValidationError([error]) from None


_datetime = TypeAdapter(datetime)


def _wire_time(value: datetime) -> str:
    # Pydantic's JSON form, as in WebSocket events (Django's encoder would trim the digits).
    return _datetime.dump_python(value, mode="json")


WireTime = Annotated[
    datetime,
    PlainSerializer(_wire_time, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class MessageItem(MessageOut):
    """A stored message exactly as the WebSocket `message` event carries it."""

    ts: WireTime


ROOM_PATH = Path(
    ...,
    example="lobby",
    description="1-64 of a-z, 0-9, '-', '_', starting with a letter or digit; case-insensitive",
)


async def caller_owner(request: HttpRequest, name: str | None) -> str | None:
    """Whose jobs and scheduled messages the caller may read (chat.identity.owners): its
    account (session or token), else its browser's guest key, else the guest `name` it gives
    (422 if that is a registered user's); None when it gives none of these."""
    user = await request_user(request)
    key = guests.key_of(request)
    if user.is_authenticated or key:
        account = user.get_username() if user.is_authenticated else None
        return owner_of(accounts.Identity(name="", account=account, guest_key=key))
    if not name:
        return None
    return owner_of(await identity_of(request, name, where="query", field="name"))


async def writer_of(
    request: HttpRequest, name: str, client_id: str | None, *, field: str
) -> accounts.Identity:
    """Who a write acts as (the body's `field` names them), counted against the sender's
    write limit as on the WebSocket (chat.limits.senders); 429 past it."""
    who = await identity_of(request, name, where="body", field=field)
    check_write(request, who, client_id)
    return who


def check_write(request: HttpRequest, who: accounts.Identity, client_id: str | None) -> None:
    """The sender's write limit, as on the WebSocket (chat.limits.senders); 429 past it."""
    senders.check_write(identity=who, address=client_address(request), client_id=client_id)


class ErrorOut(Schema):
    """Every error answer."""

    code: str
    message: str
    field: str | None = None
