"""A client that never reads is disconnected instead of growing the worker's memory."""

from __future__ import annotations

import asyncio
import base64
import os
import select
import socket

from tests.chatserver import Client, run_chat_server
from tests.conftest import require_services

MESSAGES = 1000
TEXT = "x" * 2000  # 1,000 broadcasts of ~2 KB: far past the limits set below


def open_non_reading_socket(port: int, room: str) -> socket.socket:
    """Complete a WebSocket handshake on a socket with a tiny receive buffer, then never read."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/rooms/{room}/?name=sloth HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    assert b" 101 " in sock.recv(1024).split(b"\r\n", 1)[0]
    return sock


def rss_kib(pid: int) -> int:
    """Resident memory of a process."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def worker_pid(runchat_pid: int) -> int:
    """The single daphne child of a one-worker runchat."""
    with open(f"/proc/{runchat_pid}/task/{runchat_pid}/children") as fh:
        (pid,) = (int(p) for p in fh.read().split())
    return pid


def cut_off(sock: socket.socket, timeout: float) -> bool:
    """Whether the server closed or reset the connection within `timeout`, read or not.

    The socket must not be read before: a client that starts reading drains what waits for
    it, and is rightly no longer cut off.
    """
    poller = select.poll()
    poller.register(sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(timeout * 1000))


def drained(sock: socket.socket) -> int:
    """How many bytes the server managed to send before the connection ended."""
    received = 0
    sock.settimeout(5)
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            return received
        if not chunk:
            return received
        received += len(chunk)


async def test_a_client_that_never_reads_is_cut_off_and_others_get_everything(
    room: str,
) -> None:
    """1,000 broadcasts: the non-reader is disconnected, memory stays bounded, readers get all."""
    require_services()
    env = {"CHAT_MAX_OUTGOING_BYTES": str(512 * 1024), "CHAT_SOCKET_SEND_BUFFER": str(64 * 1024)}
    with run_chat_server(workers=1, env=env) as server:
        pid = worker_pid(server.process.pid)
        sloth = open_non_reading_socket(server.port, room)
        # Readers that keep reading whatever the test awaits (no client-side flow control).
        reader = await Client.join(server, room, "reader", max_queue=None)
        sender = await Client.join(server, room, "sender", max_queue=None)
        try:
            before = rss_kib(pid)
            for i in range(MESSAGES):
                await sender.send({"type": "message", "text": TEXT, "client_id": f"c{i}"})
            acks = [await sender.expect("ack", timeout=30) for _ in range(MESSAGES)]
            seen = [await reader.expect("message", timeout=30) for _ in range(MESSAGES)]
            growth = rss_kib(pid) - before
            closed = await asyncio.to_thread(cut_off, sloth, 15)
            received = await asyncio.to_thread(drained, sloth)
        finally:
            sloth.close()
            await reader.close()
            await sender.close()
    assert [m["seq"] for m in seen] == [a["seq"] for a in acks]
    assert closed, "the non-reading client was never disconnected"
    assert received < MESSAGES * len(TEXT) // 2, "it was sent most of the backlog anyway"
    print(f"worker RSS growth during the burst: {growth} KiB")
    assert growth < 64 * 1024, f"worker grew by {growth} KiB"
