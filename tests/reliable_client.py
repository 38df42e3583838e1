"""An asyncio chat client that behaves like the page: gap-free, duplicate-free, resending.

As a receiver it keeps the messages it shows by `seq`, asks
`{"type": "history", "after_seq": N}` when it sees a gap, and reconnects on its own with
`?after_seq=<highest shown>`. As a sender it gives every message a `client_id`, keeps it
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
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import websockets

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
    """Messages first shown from a resume catch-up page (`?after_seq=` on connect)."""
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
class _Request:
    after_seq: int
    sent_at: float


@dataclass
class _Pending:
    text: str
    attempts: int = 0
    retry_handle: asyncio.TimerHandle | None = None


@dataclass
class ReliableClient:
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
    hole_recheck_s: float = 6.0
    """When to ask once more for a seq an answer skipped (the page's HOLE_RECHECK_MS: the
    server gives up storing after 5 s)."""

    shown: dict[int, dict[str, Any]] = field(default_factory=dict)
    holes: dict[int, float] = field(default_factory=dict)
    """Provisional holes: seqs an answer skipped (not stored at the time of the read), and
    when to ask for them once more, in case a slow write was still landing."""
    final_holes: set[int] = field(default_factory=set)
    """Holes that were still missing when asked for again: taken for never stored."""
    confirmed: int = 0
    """Every seq up to this one is shown or known never stored."""
    highest: int = 0
    sent: dict[str, str] = field(default_factory=dict)
    """client_id -> text of every message this client sent."""
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """client_id -> its first ack."""
    ack_counts: dict[str, int] = field(default_factory=dict)
    """client_id -> how many acks it got (one per send, resends included)."""
    ack_mismatches: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    conflicts: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    """Messages shown after an answer had skipped them, and which answer that was."""
    workers: list[str] = field(default_factory=list)
    """`worker` of every welcome, in order (a reconnect may land on another worker)."""
    welcome: dict[str, Any] = field(default_factory=dict)
    stats: Stats = field(default_factory=Stats)
    failure: str | None = None

    def __post_init__(self) -> None:
        self._ws: websockets.ClientConnection | None = None
        self._pending: dict[str, _Pending] = {}
        self._request: _Request | None = None
        self._catching_up = False
        self._settle_target = 0
        self._closing = False
        self._hold_s = 0.0
        self._resume_from: int | None = self.start_after
        self._task: asyncio.Task[None] | None = None
        self._gap_task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._gap_wakeup = asyncio.Event()
        self._connected = asyncio.Event()
        self._counter = 0
        self._last_loop_ask = 0.0
        # seq -> when it was first overtaken by a higher one: a gap is fetched once its
        # lowest seq has been missing for gap_wait_s, not whenever some gap exists.
        self._missing_since: dict[int, float] = {}
        self._hole_origin: dict[int, str] = {}
        self._background: set[asyncio.Task[None]] = set()
        if self.start_after is not None:
            self.confirmed = self.highest = self.start_after

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
        for pending in self._pending.values():
            if pending.retry_handle is not None:
                pending.retry_handle.cancel()
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

    async def _run(self) -> None:
        delay = 0.1
        down_since = time.monotonic()
        while not self._closing:
            try:
                ws = await asyncio.wait_for(websockets.connect(self.url(self._resume_from)), 5)
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                if time.monotonic() - down_since > self.reconnect_budget_s:
                    self.failure = f"could not reconnect for {self.reconnect_budget_s}s: {exc!r}"
                    self._wake()
                    return
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(1.0, delay * 2)
                continue
            self._ws = ws
            close_code: int | None = None
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
                close_code = ws.close_code
                self._ws = None
                self._on_dropped()
            if close_code == CLOSE_BAD_REQUEST:
                self.failure = f"refused with {close_code}: {self.errors[-1:]}"
                self._wake()
                return
            down_since = time.monotonic()
            delay = 0.1
            hold, self._hold_s = self._hold_s, 0.0
            await asyncio.sleep(hold or delay)

    def _on_dropped(self) -> None:
        self._connected.clear()
        self._request = None
        self._catching_up = False
        # Resume from the highest shown; holes below it are fetched once reconnected.
        self._resume_from = self.highest if self.start_after is not None or self.shown else None

    def _wake(self) -> None:
        self._changed.set()
        self._gap_wakeup.set()

    # ---- frames from the server ----------------------------------------------------------

    def _handle(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "welcome":
            self._on_welcome(event)
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
            self._on_error(event)
        self._wake()

    def _on_welcome(self, event: dict[str, Any]) -> None:
        self.stats.connects += 1
        self.welcome = event
        self.workers.append(event["worker"])
        self._catching_up = True  # until the history that follows the welcome has arrived
        self._connected.set()
        for client_id in list(self._pending):
            self._transmit(client_id, resend=True)

    def _on_history(self, event: dict[str, Any]) -> None:
        messages: list[dict[str, Any]] = event["messages"]
        cursor = event.get("after_seq")
        ours = (
            not self._catching_up
            and cursor is not None
            and self._request is not None
            and self._request.after_seq == cursor
        )
        if self._catching_up and cursor is not None:
            self.stats.resumed_pages += 1
        source = "gap" if ours else "catch_up"
        for message in messages:
            self._show(message, source)
        if cursor is not None:
            # An after_seq page holds every stored seq from the cursor to its last message.
            last = messages[-1]["seq"] if messages else None
            if last is not None or not event.get("has_more"):
                self._mark_holes(cursor, last, f"{source} page")
        elif event.get("before_seq") is None:
            if self.start_after is None and not self.shown and not self.confirmed:
                base = messages[0]["seq"] - 1 if messages else self.welcome.get("last_seq", 0)
                self.confirmed = self.highest = max(self.highest, base)
            if messages:
                self._mark_holes(
                    messages[0]["seq"] - 1 if event.get("has_more") else 0,
                    messages[-1]["seq"],
                    "newest page",
                )
        self._advance()
        if self._catching_up and (cursor is None or not event.get("has_more")):
            self._catching_up = False
        if ours:
            self._request = None
            if event.get("has_more") and messages and self.confirmed < self._need():
                self._ask(self.confirmed)

    def _on_live(self, message: dict[str, Any]) -> None:
        if message["seq"] < self.highest:
            self.stats.out_of_order += 1
        self._show(message, "live")
        self._advance()

    def _show(self, message: dict[str, Any], source: str) -> None:
        seq = message["seq"]
        known = self.shown.get(seq)
        if known is not None:
            self.stats.duplicate_frames += 1
            if source != "live":
                self.stats.duplicate_in_history += 1
            if known["id"] != message["id"]:
                self.conflicts.append((known, message))
            return
        self.shown[seq] = message
        self._missing_since.pop(seq, None)
        if seq > self.highest + 1:
            now = time.monotonic()
            for overtaken in range(max(self.highest, self.confirmed) + 1, seq):
                if overtaken not in self.shown:
                    self._missing_since.setdefault(overtaken, now)
        self.highest = max(self.highest, seq)
        if seq in self.holes or seq in self.final_holes:
            self.holes.pop(seq, None)
            self.final_holes.discard(seq)
            self.stats.late_found += 1
            self.late.append(
                f"#{seq} ({message['id']}) came by {source} after {self._hole_origin[seq]}"
            )
        elif source == "live":
            self.stats.live += 1
        elif source == "gap":
            self.stats.gap_fetched += 1
        else:
            self.stats.catch_up += 1

    def _mark_holes(self, after: int, last: int | None, origin: str) -> None:
        """Every stored seq in (after, last] is in the answer (every one above `after` when
        `last` is None): the others were not stored when it was read."""
        now = time.monotonic()
        for seq in list(self.holes):
            # Asked once more and still missing: never stored.
            if seq > after and (last is None or seq < last) and self.holes[seq] <= now:
                del self.holes[seq]
                self.final_holes.add(seq)
        for seq in range(after + 1, self.highest if last is None else last):
            if seq not in self.shown and seq not in self.holes and seq not in self.final_holes:
                self.holes[seq] = now + self.hole_recheck_s
                self._hole_origin[seq] = (
                    f"a {origin} after_seq={after} up to #{last} on {self.workers[-1]} "
                    f"at {time.time():.3f} skipped it"
                )
                self._missing_since.pop(seq, None)

    def _resolved(self, seq: int) -> bool:
        return seq in self.shown or seq in self.holes or seq in self.final_holes

    def _advance(self) -> None:
        while self._resolved(self.confirmed + 1):
            self.confirmed += 1
        if self.confirmed < self._need():
            self._gap_wakeup.set()

    def _need(self) -> int:
        return max(self.highest, self._settle_target)

    # ---- gaps ------------------------------------------------------------------------------

    def _ask(self, after_seq: int, upto: int | None = None) -> None:
        if self._ws is None or not self._connected.is_set():
            return
        now = time.monotonic()
        self._request = _Request(after_seq=after_seq, sent_at=now)
        self.stats.gap_requests += 1
        if upto is None:
            # Up to the highest seq missing for long enough: what lies above arrives live,
            # and a page reaching further would mostly repeat what is shown.
            due = [
                seq
                for seq, since in self._missing_since.items()
                if seq > after_seq and now - since >= self.gap_wait_s
            ]
            upto = max(due) if due and after_seq + 1 in self._missing_since else self._need()
        limit = max(1, min(HISTORY_LIMIT, upto - after_seq))
        self._spawn({"type": "history", "after_seq": after_seq, "limit": limit})

    def _gap_due(self, now: float) -> bool:
        if self.confirmed >= self._need():
            return False
        since = self._missing_since.get(self.confirmed + 1)
        return since is None or now - since >= self.gap_wait_s

    async def _fill_gaps(self) -> None:
        while not self._closing:
            if self.confirmed >= self._need() and not self.holes:
                await self._gap_wakeup.wait()
                self._gap_wakeup.clear()
                continue
            now = time.monotonic()
            request = self._request
            if request is not None and now - request.sent_at > self.request_timeout_s:
                self._request = request = None
            if (
                request is None
                and not self._catching_up
                and self._connected.is_set()
                and now - self._last_loop_ask >= GAP_POLL_S * 2
            ):
                rechecks = sorted(seq for seq, at in self.holes.items() if at <= now)
                if self._gap_due(now):
                    self._last_loop_ask = now
                    self._ask(self.confirmed)
                elif rechecks:
                    self._last_loop_ask = now
                    self._ask(rechecks[0] - 1, upto=rechecks[-1])
            await asyncio.sleep(GAP_POLL_S)

    # ---- sending -----------------------------------------------------------------------------

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

    def _transmit(self, client_id: str, *, resend: bool = False) -> None:
        pending = self._pending.get(client_id)
        if pending is None or not self._connected.is_set():
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

    def _on_error(self, event: dict[str, Any]) -> None:
        self.errors.append(event)
        client_id = event.get("client_id")
        if event.get("code") == "not_stored" and client_id in self._pending:
            self.stats.not_stored += 1
            pending = self._pending[client_id]
            if pending.retry_handle is None:
                pending.retry_handle = asyncio.get_running_loop().call_later(
                    self.retry_delay_s, self._retry, client_id
                )
        elif event.get("code") == "unavailable" and client_id is None and self._request:
            # The store failed our history request: ask again after a pause, as the page does.
            self._request = None
            self._last_loop_ask = time.monotonic() + ERROR_PAUSE_S

    def _retry(self, client_id: str) -> None:
        pending = self._pending.get(client_id)
        if pending is not None:
            pending.retry_handle = None
            self.stats.resends += 1
            self._transmit(client_id)

    # ---- waiting -------------------------------------------------------------------------------

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
        while any(hole <= seq for hole in self.holes):
            await self._wait_change(deadline, f"holes never re-checked: {sorted(self.holes)}")
        await self.wait_until(seq, timeout=timeout)
        return passive

    def _missing_report(self, seq: int) -> str:
        missing = [s for s in range(self.confirmed + 1, seq + 1) if s not in self.shown]
        return (
            f"{self.name}: confirmed {self.confirmed}, highest {self.highest}, target {seq}; "
            f"unresolved {missing[:20]}{'...' if len(missing) > 20 else ''}; "
            f"connected={self.connected} failure={self.failure} stats={self.stats}"
        )

    def shown_seqs(self) -> list[int]:
        """Seqs shown, in the order the page displays them (ascending)."""
        return sorted(self.shown)
