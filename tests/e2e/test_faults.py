"""Reliable delivery under faults, with real processes: runchat (2 workers), Redis, FerretDB.

Every scenario ends with the same invariant, checked against the room's messages read
straight from MongoDB: each client shows exactly the stored messages, in seq order, none
twice, none missing; each message a sender sent is stored exactly once, and its ack names
the stored id and seq.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.faultstack import FaultStack, fault_stack
from tests.reliable_client import ReliableClient

pytestmark = pytest.mark.services

# Short enough that a send stuck on a dead server comes back as not_stored quickly.
STORE_TIMEOUT_MS = 2000
BURST_TIMEOUT_S = 60.0
SETTLE_TIMEOUT_S = 30.0
# Between sends of a burst a store fault must hit: 100 sends then take 2 s or more, so
# the sends after the fault starts outlast the stopping server (unpaced, a fast machine
# acked them all before Redis was down).
FAULT_PACE_S = 0.02


@pytest.fixture(scope="module")
def stack() -> Iterator[FaultStack]:
    """One private stack for the module; each test leaves it running (or it is restarted)."""
    with fault_stack(env={"CHAT_STORE_TIMEOUT_MS": str(STORE_TIMEOUT_MS)}) as running:
        yield running


@pytest.fixture
def faults(stack: FaultStack) -> FaultStack:
    """The stack, with anything a previous test broke brought back first."""
    stack.ensure_up()
    return stack


@dataclass
class Burst:
    """Senders and receivers in one room, and what the run measured."""

    stack: FaultStack
    room: str
    senders: list[ReliableClient]
    receivers: list[ReliableClient]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def members(self) -> list[ReliableClient]:
        return self.senders + self.receivers

    def acked(self) -> int:
        return sum(len(sender.acks) for sender in self.senders)

    async def close(self) -> None:
        """Close every client, then delete the room (keeps the store small for later tests)."""
        await asyncio.gather(*(client.close() for client in self.members))
        await asyncio.to_thread(self.stack.delete_room, self.room)


async def open_room(
    stack: FaultStack, room: str, *, senders: int, receivers: int, **options: Any
) -> Burst:
    """Connect every sender and receiver (all join before the first message)."""
    base = stack.ws_base()
    burst = Burst(
        stack=stack,
        room=room,
        senders=[ReliableClient(base, room, f"s{i}", **options) for i in range(senders)],
        receivers=[ReliableClient(base, room, f"r{i}", **options) for i in range(receivers)],
    )
    started = time.monotonic()
    results = await asyncio.gather(
        *(client.start(timeout=20) for client in burst.members), return_exceptions=True
    )
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        await burst.close()
        raise AssertionError(f"{len(failed)} clients could not join: {failed[:3]}")
    burst.timings["connect_s"] = time.monotonic() - started
    return burst


async def run_burst(
    burst: Burst,
    *,
    per_sender: int,
    window: int = 50,
    pace_s: float = 0.0,
    fault: Callable[[], Awaitable[None]] | None = None,
    fault_after: float = 1 / 3,
) -> None:
    """Every sender sends `per_sender` messages; `fault` runs once that share is acked."""
    started = time.monotonic()
    sending = [
        asyncio.create_task(
            sender.send_many(per_sender, window=window, timeout=BURST_TIMEOUT_S, pace_s=pace_s)
        )
        for sender in burst.senders
    ]
    try:
        if fault is not None:
            threshold = int(per_sender * len(burst.senders) * fault_after)
            while burst.acked() < threshold:
                assert time.monotonic() - started < BURST_TIMEOUT_S, "burst stalled before fault"
                for task in sending:
                    if task.done():
                        task.result()
                await asyncio.sleep(0.01)
            burst.timings["fault_at_s"] = time.monotonic() - started
            fault_started = time.monotonic()
            await fault()
            burst.timings["fault_s"] = time.monotonic() - fault_started
        await asyncio.wait_for(asyncio.gather(*sending), BURST_TIMEOUT_S)
        await asyncio.gather(*(sender.wait_acked(BURST_TIMEOUT_S) for sender in burst.senders))
    finally:
        for task in sending:
            task.cancel()
    burst.timings["burst_s"] = time.monotonic() - started


async def settle_all(burst: Burst, stored: list[dict[str, Any]]) -> list[bool]:
    """Every client holds everything up to the last stored seq; whether waiting sufficed."""
    started = time.monotonic()
    target = stored[-1]["seq"] if stored else 0
    passive = await asyncio.wait_for(
        asyncio.gather(*(c.settle(target, timeout=SETTLE_TIMEOUT_S) for c in burst.members)),
        SETTLE_TIMEOUT_S * 3,
    )
    burst.timings["settle_s"] = time.monotonic() - started
    return list(passive)


async def stored_messages(burst: Burst) -> list[dict[str, Any]]:
    """The room's messages in MongoDB, ascending seq."""
    return await asyncio.to_thread(burst.stack.stored_messages, burst.room)


