"""Scheduled messages end to end: real runchat workers, Redis with its append-only file,
FerretDB, and the faults the issue names (everything down, a worker killed, Redis restarted).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis as redis_sync
from websockets.sync.client import ClientConnection, connect

from chat.scheduled import rules as scheduling
from chat.scheduled import store as scheduler
from tests.chatserver import ROOT, run_chat_server
from tests.faultstack import FaultStack, localstack

pytestmark = pytest.mark.services

WAIT_S = 20.0
WORKERS = 2


@dataclass
class ScheduledStack(FaultStack):
    """A FaultStack whose Redis keeps an append-only file, and whose runchat can be stopped
    and started again (the stack's own servers stay up unless a test stops them)."""

    env: dict[str, str] = field(default_factory=dict)
    chat_cleanup: ExitStack = field(default_factory=ExitStack)

    def start_redis(self) -> None:
        """Start Redis with appendonly on: what `make run` and docker-compose do."""
        self.redis = localstack.start_redis(
            self.redis_port, self.data, persistent=True, log=self.data / "redis.log"
        )

    def start_chat(self) -> None:
        """Start runchat and wait until every worker serves."""
        chat_env = {
            "REDIS_URL": self.redis_url,
            "MONGO_URL": self.mongo_url,
            "MONGO_DB": self.mongo_db,
            **self.env,
        }
        self.chat = self.chat_cleanup.enter_context(run_chat_server(workers=WORKERS, env=chat_env))
        self.wait_for_workers(WORKERS)

    def stop_chat(self) -> None:
        """Stop runchat gracefully (SIGTERM to the supervisor, which stops its workers)."""
        self.chat_cleanup.close()
        self.chat = None

    def redis_client(self) -> redis_sync.Redis:
        return redis_sync.Redis.from_url(self.redis_url, decode_responses=True, socket_timeout=5)

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the REST API; return the decoded JSON (None for 204)."""
        request = urllib.request.Request(
            f"{self.server.http_url}/api{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def schedule(self, room: str, text: str, deliver_at: str | int) -> dict[str, Any]:
        return self.api(
            "POST",
            f"/rooms/{room}/scheduled",
            {"text": text, "deliver_at": deliver_at, "author": "planner"},
        )

    def delivered(self, room: str) -> list[dict[str, Any]]:
        """The room's stored messages that came from the scheduler, in seq order."""
        return [m for m in self.stored_messages(room) if m["client_id"].startswith("sched:")]


@contextmanager
def scheduled_stack(env: dict[str, str] | None = None) -> Iterator[ScheduledStack]:
    """Redis (append-only), FerretDB and runchat on free ports; all stopped at exit."""
    data = Path(tempfile.mkdtemp(prefix="chatsite-sched-"))
    stack = ScheduledStack(
        data=data,
        redis_port=localstack.free_port(),
        mongo_port=localstack.free_port(),
        mongo_db=os.environ.get("MONGO_DB", "chatsite"),
        env={"CHAT_SCHEDULER_MAX_SLEEP_MS": "1000", **(env or {})},
    )
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, data, True)
        cleanup.callback(stack.stop_redis)
        cleanup.callback(stack.stop_mongo)
        cleanup.callback(_resume_all, stack)
        cleanup.callback(stack.stop_chat)
        stack.start_redis()
        stack.start_mongo()
        stack.start_chat()
        yield stack


def _resume_all(stack: ScheduledStack) -> None:
    # A test that fails while a server is SIGSTOPped must not leave it frozen for the cleanup.
    for process in (stack.redis, stack.mongo):
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.05)


def now_ms() -> int:
    return int(time.time() * 1000)


