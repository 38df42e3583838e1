"""A private stack to break on purpose: Redis, FerretDB and `runchat --workers 2`.

    with fault_stack() as stack:
        stack.restart_redis(down_s=1)  # same port, empty again (no persistence)
        stack.restart_mongo(down_s=2)  # same port, same data directory
        stack.kill_worker()  # SIGKILL one daphne child; runchat starts a new one
        stack.rolling_restart()  # SIGTERM each child in turn, each replaced before the next

Everything runs on free ports with its data in a temporary directory, and everything is
stopped when the block exits, however it exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from websockets.sync.client import connect

from chat.messages.documents import MESSAGES
from tests.chatserver import ChatServer, run_chat_server
from tests.support.tools import load_tool

WORKER_START_TIMEOUT_S = 30.0
# A join reads the store when Redis has lost the room's history tail (after a Redis restart):
# on a store of 50,000 messages that is a FerretDB scan of about 2 s, more when it is busy.
# A shorter wait gives up on every probe and adds a scan each time.
PROBE_TIMEOUT_S = 10.0


localstack = load_tool("localstack")


@dataclass
class FaultStack:
    """Handles on the private servers, with the faults the tests inject."""

    data: Path
    redis_port: int
    mongo_port: int
    mongo_db: str
    redis: subprocess.Popen[bytes] | None = None
    mongo: subprocess.Popen[bytes] | None = None
    chat: ChatServer | None = None
    killed: list[int] = field(default_factory=list)
    read_timeout_s: float | None = None
    """How long the test's own MongoDB operations may wait for an answer (None: for ever);
    past it they raise pymongo's NetworkTimeout instead of holding a thread."""

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def mongo_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/"

    @property
    def server(self) -> ChatServer:
        """The running runchat (fails when the stack has none)."""
        assert self.chat is not None, "runchat is not running"
        return self.chat

    def ws_base(self) -> str:
        """ws://127.0.0.1:PORT, what clients connect to."""
        return f"ws://127.0.0.1:{self.server.port}"

    def start_redis(self) -> None:
        """Start Redis (empty: no snapshot, no append-only file) on the stack's port."""
        self.redis = localstack.start_redis(
            self.redis_port, self.data, persistent=False, log=self.data / "redis.log"
        )

    def stop_redis(self, *, hard: bool = False) -> None:
        """Stop Redis: SIGTERM (or SIGKILL when hard), and wait for it."""
        if self.redis is not None:
            _stop(self.redis, hard=hard)
            self.redis = None

    def start_mongo(self) -> None:
        """Start FerretDB on the stack's port over the stack's data directory."""
        self.mongo = localstack.start_ferretdb(
            self.mongo_port, self.data / "ferretdb", log=self.data / "ferretdb.log"
        )

    def stop_mongo(self, *, hard: bool = False) -> None:
        """Stop FerretDB: SIGTERM (or SIGKILL when hard), and wait for it."""
        if self.mongo is not None:
            _stop(self.mongo, hard=hard)
            self.mongo = None

    def restart_redis(self, *, down_s: float = 0.0, hard: bool = False) -> None:
        """Stop Redis, stay down for `down_s`, start it again on the same port, empty."""
        self.stop_redis(hard=hard)
        time.sleep(down_s)
        self.start_redis()

    def restart_mongo(self, *, down_s: float = 0.0, hard: bool = False) -> None:
        """Stop FerretDB, stay down for `down_s`, start it again: same port, same data."""
        self.stop_mongo(hard=hard)
        time.sleep(down_s)
        self.start_mongo()

    def worker_pids(self) -> list[int]:
        """Pids of runchat's daphne children, in the order the kernel lists them."""
        pid = self.server.process.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return []
        return [int(child) for child in text.split()]

    def log_worker_tasks(self) -> None:
        """Have every worker log where its tasks wait (SIGUSR1), for a failure's report."""
        for pid in self.worker_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGUSR1)
        time.sleep(1.0)  # the workers log on their next loop turn

    def kill_worker(self, pid: int | None = None, *, sig: int = signal.SIGKILL) -> int:
        """SIGKILL one daphne child (the given one, or the first); return its pid.

        With sig=SIGTERM it is a graceful stop instead: the worker closes its sockets with
        1001 and exits. Either way runchat starts a new one (wait_for_workers).
        """
        pids = self.worker_pids()
        victim = pid if pid is not None else pids[0]
        assert victim in pids, f"{victim} is not a worker of runchat (workers: {pids})"
        os.kill(victim, sig)
        self.killed.append(victim)
        return victim

    def rolling_restart(self, timeout: float = WORKER_START_TIMEOUT_S) -> list[int]:
        """SIGTERM each daphne child in turn, waiting for its replacement to serve before the
        next (a deploy's rolling restart); return the stopped pids."""
        stopped = self.worker_pids()
        for pid in stopped:
            self.kill_worker(pid, sig=signal.SIGTERM)
            self.wait_for_workers(len(stopped), timeout)
        return stopped

    def wait_for_workers(self, count: int = 2, timeout: float = WORKER_START_TIMEOUT_S) -> None:
        """Block until runchat has `count` children, none of them one we killed, and each
        has welcomed a WebSocket (a child that merely exists may still be importing)."""
        deadline = time.monotonic() + timeout
        welcomed: set[int] = set()
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) == count and not set(pids) & set(self.killed):
                if set(pids) <= welcomed:
                    return
                with contextlib.suppress(OSError, TimeoutError, websockets.WebSocketException):
                    welcomed.add(self._probe_worker())
            time.sleep(0.05)
        raise TimeoutError(
            f"runchat has workers {self.worker_pids()}, welcomed by {welcomed}; wanted {count}"
        )

    def _probe_worker(self) -> int:
        url = f"{self.ws_base()}/ws/rooms/faultstack-probe/?name=probe"
        with connect(url, open_timeout=2, close_timeout=1) as ws:
            welcome = json.loads(ws.recv(timeout=PROBE_TIMEOUT_S))
            # The history page: closing before it makes the server log errors.
            ws.recv(timeout=PROBE_TIMEOUT_S)
        return int(welcome["worker"].rsplit("-", 1)[1])

    def ensure_up(self) -> None:
        """Bring back whatever a failed test left down (Redis, FerretDB, workers)."""
        if self.redis is None or self.redis.poll() is not None:
            self.start_redis()
        if self.mongo is None or self.mongo.poll() is not None:
            self.start_mongo()
        self.wait_for_workers()

    def mongo_client(self) -> Any:
        """A synchronous pymongo client of the stack's FerretDB (the caller closes it)."""
        from pymongo import MongoClient

        timeout_ms = None if self.read_timeout_s is None else int(self.read_timeout_s * 1000)
        return MongoClient(
            self.mongo_url,
            tz_aware=True,
            serverSelectionTimeoutMS=10_000,
            socketTimeoutMS=timeout_ms,
        )

    def stored_messages(self, room: str) -> list[dict[str, Any]]:
        """Every message document of the room, straight from MongoDB, in seq order."""
        with self.mongo_client() as client:
            cursor = client[self.mongo_db][MESSAGES].find({"room": room}).sort("seq", 1)
            return list(cursor)

    def delete_room(self, room: str) -> None:
        """Delete the room's messages: FerretDB scans every stored message on each query."""
        with self.mongo_client() as client:
            client[self.mongo_db][MESSAGES].delete_many({"room": room})


