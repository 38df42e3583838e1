"""Fan-out benchmark client for a running chat server: pure helpers, then the async driver.

Its receivers count live deliveries only, dropping a repeated seq: they never fill a gap or
resume, which would hide the loss a benchmark must report. The delivery rules that repair
loss are the page's (static/chat/timeline.js), shared with the test clients through
tests/cases/timeline.json.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import websockets

TEXT_PREFIX = "bench"
# How long a run waits after its last delivery for acks still on their way.
ACK_GRACE_S = 5.0
PROGRESS_INTERVAL_S = 1.0


@dataclass(frozen=True)
class BenchConfig:
    """One load shape against one server."""

    url: str = "ws://127.0.0.1:4810"
    rooms: int = 1
    receivers: int = 100
    senders: int = 5
    messages: int = 100
    rate: float = 0.0
    window: int = 0
    size: int = 64
    idle_timeout: float = 10.0
    connect_timeout: float = 30.0
    connect_concurrency: int = 100

    @property
    def expected(self) -> int:
        """Deliveries a loss-free run produces: every receiver sees every sender's messages."""
        return self.rooms * self.receivers * self.senders * self.messages


@dataclass
class Tally:
    """Counters and samples a run collects; `summarize` turns them into a result."""

    sent: int = 0
    acked: int = 0
    errors: int = 0
    deliveries: int = 0
    duplicates: int = 0
    connect_failures: int = 0
    latencies: list[float] = field(default_factory=list)
    ack_latencies: list[float] = field(default_factory=list)
    started: float = 0.0
    last_delivery: float = 0.0


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """The nearest-rank q-quantile (0 < q <= 1) of ascending values; None when there are none."""
    if not sorted_values:
        return None
    if not 0 < q <= 1:
        raise ValueError(f"quantile must be in (0, 1], got {q}")
    rank = math.ceil(q * len(sorted_values))
    return sorted_values[min(len(sorted_values), max(rank, 1)) - 1]


def latency_summary(samples: Iterable[float]) -> dict[str, float | None]:
    """p50/p99/p999 of latencies in seconds, as milliseconds rounded to 0.01."""
    ordered = sorted(samples)
    out: dict[str, float | None] = {}
    for name, q in (("p50", 0.5), ("p99", 0.99), ("p999", 0.999)):
        value = percentile(ordered, q)
        out[name] = None if value is None else round(value * 1000, 2)
    return out


def make_text(run_id: str, sender: str, k: int, sent_at: float, size: int) -> str:
    """A message text that carries its origin and send time, padded with x to `size` characters."""
    head = f"{TEXT_PREFIX}:{run_id}:{sender}:{k}:{sent_at:.6f}:"
    return head + "x" * max(1, size - len(head))


def parse_text(text: str, run_id: str) -> tuple[str, int, float] | None:
    """(sender, k, sent_at) of a text `make_text` built for this run; None for any other text."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != TEXT_PREFIX or parts[1] != run_id:
        return None
    try:
        return parts[2], int(parts[3]), float(parts[4])
    except ValueError:
        return None


def events_of(frame: str | bytes) -> list[dict[str, Any]]:
    """The events in one frame: a single event, a `batch` event's list, or a JSON array."""
    try:
        data = json.loads(frame)
    except ValueError:
        return []
    if isinstance(data, dict) and data.get("type") == "batch":
        data = data.get("events") or []
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        return []
    return [event for event in data if isinstance(event, dict)]


