"""Schemathesis against a running server's /api/openapi.json: no 5xx, answers match the schema."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pymongo
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.chatserver import ChatServer, run_chat_server
from tests.conftest import require_services

OPERATIONS = [
    ("GET", "/api/rooms"),
    ("GET", "/api/rooms/{room}/messages"),
    ("GET", "/api/rooms/{room}/search"),
    ("POST", "/api/rooms/{room}/messages"),
    ("POST", "/api/rooms/{room}/scheduled"),
    ("GET", "/api/rooms/{room}/scheduled"),
    ("DELETE", "/api/rooms/{room}/scheduled/{scheduled_id}"),
    ("POST", "/api/jobs"),
    ("GET", "/api/jobs"),
    ("GET", "/api/jobs/{job_id}"),
    ("GET", "/api/jobs/{job_id}/result"),
    ("GET", "/api/rooms/{room}/events"),
    ("POST", "/api/rooms/{room}/frames"),
    ("GET", "/api/queues"),
    ("PUT", "/api/queues/{queue}"),
    ("GET", "/api/queues/{queue}"),
    ("DELETE", "/api/queues/{queue}"),
    ("POST", "/api/queues/{queue}/messages"),
    ("POST", "/api/queues/{queue}/messages/batch"),
    ("POST", "/api/queues/{queue}/receive"),
    ("POST", "/api/queues/{queue}/ack"),
    ("DELETE", "/api/queues/{queue}/messages/{message_id}"),
    ("POST", "/api/queues/{queue}/messages/{message_id}/extend"),
    ("GET", "/api/queues/{queue}/dead"),
    ("POST", "/api/queues/{queue}/dead/redrive"),
]
NOTHING_TO_NEGATE = {("GET", "/api/queues")}
# A queue the fuzzing may use (not for receive: an empty queue's long-poll waits up to 20 s).
FUZZ_QUEUE = "fuzz-queue"
MAX_EXAMPLES = 20
# The documented 503s mean Redis or MongoDB did not answer in time; never a crash.
DOCUMENTED_503_CODES = {"not_stored", "not_scheduled", "unavailable"}
# positive_data_acceptance is left out on purpose: room names follow rules (docs/protocol.md)
# the schema does not spell out, so schema-valid rooms may rightly get 422 invalid_room.
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    """One single-worker server with a database of its own, dropped afterwards.

    Its own database keeps the room listing (one read of every message) as fast as the
    fuzzing needs, whatever other tests stored.
    """
    require_services()
    database = f"apischema_{uuid.uuid4().hex[:12]}"
    try:
        env = {
            "MONGO_DB": database,
            "CHAT_JOB_QUEUE": f"{database}:jobs",
            "CHAT_JOB_WORKER_IN_RUNCHAT": "1",
            # Long-polls answer at once: the fuzzing checks their answers, not their waits.
            "CHAT_POLL_MAX_WAIT_S": "0",
        }
        with run_chat_server(workers=1, env=env) as running:
            yield running
    finally:
        with pymongo.MongoClient(os.environ["MONGO_URL"], serverSelectionTimeoutMS=3000) as mongo:
            mongo.drop_database(database)


@pytest.fixture(scope="module")
def queue_token(server: ChatServer) -> str:
    """A `queues` token, sent on the queue operations so they get past 401; and the queue."""
    token = server.create_token("fuzzbot", "queues")
    made = requests.put(
        f"{server.http_url}/api/queues/{FUZZ_QUEUE}",
        json={},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert made.status_code in (200, 201), made.text
    return token


@pytest.fixture(scope="module")
def schema(server: ChatServer) -> schemathesis.BaseSchema:
    """The schema as the running server publishes it."""
    return schemathesis.openapi.from_url(f"{server.http_url}/api/openapi.json", timeout=10)


def test_the_schema_lists_exactly_the_operations_tested_here(
    schema: schemathesis.BaseSchema,
) -> None:
    """A new operation must join OPERATIONS, so it gets fuzzed too."""
    found = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_operation_answers_as_documented(
    server: ChatServer,
    schema: schemathesis.BaseSchema,
    queue_token: str,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    """Generated requests never get a 5xx (except a documented 503) or an undocumented answer."""
    operation = schema[path][method]
    if mode is GenerationMode.NEGATIVE and (method, path) in NOTHING_TO_NEGATE:
        pytest.skip("no parameters and no body: there is no invalid request to make")
    # Random room names are mostly invalid (422 invalid_room); half the cases use a valid one,
    # so bodies and queries reach the store and the success answers get checked too.
    strategies = [operation.as_strategy(generation_mode=mode)]
    if "{room}" in path:
        fixed = {"room": "fuzz-room"}
        strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=fixed))
    if "{queue}" in path and not path.endswith("/receive"):
        fixed = {"queue": FUZZ_QUEUE}
        strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=fixed))
    session = requests.Session()
    if path.startswith("/api/queues"):
        session.headers["Authorization"] = f"Bearer {queue_token}"
    started = time.monotonic()

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=server.http_url, session=session, timeout=10)
        if response.status_code == 503:
            assert response.json()["code"] in DOCUMENTED_503_CODES, response.text
        case.validate_response(
            response,
            checks=CHECKS if response.status_code == 503 else [not_a_server_error, *CHECKS],
            transport_kwargs={"base_url": server.http_url, "session": session},
        )

    try:
        check()
    finally:
        session.close()
    assert time.monotonic() - started < 30, "keep the fuzzing bounded"
