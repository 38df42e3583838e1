"""The newest messages of each room, kept in Redis, so a join reads its first page there.

A join's page is the room's newest messages; read from MongoDB that is an index seek, and on
a store without one a scan of the collection. `chat:tail:<room>` is a sorted set scored by
seq whose members are the messages as broadcast (JSON), `~<seq>` for a seq that holds no
message (never stored, or deleted) and `^` just below the room's first message. Broadcasts
add their messages (before they are published); a read that finds no answer in the tail
reads the store and fills the tail from that page (the seqs missing from the page become
holes). A tail answers only with an unbroken run of seqs from its top, so a message that
never reached the tail (Redis failed between store and publish) makes it read the store
again rather than leave that message out. Deletions and seeding write behind the tail's
back: they forget it (`forget`), and a fill that read the store before that is dropped,
which the room's generation key tells.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from chat.infra.clients import redis
from chat.protocol import MessageOut

START = "^"
HOLE = "~"

# KEYS: tail, generation. ARGV: expected generation ('' for any), ttl ms, max entries,
# then (score, member) pairs. Adds them, keeps the newest `max` entries, refreshes the TTL.
# Returns 0 (nothing written) when the generation moved on since the caller read it.
_ADD = """
if ARGV[1] ~= '' and (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
for i = 4, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


def _key(room: str) -> str:
    return f"chat:tail:{{{room}}}"


def _generation_key(room: str) -> str:
    return f"chat:tail:{{{room}}}:gen"


def size() -> int:
    """How many entries a tail keeps (0: no tails)."""
    return int(settings.CHAT_HISTORY_TAIL)


@dataclass(frozen=True)
class Answer:
    """The newest messages (ascending, as broadcast) and whether older ones exist."""

    texts: list[str]
    has_more: bool


def _by_seq(entries: Sequence[tuple[str, float]]) -> dict[int, str]:
    by_seq: dict[int, str] = {}
    for member, score in entries:
        seq = int(score)
        if member.startswith("{") or seq not in by_seq:
            by_seq[seq] = member  # a message outranks a hole written for its seq before
    return by_seq


def newest(entries: Sequence[tuple[str, float]], limit: int) -> Answer | None:
    """The newest `limit` messages a tail's entries vouch for, or None if they cannot tell.

    They can when the seqs from the top down are unbroken (holes count) until `limit` + 1
    messages (so it is known that older ones exist) or the room's start.
    """
    by_seq = _by_seq(entries)
    if not by_seq:
        return None
    texts: list[str] = []
    seq = max(by_seq)
    while (member := by_seq.get(seq)) is not None:
        if member == START:
            return Answer(texts[::-1], has_more=False)
        if not member.startswith(HOLE):
            texts.append(member)
            if len(texts) > limit:
                return Answer(texts[limit - 1 :: -1], has_more=True)
        seq -= 1
    return None


def after(entries: Sequence[tuple[str, float]], after_seq: int) -> list[str] | None:
    """The messages above `after_seq` a tail's entries vouch for (ascending), or None.

    They do when every seq from the top down to `after_seq` + 1 is there (holes count), or
    the room's start is reached first. Above the top nothing is stored yet that a subscribed
    reader will not get live (a message enters the tail before it is published).
    """
    by_seq = _by_seq(entries)
    if not by_seq:
        return None
    texts: list[str] = []
    for seq in range(max(by_seq), after_seq, -1):
        member = by_seq.get(seq)
        if member is None:
            return None
        if member == START:
            break
        if not member.startswith(HOLE):
            texts.append(member)
    return texts[::-1]


def holes(seqs: Sequence[int]) -> list[tuple[int, str]]:
    """Tail entries for seqs that will never hold a message (taken by a send not stored)."""
    return [(seq, f"{HOLE}{seq}") for seq in seqs]


def entries_of_page(messages: Sequence[MessageOut], *, has_more: bool) -> list[tuple[int, str]]:
    """The tail entries a store page proves: its messages, holes between them, and the
    room's start below them when nothing older exists."""
    entries = [(m.seq, m.encode()) for m in messages]
    seqs = {m.seq for m in messages}
    if messages:
        entries += holes([s for s in range(messages[0].seq, messages[-1].seq) if s not in seqs])
    if not has_more:
        entries.append(((messages[0].seq if messages else 1) - 1, START))
    return entries


async def read(room: str, *, newest: int = 0, above: int | None = None) -> list[tuple[str, float]]:
    """The room's tail entries, newest first: every one, the `newest` N, or those above a seq.

    Reading only what an answer needs keeps a read's cost that of a page, not of the tail.
    """
    if above is not None:
        return await redis().zrevrangebyscore(_key(room), "+inf", f"({above}", withscores=True)
    return await redis().zrevrange(_key(room), 0, newest - 1, withscores=True)


async def generation(room: str) -> str:
    """The room's tail generation: a fill must carry the one read before its store read."""
    return str(await redis().get(_generation_key(room)) or "0")


async def add(room: str, entries: Sequence[tuple[int, str]], *, expected: str = "") -> bool:
    """Add entries to the room's tail (a fill: only if the generation is still `expected`)."""
    if not entries or not size():
        return False
    pairs = [part for seq, member in entries for part in (seq, member)]
    ttl_ms = settings.CHAT_HISTORY_TAIL_TTL_S * 1000
    written = await redis().eval(
        _ADD, 2, _key(room), _generation_key(room), expected, ttl_ms, size(), *pairs
    )
    return bool(written)


async def add_messages(messages: Sequence[MessageOut]) -> None:
    """Add just-stored messages of one room to its tail (before they are broadcast)."""
    await add(messages[0].room, [(m.seq, m.encode()) for m in messages])


async def forget(rooms: Sequence[str]) -> None:
    """Drop these rooms' tails: their stored messages changed behind the tails' back."""
    if not rooms:
        return
    async with redis().pipeline(transaction=True) as pipe:
        for room in rooms:
            pipe.incr(_generation_key(room))
            pipe.expire(_generation_key(room), settings.CHAT_HISTORY_TAIL_TTL_S)
            pipe.delete(_key(room))
        await pipe.execute()
