"""Integration tests run against the real Redis and MongoDB-compatible servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chat.infra.clients import close_all
from chat.messages import store
from tests.conftest import require_services


@pytest.fixture(autouse=True)
async def services() -> AsyncIterator[None]:
    """Ensure indexes exist; close this test's clients afterwards."""
    require_services()
    await store.ensure_indexes()
    yield
    await close_all()
