"""Lua scripts run by their SHA1 (EVALSHA), loaded on first use: the hot paths send a few
bytes per call instead of the script's text."""

from __future__ import annotations

import hashlib
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError


class Lua:
    """One script: `await script(client, numkeys, *keys_and_args)`."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, client: aioredis.Redis, numkeys: int, *args: Any) -> Any:
        try:
            return await client.evalsha(self.sha, numkeys, *args)
        except NoScriptError:
            return await client.eval(self.source, numkeys, *args)  # EVAL caches it too
