"""Connection limits on a real runchat: refused with an error event and a close code."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.chatserver import ChatServer, Client, clients_on_both_workers, run_chat_server
from tests.conftest import require_services


async def refusal(server: ChatServer, room: str, name: str) -> tuple[str, int]:
    """Open a socket that the server refuses: its error code and close code."""
    async with websockets.connect(server.ws_url(room, name)) as ws:
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert error["type"] == "error" and error["message"]
    assert closed.value.rcvd is not None
    return error["code"], closed.value.rcvd.code


async def test_connections_per_address_are_counted_across_workers(room: str) -> None:
    """Two open on different workers, limit 2: the third is refused (4429) until one closes."""
    require_services()
    with run_chat_server(workers=2, env={"CHAT_MAX_CONNECTIONS_PER_IP": "2"}) as server:
        first, second = await clients_on_both_workers(server, room)
        try:
            refused = await refusal(server, room, "third")
            await first.close()
            third = await Client.join(server, room, "third")
            await third.close()
        finally:
            await second.close()
    assert refused == ("too_many_connections", 4429)
    assert third.welcome["name"] == "third"


async def test_a_worker_at_its_connection_limit_refuses_with_4503(room: str) -> None:
    """One worker, limit 2: the third socket is told `server_full` and closed with 4503."""
    require_services()
    with run_chat_server(workers=1, env={"CHAT_MAX_CONNECTIONS_PER_WORKER": "2"}) as server:
        clients = [await Client.join(server, room, f"u{i}") for i in range(2)]
        try:
            refused = await refusal(server, room, "u2")
        finally:
            for client in clients:
                await client.close()
    assert refused == ("server_full", 4503)
