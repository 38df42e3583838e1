"""A Server-Sent Events client over a plain asyncio connection, with every wait bounded."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote


@dataclass
class SseEvent:
    """One event of the stream: its fields as sent (`data` joined, `id` when given)."""

    data: str = ""
    id: str | None = None
    event: str = "message"
    comment: bool = False

    def json(self) -> dict[str, Any]:
        return json.loads(self.data)  # type: ignore[no-any-return]


@dataclass
class SseClient:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    status: int
    headers: dict[str, str]
    _buffer: bytes = b""
    _chunked: bool = False
    received: list[SseEvent] = field(default_factory=list)

    @classmethod
    async def open(
        cls,
        port: int,
        room: str,
        name: str,
        *,
        after_seq: int | None = None,
        last_event_id: str = "",
    ) -> SseClient:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 10)
        query = f"name={quote(name)}" + ("" if after_seq is None else f"&after_seq={after_seq}")
        lines = [
            f"GET /api/rooms/{quote(room)}/stream?{query} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Accept: text/event-stream",
            *([f"Last-Event-ID: {last_event_id}"] if last_event_id else []),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        client = cls(reader, writer, int(status_line.split()[1]), headers)
        client._chunked = headers.get("transfer-encoding") == "chunked"
        return client

    async def _more(self) -> bool:
        """Read more of the body; False at its end."""
        if not self._chunked:
            data = await self.reader.read(65536)
            self._buffer += data
            return bool(data)
        size = int((await self.reader.readline()).strip() or b"0", 16)
        if size == 0:
            return False
        self._buffer += await self.reader.readexactly(size + 2)
        self._buffer = self._buffer[:-2] if self._buffer.endswith(b"\r\n") else self._buffer
        return True

    async def next(self, timeout: float = 10) -> SseEvent | None:
        """The next event or comment; None when the stream ended."""
        async with asyncio.timeout(timeout):
            while b"\n\n" not in self._buffer:
                if not await self._more():
                    return None
        block, self._buffer = self._buffer.split(b"\n\n", 1)
        event = SseEvent()
        for line in block.decode().split("\n"):
            key, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if key == "":
                event.comment = True
            elif key == "data":
                event.data = f"{event.data}\n{value}" if event.data else value
            elif key in ("id", "event"):
                setattr(event, key, value)
        self.received.append(event)
        return event

    async def expect(self, type_: str, timeout: float = 10) -> tuple[SseEvent, dict[str, Any]]:
        """The next data event whose JSON `type` is `type_` (a batch's events looked into)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
            event = await self.next(remaining)
            if event is None:
                raise AssertionError(f"the stream ended before a {type_!r} event")
            if event.comment or event.event != "message" or not event.data:
                continue
            data = event.json()
            for inner in data["events"] if data["type"] == "batch" else [data]:
                if inner["type"] == type_:
                    return event, inner
        raise TimeoutError(f"no {type_!r} event within {timeout}s")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
