"""Presence over real WebSockets: `runchat --workers 2`, a short TTL, a worker killed."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets

from tests.chatserver import ChatServer, Client, join_worker, run_chat_server
from tests.conftest import require_services

pytestmark = pytest.mark.services

TTL_MS = 1500
CHANGES = {"presence.join", "presence.leave"}
PROBE = "~probe"  # the name of short-lived clients that only read a snapshot


@pytest.fixture
def server() -> Iterator[ChatServer]:
    """A two-worker server whose presence entries expire 1.5 s after their last refresh."""
    require_services()
    with run_chat_server(workers=2, env={"CHAT_PRESENCE_TTL_MS": str(TTL_MS)}) as running:
        yield running


@dataclass
class View:
    """Who a client believes is present: its snapshot with every newer change applied."""

    client: Client
    members: set[str] = field(default_factory=set)
    floor: int = 0
    versions: dict[str, int] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    async def of(cls, client: Client) -> View:
        snapshot = await client.expect("presence")
        members = set(snapshot["members"]) - {PROBE}
        return cls(client=client, members=members, floor=snapshot["version"])

    def apply(self, event: dict[str, Any]) -> None:
        name, version = event["name"], event["version"]
        if name == PROBE or version <= max(self.floor, self.versions.get(name, 0)):
            return
        self.versions[name] = version
        self.changes.append(event)
        if event["type"] == "presence.join":
            self.members.add(name)
        else:
            self.members.discard(name)

    async def until(self, members: set[str], timeout: float = 20) -> float:
        """Apply changes until the view equals `members`; return the seconds it took."""
        start = time.monotonic()
        while self.members != members:
            remaining = start + timeout - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"presence stayed {sorted(self.members)}, not {sorted(members)}")
            event = await self.client.recv(remaining)
            if event["type"] in CHANGES:
                self.apply(event)
        return time.monotonic() - start


async def snapshot(server: ChatServer, room: str, worker: str) -> list[str]:
    """The `presence` list a newcomer served by `worker` gets, the newcomer left out."""
    probe = await join_worker(server, room, PROBE, worker=worker)
    try:
        members = (await probe.expect("presence"))["members"]
    finally:
        await probe.close()
    return [name for name in members if name != PROBE]


async def members_on_each_worker(server: ChatServer, room: str) -> dict[str, list[str]]:
    """The `presence` list a newcomer gets from each of the two workers (bounded: 20 s)."""
    seen: dict[str, list[str]] = {}
    deadline = time.monotonic() + 20
    while len(seen) < 2:
        assert time.monotonic() < deadline, f"every probe landed on {list(seen)}"
        probe = await Client.join(server, room, PROBE)
        try:
            members = (await probe.expect("presence"))["members"]
        finally:
            await probe.close()
        seen[probe.welcome["worker"]] = [name for name in members if name != PROBE]
    return seen


async def test_a_socket_closed_while_joining_leaves_no_member(
    server: ChatServer, room: str
) -> None:
    """Clients gone before their join finished (right after the handshake, or after the
    history, before the presence list) are not kept present by their worker's heartbeat:
    the room is empty again well within 10 s."""
    for _ in range(10):
        ws = await asyncio.wait_for(websockets.connect(server.ws_url(room, "ghost")), 10)
        await ws.close()
        await (await Client.join(server, room, "ghost")).close()
    deadline = time.monotonic() + 10
    while any((await members_on_each_worker(server, room)).values()):
        assert time.monotonic() < deadline, "a closed socket stayed present"
        await asyncio.sleep(0.2)


async def test_presence_lists_are_equal_on_both_workers(server: ChatServer, room: str) -> None:
    """Members on either worker are in the list of both; joins and leaves reach the others."""
    alice = await Client.join(server, room, "alice")
    view = await View.of(alice)
    bob = await join_worker(server, room, "bob", avoid=alice.welcome["worker"])
    try:
        assert (await bob.expect("presence"))["members"] == ["alice", "bob"]
        await view.until({"alice", "bob"})
        on_alices = await snapshot(server, room, alice.welcome["worker"])
        on_bobs = await snapshot(server, room, bob.welcome["worker"])
        assert on_alices == on_bobs == ["alice", "bob"]
        await bob.close()
        await view.until({"alice"})
        assert view.changes[-1] == {
            "type": "presence.leave",
            "name": "bob",
            "version": view.versions["bob"],
        }
        # The view may have taken the leave of one of join_worker's earlier "bob" sockets
        # (on the other worker): bob's own leave is then still on its way to the presence
        # set, so the list is asked for until it settles (bounded).
        deadline = time.monotonic() + 10
        while (listed := await snapshot(server, room, bob.welcome["worker"])) != ["alice"]:
            assert time.monotonic() < deadline, f"bob still listed: {listed}"
            await asyncio.sleep(0.1)
    finally:
        await alice.close()
        await bob.close()


async def test_several_tabs_of_one_name_count_once(server: ChatServer, room: str) -> None:
    """A second tab adds no member; closing one of two tabs removes none."""
    observer = await Client.join(server, room, "observer")
    view = await View.of(observer)
    first = await Client.join(server, room, "alice")
    second = await join_worker(server, room, "alice", avoid=first.welcome["worker"])
    try:
        assert (await second.expect("presence"))["members"] == ["alice", "observer"]
        await view.until({"alice", "observer"})
        await first.close()
        carol = await Client.join(server, room, "carol")
        # Carol's join comes after anything closing the first tab announced: alice stays.
        await view.until({"alice", "carol", "observer"})
        assert await snapshot(server, room, second.welcome["worker"]) == [
            "alice",
            "carol",
            "observer",
        ]
        await second.close()
        await view.until({"carol", "observer"})
        await carol.close()
    finally:
        await observer.close()
        await first.close()
        await second.close()


async def test_members_of_a_killed_worker_expire_within_the_ttl(
    server: ChatServer, room: str
) -> None:
    """SIGKILL a daphne child: its members are gone for everyone within the TTL + a heartbeat."""
    alice = await Client.join(server, room, "alice")
    view = await View.of(alice)
    bob = await join_worker(server, room, "bob", avoid=alice.welcome["worker"])
    try:
        await view.until({"alice", "bob"})
        assert await snapshot(server, room, alice.welcome["worker"]) == ["alice", "bob"]
        os.kill(int(bob.welcome["worker"].rsplit("-", 1)[1]), signal.SIGKILL)
        killed_at = time.monotonic()
        # Expiry plus one heartbeat (a third of the TTL), with slack for a loaded machine.
        bound = TTL_MS / 1000 * 4 / 3 + 2.0
        await view.until({"alice"}, timeout=bound)
        while (members := await snapshot(server, room, alice.welcome["worker"])) != ["alice"]:
            assert time.monotonic() - killed_at < bound, members
        assert view.members == {"alice"}
        assert view.changes[-1]["type"] == "presence.leave"
    finally:
        await alice.close()
        await bob.close()


async def test_a_room_too_big_to_list_counts_its_members_instead(room: str) -> None:
    """Above CHAT_PRESENCE_LIST_MAX names, a join lists that many (the joiner among them) and
    says how many there are; members hear counts, not each name (members x joins bytes)."""
    require_services()
    with run_chat_server(workers=2, env={"CHAT_PRESENCE_LIST_MAX": "2"}) as big:
        first = await Client.join(big, room, "ann")
        assert (await first.expect("presence"))["count"] == 1
        joined = [await Client.join(big, room, name) for name in ("bob", "cy", "dee")]
        last = await joined[-1].expect("presence")
        assert last["count"] == 4 and len(last["members"]) == 2 and "dee" in last["members"]
        heard: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while not any(e["type"] == "presence.count" and e["count"] == 4 for e in heard):
            heard.append(await first.recv(max(0.1, deadline - time.monotonic())))
        names_heard = {e["name"] for e in heard if e["type"] in CHANGES}
        assert "dee" not in names_heard  # the fourth name came as a count only
        for client in [first, *joined]:
            await client.close()
