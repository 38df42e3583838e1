"""A small keep-alive HTTP/1.1 JSON client on asyncio streams, for the queue demo commands
and the queue benchmark: one connection, one request at a time, no dependencies."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Answer:
    """A response: its status and its JSON body (None when empty)."""

    status: int
    body: Any


class JsonClient:
    """Requests to one server over one kept-alive connection, reconnecting when it closes."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout_s: float = 30) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = f"Host: {self.host}:{self.port}\r\n"
        if token:
            self.headers += f"Authorization: Bearer {token}\r\n"
        self.timeout_s = timeout_s
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, body: Any = None) -> Answer:
        """Send one request and read its answer (one retry on a connection the server closed)."""
        payload = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\n{self.headers}Content-Length: {len(payload)}\r\n"
            + ("Content-Type: application/json\r\n" if body is not None else "")
            + "\r\n"
        ).encode()
        for attempt in (1, 2):
            try:
                return await asyncio.wait_for(self._exchange(head + payload), self.timeout_s)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, data: bytes) -> Answer:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        writer.write(data)
        await writer.drain()
        status_line = await reader.readuntil(b"\r\n")
        if not status_line:
            raise ConnectionError("closed")
        status = int(status_line.split()[1])
        length, close, chunked = 0, False, False
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection" and value == "close":
                close = True
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
        raw = await _chunks(reader) if chunked else await reader.readexactly(length)
        if close:
            await self.close()
        return Answer(status, json.loads(raw) if raw else None)

    async def close(self) -> None:
        """Close the connection (the next request opens another)."""
        if self._streams is not None:
            _, writer = self._streams
            self._streams = None
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _chunks(reader: asyncio.StreamReader) -> bytes:
    """A chunked body, whole."""
    parts = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
    await reader.readuntil(b"\r\n")
    return b"".join(parts)
