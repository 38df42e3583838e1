"""daphne's WebSocket protocol, keeping less per open connection.

An idle WebSocket costs its worker what stays referenced from its protocol object; at
10,000 connections every few hundred bytes show (docs/performance.md). This subclass

- takes autobahn's 29 settings from class attributes, copied once from daphne's one
  factory, instead of autobahn copying them into every protocol's attribute dict (99 keys
  need a 3.3 KB dict; under 86 fit in 1.5 KB);
- forgets the opening handshake once the socket is open: the raw request and response,
  the parsed headers and query, daphne's cleaned headers and its parsed request (its path,
  which daphne logs on close, is kept);
- closes with the RFC 6455 codes a server sends (1001 going away, 1011 internal error,
  1013 try again later), which autobahn's sendClose refuses: it allows only 1000 and
  3000-4999 and raises on the rest, leaving the socket open.

Import after daphne.server, which installs Twisted's asyncio reactor.
"""

from __future__ import annotations

from types import FunctionType
from typing import Any, ClassVar

from daphne.ws_protocol import WebSocketProtocol

# Read by autobahn and daphne only while the opening handshake is processed.
_HANDSHAKE_ONLY = (
    "http_request_data",
    "http_status_line",
    "http_headers",
    "http_request_uri",
    "http_request_path",
    "http_request_params",
    "http_request_host",
    "http_response_data",
    "websocket_origin",
    "websocket_protocols",
    "websocket_extensions",
    "_wskey",
    "_raw_query_string",
    "clean_headers",
    "application_deferred",
    "root_path",
    "server_addr",
)


# Close codes RFC 6455 gives a server that autobahn's sendClose will not send.
SERVER_CLOSE_CODES = frozenset({1001, 1011, 1012, 1013, 1014})


class _Request:
    """What daphne still reads of the handshake request after it: the path, for its log."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path


class LeanWebSocketProtocol(WebSocketProtocol):
    """A daphne WebSocketProtocol whose settings live on the class, its handshake forgotten."""

    # The factory the class attributes were copied from (daphne's server has one).
    _settings_from: ClassVar[Any] = None

    def _connectionMade(self) -> None:
        cls = type(self)
        if cls._settings_from is None:
            for name in self.CONFIG_ATTRS:
                value = getattr(self.factory, name)
                # A function (perMessageCompressionAccept) must not become a method.
                setattr(
                    cls, name, staticmethod(value) if isinstance(value, FunctionType) else value
                )
            cls._settings_from = self.factory
        elif cls._settings_from is not self.factory:
            # Another factory: its settings go on the instance, as autobahn would put them.
            for name in self.CONFIG_ATTRS:
                setattr(self, name, getattr(self.factory, name))
        super()._connectionMade()

    def onOpen(self) -> None:
        super().onOpen()
        self.request = _Request(self.request.path)
        for name in _HANDSHAKE_ONLY:
            self.__dict__.pop(name, None)

    def serverClose(self, code: int | None = None) -> None:
        """The application's close: RFC codes autobahn refuses go out as a plain close frame."""
        if code in SERVER_CLOSE_CODES:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            super().serverClose(code)


# A forgotten attribute reads as None rather than raising, should anything still look.
for _name in _HANDSHAKE_ONLY:
    setattr(LeanWebSocketProtocol, _name, None)
