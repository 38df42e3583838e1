"""REDIS_URL forms (chat.infra.redisurl): a server, a cluster, a sentinel set."""

from __future__ import annotations

import pytest

from chat.infra.redisurl import CLUSTER_LAYER, SERVER_LAYER, channel_layer, parse


def test_a_plain_url_is_one_server_and_the_layer_config_is_unchanged() -> None:
    target = parse("redis://127.0.0.1:6390/0")
    assert (target.kind, target.is_cluster) == ("server", False)
    assert channel_layer(target) == {
        "BACKEND": SERVER_LAYER,
        "CONFIG": {"hosts": ["redis://127.0.0.1:6390/0"]},
    }


def test_a_cluster_url_lists_its_nodes_and_picks_the_sharded_layer() -> None:
    target = parse("rediss+cluster://:s%40cret@10.0.0.1:7000,10.0.0.2:7001/")
    assert target.kind == "cluster" and target.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 7001))
    assert target.auth() == {"password": "s@cret", "ssl": True}
    assert channel_layer(target) == {
        "BACKEND": CLUSTER_LAYER,
        "CONFIG": {
            "nodes": [["10.0.0.1", 7000], ["10.0.0.2", 7001]],
            "options": {"password": "s@cret", "ssl": True},
        },
    }


def test_a_sentinel_url_names_its_service_and_database() -> None:
    target = parse("redis+sentinel://app:pw@s1:26379,s2:26379/chat/2")
    assert (target.kind, target.service, target.db) == ("sentinel", "chat", 2)
    assert (target.username, target.password) == ("app", "pw")
    host = channel_layer(target)["CONFIG"]["hosts"][0]
    assert host["sentinels"] == [("s1", 26379), ("s2", 26379)] and host["master_name"] == "chat"


@pytest.mark.parametrize(
    "url",
    [
        "http://x:1/",
        "redis+cluster:///",
        "redis+cluster://a:1,b/",
        "redis+cluster://a:1/3",
        "redis+sentinel://a:1/",
        "redis+shard://a:1/",
    ],
)
def test_a_malformed_url_fails_at_start(url: str) -> None:
    with pytest.raises(ValueError, match="REDIS_URL"):
        parse(url)
