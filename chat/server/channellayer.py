"""The channel layer: channels_redis's pub/sub layer, whose consumers' channels stay in-process.

With the stock layer every consumer's channel is a Redis subscription of its own (one
SUBSCRIBE round trip per join, under a lock all joins share), an asyncio queue, and two
tasks of Channels' `await_many_dispatch` waiting on it and on the socket, with a new task
per event; every group message is decoded once per member. Nothing here is ever sent to a
consumer's own channel, only to its groups, so `new_local_channel(deliver)` makes a channel
that exists only in this process: a group message that Redis brings is decoded once and
handed to each local member's `deliver` (ChatConsumer puts it on the queue its WebSocket
events arrive on, so one task serves both). Groups still go through Redis, so every process
gets every broadcast as before; channels made by `new_channel()` work as in channels_redis.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close, decode_hosts

Deliver = Callable[[dict[str, Any]], None]


class ChatChannelLayer(RedisPubSubChannelLayer):
    """RedisPubSubChannelLayer plus in-process channels for this process's consumers."""

    # What each event loop gets (chat.server.clusterlayer puts its cluster variant here).
    loop_layer_class: type[_LoopLayer]

    def _get_layer(self) -> _LoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = self.loop_layer_class(
                *self._args, **self._kwargs, channel_layer=self
            )
            _wrap_close(self, loop)
        return layer

    def new_local_channel(self, deliver: Deliver) -> str:
        """A channel name whose group messages this process hands to `deliver`, decoded."""
        return self._get_layer().new_local_channel(deliver)

    def discard_local_channel(self, channel: str) -> None:
        """Stop delivering to a local channel (its consumer ended); idempotent."""
        self._get_layer().local.pop(channel, None)


class _LoopLayer(RedisPubSubLoopLayer):
    def __init__(self, hosts: Any = None, **kwargs: Any) -> None:
        super().__init__(hosts, **kwargs)
        self.local: dict[str, Deliver] = {}
        self._shards = [_Shard(host, self) for host in decode_hosts(hosts)]

    def new_local_channel(self, deliver: Deliver) -> str:
        channel = f"{self.prefix}local.{uuid.uuid4().hex}"
        self.local[channel] = deliver
        return channel

    async def group_add(self, group: str, channel: str) -> None:
        if channel not in self.local:
            await super().group_add(group, channel)
            return
        group_channel = self._get_group_channel_name(group)
        self.groups.setdefault(group_channel, set()).add(channel)
        await self._get_shard(group_channel).subscribe(group_channel)


class _Shard(RedisSingleShardConnection):
    channel_layer: _LoopLayer

    def _receive_message(self, message: dict[str, Any] | None) -> None:
        """channels_redis's delivery, plus local members, in one pass over a group's members."""
        if message is None:
            return
        name = message["channel"]
        if isinstance(name, bytes):
            name = name.decode()
        layer = self.channel_layer
        if name in layer.channels:  # a channel of new_channel(), not a group
            super()._receive_message(message)
            return
        event = None
        for channel in layer.groups.get(name, ()):
            deliver = layer.local.get(channel)
            if deliver is not None:
                if event is None:
                    event = layer.channel_layer.deserialize(message["data"])
                deliver(event)
            elif channel in layer.channels:  # a new_channel() member: as channels_redis does
                layer.channels[channel].put_nowait(message["data"])


ChatChannelLayer.loop_layer_class = _LoopLayer
