"""Deliveries per second with 1, 2 and 3 app hosts behind HAProxy on a local Redis Cluster.

    python tools/bench_hosts.py [--hosts 1,2,3] [--rooms 6] [--receivers 20] [--senders 2]
                                [--messages 200] [--workers 1]

For each host count it starts a private stack (tests/support/multihost.py: a 6-node Redis
Cluster, FerretDB, the runchat hosts with --workers each, HAProxy in front), drives it with
bench/chatbench.py through HAProxy, stops it, and prints one row; then the ratios to the
first row. Everything shares this machine, the load generator too: quote the ratios, not
the absolute figures, and say what else was running.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chatbench import BenchConfig, run_bench  # noqa: E402
from tests.support.multihost import multihost_stack  # noqa: E402


def measure(hosts: int, config: BenchConfig, workers: int) -> dict[str, object]:
    """One run against `hosts` hosts; the bench's result."""
    with multihost_stack(hosts=hosts, workers=workers) as stack:
        run = BenchConfig(**{**config.__dict__, "url": stack.ws_base()})
        return asyncio.run(run_bench(run))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", default="1,2,3")
    parser.add_argument("--rooms", type=int, default=6)
    parser.add_argument("--receivers", type=int, default=20, help="per room")
    parser.add_argument("--senders", type=int, default=2, help="per room")
    parser.add_argument("--messages", type=int, default=200, help="per sender")
    parser.add_argument("--workers", type=int, default=1, help="daphne workers per host")
    args = parser.parse_args()
    config = BenchConfig(
        rooms=args.rooms,
        receivers=args.receivers,
        senders=args.senders,
        messages=args.messages,
        window=20,
        idle_timeout=20.0,
    )
    rows: list[tuple[int, dict[str, object]]] = []
    for hosts in (int(n) for n in args.hosts.split(",")):
        result = measure(hosts, config, args.workers)
        rows.append((hosts, result))
        lat = result["latency_ms"]
        assert isinstance(lat, dict)
        print(
            f"hosts={hosts} deliveries/s={result['deliveries_per_s']} "
            f"delivered={result['deliveries']}/{result['expected']} loss={result['loss']} "
            f"duplicates={result['duplicates']} p50={lat['p50']}ms p99={lat['p99']}ms "
            f"connect_failures={result['connect_failures']}",
            flush=True,
        )
        if result["connect_failures"]:
            # Their deliveries count as loss in the bench's figures: this row is not clean.
            print(f"hosts={hosts}: some clients never connected; the row is not comparable")
    base = rows[0][1]["deliveries_per_s"]
    if isinstance(base, int) and base:
        ratios = ", ".join(f"{h}: {r['deliveries_per_s'] / base:.2f}x" for h, r in rows)  # type: ignore[operator]
        print(f"ratios to {rows[0][0]} host(s): {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
