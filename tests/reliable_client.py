"""An asyncio chat client that behaves like the page: gap-free, duplicate-free, resending.

As a receiver it follows the page's own rules (tests/timeline.py, a port of
static/chat/timeline.js checked against the same cases): it shows messages by `seq`, asks
`{"type": "history", "after_seq": N}` for a gap once the overtaking wait is over, asks once
more for seqs an answer skipped, and reconnects on its own with `?after_seq=<highest shown>`.
As a sender (tests/reliable_sending.py) it gives every message a `client_id`, keeps it
pending until acknowledged, resends pending messages after a reconnect, and retries a
`not_stored` message with the same `client_id`. Every wait is bounded.

    client = ReliableClient("ws://127.0.0.1:4810", "lobby", "alice")
    await client.start()
    await client.send_many(100)
    await client.wait_acked()
    await client.settle(target_seq)
    await client.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import websockets

from tests.reliable_sending import Sending
from tests.timeline import Timeline, history_kind

CLOSE_BAD_REQUEST = 4400
HISTORY_LIMIT = 200
GAP_POLL_S = 0.1
ERROR_PAUSE_S = 5.0
"""The page's ERROR_PAUSE_MS: a history request the server refused is not repeated at once."""


class ClientGaveUp(RuntimeError):
    """The client could not (re)connect, or a message could not be stored, within its bounds."""


@dataclass
class Stats:
    """What happened to one client, for assertions and for the report."""

    connects: int = 0
    live: int = 0
    """Messages first shown from a live broadcast."""
    catch_up: int = 0
    """Messages first shown from a page this client did not ask for (the newest page of a
    join, a resume's catch-up)."""
    gap_fetched: int = 0
    """Messages first shown from a history page this client asked for."""
    late_found: int = 0
    """Messages shown after an answer had skipped them: a slow write that landed later,
    arriving live or through the client's re-check of the hole (see `late`)."""
    duplicate_frames: int = 0
    """Message frames for a seq already shown (dropped, like the page does)."""
    duplicate_in_history: int = 0
    """Of those, how many came in history pages (asked for, or pushed by the server)."""
    out_of_order: int = 0
    """Live messages that arrived below the highest seq already shown."""
    gap_requests: int = 0
    resends: int = 0
    not_stored: int = 0
    batches: int = 0
    resumed_pages: int = 0


