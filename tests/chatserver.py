"""Run a real `manage.py runchat` on a free port, and talk to it with WebSocket clients."""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import websockets

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ChatServer:
    """A running runchat process tree."""

    process: subprocess.Popen[bytes]
    port: int
    # Django's tables (users, sessions) of this server: a migrated SQLite file of its own.
    database_url: str

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, room: str, name: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/rooms/{quote(room)}/?name={quote(name)}"

    def create_user(self, username: str, password: str, *, staff: bool = False) -> None:
        """Add an account to this server's database (as an operator would)."""
        code = (
            "from django.contrib.auth import get_user_model; import sys; "
            "get_user_model().objects.create_user(sys.argv[1], password=sys.argv[2], "
            f"is_staff={staff}, is_superuser={staff})"
        )
        subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}", username, password],
            cwd=ROOT,
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "chatsite.settings",
                "DATABASE_URL": self.database_url,
            },
            check=True,
            timeout=60,
        )

    def create_token(self, username: str, *scopes: str) -> str:
        """A token of a new account on this server with these scopes (`create_token`)."""
        self.create_user(username, f"pw-{username}-token-1")
        made = subprocess.run(
            [sys.executable, "manage.py", "create_token", username]
            + [arg for scope in scopes for arg in ("--scope", scope)],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": self.database_url},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return made.stdout.strip()


@functools.cache
def _migrated_database() -> Path:
    """A SQLite file with every migration applied, made once per test run and copied per server."""
    folder = tempfile.mkdtemp(prefix="chatsite-db-")
    atexit.register(shutil.rmtree, folder, True)
    path = Path(folder) / "template.sqlite3"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{path}"},
        check=True,
        timeout=120,
    )
    return path


def _wait_until_serving(server: ChatServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"runchat exited with {server.process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.5) as sock:
                sock.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                if sock.recv(12)[8:12] == b" 200":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"runchat did not serve on {server.port} within {START_TIMEOUT_S:.0f}s")


@contextmanager
def run_chat_server(*, workers: int = 2, env: dict[str, str] | None = None) -> Iterator[ChatServer]:
    """Start runchat, wait until it serves, and stop it (SIGTERM, then SIGKILL) afterwards."""
    port = free_port()
    database = Path(tempfile.mkdtemp(prefix="chatsite-db-")) / "db.sqlite3"
    shutil.copy(_migrated_database(), database)
    database_url = f"sqlite:///{database}"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runchat", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        # Most tests send as fast as they can from one address; the limits' own tests turn
        # them back on.
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "CHAT_RATE_PER_S": "0",
            "CHAT_MAX_CONNECTIONS_PER_IP": "0",
            "CHAT_NEW_CONNECTIONS_PER_S_PER_IP": "0",
            # The job worker runs only where a test asks for it.
            "CHAT_JOB_WORKER_IN_RUNCHAT": "0",
            **(env or {}),
        },
        start_new_session=True,
    )
    server = ChatServer(process=process, port=port, database_url=database_url)
    try:
        _wait_until_serving(server)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        shutil.rmtree(database.parent, ignore_errors=True)


class Client:
    """A WebSocket client that reads JSON events, with every wait bounded."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.welcome: dict[str, Any] = {}
        self.history: dict[str, Any] = {}
        # Events of a batch frame not handed out yet, and how many batch frames arrived.
        self.unread: deque[dict[str, Any]] = deque()
        self.batches = 0

    @classmethod
    async def join(cls, server: ChatServer, room: str, name: str, **connect: Any) -> Client:
        """Connect (extra websockets.connect options allowed) and read welcome and history."""
        ws = await asyncio.wait_for(websockets.connect(server.ws_url(room, name), **connect), 10)
        client = cls(ws)
        client.welcome = await client.expect("welcome")
        client.history = await client.expect("history")
        return client

    async def send(self, event: dict[str, Any] | str) -> None:
        await self.ws.send(event if isinstance(event, str) else json.dumps(event))

    async def recv(self, timeout: float = 10) -> dict[str, Any]:
        """The next event, whether it came alone or in a batch frame."""
        if not self.unread:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if frame["type"] == "batch":
                self.batches += 1
                self.unread.extend(frame["events"])
            else:
                self.unread.append(frame)
        return self.unread.popleft()

    async def expect(self, type_: str, timeout: float = 10) -> dict[str, Any]:
        """The next event of this type, skipping others (e.g. broadcasts)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"no {type_!r} event within {timeout}s")
            event = await self.recv(remaining)
            if event["type"] == type_:
                return event

    async def messages(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        """The next `count` broadcast messages."""
        return [await self.expect("message", timeout) for _ in range(count)]

    async def close(self) -> None:
        await self.ws.close()


async def clients_on_both_workers(server: ChatServer, room: str) -> tuple[Client, Client]:
    """Connect until two clients are served by different workers (bounded: 20 s)."""
    by_worker: dict[str, Client] = {}
    deadline = time.monotonic() + 20
    i = 0
    while len(by_worker) < 2:
        if time.monotonic() > deadline:
            for client in by_worker.values():
                await client.close()
            raise AssertionError(f"every connection landed on {list(by_worker)}")
        i += 1
        client = await Client.join(server, room, f"user{i}")
        if client.welcome["worker"] in by_worker:
            await client.close()
            await asyncio.sleep(0.05)  # let the other worker reach accept()
        else:
            by_worker[client.welcome["worker"]] = client
    first, second = by_worker.values()
    return first, second


async def join_worker(
    server: ChatServer, room: str, name: str, *, worker: str | None = None, avoid: str = ""
) -> Client:
    """A client served by `worker` (or by any worker but `avoid`); bounded: 20 s."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        client = await Client.join(server, room, name)
        served = client.welcome["worker"]
        if (worker is None or served == worker) and served != avoid:
            return client
        await client.close()
        await asyncio.sleep(0.05)  # let the other worker reach accept()
    raise AssertionError(f"no connection was served by {worker or 'a worker but ' + avoid}")