def metrics_url(ws_url: str) -> str:
    """The server's /metrics address for its WebSocket base address."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, "/metrics", "", ""))


def room_url(base: str, room: str, name: str) -> str:
    """The WebSocket address of a room for a member name."""
    return f"{base.rstrip('/')}/ws/rooms/{quote(room)}/?name={quote(name)}"


def parse_metrics(body: str) -> dict[str, Any]:
    """A JSON object as is, or Prometheus text as {sample: value}; comments and junk skipped."""
    stripped = body.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return data
    samples: dict[str, Any] = {}
    for line in stripped.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            samples[name.strip()] = float(value)
        except ValueError:
            continue
    return samples


def summarize(config: BenchConfig, tally: Tally, *, run_id: str = "") -> dict[str, Any]:
    """The result of a run as one JSON-ready object."""
    wall = (tally.last_delivery - tally.started) if tally.last_delivery else 0.0
    return {
        "run_id": run_id,
        "config": asdict(config),
        "sent": tally.sent,
        "acked": tally.acked,
        "errors": tally.errors,
        "connect_failures": tally.connect_failures,
        "expected": config.expected,
        "deliveries": tally.deliveries,
        "loss": max(0, config.expected - tally.deliveries),
        "duplicates": tally.duplicates,
        "wall_s": round(wall, 3),
        "deliveries_per_s": round(tally.deliveries / wall) if wall > 0 else None,
        "latency_ms": latency_summary(tally.latencies),
        "ack_latency_ms": latency_summary(tally.ack_latencies),
        "metrics": None,
    }


def format_progress(tally: Tally, expected: int) -> str:
    """One progress line: sent, acked and delivered so far."""
    return f"sent {tally.sent}  acked {tally.acked}  delivered {tally.deliveries}/{expected}" + (
        f"  errors {tally.errors}" if tally.errors else ""
    )


def format_report(result: dict[str, Any]) -> list[str]:
    """Human-readable lines for a result from `summarize` (with `metrics` filled in or None)."""
    lat, ack = result["latency_ms"], result["ack_latency_ms"]
    lines = [
        f"deliveries: {result['deliveries']}/{result['expected']} in {result['wall_s']} s"
        f" = {result['deliveries_per_s']} deliveries/s",
        f"loss: {result['loss']}  duplicates: {result['duplicates']}"
        f"  errors: {result['errors']}  connect failures: {result['connect_failures']}",
        f"latency send->receive ms: p50 {lat['p50']}  p99 {lat['p99']}  p999 {lat['p999']}",
        f"latency send->ack ms: p50 {ack['p50']}  p99 {ack['p99']}  p999 {ack['p999']}",
    ]
    metrics = result["metrics"]
    if metrics is None:
        lines.append("metrics: not available")
    else:
        lines.append("metrics:")
        # Histogram buckets would be dozens of lines; their _count and _sum say enough here.
        lines += [
            f"  {name} {value}" for name, value in sorted(metrics.items()) if "_bucket{" not in name
        ]
    return lines


def fetch_metrics(ws_url: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """The server's /metrics, parsed; None when it has none (404) or cannot be reached."""
    try:
        with urllib.request.urlopen(metrics_url(ws_url), timeout=timeout) as response:
            return parse_metrics(response.read().decode("utf-8", "replace"))
    except (urllib.error.URLError, OSError, ValueError):
        return None


