"""Scheduled messages kept under the key names before hash tags move to the tagged ones.

Up to this version the keys were `chat:sched:<rest>`; they are `chat:{sched}:<rest>` now,
so that on a Redis Cluster every script's keys share one slot. A scheduler moves whatever it
finds under the old names when it starts (only a single server can hold them: the old
names never worked on a cluster); `manage.py upgradekeys` does the same on demand.
"""

from __future__ import annotations

import logging

from chat.infra.clients import is_cluster, redis
from chat.scheduled import store

log = logging.getLogger(__name__)

LEGACY_PREFIX = "chat:sched:"
TAGGED_PREFIX = "chat:{sched}:"
LEGACY_IDS = LEGACY_PREFIX + "ids"

# KEYS: old, new. Renames when the new key is missing; else merges a sorted set (what a
# newer host scheduled meanwhile stays), keeps the higher id counter, and drops the old key.
_MOVE = """
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'none' then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('RENAME', KEYS[1], KEYS[2])
  return 1
end
if kind == 'zset' then
  redis.call('ZUNIONSTORE', KEYS[2], 2, KEYS[2], KEYS[1])
elseif kind == 'string' and ARGV[1] == '1' then
  local old, new = tonumber(redis.call('GET', KEYS[1])), tonumber(redis.call('GET', KEYS[2]))
  if old > new then redis.call('SET', KEYS[2], old) end
end
redis.call('DEL', KEYS[1])
return 1
"""


async def migrate_legacy_keys() -> int:
    """Move every `chat:sched:*` key to its `chat:{sched}:*` name; how many moved."""
    if is_cluster():
        return 0
    client = redis()
    # The id counter is never deleted: without it there is nothing older to move.
    if not await client.exists(LEGACY_IDS):
        return 0
    moved = 0
    # The counter last, so an interrupted move is picked up again at the next start.
    async for key in client.scan_iter(match=LEGACY_PREFIX + "*", count=1000):
        if key not in (LEGACY_IDS, store.WAKE):
            moved += int(await client.eval(_MOVE, 2, key, _tagged(key), "0"))
    moved += int(await client.eval(_MOVE, 2, LEGACY_IDS, store.IDS, "1"))
    log.warning("moved %d scheduled-message keys to their hash-tagged names", moved)
    return moved


def _tagged(key: str) -> str:
    return TAGGED_PREFIX + key[len(LEGACY_PREFIX) :]
