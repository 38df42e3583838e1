"""What `REDIS_URL` names: one server, a Redis Cluster, or a Sentinel-watched primary. Pure.

    redis://[user:password@]host:port/db            one server (rediss:// for TLS)
    redis+cluster://[user:password@]h:p[,h:p...]/   a Redis Cluster, any of its nodes
    redis+sentinel://[user:password@]h:p[,h:p...]/<service>[/db]
                                                    the primary the sentinels name `service`

`rediss+cluster://` and `rediss+sentinel://` use TLS. The password is the data nodes';
sentinels are asked without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

Kind = Literal["server", "cluster", "sentinel"]

SERVER_LAYER = "chat.server.channellayer.ChatChannelLayer"
CLUSTER_LAYER = "chat.server.clusterlayer.ClusterChannelLayer"


@dataclass(frozen=True)
class RedisTarget:
    """The parsed `REDIS_URL`: its kind, nodes, and what the clients need besides."""

    kind: Kind
    url: str
    nodes: tuple[tuple[str, int], ...]
    service: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    ssl: bool = False

    @property
    def is_cluster(self) -> bool:
        return self.kind == "cluster"

    def auth(self) -> dict[str, Any]:
        """Connection options every client of the data nodes takes."""
        options: dict[str, Any] = {}
        if self.username:
            options["username"] = self.username
        if self.password:
            options["password"] = self.password
        if self.ssl:
            options["ssl"] = True
        return options


def _node(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"REDIS_URL: {text!r} is not host:port")
    return host.strip("[]"), int(port)


def parse(url: str) -> RedisTarget:
    """Parse REDIS_URL; a malformed one fails loudly at start."""
    scheme, sep, rest = url.partition("://")
    base, _, kind = scheme.partition("+")
    if not sep or base not in ("redis", "rediss") or kind not in ("", "cluster", "sentinel"):
        raise ValueError(f"REDIS_URL: unknown scheme {scheme!r}")
    if not kind:
        return RedisTarget(kind="server", url=url, nodes=())
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username, password = (unquote(user) or None), (unquote(secret) if colon else None)
    nodes = tuple(_node(part) for part in hosts.split(",") if part.strip())
    if not nodes:
        raise ValueError("REDIS_URL: no host:port given")
    parts = [part for part in path.split("/") if part]
    service, db = "", 0
    if kind == "sentinel":
        if not parts:
            raise ValueError("REDIS_URL: redis+sentinel:// needs /<service> after the hosts")
        service = unquote(parts[0])
        db = int(parts[1]) if len(parts) > 1 else 0
    elif parts:
        raise ValueError("REDIS_URL: a cluster has no databases; end it with '/'")
    credentials = {"username": username, "password": password, "ssl": base == "rediss"}
    return RedisTarget(
        "cluster" if kind == "cluster" else "sentinel", url, nodes, service, db, **credentials
    )


def channel_layer(target: RedisTarget) -> dict[str, Any]:
    """The CHANNEL_LAYERS entry for the target: sharded pub/sub on a cluster."""
    if target.kind == "server":
        return {"BACKEND": SERVER_LAYER, "CONFIG": {"hosts": [target.url]}}
    if target.kind == "sentinel":
        host = {"sentinels": list(target.nodes), "master_name": target.service, "db": target.db}
        return {"BACKEND": SERVER_LAYER, "CONFIG": {"hosts": [{**host, **target.auth()}]}}
    return {
        "BACKEND": CLUSTER_LAYER,
        "CONFIG": {"nodes": [list(node) for node in target.nodes], "options": target.auth()},
    }
