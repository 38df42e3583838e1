"""RoomMember: what reaches one client of a room, live or caught up, in seq order kept by it.

Broadcasts arrive as layer messages (chat.protocol.layer) and go out through the outbox
as batch frames; history pages record how far the client has been brought, which is where
a catch-up after lost broadcasts starts (chat.broadcast.recovery).
"""

from __future__ import annotations

import logging

from django.conf import settings
from pymongo.errors import PyMongoError

from chat.infra.workerinfo import worker_id
from chat.jobs import selectors as job_selectors
from chat.messages import selectors
from chat.ops import metrics
from chat.protocol import CLOSE_TRY_AGAIN, History, Welcome, owner_group
from chat.protocol.layer import ChatMessage, ChatPresence, ChatTyping, JobNotice
from chat.realtime.outbox import Outbox
from chat.realtime.socket import SocketConsumer

log = logging.getLogger(__name__)


def welcome_event(room: str, name: str, account: str | None, last_seq: int) -> Welcome:
    """The first event a client of the room gets, on any transport."""
    return Welcome(room=room, name=name, account=account, worker=worker_id(), last_seq=last_seq)


class RoomMember(SocketConsumer):
    """The delivery side of a room's connection: broadcasts, catch-ups, history pages."""

    room: str = ""
    name: str = ""
    # The signed-in user's username; None for a guest.
    account: str | None = None
    # A guest's browser key (chat.identity.guests), from the handshake's cookie.
    guest_key: str | None = None
    # Who holds what this connection starts (its jobs, its scheduled messages) and whose job
    # notifications it receives: chat.identity.owners decides, at connect.
    owner: str = ""
    # Highest seq sent to this client: where a catch-up after lost broadcasts starts.
    forwarded_seq: int = 0
    # Broadcasts waiting to be sent (made on first use).
    _outbox: Outbox | None = None

    def outbox(self) -> Outbox:
        """This connection's queue of broadcasts, flushed as batch frames."""
        if self._outbox is None:
            self._outbox = Outbox(
                self.send_text,
                limit_bytes=settings.CHAT_MAX_OUTGOING_BYTES,
                on_overflow=self.close_backlogged,
            )
        return self._outbox

    async def close_backlogged(self) -> None:
        """The client stopped reading and its backlog passed the limit: let it reconnect."""
        log.warning("closing conn=%s: its client does not read", self.conn_id)
        await self.close(code=CLOSE_TRY_AGAIN)

    async def chat_message(self, event: ChatMessage) -> None:
        """A broadcast from the room's group: queue its pre-encoded messages for this client."""
        self.forwarded_seq = max(self.forwarded_seq, event["seq"])
        self.outbox().push(event["texts"])
        metrics.observe_fanout(event["published_at"], messages=len(event["texts"]))

    async def chat_typing(self, event: ChatTyping) -> None:
        """Someone in the room is typing: tell this client, unless it is the typist."""
        if event["sender"] != self.channel_name:
            self.outbox().push([event["text"]])

    async def chat_presence(self, event: ChatPresence) -> None:
        """Names joined or left the room: tell this client, except of its own join."""
        texts = [text for sender, text in event["events"] if sender != self.channel_name]
        if texts:
            self.outbox().push(texts)

    async def job_notice(self, event: JobNotice) -> None:
        """One of the owner's jobs finished: forward the pre-encoded `job` event."""
        await self.send(text_data=event["text"])

    async def catch_up_missed(
        self, *, after_seq: int | None = None, announce_empty: bool = False
    ) -> None:
        """Send every stored message above `after_seq` (default: all not yet forwarded).

        A resume always answers with at least one page; a repair after lost broadcasts sends
        only pages with messages (the client drops those it already has by seq).
        """
        cursor = self.forwarded_seq if after_seq is None else after_seq
        async for page in selectors.catch_up(room=self.room, after_seq=cursor):
            if page.messages or announce_empty:
                await self.send_history(page)

    async def send_history(self, page: History) -> None:
        """Send a history page and remember how far this client has been brought."""
        if page.messages:
            self.forwarded_seq = max(self.forwarded_seq, page.messages[-1].seq)
        await self.send_event(page)

    async def welcome(self, after_seq: int | None) -> None:
        """The welcome, then the newest page (a join) or everything after `after_seq`."""
        if after_seq is None:
            last_seq, page = await selectors.join_view(room=self.room)
        else:
            last_seq, page = await selectors.last_seq(room=self.room), None
        await self.send_event(welcome_event(self.room, self.name, self.account, last_seq))
        if page is not None:
            await self.send_history(page)
        else:
            self.forwarded_seq = after_seq or 0
            await self.catch_up_missed(announce_empty=True)

    async def join_owner(self) -> None:
        """Receive the owner's job events from now on, and those not yet seen from before.

        Joined before the stored ones are read, so a job ending meanwhile is not missed (it
        may arrive twice; the client keys them by id).
        """
        await self.channel_layer.group_add(owner_group(self.owner), self.channel_name)
        try:
            for notice in await job_selectors.pending_notices(owner=self.owner):
                await self.send_event(notice)
        except PyMongoError:
            log.warning("job notices unavailable at connect", exc_info=True)
