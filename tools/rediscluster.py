"""A local Redis Cluster of 6 nodes (3 primaries, 3 replicas) on free ports, to break on purpose.

    with redis_cluster(Path("/tmp/x")) as cluster:
        cluster.url                      # redis+cluster://127.0.0.1:P1,.../
        port = cluster.primaries()[0]
        cluster.stop_node(port)          # SIGKILL: its replica is promoted
        cluster.wait_healthy()           # every slot served again
        cluster.start_node(port)         # it comes back as a replica

Used by the multi-host tests (tests/support/multihost.py), the cluster integration tests
and tools/bench_hosts.py, and by `tools/localstack.py --cluster`. Every wait is bounded and
every node is stopped when the block exits, however it exits.
"""

from __future__ import annotations

import importlib.util
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

NODES = 6
NODE_TIMEOUT_MS = 1000
START_TIMEOUT_S = 20.0
HEALTHY_TIMEOUT_S = 30.0


def _free_port(taken: set[int]) -> int:
    """A port whose cluster bus port (+10000) is free too, below the ephemeral range."""
    for _ in range(1000):
        port = random.randint(20000, 29999)
        if port in taken:
            continue
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        taken.add(port)
        return port
    raise RuntimeError("no free port pair for a redis cluster node")


def _localstack() -> ModuleType:
    """tools/localstack.py, whose redis-server start this shares (tools/ is not a package)."""
    name = "chatsite_localstack"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("localstack.py")
        )
        assert spec is not None and spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def cli(port: int, *args: str, timeout: float = 5.0) -> str:
    """redis-cli against one node; its output ('' when the node does not answer)."""
    try:
        done = subprocess.run(
            ["redis-cli", "-p", str(port), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return ""
    return done.stdout if done.returncode == 0 else ""


@dataclass
class ClusterNodes:
    """The nodes' ports, data and processes, with the faults the tests inject."""

    data: Path
    ports: list[int]
    node_timeout_ms: int = NODE_TIMEOUT_MS
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """REDIS_URL naming every node (a client needs one that answers)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports) + "/"

    def start_node(self, port: int) -> None:
        """Start (or restart) one node with its own nodes.conf; wait until it answers."""
        folder = self.data / str(port)
        self.processes[port] = _localstack().start_redis(
            port,
            folder,
            persistent=False,
            log=self.data / f"redis-{port}.log",
            extra=[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                str(self.node_timeout_ms),
                # A shard without a primary must not stop the others (docs/scaling.md).
                "--cluster-require-full-coverage",
                "no",
            ],
        )

    def stop_node(self, port: int, *, hard: bool = True) -> None:
        """SIGKILL (or SIGTERM) one node and wait for it to exit."""
        process = self.processes.pop(port, None)
        if process is None:
            return
        if hard and process.poll() is None:
            process.kill()
            process.wait()
        _localstack().stop(process)

    def stop(self) -> None:
        """Stop every node."""
        for port in list(self.processes):
            self.stop_node(port)

    def live_ports(self) -> list[int]:
        return [p for p, proc in self.processes.items() if proc.poll() is None]

    def _nodes_table(self) -> list[list[str]]:
        for port in self.live_ports():
            text = cli(port, "cluster", "nodes")
            if text:
                return [line.split() for line in text.splitlines() if line.strip()]
        return []

    def primaries(self) -> list[int]:
        """Ports of the primaries that serve slots and are not marked failed."""
        return sorted(
            int(row[1].split("@")[0].rsplit(":", 1)[1])
            for row in self._nodes_table()
            if "master" in row[2] and "fail" not in row[2] and len(row) > 8
        )

    def create(self) -> None:
        """Start every node and join them: 3 primaries, one replica each; wait until healthy."""
        for port in self.ports:
            self.start_node(port)
        done = subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in self.ports),
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout[-800:]}")
        self.wait_healthy()
        # A replica that never finished its first sync does not take over from its primary.
        self.wait_synced()

    def healthy(self) -> bool:
        """Every live node says the cluster is ok, and 3 live primaries serve all slots."""
        live = self.live_ports()
        for port in live:
            if "cluster_state:ok" not in cli(port, "cluster", "info"):
                return False
        serving = self.primaries()
        return len(serving) == NODES // 2 and set(serving) <= set(live)

    def wait_healthy(self, timeout: float = HEALTHY_TIMEOUT_S) -> float:
        """Block until healthy (bounded); how long it took."""
        started = time.monotonic()
        while not self.healthy():
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"redis cluster not healthy within {timeout:.0f}s")
            time.sleep(0.1)
        return time.monotonic() - started

    def wait_synced(self, timeout: float = HEALTHY_TIMEOUT_S) -> None:
        """Block until every live replica has finished its sync with its primary (bounded)."""
        deadline = time.monotonic() + timeout
        for port in self.live_ports():
            while True:
                info = cli(port, "info", "replication")
                if "role:master" in info or "master_link_status:up" in info:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"replica {port} not in sync within {timeout:.0f}s")
                time.sleep(0.1)


@contextmanager
def redis_cluster(data: Path, *, node_timeout_ms: int = NODE_TIMEOUT_MS) -> Iterator[ClusterNodes]:
    """A running 6-node cluster with its files under `data`; every node stopped at exit."""
    taken: set[int] = set()
    ports = [_free_port(taken) for _ in range(NODES)]
    nodes = ClusterNodes(data=data, ports=ports, node_timeout_ms=node_timeout_ms)
    try:
        nodes.create()
        yield nodes
    finally:
        nodes.stop()
