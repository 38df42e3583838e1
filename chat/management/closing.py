"""Running a command's async work: one event loop, its clients closed at the end."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from chat.infra.clients import close_all

T = TypeVar("T")


def run(work: Callable[[], Awaitable[T]]) -> T:
    """`work()` on a new loop; the loop's Redis and MongoDB clients closed however it ends."""

    async def closing() -> T:
        try:
            return await work()
        finally:
            await close_all()

    return asyncio.run(closing())
