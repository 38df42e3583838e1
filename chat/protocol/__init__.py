"""The wire protocol, pure: limits and codes (base), incoming frames (incoming), outgoing
events (outgoing), what crosses the channel layer (layer). Import from here."""

from __future__ import annotations

from chat.protocol import base, incoming, outgoing
from chat.protocol.base import *  # noqa: F403
from chat.protocol.incoming import *  # noqa: F403
from chat.protocol.outgoing import *  # noqa: F403

__all__ = [*base.__all__, *incoming.__all__, *outgoing.__all__]
