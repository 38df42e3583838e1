"""Presence as the chat sees it: a connection marked present and kept so, joins and leaves
announced (chat.broadcast.events); best effort, like typing."""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from chat.broadcast import events
from chat.presence import store as presence
from chat.protocol import PresenceJoin, PresenceLeave

log = logging.getLogger(__name__)


async def presence_join(*, room: str, name: str, conn: str) -> None:
    """Mark the connection present and keep it so; announce the name if it is new in the room.

    Best effort like typing: without Redis the chat goes on and presence catches up on the
    next heartbeat.
    """
    presence.track(room=room, name=name, conn=conn)
    try:
        if version := await presence.add(room=room, name=name, conn=conn):
            event = PresenceJoin(name=name, version=version)
            events.notify_presence(room=room, event=event, sender=conn)
    except RedisError as exc:
        log.info("presence join in room %s not recorded: %s", room, exc)


async def presence_leave(*, room: str, name: str, conn: str) -> None:
    """Drop the connection; announce the name's leave when it was its last connection."""
    presence.untrack(room=room, conn=conn)
    try:
        if version := await presence.remove(room=room, name=name, conn=conn):
            events.notify_presence(room=room, event=PresenceLeave(name=name, version=version))
    except RedisError as exc:
        log.info("presence leave in room %s not recorded (expires instead): %s", room, exc)


async def presence_beat(room: str, beat: presence.Beat) -> None:
    """Announce what a heartbeat found: names back after expiring, names whose worker died."""
    for name in beat.back:
        events.notify_presence(room=room, event=PresenceJoin(name=name, version=beat.version))
    for name in beat.gone:
        events.notify_presence(room=room, event=PresenceLeave(name=name, version=beat.version))


async def heartbeat_forever() -> None:
    """The worker's presence heartbeat, announcing who came back and who is gone."""
    await presence.beat_forever(presence_beat)
