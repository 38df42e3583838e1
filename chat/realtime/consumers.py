"""ChatConsumer: one per WebSocket. Thin: parse, call one service or selector, reply."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from chat.broadcast import recovery
from chat.errors import ServiceError
from chat.identity import accounts, owners
from chat.infra.workerinfo import worker_id
from chat.jobs import selectors as job_selectors
from chat.jobs import service as job_service
from chat.limits import connlimits
from chat.limits.ratelimit import TokenBucket, bucket_from_settings
from chat.limits.readlimits import RATE_LIMITED_READS, ConnectionReads, Read
from chat.messages import selectors, services
from chat.ops import metrics
from chat.protocol import (
    CLOSE_BAD_REQUEST,
    CLOSE_INTERNAL_ERROR,
    CLOSE_LIMITED,
    CLOSE_SERVER_FULL,
    CLOSE_TRY_AGAIN,
    Ack,
    Error,
    History,
    HistoryIn,
    JobSeenIn,
    MessageIn,
    ProtocolError,
    ScheduledCancelIn,
    ScheduledCancelled,
    ScheduledListIn,
    ScheduleIn,
    SearchIn,
    ServerEvent,
    TypingIn,
    Welcome,
    group_name,
    owner_group,
    parse_after_seq,
    parse_client_event,
    scheduled_list,
    scheduled_reply,
    validate_room,
)
from chat.realtime.inflight import InFlight
from chat.realtime.outbox import Outbox
from chat.server.channellayer import ChatChannelLayer
from chat.server.inbox import Inbox
from chatsite.logcontext import current_id

log = logging.getLogger(__name__)

# The page sends `typing` every few seconds while a user types; relaying more often is noise.
TYPING_INTERVAL_S = 2.0
RATE_LIMITED = "you are sending messages too quickly; wait a moment"
UNAVAILABLE = "the message history is unavailable right now; try again"
UNAVAILABLE_SCHEDULED = "scheduled messages are unavailable right now; try again"
INTERNAL_ERROR = "the server failed to handle that; it has been logged"


class ChatConsumer(AsyncWebsocketConsumer):
    """A member of one room: receives its broadcasts, posts messages, pages history."""

    room: str = ""
    name: str = ""
    # The signed-in user's username; None for a guest.
    account: str | None = None
    # Counted against the connection limits (released on disconnect).
    admitted: bool = False
    # Whose job notifications this socket receives (chat.owners decides).
    owner: str = ""
    joined: bool = False
    # Highest seq sent to this client: where a catch-up after lost broadcasts starts.
    forwarded_seq: int = 0
    # Messages this connection may still send (created on its first message; None: no limit).
    bucket: TokenBucket | None = None
    # Its history and search buckets (made on its first read).
    reads: ConnectionReads | None = None
    # When this connection last had its typing relayed (monotonic seconds).
    typing_relayed_at: float = -TYPING_INTERVAL_S
    # Broadcasts waiting to be sent, and this client's messages being stored (made on first use).
    _outbox: Outbox | None = None
    _posts: InFlight | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Serve the socket; with daphne and ChatChannelLayer, from one queue on one task.

        daphne's `receive` is its input queue's `get` (an Inbox in chat.daphne_worker, an
        asyncio.Queue in stock daphne): the layer puts this consumer's group messages on that
        same queue, so they and the socket's events arrive in one stream,
        without a channel of its own or Channels' two waiting tasks (chat/channellayer.py).
        Anything else (another server, a test communicator) takes Channels' own way.
        """
        layer = get_channel_layer(self.channel_layer_alias)
        inbox = getattr(receive, "__self__", None)
        if not isinstance(layer, ChatChannelLayer) or not isinstance(inbox, (Inbox, asyncio.Queue)):
            await super().__call__(scope, receive, send)
            return
        self.scope, self.channel_layer, self.base_send = scope, layer, send
        self.channel_name = layer.new_local_channel(inbox.put_nowait)
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            layer.discard_local_channel(self.channel_name)

    async def dispatch(self, message: dict[str, object]) -> None:
        """Call the handler named for the event's type.

        Channels' own dispatch first closes stale Django database connections through a
        thread-pool hop on every event: a third of a worker's time under fan-out load
        (docs/performance.md). These handlers do not use Django's database; code that does
        goes through database_sync_to_async, which cleans up around each call itself.

        A handler that fails is contained: a frame's failure is an `error` event and the
        connection goes on; any other closes the socket with 1011 after the disconnect's
        cleanup (its slot, presence and groups), so nothing of it outlives the socket.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        try:
            await handler(message)
        except StopConsumer:
            raise
        except Exception:
            log.exception("conn=%s failed on %s", self.conn_id, message["type"])
            if message["type"] == "websocket.receive":
                await self.send_event(Error(code="internal_error", message=INTERNAL_ERROR))
                return
            await self.close(code=CLOSE_INTERNAL_ERROR)
            await self.disconnect(CLOSE_INTERNAL_ERROR)
            raise StopConsumer from None

    def outbox(self) -> Outbox:
        """This connection's queue of broadcasts, flushed as batch frames."""
        if self._outbox is None:
            self._outbox = Outbox(
                self.send_text,
                limit_bytes=settings.CHAT_MAX_OUTGOING_BYTES,
                on_overflow=self.close_backlogged,
            )
        return self._outbox

    def posts(self) -> InFlight:
        """This connection's messages being stored."""
        if self._posts is None:
            self._posts = InFlight()
        return self._posts

    async def send_text(self, text: str) -> None:
        """Send one pre-encoded frame."""
        await self.send(text_data=text)

    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        """Send a frame; one to a client that has just gone is dropped.

        daphne raises when the socket closed under a send. Raising on would end the consumer
        before it handles the disconnect already queued for it, so the connection would stay
        present (its worker's heartbeat refreshing it), counted and subscribed.
        """
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except Disconnected:
            log.debug("conn=%s gone before a send", self.conn_id)

    async def close_backlogged(self) -> None:
        """The client stopped reading and its backlog passed the limit: let it reconnect."""
        log.warning("closing conn=%s: its client does not read", self.conn_id)
        await self.close(code=CLOSE_TRY_AGAIN)

    def may_write(self, client_id: str | None) -> bool:
        """Spend one of this connection's message tokens; False when it sends too fast.

        A refused message with a client_id has the next token kept for its resend, so the
        messages refused in a row get stored in the order they were sent (chat.ratelimit).
        """
        if self.bucket is None:
            self.bucket = bucket_from_settings(settings.CHAT_RATE_PER_S, settings.CHAT_RATE_BURST)
            if self.bucket is None:
                return True
        return self.bucket.take(client_id)

    def read_refused(self, read: Read) -> int | None:
        """None when this history page or search may be read; else the wait in ms."""
        if self.reads is None:
            self.reads = ConnectionReads()
        return self.reads.refused(read, _address(self.scope))

    @property
    def conn_id(self) -> str:
        """A short id of this connection for log lines (the unique part of its channel name)."""
        return self.channel_name.rsplit(".", 1)[-1][:12]

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
        refused = await connlimits.admit(
            self.conn_id,
            _address(self.scope),
            per_worker=settings.CHAT_MAX_CONNECTIONS_PER_WORKER,
            per_address=settings.CHAT_MAX_CONNECTIONS_PER_IP,
            new_per_s=settings.CHAT_NEW_CONNECTIONS_PER_S_PER_IP,
        )
        if refused:
            close = CLOSE_SERVER_FULL if refused == "server_full" else CLOSE_LIMITED
            await self.refuse(refused, connlimits.MESSAGES[refused], close)
            return
        self.admitted = True
        try:
            identity = await accounts.identity_for(
                user=self.scope.get("user"), requested_name=query.get("name", [""])[0]
            )
        except ProtocolError as exc:
            await self.refuse(exc.code, exc.message, CLOSE_BAD_REQUEST)
            return
        self.name, self.account = identity.name, identity.account
        # Join before reading history so nothing falls between the history and the live stream.
        await self.channel_layer.group_add(group_name(self.room), self.channel_name)
        self.joined = True
        metrics.CONNECTIONS_OPEN.inc()
        log.info(
            "open conn=%s room=%s client=%s account=%s after_seq=%s",
            self.conn_id,
            self.room,
            _peer(self.scope),
            self.account or "-",
            after_seq,
        )
        recovery.join(self)
        try:
            if after_seq is None:
                last_seq, page = await selectors.join_view(room=self.room)
            else:
                last_seq, page = await selectors.last_seq(room=self.room), None
            await self.send_event(
                Welcome(
                    room=self.room,
                    name=self.name,
                    account=self.account,
                    worker=worker_id(),
                    last_seq=last_seq,
                )
            )
            if page is not None:
                await self.send_history(page)
            else:
                self.forwarded_seq = after_seq
                await self.catch_up_missed(announce_empty=True)
        except PyMongoError:
            log.warning("history unavailable at connect in room %s", self.room, exc_info=True)
            await self.send_event(Error(code="unavailable", message=UNAVAILABLE))
            await self.close(code=CLOSE_TRY_AGAIN)
            return
        await services.presence_join(room=self.room, name=self.name, conn=self.channel_name)
        try:
            await self.send_event(await selectors.presence_now(room=self.room, name=self.name))
        except RedisError:
            log.info("presence unavailable at connect in room %s", self.room)
        await self.join_owner()

    async def join_owner(self) -> None:
        """Receive the owner's job events from now on, and those not yet seen from before.

        Joined before the stored ones are read, so a job ending meanwhile is not missed (it
        may arrive twice; the client keys them by id).
        """
        self.owner = owners.owner_of(accounts.Identity(name=self.name, account=self.account))
        await self.channel_layer.group_add(owner_group(self.owner), self.channel_name)
        try:
            for notice in await job_selectors.pending_notices(owner=self.owner):
                await self.send_event(notice)
        except PyMongoError:
            log.warning("job notices unavailable at connect", exc_info=True)

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
            await services.presence_leave(room=self.room, name=self.name, conn=self.channel_name)
            await self.channel_layer.group_discard(group_name(self.room), self.channel_name)
        if self.owner:
            owner, self.owner = self.owner, ""
            await self.channel_layer.group_discard(owner_group(owner), self.channel_name)

    async def refuse(self, code: str, message: str, close_code: int) -> None:
        """Say why, then close: browsers do not expose close reasons reliably."""
        metrics.CONNECTIONS_REFUSED.labels(code).inc()
        log.info("refused conn=%s client=%s code=%s", self.conn_id, _peer(self.scope), code)
        await self.send_event(Error(code=code, message=message))
        await self.close(code=close_code)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.joined:
            return
        client_id = None
        try:
            event = parse_client_event(text_data if text_data is not None else bytes_data or b"")
            if isinstance(event, MessageIn):
                metrics.MESSAGES_RECEIVED.inc()
            else:
                # Anything else sees this client's earlier messages stored (a history read).
                await self.posts().drain()
            if isinstance(event, MessageIn | ScheduleIn) and not self.may_write(event.client_id):
                metrics.RATE_LIMITED.inc()
                await self.send_event(
                    Error(
                        code="rate_limited",
                        message=RATE_LIMITED,
                        client_id=event.client_id,
                        retry_after_ms=(
                            self.bucket.retry_after_ms(event.client_id) if self.bucket else None
                        ),
                    )
                )
            elif isinstance(event, HistoryIn | SearchIn) and (
                wait_ms := self.read_refused("search" if isinstance(event, SearchIn) else "history")
            ):
                metrics.RATE_LIMITED.inc()
                await self.send_event(
                    Error(code="rate_limited", message=RATE_LIMITED_READS, retry_after_ms=wait_ms)
                )
            elif isinstance(event, MessageIn):
                # Stored concurrently with this client's next messages, so they share a write.
                await self.posts().start(self.post_message(event))
            elif isinstance(event, HistoryIn) and event.after_seq is not None:
                await self.send_history(
                    await selectors.history_after(
                        room=self.room, after_seq=event.after_seq, limit=event.limit
                    )
                )
            elif isinstance(event, HistoryIn) and event.around_seq is not None:
                await self.send_history(
                    await selectors.history_around(
                        room=self.room, around_seq=event.around_seq, limit=event.limit
                    )
                )
            elif isinstance(event, HistoryIn):
                await self.send_history(
                    await selectors.history_page(
                        room=self.room, before_seq=event.before_seq, limit=event.limit
                    )
                )
            elif isinstance(event, ScheduleIn):
                client_id = event.client_id
                scheduled = await services.scheduled_message_create(
                    room=self.room,
                    author=self.name,
                    text=event.text,
                    deliver_at=event.deliver_at,
                    client_id=client_id,
                    account=self.account,
                )
                await self.send_event(scheduled_reply(scheduled, client_id=client_id))
            elif isinstance(event, ScheduledListIn):
                pending = await selectors.scheduled_pending(room=self.room, author=self.name)
                await self.send_event(scheduled_list(pending))
            elif isinstance(event, SearchIn):
                await self.send_event(
                    await selectors.search(
                        room=self.room, q=event.q, before_seq=event.before_seq, limit=event.limit
                    )
                )
            elif isinstance(event, TypingIn):
                await self.relay_typing()
            elif isinstance(event, ScheduledCancelIn):
                await services.scheduled_message_cancel(
                    room=self.room, author=self.name, scheduled_id=event.id
                )
                await self.send_event(ScheduledCancelled(id=event.id))
            elif isinstance(event, JobSeenIn):
                await job_service.job_seen(owner=self.owner, job_id=event.id)
        except (ProtocolError, ServiceError) as exc:
            await self.send_event(Error(code=exc.code, message=exc.message, client_id=client_id))
        except PyMongoError:
            log.warning("history read failed in room %s", self.room, exc_info=True)
            await self.send_event(Error(code="unavailable", message=UNAVAILABLE))
        except RedisError:
            log.warning("scheduled list failed in room %s", self.room, exc_info=True)
            await self.send_event(Error(code="unavailable", message=UNAVAILABLE_SCHEDULED))

    async def post_message(self, event: MessageIn) -> None:
        """Store the client's message and acknowledge it, or tell it why not."""
        try:
            message = await services.message_create(
                room=self.room,
                author=self.name,
                text=event.text,
                client_id=event.client_id,
                account=self.account,
            )
        except ServiceError as exc:
            await self.send_event(
                Error(code=exc.code, message=exc.message, client_id=event.client_id)
            )
            return
        except Exception:
            log.exception("conn=%s: a message failed unexpectedly", self.conn_id)
            await self.send_event(
                Error(code="internal_error", message=INTERNAL_ERROR, client_id=event.client_id)
            )
            return
        await self.send_event(Ack(client_id=event.client_id, id=message.id, seq=message.seq))
        self.typing_relayed_at = -TYPING_INTERVAL_S  # the next keystroke starts anew

    async def chat_message(self, event: dict[str, Any]) -> None:
        """A broadcast from the room's group: queue its pre-encoded messages for this client."""
        self.forwarded_seq = max(self.forwarded_seq, int(event["seq"]))
        self.outbox().push(event["texts"])
        metrics.observe_fanout(float(event["published_at"]), messages=len(event["texts"]))

    async def job_notice(self, event: dict[str, str]) -> None:
        """One of the owner's jobs finished: forward the pre-encoded `job` event."""
        await self.send(text_data=event["text"])

    async def relay_typing(self) -> None:
        """Pass 'typing' on to the room, at most once per TYPING_INTERVAL_S per connection."""
        now = time.monotonic()
        if now - self.typing_relayed_at < TYPING_INTERVAL_S:
            return
        self.typing_relayed_at = now
        await services.typing_announce(room=self.room, name=self.name, sender=self.channel_name)

    async def chat_typing(self, event: dict[str, str]) -> None:
        """Someone in the room is typing: tell this client, unless it is the typist."""
        if event["sender"] != self.channel_name:
            self.outbox().push([event["text"]])

    async def chat_presence(self, event: dict[str, list[list[str]]]) -> None:
        """Names joined or left the room: tell this client, except of its own join."""
        texts = [text for sender, text in event["events"] if sender != self.channel_name]
        if texts:
            self.outbox().push(texts)

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

    async def send_event(self, event: ServerEvent) -> None:
        """Send one typed server event."""
        await self.send(text_data=event.encode())


def _address(scope: dict[str, object]) -> str:
    """The client's IP address (what the per-address limits count)."""
    client = scope.get("client")
    return str(client[0]) if isinstance(client, list | tuple) else "-"


def _peer(scope: dict[str, object]) -> str:
    """The client's address as the server saw it, for logs."""
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if isinstance(client, list | tuple) else "-"
