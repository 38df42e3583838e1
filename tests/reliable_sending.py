"""The sending half of tests/reliable_client.py: every message keeps its `client_id` until
acknowledged, goes out again after each reconnect, and a `not_stored` is retried with the
same `client_id` after a pause (the page's composer.js and timeline.js's Outbox)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import websockets


@dataclass
class _Pending:
    text: str
    attempts: int = 0
    retry_handle: asyncio.TimerHandle | None = None


class Sending:
    """Mixed into ReliableClient, which provides the socket, its stats and `_wait_change`."""

    name: str
    retry_delay_s: float
    max_attempts: int

    def _init_sending(self) -> None:
        self.sent: dict[str, str] = {}
        """client_id -> text of every message this client sent."""
        self.acks: dict[str, dict[str, Any]] = {}
        """client_id -> its first ack."""
        self.ack_counts: dict[str, int] = {}
        """client_id -> how many acks it got (one per send, resends included)."""
        self.ack_mismatches: list[tuple[dict[str, Any], dict[str, Any]]] = []
        self._pending: dict[str, _Pending] = {}
        self._counter = 0
        self._background: set[asyncio.Task[None]] = set()

    def send(self, text: str | None = None, client_id: str | None = None) -> str:
        """Queue one message (sent now if connected, else after the next welcome)."""
        self._counter += 1
        client_id = client_id or f"{self.name}-{self._counter}-{uuid.uuid4().hex[:8]}"
        text = text or f"{self.name} #{self._counter} ({client_id})"
        self.sent[client_id] = text
        self._pending[client_id] = _Pending(text=text)
        self._transmit(client_id)
        return client_id

    def send_duplicate(self, client_id: str) -> None:
        """Send an already sent message again, with the same client_id and text."""
        self._send_now(client_id, self.sent[client_id])

    async def send_many(
        self, count: int, *, window: int = 50, timeout: float = 60, pace_s: float = 0.0
    ) -> list[str]:
        """Send `count` messages, at most `window` unacknowledged at a time."""
        client_ids = []
        deadline = time.monotonic() + timeout
        for _ in range(count):
            while len(self._pending) >= window:
                await self._wait_change(deadline, f"window of {window} never freed")
            client_ids.append(self.send())
            if pace_s:
                await asyncio.sleep(pace_s)
        return client_ids

    async def wait_acked(self, timeout: float = 60) -> None:
        """Wait until every message sent has its ack."""
        deadline = time.monotonic() + timeout
        while self._pending:
            await self._wait_change(deadline, f"{len(self._pending)} messages never acknowledged")

    @property
    def pending(self) -> list[str]:
        return list(self._pending)

    def _resend_pending(self) -> None:
        for client_id in list(self._pending):
            self._transmit(client_id, resend=True)

    def _stop_retries(self) -> None:
        for pending in self._pending.values():
            if pending.retry_handle is not None:
                pending.retry_handle.cancel()

    def _transmit(self, client_id: str, *, resend: bool = False) -> None:
        pending = self._pending.get(client_id)
        if pending is None or not self.connected:
            return
        if pending.retry_handle is not None:
            pending.retry_handle.cancel()
            pending.retry_handle = None
        pending.attempts += 1
        if pending.attempts > self.max_attempts:
            self.failure = f"{client_id} not stored after {self.max_attempts} attempts"
            self._wake()
            return
        if resend:
            self.stats.resends += 1
        self._send_now(client_id, pending.text)

    def _send_now(self, client_id: str, text: str) -> None:
        self._spawn({"type": "message", "text": text, "client_id": client_id})

    def _spawn(self, frame: dict[str, Any]) -> None:
        task = asyncio.ensure_future(self._send_frame(frame))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send_frame(self, frame: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            return
        # A frame lost with the connection is resent (messages) or asked again (gaps).
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(json.dumps(frame))

    def _on_ack(self, event: dict[str, Any]) -> None:
        client_id = event.get("client_id")
        if client_id is None:
            return
        first = self.acks.setdefault(client_id, event)
        self.ack_counts[client_id] = self.ack_counts.get(client_id, 0) + 1
        if (first["id"], first["seq"]) != (event["id"], event["seq"]):
            self.ack_mismatches.append((first, event))
        pending = self._pending.pop(client_id, None)
        if pending is not None and pending.retry_handle is not None:
            pending.retry_handle.cancel()

    def _on_send_error(self, event: dict[str, Any]) -> bool:
        """A `not_stored` for a pending message: retried after a pause. False if not ours."""
        client_id = event.get("client_id")
        if event.get("code") != "not_stored" or client_id not in self._pending:
            return False
        self.stats.not_stored += 1
        pending = self._pending[client_id]
        if pending.retry_handle is None:
            pending.retry_handle = asyncio.get_running_loop().call_later(
                self.retry_delay_s, self._retry, client_id
            )
        return True

    def _retry(self, client_id: str) -> None:
        pending = self._pending.get(client_id)
        if pending is not None:
            pending.retry_handle = None
            self.stats.resends += 1
            self._transmit(client_id)