@dataclass
class ReliableClient(Sending):
    """One member of one room; see the module docstring."""

    base_url: str
    room: str
    name: str
    start_after: int | None = 0
    """Seq to resume from on the first connect (None: join fresh, showing the newest page)."""
    gap_wait_s: float = 1.0
    """How long a gap may stay open before it is fetched (broadcasts from two workers may
    overtake each other briefly)."""
    reconnect_budget_s: float = 30.0
    """Give up when no connection succeeds for this long."""
    retry_delay_s: float = 0.3
    max_attempts: int = 60
    """Sends of one message (first send, resends, `not_stored` retries) before giving up."""
    request_timeout_s: float = 5.0
    """A gap request unanswered for this long is forgotten, so it can be asked again."""
    hole_recheck_s: float = 6.0
    """When to ask once more for a seq an answer skipped (the page's HOLE_RECHECK_MS: the
    server gives up storing after 5 s)."""

    shown: dict[int, dict[str, Any]] = field(default_factory=dict)
    """seq -> the message shown for it."""
    conflicts: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    """Messages shown after an answer had skipped them, and how they came."""
    workers: list[str] = field(default_factory=list)
    """`worker` of every welcome, in order (a reconnect may land on another worker)."""
    welcome: dict[str, Any] = field(default_factory=dict)
    stats: Stats = field(default_factory=Stats)
    failure: str | None = None

    def __post_init__(self) -> None:
        self._init_sending()
        self.timeline = Timeline(
            gap_wait=self.gap_wait_s,
            hole_recheck=self.hole_recheck_s,
            error_pause=ERROR_PAUSE_S,
            max_page=HISTORY_LIMIT,
        )
        # Seqs at or below this one are not this client's to hold (None: until the newest
        # page of a fresh join says where the room's shown part starts).
        self._base: int | None = self.start_after
        self._ws: websockets.ClientConnection | None = None
        self._asked_at = 0.0
        self._settle_target = 0
        self._closing = False
        self._hold_s = 0.0
        self._task: asyncio.Task[None] | None = None
        self._gap_task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._gap_wakeup = asyncio.Event()
        self._connected = asyncio.Event()

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self, timeout: float = 10) -> None:
        """Connect and wait for the first welcome; reconnects happen on their own afterwards."""
        self._task = asyncio.create_task(self._run(), name=f"client-{self.name}")
        self._gap_task = asyncio.create_task(self._fill_gaps(), name=f"gaps-{self.name}")
        waiter = asyncio.create_task(self._connected.wait())
        done, _ = await asyncio.wait(
            {waiter, self._task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            waiter.cancel()
            await self.close()
            raise ClientGaveUp(f"{self.name}: no welcome within {timeout}s ({self.failure})")

    async def close(self) -> None:
        """Close the socket and stop every task of this client."""
        self._closing = True
        self._stop_retries()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ws.close(), 5)
        for task in (self._task, self._gap_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def drop(self, hold_s: float) -> None:
        """Close the socket as a lost connection would, and reconnect after `hold_s`."""
        self._hold_s = hold_s
        if self._ws is not None:
            await self._ws.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def url(self, after_seq: int | None) -> str:
        url = f"{self.base_url}/ws/rooms/{quote(self.room)}/?name={quote(self.name)}"
        return url if after_seq is None else f"{url}&after_seq={after_seq}"

    def _resume_from(self) -> int | None:
        """The page's resume cursor; before any history, where this client was told to start."""
        after = self.timeline.resume_after()
        return self.start_after if after is None else after

    async def _run(self) -> None:
        delay = 0.1
        down_since = time.monotonic()
        while not self._closing:
            after_seq = self._resume_from()
            try:
                ws = await asyncio.wait_for(websockets.connect(self.url(after_seq)), 5)
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                if time.monotonic() - down_since > self.reconnect_budget_s:
                    self.failure = f"could not reconnect for {self.reconnect_budget_s}s: {exc!r}"
                    self._wake()
                    return
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(1.0, delay * 2)
                continue
            self._ws = ws
            self.timeline.connected(after_seq is not None)
            try:
                async for frame in ws:
                    self._handle(json.loads(frame))
            except websockets.ConnectionClosed:
                pass
            except Exception as exc:
                self.failure = f"client bug: {exc!r}"
                self._wake()
                raise
            finally:
                self._ws = None
                self._connected.clear()
                self.timeline.disconnected()
            if ws.close_code == CLOSE_BAD_REQUEST:
                self.failure = f"refused with {ws.close_code}: {self.errors[-1:]}"
                self._wake()
                return
            down_since = time.monotonic()
            delay = 0.1
            hold, self._hold_s = self._hold_s, 0.0
            await asyncio.sleep(hold or delay)

    def _wake(self) -> None:
        self._changed.set()
        self._gap_wakeup.set()

    # ---- frames from the server ----------------------------------------------------------

    def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "welcome":
            self.stats.connects += 1
            self.welcome = event
            self.workers.append(event["worker"])
            self._connected.set()
            self._resend_pending()
        elif kind == "history":
            self._on_history(event)
        elif kind == "message":
            self._on_live(event)
        elif kind == "batch":
            self.stats.batches += 1
            for inner in event["events"]:
                self._handle(inner)
        elif kind == "ack":
            self._on_ack(event)
        elif kind == "error":
            self.errors.append(event)
            refused_read = event.get("client_id") is None and self.timeline.in_flight is not None
            if not self._on_send_error(event) and refused_read:  # our history request
                self.timeline.request_failed(time.monotonic())
        self._wake()

    def _on_history(self, event: dict[str, Any]) -> None:
        messages: list[dict[str, Any]] = event.get("messages") or []
        kind = history_kind(event)
        if kind == "after" and self.timeline.resuming:
            self.stats.resumed_pages += 1
        skipped = {m["seq"] for m in messages if self.timeline.is_hole(m["seq"])}
        result = self.timeline.receive_history(event, time.monotonic())
        if self._base is None and kind == "newest":
            self._base = messages[0]["seq"] - 1 if messages else self.welcome.get("last_seq", 0)
        fresh = {entry["message"]["seq"] for entry in result.fresh}
        source = "gap" if result.answered else "catch_up"
        for message in messages:
            if message["seq"] in fresh:
                self._shown(message, source, late=message["seq"] in skipped)
            else:
                self._duplicate(message, in_history=True)

    def _on_live(self, message: dict[str, Any]) -> None:
        seq = message["seq"]
        if seq < self.timeline.highest:
            self.stats.out_of_order += 1
        skipped = self.timeline.is_hole(seq)
        if self.timeline.receive_live(seq, time.monotonic())["added"]:
            self._shown(message, "live", late=skipped)
        else:
            self._duplicate(message, in_history=False)

    def _shown(self, message: dict[str, Any], source: str, *, late: bool) -> None:
        self.shown[message["seq"]] = message
        if late:
            self.stats.late_found += 1
            self.late.append(
                f"#{message['seq']} ({message['id']}) came by {source} after an "
                f"answer had skipped it; workers {self.workers}"
            )
        elif source == "live":
            self.stats.live += 1
        elif source == "gap":
            self.stats.gap_fetched += 1
        else:
            self.stats.catch_up += 1

    def _duplicate(self, message: dict[str, Any], *, in_history: bool) -> None:
        self.stats.duplicate_frames += 1
        self.stats.duplicate_in_history += in_history
        known = self.shown.get(message["seq"])
        if known is not None and known["id"] != message["id"]:
            self.conflicts.append((known, message))

    # ---- gaps ------------------------------------------------------------------------------

    async def _fill_gaps(self) -> None:
        """Send what the timeline asks for; while settling, also ask above the highest seq
        shown (a newest message no later seq reveals, which the page would see on reload)."""
        timeline = self.timeline
        while not self._closing:
            now = time.monotonic()
            if timeline.in_flight is not None and now - self._asked_at > self.request_timeout_s:
                timeline.in_flight = None  # its answer is not coming: ask again
            request = timeline.next_request(now) if self.connected else None
            if (
                request is None
                and self.connected
                and timeline.in_flight is None
                and not timeline.resuming
                and now >= timeline.paused_until
                and self._settle_target > timeline.highest
            ):
                limit = min(HISTORY_LIMIT, self._settle_target - timeline.highest)
                request = timeline.ask(timeline.highest, limit, "settle")
            if request is not None:
                self._asked_at = now
                self.stats.gap_requests += 1
                self._spawn(request)
            self._gap_wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gap_wakeup.wait(), GAP_POLL_S)

    # ---- waiting -------------------------------------------------------------------------------

    @property
    def confirmed(self) -> int:
        """Every seq above this client's start and up to this one is shown or a hole."""
        seq = self._base or 0
        while self.timeline.has(seq + 1) or self.timeline.is_hole(seq + 1):
            seq += 1
        return seq

    def provisional_holes(self) -> list[int]:
        """Seqs an answer skipped that are still to be asked for once more."""
        return [s for s, hole in sorted(self.timeline.holes.items()) if not hole.final]

    async def _wait_change(self, deadline: float, what: str) -> None:
        if self.failure:
            raise ClientGaveUp(f"{self.name}: {self.failure}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{self.name}: {what}")
        self._changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))

    async def wait_for(self, ready: Callable[[], bool], what: str, timeout: float = 30) -> None:
        """Wait (bounded) until `ready()` holds; `what` names it in the timeout error."""
        deadline = time.monotonic() + timeout
        while not ready():
            await self._wait_change(deadline, what)

    async def wait_until(self, seq: int, timeout: float = 30) -> None:
        """Wait until every seq up to `seq` is shown or known never stored, asking nothing
        beyond what the page asks (gaps it sees, the resume on reconnect)."""
        deadline = time.monotonic() + timeout
        while self.confirmed < seq:
            await self._wait_change(deadline, self._missing_report(seq))

    async def settle(self, seq: int, *, patience_s: float = 2.0, timeout: float = 30) -> bool:
        """Hold everything up to `seq`: wait like the page for `patience_s`, then ask for
        the rest with after_seq, then wait until every hole below it was asked once more.

        Returns whether the page's own behaviour sufficed (nothing had to be asked).
        """
        try:
            await self.wait_until(seq, timeout=patience_s)
            passive = True
        except TimeoutError:
            passive = False
        self._settle_target = seq
        self._gap_wakeup.set()
        await self.wait_until(seq, timeout=timeout)
        deadline = time.monotonic() + timeout
        while any(hole <= seq for hole in self.provisional_holes()):
            await self._wait_change(
                deadline, f"holes never re-checked: {self.provisional_holes()[:20]}"
            )
        await self.wait_until(seq, timeout=timeout)
        return passive

    def _missing_report(self, seq: int) -> str:
        confirmed = self.confirmed
        missing = [s for s in range(confirmed + 1, seq + 1) if s not in self.shown]
        return (
            f"{self.name}: confirmed {confirmed}, highest {self.timeline.highest}, target "
            f"{seq}; unresolved {missing[:20]}{'...' if len(missing) > 20 else ''}; "
            f"connected={self.connected} failure={self.failure} stats={self.stats}"
        )

    def shown_seqs(self) -> list[int]:
        """Seqs shown, in the order the page displays them (ascending)."""
        return sorted(self.shown)
