"""Django's Redis cache on whatever REDIS_URL names: a server, a cluster or a sentinel set."""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

from chat.infra.redisurl import parse

_TIMEOUTS = {"socket_connect_timeout": 2, "socket_timeout": 2}


class _Client(RedisCacheClient):
    """Django's client, with a cluster or sentinel client in place of its pool when asked."""

    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        self._target = parse(servers[0])
        self._shared: Any = None

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        target = self._target
        if target.kind == "server":
            return super().get_client(key, write=write)
        if self._shared is None:
            if target.kind == "cluster":
                nodes = [ClusterNode(host, port) for host, port in target.nodes]
                self._shared = RedisCluster(startup_nodes=nodes, **_TIMEOUTS, **target.auth())
            else:
                sentinel = Sentinel(list(target.nodes), **_TIMEOUTS)
                self._shared = sentinel.master_for(
                    target.service, db=target.db, **_TIMEOUTS, **target.auth()
                )
        return self._shared

    def get_many(self, keys: list[Any]) -> dict[Any, Any]:
        client = self.get_client(None)
        if not isinstance(client, RedisCluster):
            return super().get_many(keys)
        # The keys live in different slots: one GET per node, not one MGET.
        values = client.mget_nonatomic(keys)
        return {
            k: self._serializer.loads(v) for k, v in zip(keys, values, strict=True) if v is not None
        }


class ChatRedisCache(RedisCache):
    """RedisCache whose LOCATION may be any REDIS_URL (chat.infra.redisurl)."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _Client
