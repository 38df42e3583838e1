"""Run a command beside local Redis and FerretDB servers, then stop them.

    python tools/localstack.py [--private] [--cluster] -- COMMAND...

Without --private (``make run``): Redis on 6390 and FerretDB on 27117 with data under
var/, unless REDIS_URL / MONGO_URL point elsewhere, in which case that server is not
started. With --private (``make test``): both on free ports with throw-away data.
With --cluster, a private 6-node Redis Cluster (tools/rediscluster.py) replaces the single
Redis. The command gets REDIS_URL and MONGO_URL in its environment; Ctrl-C stops it first,
then the servers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FERRETDB = ROOT / "var" / "bin" / "ferretdb"
REDIS_PORT = 6390
MONGO_PORT = 27117


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerStartError(RuntimeError):
    """A server exited at start or never listened on its port."""


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], name: str, timeout: float = 20
) -> None:
    """Return once the port accepts connections; fail if the server dies or never listens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(
                f"localstack: {name} exited with {process.returncode}; see its log"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise ServerStartError(f"localstack: {name} did not listen on {port} within {timeout:.0f}s")


def start(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start a server in its own session so a terminal's Ctrl-C reaches only the command."""
    out = log.open("ab")
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_redis(
    port: int,
    data: Path,
    *,
    persistent: bool,
    log: Path | None = None,
    extra: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """Start redis-server on 127.0.0.1:port with its files under data/redis; wait until it listens.

    Snapshots are always off; `persistent` turns the append-only file on (``make run``);
    `extra` adds options (a cluster node's, tools/rediscluster.py).
    """
    (data / "redis").mkdir(parents=True, exist_ok=True)
    redis = start(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data / "redis"),
            "--save",
            "",
            "--appendonly",
            "yes" if persistent else "no",
            *extra,
        ],
        log or data / "redis.log",
    )
    try:
        wait_for_port(port, redis, "redis-server")
    except BaseException:
        stop(redis)
        raise
    return redis


def start_ferretdb(
    port: int, data_dir: Path, *, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start FerretDB on 127.0.0.1:port with its SQLite files in data_dir; wait until it listens."""
    ferret = start(
        [str(FERRETDB), "-listen", f"127.0.0.1:{port}", "-dir", str(data_dir)],
        log or data_dir.parent / "ferretdb.log",
    )
    try:
        wait_for_port(port, ferret, "ferretdb")
    except BaseException:
        stop(ferret)
        raise
    return ferret


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--private", action="store_true", help="free ports, temporary data")
    parser.add_argument("--cluster", action="store_true", help="a 6-node Redis Cluster")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")

    if args.private:
        data = Path(tempfile.mkdtemp(prefix="chatsite-test-"))
        redis_port, mongo_port = free_port(), free_port()
    else:
        data = ROOT / "var"
        redis_port, mongo_port = REDIS_PORT, MONGO_PORT
    env = dict(os.environ)
    servers: list[subprocess.Popen[bytes]] = []
    cluster = None
    try:
        if args.cluster:
            from rediscluster import ClusterNodes, redis_cluster  # tools/ is this script's path

            cluster = redis_cluster(data / "cluster")
            nodes: ClusterNodes = cluster.__enter__()
            env["REDIS_URL"] = nodes.url
        elif args.private or not os.environ.get("REDIS_URL"):
            servers.append(start_redis(redis_port, data, persistent=not args.private))
            env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        if args.private or not os.environ.get("MONGO_URL"):
            servers.append(start_ferretdb(mongo_port, data / "ferretdb"))
            env["MONGO_URL"] = f"mongodb://127.0.0.1:{mongo_port}/"
        print(f"localstack: REDIS_URL={env['REDIS_URL']} MONGO_URL={env['MONGO_URL']}", flush=True)

        child = subprocess.Popen(command, env=env)

        def forward(signum: int, frame: object) -> None:
            if child.poll() is None:
                child.send_signal(signum)

        signal.signal(signal.SIGINT, forward)
        signal.signal(signal.SIGTERM, forward)
        return child.wait()
    except ServerStartError as exc:
        raise SystemExit(str(exc)) from None
    finally:
        for server in reversed(servers):
            stop(server)
        if cluster is not None:
            cluster.__exit__(None, None, None)
        if args.private:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