def assert_delivery(burst: Burst, stored: list[dict[str, Any]]) -> None:
    """The invariant: receivers show exactly the stored messages; senders' are stored once."""
    seqs = [doc["seq"] for doc in stored]
    ids = [str(doc["_id"]) for doc in stored]
    assert all(a < b for a, b in itertools.pairwise(seqs)), "stored seqs repeat"
    problems: list[str] = []
    for client in burst.members:
        shown = client.shown_seqs()
        if client.failure:
            problems.append(f"{client.name}: {client.failure}")
        if client.conflicts:
            problems.append(f"{client.name}: same seq, different id: {client.conflicts[:3]}")
        if shown != seqs:
            missing = sorted(set(seqs) - set(shown))
            extra = sorted(set(shown) - set(seqs))
            problems.append(
                f"{client.name}: missing seqs {missing[:20]} ({len(missing)}), "
                f"not stored but shown {extra[:20]} ({len(extra)}); workers {client.workers}"
            )
        elif [client.shown[seq]["id"] for seq in shown] != ids:
            problems.append(f"{client.name}: ids differ from the stored ones")
    by_client_id = Counter(doc.get("client_id") for doc in stored)
    by_text = Counter(doc["text"] for doc in stored)
    sent_ids: set[str] = set()
    for sender in burst.senders:
        sent_ids.update(sender.sent)
        if sender.ack_mismatches:
            problems.append(
                f"{sender.name}: different acks for one client_id: {sender.ack_mismatches[:3]}"
            )
        for client_id, text in sender.sent.items():
            count = by_client_id[client_id]
            if count != 1 or by_text[text] != 1:
                problems.append(
                    f"{sender.name}: {client_id} stored {count} times ({by_text[text]} by text)"
                )
                continue
            ack = sender.acks.get(client_id)
            doc = next(d for d in stored if d.get("client_id") == client_id)
            if ack is None:
                problems.append(f"{sender.name}: {client_id} stored as #{doc['seq']}, never acked")
            elif (ack["id"], ack["seq"]) != (str(doc["_id"]), doc["seq"]):
                problems.append(f"{sender.name}: ack {ack} but stored {doc['_id']} #{doc['seq']}")
    unexpected = [doc["seq"] for doc in stored if doc.get("client_id") not in sent_ids]
    if unexpected:
        problems.append(f"stored but never sent: seqs {unexpected[:20]}")
    assert not problems, "\n".join(problems[:40])


def report(name: str, burst: Burst, stored: list[dict[str, Any]], passive: list[bool]) -> None:
    """One line per scenario (shown with -s): timings and how messages reached clients."""
    totals: Counter[str] = Counter()
    for client in burst.members:
        totals.update({k: v for k, v in vars(client.stats).items() if v})
    timings = " ".join(f"{k}={v:.1f}" for k, v in burst.timings.items())
    seqs = [doc["seq"] for doc in stored]
    skipped = (seqs[-1] - len(seqs)) if seqs else 0
    print(
        f"\n[{name}] stored={len(stored)} last_seq={seqs[-1] if seqs else 0} "
        f"skipped_seqs={skipped} clients={len(burst.members)} "
        f"needed_settle={passive.count(False)} {timings} {dict(totals)}"
    )
    for client in burst.members:
        for line in client.late:
            print(f"[{name}] {client.name} late: {line}")


async def finish(name: str, burst: Burst) -> None:
    """Read the store, settle every client, check the invariant, report."""
    stored = await stored_messages(burst)
    passive = await settle_all(burst, stored)
    report(name, burst, stored, passive)
    assert_delivery(burst, stored)


def worker_pid(worker: str) -> int:
    """Pid from a welcome's `worker` ("w2-4182")."""
    return int(worker.rsplit("-", 1)[1])


async def test_burst_reaches_every_receiver_exactly_once(faults: FaultStack, room: str) -> None:
    """5 senders x 200 messages reach 100 receivers on 2 workers, in order, none lost or doubled."""
    burst = await open_room(faults, room, senders=5, receivers=100)
    try:
        workers = {c.workers[0] for c in burst.members}
        assert len(workers) == 2, f"all clients landed on {workers}"
        await run_burst(burst, per_sender=200)
        await finish("burst", burst)
    finally:
        await burst.close()


async def test_killed_worker_clients_reconnect_and_resume(faults: FaultStack, room: str) -> None:
    """SIGKILL of a worker mid-burst: its clients reconnect, resume, and resend what was unacked."""
    burst = await open_room(faults, room, senders=5, receivers=20)
    victim = worker_pid(burst.senders[0].workers[0])
    on_victim = [c for c in burst.members if worker_pid(c.workers[0]) == victim]

    async def kill() -> None:
        faults.kill_worker(victim)
        await asyncio.to_thread(faults.wait_for_workers)

    try:
        await run_burst(burst, per_sender=100, window=20, fault=kill)
        await finish("kill_worker", burst)
        assert all(c.stats.connects >= 2 for c in on_victim), "a victim's client never came back"
        assert all(victim != worker_pid(c.workers[-1]) for c in burst.members)
    finally:
        await burst.close()


