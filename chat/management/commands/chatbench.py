"""`manage.py chatbench`: drive a running chat server with many senders and receivers."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench.chatbench import BenchConfig, format_report, run_bench
from chat.management.argtypes import non_negative, positive_int


class Command(BaseCommand):
    help = (
        "Benchmark a running chat server: deliveries/s, loss, duplicates and latency percentiles."
        " Starts no server."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = BenchConfig()
        parser.add_argument("--url", default=defaults.url, help="server base (ws://HOST:PORT)")
        parser.add_argument("--rooms", type=positive_int, default=defaults.rooms)
        parser.add_argument(
            "--receivers", type=positive_int, default=defaults.receivers, help="per room"
        )
        parser.add_argument(
            "--senders", type=positive_int, default=defaults.senders, help="per room"
        )
        parser.add_argument(
            "--messages", type=positive_int, default=defaults.messages, help="per sender"
        )
        parser.add_argument(
            "--rate",
            type=non_negative(float),
            default=defaults.rate,
            help="messages/s per sender; 0 = as fast as the socket (and --window) allows",
        )
        parser.add_argument(
            "--window",
            type=non_negative(int),
            default=defaults.window,
            help="unacknowledged messages per sender; 1 = wait for each ack, 0 = no limit",
        )
        parser.add_argument(
            "--size", type=positive_int, default=defaults.size, help="text length in bytes"
        )
        parser.add_argument(
            "--idle-timeout",
            type=non_negative(float),
            default=defaults.idle_timeout,
            help="a receiver stops after this many seconds without a message of this run",
        )
        parser.add_argument(
            "--connect-timeout", type=non_negative(float), default=defaults.connect_timeout
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["url"].startswith(("ws://", "wss://")):
            raise CommandError(f"--url must start with ws:// or wss://, got {options['url']!r}")
        config = BenchConfig(
            url=options["url"],
            rooms=options["rooms"],
            receivers=options["receivers"],
            senders=options["senders"],
            messages=options["messages"],
            rate=options["rate"],
            window=options["window"],
            size=options["size"],
            idle_timeout=options["idle_timeout"],
            connect_timeout=options["connect_timeout"],
        )
        result = asyncio.run(run_bench(config, None if options["quiet"] else self._progress))
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            for line in format_report(result):
                self.stdout.write(line)

    def _progress(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)
