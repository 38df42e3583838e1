"""The worker's daphne server keeps little per open WebSocket, and still serves it.

Real daphne, autobahn and Twisted protocol code, driven over an in-memory transport: an
HTTP upgrade, the application's accept, a frame each way.
"""

from __future__ import annotations

import asyncio
import gc
import os
import struct
import weakref
from typing import Any

from chat.server.daphne_worker import GracefulServer  # isort: skip (installs the reactor)
import pytest
from autobahn.websocket.protocol import WebSocketServerProtocol
from daphne.http_protocol import HTTPFactory
from daphne.ws_protocol import WebSocketFactory
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from chat.server.inbox import Inbox
from chat.server.wsprotocol import LeanWebSocketProtocol

WAIT_S = 5
UPGRADE = (
    b"GET /ws/rooms/lobby/?name=ann HTTP/1.1\r\n"
    b"Host: localhost\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Origin: http://localhost\r\n"
    b"Cookie: sessionid=abc\r\n\r\n"
)


def client_text_frame(text: str) -> bytes:
    """One masked text frame, as a browser sends it."""
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def http_factory_of(app: Any) -> HTTPFactory:
    """The HTTP factory of a GracefulServer set up as its run() would, without listening."""
    server = GracefulServer(application=app, endpoints=["tcp:port=0"], signal_handlers=False)
    server.connections = {}
    server.ws_factory = WebSocketFactory(server, server="daphne")
    server.ws_factory.setProtocolOptions(allowNullOrigin=True, autoPingTimeout=30)
    return HTTPFactory(server)


async def upgraded(app: Any) -> tuple[Any, StringTransport, weakref.ref[Any]]:
    """A socket upgraded through daphne's HTTP channel once the application accepted it,
    and a weak reference to that HTTP channel."""
    channel = http_factory_of(app).buildProtocol(IPv4Address("TCP", "127.0.0.1", 5555))
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 5555))
    channel.makeConnection(transport)
    channel.dataReceived(UPGRADE)
    channel_ref = weakref.ref(channel)
    del channel
    for _ in range(100):  # the application runs on this loop: let it accept
        if transport.value().startswith(b"HTTP/1.1 101"):
            break
        await asyncio.sleep(0.01)
    assert transport.value().startswith(b"HTTP/1.1 101")
    return transport.protocol, transport, channel_ref


async def test_an_upgraded_socket_forgets_its_handshake_and_still_carries_frames() -> None:
    seen: dict[str, Any] = {}
    echoed = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen["scope"], seen["inbox"] = scope, receive.__self__
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        seen["received"] = await receive()
        await send({"type": "websocket.send", "text": "back"})
        echoed.set()

    protocol, transport, channel_ref = await upgraded(app)

    assert isinstance(protocol, LeanWebSocketProtocol)
    assert isinstance(seen["inbox"], Inbox)
    assert (b"cookie", b"sessionid=abc") in seen["scope"]["headers"]
    # What the open socket no longer keeps: the handshake, and autobahn's copied settings.
    kept = vars(protocol)
    assert not {"http_headers", "http_request_data", "clean_headers", "_wskey"} & kept.keys()
    assert not set(WebSocketServerProtocol.CONFIG_ATTRS) & kept.keys()
    assert protocol.autoPingTimeout == 30 and protocol.allowNullOrigin is True
    assert protocol.request.path == "/ws/rooms/lobby/"
    # Twisted's HTTP channel is no longer the transport's producer, so it is freed.
    assert transport.producer is None
    gc.collect()
    assert channel_ref() is None

    transport.clear()
    protocol.dataReceived(client_text_frame("hi"))
    await asyncio.wait_for(echoed.wait(), WAIT_S)
    assert seen["received"] == {"type": "websocket.receive", "text": "hi"}
    assert transport.value() == b"\x81\x04back"


@pytest.mark.parametrize("code", [1000, 1001, 1011, 1013, 4429])
async def test_the_application_closes_with_any_code_a_server_may_send(code: int) -> None:
    """1011 and 1013 go out as close frames too (autobahn's sendClose raises on them)."""
    closing = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await closing.wait()
        await send({"type": "websocket.close", "code": code})

    protocol, transport, _ = await upgraded(app)
    transport.clear()
    closing.set()
    for _ in range(100):
        if transport.value():
            break
        await asyncio.sleep(0.01)
    assert transport.value() == b"\x88\x02" + struct.pack("!H", code)
    assert protocol.state == protocol.STATE_CLOSING
