"""Several "hosts" on one machine: 3 runchat instances (each its own port) behind a real
HAProxy (deploy/haproxy.cfg), on a private 6-node Redis Cluster and a private FerretDB.

    with multihost_stack() as stack:
        stack.ws_base()                  # ws://127.0.0.1:<haproxy port>
        stack.kill_host(0)               # SIGKILL a whole runchat process tree
        stack.cluster.stop_node(port)    # a Redis primary gone: its replica is promoted

Everything runs on free ports under one temporary directory and is stopped when the block
exits, however it exits (tests/faultstack.py's rules).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.chatserver import ROOT, ChatServer, run_chat_server
from tests.faultstack import FaultStack, localstack, private_data
from tests.support.tools import load_tool

HAPROXY_CONFIG = ROOT / "deploy" / "haproxy.cfg"
HOSTS = 3
UP_TIMEOUT_S = 30.0


@dataclass
class MultiHostStack(FaultStack):
    """FaultStack's store helpers, with hosts behind HAProxy on a Redis Cluster."""

    cluster: Any = None
    hosts: list[ChatServer] = field(default_factory=list)
    haproxy: subprocess.Popen[bytes] | None = None
    haproxy_port: int = 0

    @property
    def redis_url(self) -> str:
        return str(self.cluster.url)

    @property
    def admin_socket(self) -> Path:
        return self.data / "haproxy.sock"

    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.haproxy_port}"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.haproxy_port}"

    def kill_host(self, index: int) -> ChatServer:
        """SIGKILL one host's whole runchat tree (supervisor, daphne workers, job worker)."""
        host = self.hosts[index]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(host.process.pid, signal.SIGKILL)
        host.process.wait(timeout=10)
        return host

    def log_worker_tasks(self) -> None:
        """Every live host's workers log where their tasks wait (SIGUSR1)."""
        for host in self.hosts:
            if host.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(host.process.pid, signal.SIGUSR1)
        time.sleep(1.0)

    def haproxy_command(self, command: str) -> str:
        """One command on HAProxy's admin socket; its answer."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(2)
            sock.connect(str(self.admin_socket))
            sock.sendall(command.encode() + b"\n")
            text = b""
            while chunk := sock.recv(65536):
                text += chunk
        return text.decode()

    def haproxy_states(self) -> dict[str, str]:
        """server name -> status (UP, DOWN, ...) as HAProxy's admin socket reports it."""
        lines = self.haproxy_command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
        return {
            r["svname"]: r["status"]
            for r in rows
            if r["pxname"] == "chat" and r["svname"] not in ("", "FRONTEND", "BACKEND")
        }

    def wait_for_haproxy(self, up: int, timeout: float = UP_TIMEOUT_S) -> float:
        """Block until exactly `up` servers are in rotation, all fully UP (bounded); how long
        it took. "UP 1/2" is a failing server still taking connections, so it counts too."""
        started = time.monotonic()
        while True:
            with contextlib.suppress(OSError):
                serving = [s for s in self.haproxy_states().values() if s.startswith("UP")]
                if len(serving) == up and all(s == "UP" for s in serving):
                    return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"HAProxy did not see {up} hosts up within {timeout:.0f}s")
            time.sleep(0.1)


def start_haproxy(stack: MultiHostStack) -> subprocess.Popen[bytes]:
    """HAProxy in the foreground with the repo's config, in front of the stack's hosts."""
    stack.haproxy_port = localstack.free_port()
    env = {
        **os.environ,
        "HAPROXY_BIND": f"127.0.0.1:{stack.haproxy_port}",
        "HAPROXY_ADMIN_SOCKET": str(stack.admin_socket),
        # The config names three servers: with fewer hosts the rest point at a closed port
        # (marked down by their first check).
        **{f"CHAT_APP{i + 1}": "127.0.0.1:1" for i in range(HOSTS)},
        **{f"CHAT_APP{i + 1}": f"127.0.0.1:{host.port}" for i, host in enumerate(stack.hosts)},
    }
    log = (stack.data / "haproxy.log").open("ab")
    process = subprocess.Popen(
        ["haproxy", "-db", "-f", str(HAPROXY_CONFIG)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    localstack.wait_for_port(stack.haproxy_port, process, "haproxy")
    return process


@contextmanager
def multihost_stack(
    *, hosts: int = HOSTS, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[MultiHostStack]:
    """Start the cluster, FerretDB, `hosts` runchat instances (`workers` each) and HAProxy;
    stop all of them at exit."""
    with ExitStack() as cleanup:
        data = private_data(cleanup, "chatsite-multihost-")
        port, db = localstack.free_port(), os.environ.get("MONGO_DB", "chatsite")
        stack = MultiHostStack(data=data, redis_port=0, mongo_port=port, mongo_db=db)
        cleanup.callback(stack.stop_mongo)
        stack.start_mongo()
        stack.cluster = cleanup.enter_context(
            load_tool("rediscluster").redis_cluster(data / "cluster")
        )
        chat_env = {
            "REDIS_URL": stack.redis_url,
            "MONGO_URL": stack.mongo_url,
            "MONGO_DB": stack.mongo_db,
            **(env or {}),
        }
        for _ in range(hosts):
            stack.hosts.append(
                cleanup.enter_context(run_chat_server(workers=workers, env=chat_env))
            )
        stack.haproxy = start_haproxy(stack)
        cleanup.callback(localstack.stop, stack.haproxy)
        # HAProxy starts every server UP; the placeholders would take new connections until
        # their checks failed (leastconn favours them: they have none), so they leave now.
        for index in range(hosts, HOSTS):
            stack.haproxy_command(f"set server chat/app{index + 1} state maint")
        stack.wait_for_haproxy(up=hosts)
        yield stack