async def test_redis_restart_loses_no_message(faults: FaultStack, room: str) -> None:
    """Redis restarted empty mid-burst: seqs continue from MongoDB, lost broadcasts still arrive."""
    burst = await open_room(faults, room, senders=5, receivers=20)

    async def restart() -> None:
        await asyncio.to_thread(faults.restart_redis, down_s=1.0)

    try:
        await run_burst(burst, per_sender=100, window=20, pace_s=FAULT_PACE_S, fault=restart)
        await finish("redis_restart", burst)
        assert sum(s.stats.not_stored for s in burst.senders) > 0, "no send ever failed"
    finally:
        await burst.close()


async def test_mongo_restart_senders_retry_until_stored(faults: FaultStack, room: str) -> None:
    """The Mongo-compatible server restarts mid-burst: failed sends are retried, stored once."""
    burst = await open_room(faults, room, senders=5, receivers=20)

    async def restart() -> None:
        # SIGKILL: on SIGTERM FerretDB keeps serving open connections for seconds.
        await asyncio.to_thread(faults.restart_mongo, down_s=STORE_TIMEOUT_MS / 1000 + 1, hard=True)

    try:
        await run_burst(burst, per_sender=100, window=20, pace_s=FAULT_PACE_S, fault=restart)
        await finish("mongo_restart", burst)
        assert sum(s.stats.not_stored for s in burst.senders) > 0, "no send ever failed"
    finally:
        await burst.close()


async def test_client_away_for_five_seconds_resumes_without_gaps(
    faults: FaultStack, room: str
) -> None:
    """A receiver and a sender drop for 5 s mid-burst, then resume with after_seq."""
    burst = await open_room(faults, room, senders=5, receivers=20)
    away = [burst.receivers[0], burst.senders[0]]

    async def disconnect() -> None:
        await asyncio.gather(*(client.drop(hold_s=5.0) for client in away))

    try:
        await run_burst(burst, per_sender=100, window=20, pace_s=0.1, fault=disconnect)
        await finish("away_5s", burst)
        assert all(client.stats.connects == 2 for client in away)
        assert burst.receivers[0].stats.catch_up > 0, "nothing came through the resume"
    finally:
        await burst.close()


async def test_duplicate_client_ids_store_once_and_ack_the_same(
    faults: FaultStack, room: str
) -> None:
    """Resends with one client_id (back to back, later, from two workers at once) store once."""
    burst = await open_room(faults, room, senders=2, receivers=20)
    first, second = burst.senders
    try:
        started = time.monotonic()
        while first.workers[-1] == second.workers[-1]:
            assert time.monotonic() - started < 20, "both senders stay on one worker"
            await reconnect(second)
        twice = [first.send() for _ in range(50)]
        for client_id in twice:
            first.send_duplicate(client_id)
        await acks_for_every_send(first, dict.fromkeys(twice, 2))
        await reconnect(first)
        for client_id in twice[:20]:
            first.send_duplicate(client_id)
        racing = [f"race-{i}" for i in range(20)]
        for client_id in racing:
            text = f"raced {client_id}"
            first.send(text, client_id)
            second.send(text, client_id)
        await acks_for_every_send(first, {c: 3 if i < 20 else 2 for i, c in enumerate(twice)})
        await asyncio.gather(first.wait_acked(), second.wait_acked())
        await finish("duplicates", burst)
        for client_id in racing:
            one, other = first.acks[client_id], second.acks[client_id]
            assert (one["id"], one["seq"]) == (other["id"], other["seq"]), client_id
        assert sum(c.stats.duplicate_frames for c in burst.receivers) > 0, "no re-broadcast"
    finally:
        await burst.close()


async def acks_for_every_send(client: ReliableClient, expected: dict[str, int]) -> None:
    """Wait (bounded) until each client_id got as many acks as it was sent."""

    def short() -> dict[str, int]:
        return {
            c: client.ack_counts.get(c, 0)
            for c, n in expected.items()
            if client.ack_counts.get(c, 0) < n
        }

    await client.wait_for(lambda: not short(), "an ack for every send", timeout=20)


async def reconnect(client: ReliableClient, hold_s: float = 0.05) -> None:
    """Drop the client's connection and wait (bounded) until it is welcomed again."""
    connects = client.stats.connects
    await client.drop(hold_s=hold_s)
    deadline = time.monotonic() + 10
    while client.stats.connects == connects or not client.connected:
        assert time.monotonic() < deadline, f"{client.name} did not reconnect"
        await asyncio.sleep(0.02)
