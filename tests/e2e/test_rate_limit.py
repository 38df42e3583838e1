"""A connection that floods is refused per message, nothing it was refused is stored."""

from __future__ import annotations

from tests.chatserver import Client, run_chat_server
from tests.conftest import require_services

FLOOD = 200


async def test_a_flood_is_rate_limited_and_only_allowed_messages_are_stored(room: str) -> None:
    """10/s with a burst of 20: about 20 of 200 pipelined messages pass; the rest are refused."""
    require_services()
    env = {"CHAT_RATE_PER_S": "10", "CHAT_RATE_BURST": "20"}
    with run_chat_server(workers=1, env=env) as server:
        flooder = await Client.join(server, room, "flooder", max_queue=None)
        bystander = await Client.join(server, room, "bystander", max_queue=None)
        try:
            for i in range(FLOOD):
                await flooder.send({"type": "message", "text": f"spam {i}", "client_id": f"f{i}"})
            acked, refused = [], []
            while len(acked) + len(refused) < FLOOD:
                event = await flooder.recv(timeout=15)
                if event["type"] == "ack":
                    acked.append(event)
                elif event["type"] == "error":
                    refused.append(event)
            await bystander.send({"type": "message", "text": "still served", "client_id": "b"})
            assert (await bystander.expect("ack"))["client_id"] == "b"
            newcomer = await Client.join(server, room, "newcomer")
            await newcomer.send({"type": "history", "after_seq": 0, "limit": 200})
            stored = (await newcomer.expect("history"))["messages"]
            await newcomer.close()
        finally:
            await flooder.close()
            await bystander.close()
    assert 20 <= len(acked) <= 30
    assert {e["code"] for e in refused} == {"rate_limited"}
    assert all(e["client_id"] and e["retry_after_ms"] > 0 for e in refused)
    stored_ids = {m["id"] for m in stored}
    assert {a["id"] for a in acked} <= stored_ids
    assert len(stored) == len(acked) + 1  # the flooder's allowed ones and the bystander's
