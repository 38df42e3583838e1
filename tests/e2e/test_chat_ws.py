"""The chat over real WebSockets: `runchat --workers 2`, real Redis, the Mongo-compatible server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from tests.chatserver import ChatServer, Client, clients_on_both_workers, run_chat_server
from tests.conftest import require_services


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    """One two-worker server shared by the tests of this module."""
    require_services()
    with run_chat_server(workers=2) as running:
        yield running


async def test_clients_on_different_workers_see_each_others_messages(
    server: ChatServer, room: str
) -> None:
    """Fan-out crosses processes: a message sent on one worker reaches members on the other."""
    alice, bob = await clients_on_both_workers(server, room)
    try:
        assert alice.welcome["worker"] != bob.welcome["worker"]
        await alice.send({"type": "message", "text": "from alice", "client_id": "a1"})
        ack = await alice.expect("ack")
        assert ack["client_id"] == "a1"
        got = await bob.expect("message")
        assert (got["author"], got["text"], got["seq"], got["id"]) == (
            alice.welcome["name"],
            "from alice",
            ack["seq"],
            ack["id"],
        )
        await bob.send({"type": "message", "text": "from bob", "client_id": "b1"})
        seen_by_alice = [m["text"] for m in await alice.messages(2)]
        assert seen_by_alice == ["from alice", "from bob"]
    finally:
        await alice.close()
        await bob.close()


async def test_welcome_names_room_user_worker_and_last_seq(server: ChatServer, room: str) -> None:
    """The first event tells the client where it is and how far the room has got."""
    first = await Client.join(server, room, "  carol ")
    await first.send({"type": "message", "text": "one"})
    # Its ack and its broadcast (which puts it in the history joins read), in either order.
    seen: set[str] = set()
    while not {"ack", "message"} <= seen:
        seen.add((await first.recv())["type"])
    second = await Client.join(server, room.upper(), "dave")
    try:
        assert first.welcome["name"] == "carol"
        assert second.welcome["room"] == room  # room names are case-insensitive
        assert second.welcome["last_seq"] == 1
        assert second.welcome["worker"].startswith("w")
        assert [m["text"] for m in second.history["messages"]] == ["one"]
    finally:
        await first.close()
        await second.close()


async def test_newcomer_reads_the_whole_history_in_pages(server: ChatServer, room: str) -> None:
    """Newest 50 on join, then before_seq pages back to the first message, each in seq order."""
    sender = await Client.join(server, room, "writer")
    for i in range(120):
        await sender.send({"type": "message", "text": f"m{i}", "client_id": f"c{i}"})
    acks, top = 0, 0  # every ack, and the broadcast of the last message
    while acks < 120 or top < 120:
        event = await sender.recv()
        acks += event["type"] == "ack"
        top = max(top, event.get("seq", 0)) if event["type"] == "message" else top
    newcomer = await Client.join(server, room, "reader")
    try:
        page = newcomer.history
        assert [m["seq"] for m in page["messages"]] == list(range(71, 121))
        texts = [m["text"] for m in page["messages"]]
        while page["has_more"]:
            await newcomer.send(
                {"type": "history", "before_seq": page["messages"][0]["seq"], "limit": 50}
            )
            page = await newcomer.expect("history")
            texts = [m["text"] for m in page["messages"]] + texts
        assert texts == [f"m{i}" for i in range(120)]
    finally:
        await sender.close()
        await newcomer.close()


BAD_FRAMES = [
    ("not json", "invalid_json"),
    ('["message"]', "invalid_event"),
    ('{"type": "dance"}', "unknown_type"),
    ('{"type": "message"}', "empty_text"),
    ('{"type": "message", "text": "   "}', "empty_text"),
    (json.dumps({"type": "message", "text": "x" * 4001}), "text_too_long"),
    (json.dumps({"type": "message", "text": "x" * (70 * 1024)}), "frame_too_large"),
    ('{"type": "history", "before_seq": 0}', "invalid_field"),
    ('{"type": "history", "before_seq": "10"}', "invalid_field"),
    ('{"type": "history", "before_seq": 5, "limit": 500}', "invalid_field"),
]


async def test_every_bad_frame_gets_its_error_and_the_connection_stays_open(
    server: ChatServer, room: str
) -> None:
    """Bad input is answered, nothing is stored, and the client can carry on."""
    client = await Client.join(server, room, "mallory")
    try:
        for frame, code in BAD_FRAMES:
            await client.send(frame)
            error = await client.expect("error")
            assert error["code"] == code, frame[:40]
            assert error["message"]
        await client.ws.send(b'{"type": "message", "text": "binary frames work too"}')
        await client.expect("ack")
        await client.send({"type": "message", "text": "still here", "client_id": "ok"})
        assert (await client.expect("ack"))["seq"] == 2
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("room_part", "name", "code"),
    [
        ("lobby", "", "invalid_name"),
        ("lobby", "x" * 33, "invalid_name"),
        ("lobby", "bad%0Aname", "invalid_name"),
        ("bad.room", "erin", "invalid_room"),
        ("-x", "erin", "invalid_room"),
    ],
)
async def test_bad_name_or_room_is_refused_with_a_reason_and_close_code(
    server: ChatServer, room_part: str, name: str, code: str
) -> None:
    """The client is told why (error event), then closed with 4400."""
    url = f"ws://127.0.0.1:{server.port}/ws/rooms/{room_part}/?name={name}"
    async with websockets.connect(url) as ws:
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (error["type"], error["code"]) == ("error", code)
        with pytest.raises(websockets.ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 4400


async def test_socket_from_a_foreign_origin_is_refused(server: ChatServer, room: str) -> None:
    """Another site's page cannot open a socket in the user's name."""
    with pytest.raises(websockets.InvalidStatus) as info:
        await websockets.connect(server.ws_url(room, "eve"), origin="http://evil.example")
    assert info.value.response.status_code == 403
    own = f"http://127.0.0.1:{server.port}"
    async with websockets.connect(server.ws_url(room, "eve"), origin=own) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "welcome"


async def test_a_socket_path_without_a_route_is_refused(server: ChatServer) -> None:
    """An unknown path is a 403 at the handshake, not a server error."""
    with pytest.raises(websockets.InvalidStatus) as info:
        await websockets.connect(f"ws://127.0.0.1:{server.port}/ws/elsewhere/")
    assert info.value.response.status_code == 403


async def test_html_in_text_is_stored_and_sent_verbatim(server: ChatServer, room: str) -> None:
    """The server never escapes or strips; the page inserts text with textContent."""
    client = await Client.join(server, room, "henry")
    try:
        await client.send({"type": "message", "text": "<b>x</b> & <script>alert(1)</script>"})
        got = await client.expect("message")
        assert got["text"] == "<b>x</b> & <script>alert(1)</script>"
    finally:
        await client.close()


def worker_pids(server: ChatServer) -> set[int]:
    """Pids of the daphne children of a runchat process."""
    children = f"/proc/{server.process.pid}/task/{server.process.pid}/children"
    with open(children) as fh:
        return {int(pid) for pid in fh.read().split()}


async def test_a_dead_worker_is_replaced(room: str) -> None:
    """runchat restarts a child that dies; new connections are served again on two workers."""
    require_services()
    with run_chat_server(workers=2) as server:
        before = worker_pids(server)
        assert len(before) == 2
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            after = worker_pids(server)
            if len(after) == 2 and victim not in after:
                break
            await asyncio.sleep(0.2)
        assert len(after) == 2 and victim not in after
        first, second = await clients_on_both_workers(server, room)
        assert victim not in {int(c.welcome["worker"].split("-")[1]) for c in (first, second)}
        await first.close()
        await second.close()


async def test_sigterm_closes_sockets_with_1001_and_exits_zero(room: str) -> None:
    """A graceful stop says 'going away' to every client, then the server exits 0."""
    require_services()
    with run_chat_server(workers=2) as server:
        opened = await clients_on_both_workers(server, room)
        server.process.send_signal(signal.SIGTERM)
        codes = []
        for client in opened:
            with pytest.raises(websockets.ConnectionClosed) as info:
                while True:  # presence changes may still come before the close
                    await client.recv(timeout=10)
            codes.append(info.value.rcvd.code if info.value.rcvd else None)
        returncode = await asyncio.to_thread(server.process.wait, 15)
    assert set(codes) == {1001}
    assert returncode == 0


async def post(client: Client, texts: list[str]) -> list[dict[str, Any]]:
    """Send messages with client_ids and return their acks in order."""
    for i, text in enumerate(texts):
        await client.send({"type": "message", "text": text, "client_id": f"{text}-{i}"})
    return [await client.expect("ack") for _ in texts]


async def test_resume_sends_exactly_the_missed_messages_before_live_ones(
    server: ChatServer, room: str
) -> None:
    """?after_seq=N: every stored message above N, in order, in pages of up to 200."""
    writer = await Client.join(server, room, "writer")
    acks = await post(writer, [f"m{i}" for i in range(250)])
    assert [a["seq"] for a in acks] == list(range(1, 251))
    ws = await websockets.connect(server.ws_url(room, "reader") + "&after_seq=30")
    reader = Client(ws)
    try:
        reader.welcome = await reader.expect("welcome")
        first = await reader.expect("history")
        second = await reader.expect("history")
        assert (first["after_seq"], first["has_more"], len(first["messages"])) == (30, True, 200)
        assert (second["after_seq"], second["has_more"]) == (230, False)
        seqs = [m["seq"] for m in first["messages"] + second["messages"]]
        assert seqs == list(range(31, 251))
        await writer.send({"type": "message", "text": "live", "client_id": "live"})
        live = await reader.expect("message")
        assert (live["seq"], live["text"]) == (251, "live")
    finally:
        await writer.close()
        await reader.close()


async def test_resume_with_nothing_missed_says_so(server: ChatServer, room: str) -> None:
    """A client that is up to date gets one empty catch-up page, then live messages."""
    writer = await Client.join(server, room, "writer")
    await post(writer, ["a", "b"])
    ws = await websockets.connect(server.ws_url(room, "reader") + "&after_seq=2")
    reader = Client(ws)
    try:
        await reader.expect("welcome")
        page = await reader.expect("history")
        assert (page["messages"], page["has_more"], page["after_seq"]) == ([], False, 2)
    finally:
        await writer.close()
        await reader.close()


async def test_bad_resume_cursor_is_refused_with_4400(server: ChatServer, room: str) -> None:
    """after_seq must be an integer >= 0."""
    async with websockets.connect(server.ws_url(room, "x") + "&after_seq=-4") as ws:
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (error["type"], error["code"]) == ("error", "invalid_field")
        with pytest.raises(websockets.ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 4400


async def test_gap_is_filled_with_after_seq(server: ChatServer, room: str) -> None:
    """history after_seq returns the oldest messages above the cursor, ascending."""
    client = await Client.join(server, room, "gapper")
    try:
        await post(client, [f"g{i}" for i in range(10)])
        await client.send({"type": "history", "after_seq": 3, "limit": 4})
        page = await client.expect("history")
        assert [m["seq"] for m in page["messages"]] == [4, 5, 6, 7]
        assert (page["has_more"], page["after_seq"], page["before_seq"]) == (True, 3, None)
    finally:
        await client.close()


async def test_resending_a_client_id_returns_the_original_ack_and_stores_nothing(
    server: ChatServer, room: str
) -> None:
    """Twice the same client_id: same id and seq, one stored message, receivers see one seq."""
    sender = await Client.join(server, room, "sender")
    receiver = await Client.join(server, room, "receiver")
    try:
        event = {"type": "message", "text": "once", "client_id": "dup-1"}
        await sender.send(event)
        first = await sender.expect("ack")
        await sender.send(event)
        second = await sender.expect("ack")
        assert (second["id"], second["seq"]) == (first["id"], first["seq"])
        await post(sender, ["after"])
        seen = [await receiver.expect("message") for _ in range(3)]
        # The resend is broadcast again (its first broadcast may have been lost); same seq.
        assert [m["seq"] for m in seen] == [1, 1, 3]
        newcomer = await Client.join(server, room, "newcomer")
        assert [m["text"] for m in newcomer.history["messages"]] == ["once", "after"]
        await newcomer.close()
    finally:
        await sender.close()
        await receiver.close()


async def test_typing_reaches_the_others_once_per_interval_and_is_never_stored(
    server: ChatServer, room: str
) -> None:
    """The typist gets nothing back; others get one `typing` per 2 s; history never has it."""
    alice, bob = await clients_on_both_workers(server, room)
    try:
        for _ in range(5):  # a burst of keystrokes is relayed once
            await alice.send({"type": "typing"})
        event = await bob.expect("typing")
        assert event == {"type": "typing", "name": alice.welcome["name"]}
        await alice.send({"type": "message", "text": "done typing", "client_id": "t1"})
        # The other four keystrokes were not relayed (presence changes may come in between).
        while (following := await bob.recv())["type"].startswith("presence"):
            pass
        assert (following["type"], following["text"]) == ("message", "done typing")
        assert (await alice.expect("ack"))["seq"] == 1
        with pytest.raises(TimeoutError):
            await alice.expect("typing", timeout=0.5)
        newcomer = await Client.join(server, room, "newcomer")
        assert [m["text"] for m in newcomer.history["messages"]] == ["done typing"]
        await newcomer.close()
    finally:
        await alice.close()
        await bob.close()
