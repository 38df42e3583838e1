"""Under a burst, broadcasts reach each member batched, with nothing lost or repeated."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.chatserver import Client, run_chat_server
from tests.conftest import require_services

BURST = 300


async def test_a_burst_arrives_in_batch_frames_exactly_once_in_seq_order_per_sender(
    room: str,
) -> None:
    """Two senders fire 300 messages each without waiting: every member gets all 600 once,
    in fewer frames than messages, each sender's messages in the order sent, all acked."""
    require_services()
    with run_chat_server(workers=2) as server:
        members = [await Client.join(server, room, f"r{i}", max_queue=None) for i in range(4)]
        senders = [await Client.join(server, room, f"s{i}", max_queue=None) for i in range(2)]
        try:
            for n in range(BURST):
                for s, sender in enumerate(senders):
                    await sender.send(
                        {"type": "message", "text": f"{s}:{n}", "client_id": f"{s}-{n}"}
                    )
            acks = [
                [await sender.expect("ack", timeout=30) for _ in range(BURST)] for sender in senders
            ]
            received = [
                await asyncio.wait_for(member.messages(2 * BURST, timeout=30), 60)
                for member in members
            ]
        finally:
            for client in members + senders:
                await client.close()
    stored_seqs = sorted(ack["seq"] for sender_acks in acks for ack in sender_acks)
    assert len(set(stored_seqs)) == 2 * BURST
    for member, messages in zip(members, received, strict=True):
        seqs = [m["seq"] for m in messages]
        assert Counter(seqs) == Counter(stored_seqs), "lost or duplicated"
        for s in range(2):
            mine = [m for m in messages if m["author"] == f"s{s}"]
            assert [m["text"] for m in sorted(mine, key=lambda m: m["seq"])] == [
                f"{s}:{n}" for n in range(BURST)
            ], "a sender's messages were stored out of order"
        assert member.batches > 0, "every broadcast came in a frame of its own"
