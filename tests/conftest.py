"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
import uuid

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Integration and e2e tests need the private servers `make test` starts (tools/localstack.py).
    config.addinivalue_line("markers", "services: needs the Redis and MongoDB-compatible servers")


@pytest.fixture
def room() -> str:
    """A room name no other test uses, so tests never see each other's messages."""
    return f"t-{uuid.uuid4().hex[:12]}"


def require_services() -> None:
    """Fail with a useful message when the servers `make test` starts are not there."""
    missing = [name for name in ("REDIS_URL", "MONGO_URL") if not os.environ.get(name)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not set: run the tests with `make test`")
