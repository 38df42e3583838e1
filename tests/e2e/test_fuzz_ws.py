"""Random frames against a real server: it never crashes, and answers each as documented.

The oracle is the protocol's own parser: a frame it refuses gets exactly that `error`; a
valid `typing` gets no reply; every other valid request gets exactly one reply.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.protocol import CLIENT_EVENT_TYPES, ProtocolError, TypingIn, parse_client_event
from tests.chatserver import ChatServer, Client, run_chat_server
from tests.conftest import require_services
from tests.e2e.test_chat_ws import worker_pids

# Events others cause (broadcasts, presence) arrive whenever; they answer no frame.
UNSOLICITED = {"message", "typing", "presence", "presence.join", "presence.leave"}
FIELDS = ["type", "text", "client_id", "before_seq", "after_seq", "limit", "deliver_at", "id", "x"]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["now", "2026-13-01T00:00:00Z", "9999999999999", "", " "])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
EVENTS = st.builds(
    lambda kind, fields: {"type": kind, **fields},
    st.sampled_from([*CLIENT_EVENT_TYPES, "bogus", ""]),
    st.dictionaries(st.sampled_from(FIELDS[1:]), VALUES, max_size=4),
)
FRAMES = st.one_of(
    EVENTS.map(json.dumps),
    VALUES.map(json.dumps),
    st.text(max_size=60),
    st.binary(max_size=60),
    EVENTS.map(lambda event: json.dumps(event).encode()),
)
_sentinels = itertools.count(1)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for the module: the client lives across Hypothesis examples."""
    running = asyncio.new_event_loop()
    yield running
    running.close()


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    """A single-worker server, so its one worker's survival is easy to check; no history
    rate limit, which the examples' marker requests would otherwise run into."""
    require_services()
    with run_chat_server(workers=1, env={"CHAT_HISTORY_RATE_PER_S": "0"}) as running:
        yield running


@pytest.fixture(scope="module")
def client(
    server: ChatServer, loop: asyncio.AbstractEventLoop
) -> Iterator[tuple[Client, set[int]]]:
    """The fuzzed connection and the worker pid it started on; checked after all examples."""
    pids = worker_pids(server)
    joined = loop.run_until_complete(Client.join(server, "fuzz", "fuzzer", max_queue=None))
    yield joined, pids
    loop.run_until_complete(joined.close())
    assert worker_pids(server) == pids, "a worker died during the fuzzing"
    with urllib.request.urlopen(f"{server.http_url}/healthz", timeout=5) as response:
        assert response.status == 200


async def replies_to(client: Client, frame: str | bytes, expected: int) -> list[dict[str, Any]]:
    """Send the frame, then a history request nobody else sends; what came before its
    answer, and after it until `expected` replies came (reads are answered concurrently)."""
    marker = 2**40 + next(_sentinels)
    await client.send(frame) if isinstance(frame, str) else await client.ws.send(frame)
    await client.send({"type": "history", "before_seq": marker, "limit": 1})
    replies: list[dict[str, Any]] = []
    marked = False
    while not marked or len(replies) < expected:
        event = await client.recv(timeout=10)
        if event["type"] == "history" and event.get("before_seq") == marker:
            marked = True
        elif event["type"] not in UNSOLICITED:
            replies.append(event)
    return replies


@settings(
    max_examples=200,
    deadline=None,  # every wait is bounded by the client's own timeouts
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=FRAMES)
def test_random_frames_get_their_documented_reply_and_never_crash_the_worker(
    client: tuple[Client, set[int]], loop: asyncio.AbstractEventLoop, frame: str | bytes
) -> None:
    """Refused frames: that error; typing: nothing; other valid requests: one reply."""
    ws_client, _ = client
    event: Any = None
    refused: ProtocolError | None = None
    try:
        event = parse_client_event(frame)
    except ProtocolError as exc:
        refused = exc
    expected = 0 if isinstance(event, TypingIn) else 1
    replies = loop.run_until_complete(replies_to(ws_client, frame, expected))
    if refused is not None:
        assert [(r["type"], r.get("code")) for r in replies] == [("error", refused.code)]
        return
    if isinstance(event, TypingIn):
        assert replies == []
    else:
        assert len(replies) == 1, replies