def recv_until(ws: ClientConnection, kind: str, timeout: float = WAIT_S) -> dict[str, Any]:
    """The next event of this type (others skipped), bounded."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        event = json.loads(ws.recv(timeout=remaining))
        if event["type"] == kind:
            return event
    raise AssertionError(f"no {kind!r} event within {timeout}s")


@pytest.fixture
def stack() -> Iterator[ScheduledStack]:
    with scheduled_stack() as running:
        yield running


def test_websocket_schedule_list_cancel_and_live_delivery_to_everyone(
    stack: ScheduledStack, room: str
) -> None:
    """The protocol end to end: `scheduled` reply, list, cancel, errors, and at its time the
    message reaches every member live, once."""
    url = stack.server.ws_url(room, "alice")
    with connect(url) as alice, connect(stack.server.ws_url(room, "bob")) as bob:
        for ws in (alice, bob):
            recv_until(ws, "history")
        due = now_ms() + 1500
        alice.send(
            json.dumps(
                {"type": "schedule", "text": "in 1.5 s", "deliver_at": due, "client_id": "k1"}
            )
        )
        reply = recv_until(alice, "scheduled")
        assert reply["client_id"] == "k1"
        assert reply["deliver_at"] == scheduling.from_ms(due).isoformat().replace("+00:00", "Z")
        alice.send(json.dumps({"type": "schedule", "text": "never", "deliver_at": due + 60_000}))
        doomed = recv_until(alice, "scheduled")["id"]
        alice.send(json.dumps({"type": "scheduled.list"}))
        listed = recv_until(alice, "scheduled.list")["items"]
        assert [(i["id"], i["text"]) for i in listed] == [
            (reply["id"], "in 1.5 s"),
            (doomed, "never"),
        ]
        bob.send(json.dumps({"type": "scheduled.cancel", "id": doomed}))
        assert recv_until(bob, "error")["code"] == "not_found"
        alice.send(json.dumps({"type": "scheduled.cancel", "id": doomed}))
        assert recv_until(alice, "scheduled.cancelled") == {
            "type": "scheduled.cancelled",
            "id": doomed,
        }
        alice.send(json.dumps({"type": "schedule", "text": "x", "deliver_at": "tomorrow"}))
        assert recv_until(alice, "error")["code"] == "invalid_deliver_at"
        for ws in (alice, bob):
            message = recv_until(ws, "message", timeout=10)
            assert message["text"] == "in 1.5 s" and message["author"] == "alice"
            assert scheduling.to_ms(datetime.fromisoformat(message["ts"])) >= due
        alice.send(json.dumps({"type": "scheduled.list"}))
        assert recv_until(alice, "scheduled.list")["items"] == []
    assert [m["text"] for m in stack.delivered(room)] == ["in 1.5 s"]


def test_messages_due_while_everything_was_down_are_delivered_once_on_start_in_order(
    stack: ScheduledStack, room: str
) -> None:
    """Stop runchat, Redis and FerretDB; restart after the due time: each overdue message is
    delivered on start, once, in due order, before a message scheduled after the restart."""
    due = now_ms() + 3000
    ids = [stack.schedule(room, f"overdue {n}", due + n * 10)["id"] for n in range(5)]
    stack.stop_chat()
    assert stack.delivered(room) == [], "delivered before it was due"
    stack.stop_redis()
    stack.stop_mongo()
    time.sleep(max(0.0, (due + 100 - now_ms()) / 1000) + 1.0)
    stack.start_redis()
    stack.start_mongo()
    restarted = now_ms()
    stack.start_chat()
    newer = stack.schedule(room, "newer", "now")["id"]
    wait_until(lambda: len(stack.delivered(room)) >= 6, "the overdue messages")
    # The marker, due after all of them: delivered in due order, it lands after any duplicate.
    marker = stack.schedule(room, "marker", "now")["id"]
    marked = scheduling.store_client_id(marker)
    wait_until(lambda: marked in [m["client_id"] for m in stack.delivered(room)], "the marker")
    delivered = stack.delivered(room)
    assert [m["client_id"] for m in delivered] == [
        scheduling.store_client_id(i) for i in [*ids, newer, marker]
    ]
    assert [m["text"] for m in delivered] == [f"overdue {n}" for n in range(5)] + [
        "newer",
        "marker",
    ]
    for message in delivered:
        assert scheduling.to_ms(message["ts"]) - restarted < 15_000, "not delivered on start"
    with stack.redis_client() as r:
        assert r.zcard(scheduler.DUE) == 0 and r.zcard(scheduler.LEASES) == 0


@pytest.mark.parametrize("crash", ["before_storing", "after_storing"])
def test_a_worker_killed_during_delivery_still_delivers_exactly_once(room: str, crash: str) -> None:
    """SIGKILL the worker holding the claim, before its insert landed or after it but before
    it finished: another worker claims it when the lease runs out, and one copy is stored."""
    env = {"CHAT_SCHEDULER_LEASE_MS": "2000", "CHAT_STORE_TIMEOUT_MS": "15000"}
    with scheduled_stack(env) as stack:
        assert stack.mongo is not None and stack.redis is not None
        r = stack.redis_client()
        # A first message gives the room its seq counter: a claim in a new room reads the
        # store to seed it, and the store is about to be frozen.
        stack.schedule(room, "warm-up", "now")
        wait_until(lambda: len(stack.delivered(room)) == 1, "the warm-up message")
        # FerretDB frozen: the claim succeeds (Redis), the insert hangs in the claimer.
        os.kill(stack.mongo.pid, signal.SIGSTOP)
        item = stack.schedule(room, "exactly once", "now")
        member = scheduling.member_of(item["id"])
        wait_until(lambda: r.zscore(scheduler.LEASES, member) is not None, "the claim")
        owner = r.hget(scheduler.MSG_PREFIX + member, "owner") or ""
        seq = int(r.hget(scheduler.MSG_PREFIX + member, "seq") or 0)
        claimer = int(owner.rsplit("-", 1)[1])
        if crash == "after_storing":
            # Freeze Redis too, let the insert land, then kill before notify/finish can run.
            os.kill(stack.redis.pid, signal.SIGSTOP)
            os.kill(stack.mongo.pid, signal.SIGCONT)
            wait_until(lambda: len(stack.delivered(room)) == 2, "the first insert")
            stack.kill_worker(claimer)
            os.kill(stack.redis.pid, signal.SIGCONT)
        else:
            stack.kill_worker(claimer)
            os.kill(stack.mongo.pid, signal.SIGCONT)
        wait_until(
            lambda: r.hget(scheduler.MSG_PREFIX + member, "state") == "delivered",
            "the delivery to be finished by another worker",
        )
        time.sleep(0.5)
        delivered = stack.delivered(room)[1:]
        assert [(m["client_id"], m["seq"]) for m in delivered] == [
            (scheduling.store_client_id(item["id"]), seq)
        ]
        assert int(r.hget(scheduler.MSG_PREFIX + member, "attempts") or 0) >= 2
        assert r.hget(scheduler.MSG_PREFIX + member, "owner") != owner
        r.close()


def test_a_redis_restart_loses_no_pending_message(stack: ScheduledStack, room: str) -> None:
    """With the append-only file on, messages scheduled before a Redis restart are all
    delivered after it, once each, in order."""
    due = now_ms() + 3000
    ids = [stack.schedule(room, f"pending {n}", due + n)["id"] for n in range(50)]
    stack.restart_redis(down_s=1.0)
    wait_until(lambda: len(stack.delivered(room)) >= 50, "the pending messages")
    time.sleep(1.0)
    delivered = stack.delivered(room)
    assert [m["client_id"] for m in delivered] == [scheduling.store_client_id(i) for i in ids]
    assert [m["seq"] for m in delivered] == sorted({m["seq"] for m in delivered})


def test_with_workers_not_scheduling_runscheduler_delivers(room: str) -> None:
    """CHAT_SCHEDULER_IN_WORKERS=0: nothing is delivered until `runscheduler` runs."""
    with scheduled_stack({"CHAT_SCHEDULER_IN_WORKERS": "0"}) as stack:
        item = stack.schedule(room, "from the separate scheduler", "now")
        time.sleep(1.5)
        assert stack.delivered(room) == []
        env = {
            **os.environ,
            "REDIS_URL": stack.redis_url,
            "MONGO_URL": stack.mongo_url,
            "MONGO_DB": stack.mongo_db,
        }
        process = subprocess.Popen([sys.executable, "manage.py", "runscheduler"], cwd=ROOT, env=env)
        try:
            wait_until(lambda: len(stack.delivered(room)) == 1, "runscheduler's delivery")
        finally:
            process.terminate()
            try:
                assert process.wait(timeout=15) == 0
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise
        [message] = stack.delivered(room)
        assert message["client_id"] == scheduling.store_client_id(item["id"])
