"""RoomSession: a room's connection from its handshake to its close: the checks a
connection passes before it joins (room, after_seq, admission, identity), the join in an
order that loses nothing, and the release of all it held, once."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from chat.broadcast import recovery
from chat.identity import accounts, owners
from chat.limits import admission, connlimits
from chat.messages import selectors
from chat.ops import metrics
from chat.presence import services as presence_services
from chat.protocol import (
    CLOSE_BAD_REQUEST,
    CLOSE_TRY_AGAIN,
    Error,
    ProtocolError,
    group_name,
    owner_group,
    parse_after_seq,
    validate_room,
)
from chat.realtime.member import RoomMember
from chatsite.logcontext import current_id

log = logging.getLogger(__name__)

UNAVAILABLE = "the message history is unavailable right now; try again"


class RoomSession(RoomMember):
    """Joins its room on connect and leaves it on disconnect."""

    # Counted against the connection limits (released on disconnect).
    admitted: bool = False
    joined: bool = False

    async def connect(self) -> None:
        current_id.set(self.conn_id)
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        try:
            self.room = validate_room(self.scope["url_route"]["kwargs"].get("room"))
            after_seq = parse_after_seq(query.get("after_seq", [None])[0])
        except ProtocolError as exc:
            await self.refuse(exc.code, exc.message, CLOSE_BAD_REQUEST)
            return
        if refused := await admission.admit(self.conn_id, self.address):
            await self.refuse(*refused)
            return
        self.admitted = True
        try:
            identity = await accounts.identity_for(
                user=self.scope.get("user"),
                requested_name=query.get("name", [""])[0],
                guest_key=self.scope.get("guest_key"),
            )
        except ProtocolError as exc:
            await self.refuse(exc.code, exc.message, CLOSE_BAD_REQUEST)
            return
        self.name, self.account, self.guest_key = (
            identity.name,
            identity.account,
            identity.guest_key,
        )
        self.owner = owners.owner_of(identity)
        # Join before reading history so nothing falls between the history and the live stream.
        await self.channel_layer.group_add(group_name(self.room), self.channel_name)
        self.joined = True
        metrics.CONNECTIONS_OPEN.inc()
        log.info(
            "open conn=%s room=%s client=%s account=%s after_seq=%s",
            *(self.conn_id, self.room, self.peer, self.account or "-", after_seq),
        )
        recovery.join(self)
        try:
            await self.welcome(after_seq)
        except PyMongoError:
            log.warning("history unavailable at connect in room %s", self.room, exc_info=True)
            await self.send_event(Error(code="unavailable", message=UNAVAILABLE))
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        await presence_services.presence_join(
            room=self.room, name=self.name, conn=self.channel_name
        )
        try:
            await self.send_event(await selectors.presence_now(room=self.room, name=self.name))
        except RedisError:
            log.info("presence unavailable at connect in room %s", self.room)
        await self.join_owner()

    async def disconnect(self, code: int) -> None:
        """Release what the connection holds; once, however often it is called."""
        if self.admitted:
            self.admitted = False
            await connlimits.release(self.conn_id)
        if self.joined:
            self.joined = False
            metrics.CONNECTIONS_OPEN.dec()
            log.info("close conn=%s room=%s code=%s", self.conn_id, self.room, code)
            recovery.leave(self)
            await presence_services.presence_leave(
                room=self.room, name=self.name, conn=self.channel_name
            )
            await self.channel_layer.group_discard(group_name(self.room), self.channel_name)
        if self.owner:
            owner, self.owner = self.owner, ""
            await self.channel_layer.group_discard(owner_group(owner), self.channel_name)