def _stop(process: subprocess.Popen[bytes], *, hard: bool) -> None:
    if hard and process.poll() is None:
        process.kill()
        process.wait()
    else:
        localstack.stop(process)


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    # The servers run in sessions of their own, so nothing else stops them: make SIGTERM
    # (the default of kill, timeout, CI cancellation) unwind through the cleanup instead
    # of killing the interpreter on the spot. Left alone when someone else handles it.
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def unwind(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, unwind)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def private_data(cleanup: ExitStack, prefix: str) -> Path:
    """A temporary directory removed at exit, with SIGTERM unwinding through the cleanup."""
    data = Path(tempfile.mkdtemp(prefix=prefix))
    cleanup.callback(shutil.rmtree, data, True)
    cleanup.enter_context(_sigterm_unwinds())
    return data


@contextmanager
def fault_stack(*, workers: int = 2, env: dict[str, str] | None = None) -> Iterator[FaultStack]:
    """Start private Redis, FerretDB and runchat; stop all of them at exit, whatever happens.

    `env` adds to runchat's environment (e.g. CHAT_STORE_TIMEOUT_MS).
    """
    with ExitStack() as cleanup:
        data = private_data(cleanup, "chatsite-faults-")
        stack = FaultStack(
            data=data,
            redis_port=localstack.free_port(),
            mongo_port=localstack.free_port(),
            mongo_db=os.environ.get("MONGO_DB", "chatsite"),
        )
        cleanup.callback(stack.stop_redis)
        cleanup.callback(stack.stop_mongo)
        stack.start_redis()
        stack.start_mongo()
        chat_env = {
            "REDIS_URL": stack.redis_url,
            "MONGO_URL": stack.mongo_url,
            "MONGO_DB": stack.mongo_db,
            **(env or {}),
        }
        stack.chat = cleanup.enter_context(run_chat_server(workers=workers, env=chat_env))
        stack.wait_for_workers(workers)
        yield stack
