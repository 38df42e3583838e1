"""What chat.server relies on in daphne, autobahn, Twisted and channels_redis beyond their
public API: one test per library, failing when a private name or behaviour it uses goes.

Each also checks the installed version is the one requirements.txt pins, so an upgrade
comes here first (tests/unit/test_daphne_worker.py runs the overrides themselves).
"""

from __future__ import annotations

import inspect
import re
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def pinned(package: str) -> str:
    """The version requirements.txt pins for `package`."""
    text = (ROOT / "requirements.txt").read_text()
    found = re.search(rf"^{re.escape(package)}==(\S+)$", text, re.M | re.I)
    assert found, f"{package} is not pinned in requirements.txt"
    return found.group(1)


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


@pytest.mark.parametrize("package", ["daphne", "channels", "channels-redis"])
def test_the_installed_version_is_the_pinned_one(package: str) -> None:
    """autobahn and Twisted come with daphne's pin; their names are checked below."""
    assert version(package) == pinned(package)


def test_daphne_server_still_makes_its_factory_and_application_as_overridden() -> None:
    """GracefulServer replaces create_application and protocol_disconnected and sets the
    factory's protocol when run() assigns `self.ws_factory`."""
    from daphne.http_protocol import WebRequest
    from daphne.server import Server
    from daphne.ws_protocol import WebSocketProtocol

    assert parameters(Server.create_application) == ["self", "protocol", "scope"]
    assert parameters(Server.protocol_disconnected) == ["self", "protocol"]
    assert parameters(Server.listen_success) == ["self", "port"]
    assert hasattr(Server, "handle_reply")
    run = inspect.getsource(Server.run)
    assert "self.ws_factory = WebSocketFactory(" in run
    assert "self.ws_factory.setProtocolOptions(" in run
    assert "self.connections = {}" in run
    create = inspect.getsource(Server.create_application)
    assert '["application_instance"]' in create and "queue" in create
    # The WebSocket protocol puts frames on the queue create_application made.
    assert "application_queue" in inspect.getsource(WebSocketProtocol.onMessage)
    assert "protocol_disconnected" in inspect.getsource(WebSocketProtocol.onClose)
    assert WebRequest.__mro__[1].__name__ == "Request"


def test_autobahn_protocol_still_copies_its_settings_and_opens_as_overridden() -> None:
    """LeanWebSocketProtocol moves CONFIG_ATTRS to the class and hooks _connectionMade."""
    from autobahn.exception import Disconnected
    from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol

    attrs = WebSocketServerProtocol.CONFIG_ATTRS
    assert {"failByDrop", "maxMessagePayloadSize", "utf8validateIncoming"} <= set(attrs)
    assert callable(WebSocketServerProtocol._connectionMade)
    assert "code" in parameters(WebSocketServerProtocol.sendCloseFrame)
    assert "isReply" in parameters(WebSocketServerProtocol.sendCloseFrame)
    # serverClose sends RFC codes itself while autobahn's sendClose refuses them.
    assert "3000 <= code <= 4999" in inspect.getsource(WebSocketServerProtocol.sendClose)
    assert WebSocketServerProtocol.STATE_OPEN is not None
    assert "failByDrop" in inspect.signature(WebSocketServerFactory.setProtocolOptions).parameters
    assert issubclass(Disconnected, Exception)


def test_twisted_transports_still_buffer_and_produce_as_read() -> None:
    """_buffered_bytes reads dataBuffer, offset and _tempDataLen; the upgraded channel is
    let go with unregisterProducer."""
    from twisted.internet.abstract import FileDescriptor
    from twisted.web.http import HTTPChannel

    descriptor = FileDescriptor()
    assert descriptor.dataBuffer == b"" and descriptor.offset == 0
    assert descriptor._tempDataLen == 0
    assert callable(FileDescriptor.unregisterProducer)
    assert hasattr(HTTPChannel, "transport")


