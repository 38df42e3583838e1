"""Catch connected members up after Redis dropped broadcasts.

Redis pub/sub is at-most-once: whatever is published while a worker's subscription is
down is lost, and channels_redis cannot report it (its on_disconnect/on_reconnect hooks do
nothing). Each worker therefore watches Redis itself; when Redis comes back, or after a
broadcast failed, every member on this worker is asked to send its client what was stored
after the last message it forwarded. MongoDB stays the source of truth; clients drop
anything they already have by seq.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Protocol

from redis.exceptions import RedisError

from chat.infra.clients import redis_ping

log = logging.getLogger(__name__)

WATCH_INTERVAL_S = 1.0
# channels_redis re-subscribes up to about a second after Redis is back; nudging again
# later covers broadcasts published before its subscription was restored.
NUDGE_DELAYS_S = (0.0, 1.5, 4.0)
# Writes in flight when the outage began can land with seqs below what a member had
# already been sent; a catch-up therefore starts this far below that mark.
IN_FLIGHT_MARGIN = 200


class Member(Protocol):
    """A connection that can resend what its client may have missed."""

    forwarded_seq: int

    async def catch_up_missed(self, *, after_seq: int | None = None) -> None: ...


_members: weakref.WeakSet[Member] = weakref.WeakSet()
# Where each member's catch-up starts: its forwarded seq when broadcasts were first at risk.
_marks: weakref.WeakKeyDictionary[Member, int] = weakref.WeakKeyDictionary()
_broadcast_failed = False


def join(member: Member) -> None:
    """Watch over a new member (the worker runs `watch`)."""
    _members.add(member)


def leave(member: Member) -> None:
    """Forget a member that disconnected."""
    _members.discard(member)


def note_broadcast_failed() -> None:
    """A stored message could not be published: catch members up once Redis answers."""
    global _broadcast_failed
    _broadcast_failed = True
    _mark_members()


def _mark_members() -> None:
    """Remember how far each member had been brought before broadcasts were at risk."""
    for member in list(_members):
        _marks.setdefault(member, max(0, member.forwarded_seq - IN_FLIGHT_MARGIN))


async def _redis_answers() -> bool:
    try:
        await asyncio.wait_for(redis_ping(), WATCH_INTERVAL_S * 2)
    except (RedisError, OSError, TimeoutError):
        return False
    return True


async def watch() -> None:
    """The worker's Redis watcher: catch members up once Redis answers again."""
    global _broadcast_failed
    healthy = True
    while True:
        await asyncio.sleep(WATCH_INTERVAL_S)
        answers = await _redis_answers()
        if answers and (not healthy or _broadcast_failed):
            _broadcast_failed = False
            marks = {member: _marks.pop(member, member.forwarded_seq) for member in list(_members)}
            log.warning("redis is back; catching %d members up from the store", len(marks))
            asyncio.get_running_loop().create_task(_nudge_members(marks))
        elif not answers and healthy:
            _mark_members()
            log.warning("redis does not answer; broadcasts may be lost until it is back")
        healthy = answers


async def _nudge_members(marks: dict[Member, int]) -> None:
    previous = 0.0
    for delay in NUDGE_DELAYS_S:
        await asyncio.sleep(delay - previous)
        previous = delay
        for member, mark in marks.items():
            try:
                await member.catch_up_missed(after_seq=mark)
            except Exception as exc:  # one failure must not stop the others' catch-up
                log.warning("catch-up failed for a member (%s); will try again", exc)
                _marks.setdefault(member, mark)
                note_broadcast_failed()