class BenchRun:
    """Connects receivers and senders to every room, sends, and counts what arrives."""

    def __init__(self, config: BenchConfig) -> None:
        self.config = config
        self.run_id = uuid.uuid4().hex[:8]
        self.tally = Tally()
        self.go = asyncio.Event()
        self.connect_slots = asyncio.Semaphore(config.connect_concurrency)

    async def connect(self, room: str, name: str) -> websockets.ClientConnection | None:
        """Join a room and read up to its first history page, so the member is subscribed."""
        async with self.connect_slots:
            try:
                ws = await websockets.connect(
                    room_url(self.config.url, room, name),
                    max_size=None,
                    ping_interval=None,
                    open_timeout=self.config.connect_timeout,
                )
            except (OSError, TimeoutError, websockets.InvalidHandshake):
                self.tally.connect_failures += 1
                return None
            try:
                async with asyncio.timeout(self.config.connect_timeout):
                    while not any(e.get("type") == "history" for e in events_of(await ws.recv())):
                        pass
            except (TimeoutError, websockets.ConnectionClosed):
                self.tally.connect_failures += 1
                await ws.close()
                return None
            return ws

    async def receive(self, ws: websockets.ClientConnection) -> None:
        """Count this run's messages until all arrived or none came for the idle timeout."""
        want = self.config.senders * self.config.messages
        seen: set[int | tuple[str, int]] = set()
        tally = self.tally
        try:
            while len(seen) < want:
                try:
                    frame = await asyncio.wait_for(ws.recv(), self.config.idle_timeout)
                except (TimeoutError, websockets.ConnectionClosed):
                    return
                now = time.perf_counter()
                for event in events_of(frame):
                    if event.get("type") != "message":
                        continue
                    origin = parse_text(str(event.get("text", "")), self.run_id)
                    if origin is None:
                        continue
                    seq = event.get("seq")
                    key = seq if isinstance(seq, int) else origin[:2]
                    if key in seen:
                        tally.duplicates += 1
                        continue
                    seen.add(key)
                    tally.deliveries += 1
                    tally.last_delivery = now
                    tally.latencies.append(now - origin[2])
        finally:
            await ws.close()

    async def send(self, ws: websockets.ClientConnection, sender: str) -> None:
        """Send this sender's messages at the configured rate, and count acks as they come."""
        config, tally = self.config, self.tally
        in_flight = asyncio.Semaphore(config.window) if config.window > 0 else None
        sent_at: dict[str, float] = {}

        async def read_acks() -> None:
            async for frame in ws:
                for event in events_of(frame):
                    kind = event.get("type")
                    if kind not in ("ack", "error"):
                        continue
                    started = sent_at.pop(str(event.get("client_id")), None)
                    if started is None:
                        continue
                    if kind == "ack":
                        tally.acked += 1
                        tally.ack_latencies.append(time.perf_counter() - started)
                    else:
                        tally.errors += 1
                    if in_flight is not None:
                        in_flight.release()

        reader = asyncio.create_task(read_acks())
        try:
            await self.go.wait()
            interval = 1.0 / config.rate if config.rate > 0 else 0.0
            next_at = time.perf_counter()
            for k in range(config.messages):
                if in_flight is not None:
                    await in_flight.acquire()
                client_id = f"{self.run_id}-{sender}-{k}"
                now = time.perf_counter()
                sent_at[client_id] = now
                text = make_text(self.run_id, sender, k, now, config.size)
                await ws.send(json.dumps({"type": "message", "text": text, "client_id": client_id}))
                tally.sent += 1
                if interval:
                    next_at += interval
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            await reader
        except websockets.ConnectionClosed:
            pass
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def acks_settled(self) -> None:
        """Give acks still on their way a moment after the last delivery.

        A sender's ack and its message's broadcast travel separately (the broadcast may come
        first), so the run waits, bounded, for every send to be answered.
        """
        deadline = time.perf_counter() + ACK_GRACE_S
        tally = self.tally
        while tally.sent > tally.acked + tally.errors and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)

    async def report_progress(self, progress: Callable[[str], None]) -> None:
        """Call `progress` with a status line every second until cancelled."""
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL_S)
            progress(format_progress(self.tally, self.config.expected))

    async def run(self, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Drive the whole run and return `summarize`'s result (metrics not yet fetched)."""
        config = self.config
        rooms = [f"bench-{self.run_id}-{r}" for r in range(config.rooms)]
        receivers = await asyncio.gather(
            *(self.connect(room, f"r{i}") for room in rooms for i in range(config.receivers))
        )
        senders = await asyncio.gather(
            *(self.connect(room, f"s{i}") for room in rooms for i in range(config.senders))
        )
        ticker = asyncio.create_task(self.report_progress(progress)) if progress else None
        recv_tasks = [asyncio.create_task(self.receive(ws)) for ws in receivers if ws]
        send_tasks = [
            asyncio.create_task(self.send(ws, f"s{i}")) for i, ws in enumerate(senders) if ws
        ]
        self.tally.started = time.perf_counter()
        self.go.set()
        try:
            await asyncio.gather(*recv_tasks)
            await self.acks_settled()
        finally:
            for task in [*send_tasks, *([ticker] if ticker else [])]:
                task.cancel()
            await asyncio.gather(*send_tasks, return_exceptions=True)
            if ticker:
                await asyncio.gather(ticker, return_exceptions=True)
            for ws in senders:
                if ws:
                    await ws.close()
        if progress:
            progress(format_progress(self.tally, config.expected))
        return summarize(config, self.tally, run_id=self.run_id)


async def run_bench(
    config: BenchConfig, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run the benchmark, then read the server's /metrics if it has any."""
    result = await BenchRun(config).run(progress)
    result["metrics"] = await asyncio.to_thread(fetch_metrics, config.url)
    return result