def test_channels_redis_pubsub_still_delivers_through_the_overridden_names() -> None:
    """ChatChannelLayer overrides _get_layer, the loop layer's shards and group_add, and
    the shard's _receive_message (one pass over a group's members)."""
    from channels_redis import utils
    from channels_redis.pubsub import (
        RedisPubSubChannelLayer,
        RedisPubSubLoopLayer,
        RedisSingleShardConnection,
    )

    assert callable(RedisPubSubChannelLayer._get_layer)
    assert callable(utils._wrap_close) and callable(utils.decode_hosts)
    assert parameters(RedisSingleShardConnection._receive_message) == ["self", "message"]
    assert parameters(RedisSingleShardConnection.__init__)[:3] == ["self", "host", "channel_layer"]
    loop_layer = inspect.getsource(RedisPubSubLoopLayer)
    for name in ("self._shards", "self.channels", "self.groups", "_get_group_channel_name"):
        assert name in loop_layer, name
    assert callable(RedisPubSubLoopLayer._get_shard)
    receive = inspect.getsource(RedisSingleShardConnection._receive_message)
    assert "self.channel_layer.channels" in receive and "self.channel_layer.groups" in receive


def test_channels_redis_and_redis_py_still_offer_what_the_cluster_layer_overrides() -> None:
    """ClusterChannelLayer (chat/server/clusterlayer.py) replaces the loop layer's shard
    choice and group channel names, reuses the shard's lock and _receive_message, and reads
    redis-py's sharded pub/sub messages ('smessage', 'sunsubscribe') itself."""
    from channels_redis.pubsub import RedisPubSubLoopLayer, RedisSingleShardConnection
    from redis.asyncio.client import PubSub
    from redis.asyncio.cluster import NodesManager, RedisCluster

    assert parameters(RedisPubSubLoopLayer._get_group_channel_name) == ["self", "group"]
    assert parameters(RedisPubSubLoopLayer._get_shard) == ["self", "channel_or_group_name"]
    init = inspect.getsource(RedisSingleShardConnection.__init__)
    assert "self._lock = asyncio.Lock()" in init and "self.channel_layer" in init
    for name in ("publish", "subscribe", "unsubscribe", "flush"):
        assert callable(getattr(RedisSingleShardConnection, name)), name
    assert callable(RedisCluster.spublish) and callable(RedisCluster.get_node_from_key)
    assert callable(NodesManager.initialize) and callable(RedisCluster.initialize)
    assert callable(PubSub.ssubscribe) and callable(PubSub.sunsubscribe)
    handled = inspect.getsource(PubSub.handle_message)
    assert "smessage" in handled and "sunsubscribe" in handled
    assert "shard_channels" in inspect.getsource(PubSub.__init__)


def test_channels_consumer_still_serves_through_the_names_socketconsumer_replaces() -> None:
    """QueueConsumer (chat/server/queueconsumer.py) runs its own receive loop and dispatch."""
    from channels.consumer import AsyncConsumer, get_handler_name

    assert get_handler_name({"type": "chat.message"}) == "chat_message"
    call = inspect.getsource(AsyncConsumer.__call__)
    for name in ("self.scope", "self.channel_layer", "self.base_send", "self.channel_name"):
        assert name in call, name
    assert AsyncConsumer.channel_layer_alias == "default"
    # What QueueConsumer.dispatch leaves out: a thread hop per event (docs/performance.md).
    assert "aclose_old_connections()" in inspect.getsource(AsyncConsumer.dispatch)


def test_whitenoise_middleware_still_serves_as_the_async_one_copies() -> None:
    """AsyncWhiteNoiseMiddleware (chat/server/staticfiles.py) repeats WhiteNoise's __call__
    on the async path: when that changes, the copy must change with it."""
    from whitenoise.middleware import WhiteNoiseMiddleware

    assert version("whitenoise") == pinned("whitenoise")
    source = inspect.getsource(WhiteNoiseMiddleware.__call__)
    expected = [
        "if self.autorefresh:",
        "static_file = self.find_file(request.path_info)",
        "static_file = self.files.get(request.path_info)",
        "if static_file is not None:",
        "return self.serve(static_file, request)",
        "return self.get_response(request)",
    ]
    assert [line.strip() for line in source.splitlines()[1:] if line.strip() != "else:"] == expected
    assert not getattr(WhiteNoiseMiddleware, "async_capable", False), "WhiteNoise went async"
