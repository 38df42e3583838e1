"""One daphne server process on a listening socket inherited from `runchat`.

Started as `python -m chat.server.daphne_worker --fd N`. On SIGTERM or SIGINT it stops accepting,
closes every WebSocket with 1001 (going away) so clients reconnect elsewhere, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING, Any

# daphne.server installs Twisted's asyncio reactor; it must be imported before anything
# else touches twisted.internet.reactor.
from daphne.server import Server  # isort: skip
from daphne.http_protocol import WebRequest
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from twisted.internet import reactor

from chat.protocol import CLOSE_GOING_AWAY
from chat.realtime import listeners
from chat.server import eventstream
from chat.server.background import BackgroundLoops, worker_loops
from chat.server.inbox import Inbox
from chat.server.wsprotocol import LeanWebSocketProtocol

if TYPE_CHECKING:
    from chat.broadcast.coalesce import Coalescer
    from chat.broadcast.events import PresenceChange
    from chat.scheduled.loop import WorkerScheduler

log = logging.getLogger("chat.worker")

CLOSE_GRACE_S = 5.0
BUFFER_CHECK_S = 0.25


class GracefulServer(Server):
    """A daphne Server that remembers its ports so it can stop accepting on demand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ports: list[Any] = []
        self.stopping = False
        # Set by main(): the kernel send buffer each WebSocket gets as it connects.
        self.socket_send_buffer: int | None = None
        # Set by main() when this worker also delivers scheduled messages.
        self.scheduler: WorkerScheduler | None = None
        # Set by main(): the presence changes waiting to be announced.
        self.announcements: Coalescer[str, PresenceChange] | None = None
        # Set by main(): the loops every worker runs (chat/server/background.py).
        self.background: BackgroundLoops | None = None

    @property
    def ws_factory(self) -> WebSocketFactory:
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory: WebSocketFactory) -> None:
        # daphne's run() makes the factory; the protocols it builds keep less per socket.
        factory.protocol = LeanWebSocketProtocol
        # A frame autobahn refuses (over daphne's 1 MiB, invalid UTF-8 in a text frame)
        # closes with its code and reason (1009, 1007), not by dropping the TCP connection.
        factory.setProtocolOptions(failByDrop=False)
        self._ws_factory = factory

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Inbox | None:
        """daphne's create_application with an Inbox for the connection's input queue.

        An asyncio.Queue costs an idle socket almost 4 KB; an Inbox, enough for the one
        reader every application instance is, a few hundred bytes (chat/server/inbox.py).
        """
        assert "application_instance" not in self.connections[protocol]
        self._cap_send_buffer(protocol)
        inbox = Inbox()
        scope.setdefault("asgi", {"version": "3.0"})
        instance = self.application(
            scope=scope, receive=inbox.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(instance)
        return inbox

    def _cap_send_buffer(self, protocol: Any) -> None:
        """Cap the socket's kernel send buffer before anything is sent on it.

        Linux grows an uncapped one up to tcp_wmem's maximum (4 MiB by default), so a
        client that never reads would take a burst into the kernel unseen by the watcher;
        capping it later does not shrink what is already queued.
        """
        transport = protocol.transport
        if self.socket_send_buffer and transport is not None:
            with contextlib.suppress(OSError, AttributeError):
                transport.getHandle().setsockopt(
                    socket.SOL_SOCKET, socket.SO_SNDBUF, self.socket_send_buffer
                )

    def protocol_disconnected(self, protocol: Any) -> None:
        super().protocol_disconnected(protocol)
        upgraded = protocol.transport is None and protocol.channel is not None
        if isinstance(protocol, WebRequest) and upgraded:
            _release_upgraded_channel(protocol.channel)

    def listen_success(self, port: Any) -> None:
        self.ports.append(port)
        super().listen_success(port)

    def begin_shutdown(self) -> None:
        """Stop accepting, say goodbye to every WebSocket, event stream and long-poll, stop
        once they are gone."""
        if self.stopping:
            return
        self.stopping = True
        if self.announcements is not None:
            self.announcements.hurry()  # the closing sockets' leaves go out without delay
        if self.scheduler is not None:
            self.scheduler.request_stop()
        for port in self.ports:
            port.stopListening()
        for protocol in self._websockets():
            if protocol.state == protocol.STATE_OPEN:
                protocol.serverClose(CLOSE_GOING_AWAY)
            elif protocol.transport is not None:
                protocol.transport.abortConnection()
        eventstream.close_all()
        listeners.close_all()  # held long-polls answer now, empty
        self._stop_when_closed(time.monotonic() + CLOSE_GRACE_S)

    def watch_outgoing_buffers(self, limit: int) -> None:
        """Disconnect clients that do not read, before their backlog grows without bound.

        Twisted buffers whatever the kernel will not take yet; a client that stops reading
        would make that buffer (and this process) grow with every broadcast. The kernel's
        own send buffer is capped too (_cap_send_buffer), so the limit is reached after a
        bounded backlog.
        """
        for protocol in self._websockets():
            transport = protocol.transport
            if transport is None:
                continue
            if _buffered_bytes(transport) > limit:
                log.warning(
                    "closing a websocket whose client does not read (%d bytes queued)",
                    _buffered_bytes(transport),
                )
                transport.abortConnection()
        reactor.callLater(BUFFER_CHECK_S, self.watch_outgoing_buffers, limit)

    def _websockets(self) -> list[WebSocketProtocol]:
        return [
            protocol
            for protocol, details in self.connections.items()
            if isinstance(protocol, WebSocketProtocol) and "disconnected" not in details
        ]

    def _open_sockets(self) -> int:
        return len(self._websockets()) + eventstream.streams_open() + listeners.waiting()

    def _stop_when_closed(self, deadline: float) -> None:
        sent = self.announcements is None or self.announcements.idle
        done = self._open_sockets() == 0 and sent
        if done or time.monotonic() >= deadline:
            if self.background is not None:
                self.background.stop()
            reactor.stop()
        else:
            reactor.callLater(0.05, self._stop_when_closed, deadline)


def _release_upgraded_channel(channel: Any) -> None:
    """Let the HTTP channel of a request upgraded to a WebSocket be freed.

    daphne hands the socket to the WebSocket protocol but leaves Twisted's HTTPChannel
    registered as the transport's producer, so the channel and its request (headers,
    body buffer, about 3 KB) live as long as the WebSocket. The WebSocket does not use it;
    a client that stops reading is cut off by the outgoing buffer limit instead.
    """
    transport = channel.transport
    if transport is not None and getattr(transport, "producer", None) is channel:
        transport.unregisterProducer()


def _buffered_bytes(transport: Any) -> int:
    # Twisted's FileDescriptor keeps unsent bytes in dataBuffer (from offset on) and in a
    # list of pending writes; there is no public accessor.
    pending = len(getattr(transport, "dataBuffer", b"")) - getattr(transport, "offset", 0)
    return pending + getattr(transport, "_tempDataLen", 0)


def main() -> None:
    """Serve the chat application on an inherited socket until told to stop."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="listening socket to serve")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    from django.conf import settings

    from chatsite.asgi import application

    server = GracefulServer(
        application=application,
        endpoints=[f"fd:fileno={args.fd}"],
        signal_handlers=False,
        verbosity=0,
        application_close_timeout=CLOSE_GRACE_S,
    )
    from chat.broadcast.events import presence_changes  # after Django is set up

    server.announcements = presence_changes

    if settings.CHAT_SCHEDULER_IN_WORKERS:
        from chat.scheduled.loop import WorkerScheduler  # after Django is set up

        server.scheduler = WorkerScheduler()
        # A timed call runs inside the asyncio loop (callWhenRunning runs before it starts).
        reactor.callLater(0, server.scheduler.start)

    server.background = BackgroundLoops(worker_loops())
    reactor.callLater(0, server.background.start)
    server.socket_send_buffer = settings.CHAT_SOCKET_SEND_BUFFER
    reactor.callLater(
        BUFFER_CHECK_S, server.watch_outgoing_buffers, settings.CHAT_MAX_OUTGOING_BYTES
    )

    def on_signal(signum: int, frame: Any) -> None:
        reactor.callFromThread(server.begin_shutdown)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGUSR1, lambda signum, frame: reactor.callFromThread(log_tasks))
    server.run()


def _awaiting(coro: Any) -> list[str]:
    """The chain of coroutines a task is suspended in, outermost first."""
    chain = []
    while coro is not None and len(chain) < 16:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_qualname}:{frame.f_lineno}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return chain


def log_tasks() -> None:
    """Log where every task of this worker waits (SIGUSR1): for a worker that stalls."""
    waiting = Counter()
    for task in asyncio.all_tasks():
        waiting[" > ".join(_awaiting(task.get_coro()))] += 1
    for where, count in waiting.most_common():
        log.warning("tasks waiting: %dx %s", count, where)


if __name__ == "__main__":
    main()
