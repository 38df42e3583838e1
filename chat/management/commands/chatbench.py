"""`manage.py chatbench`: drive a running chat server with many senders and receivers."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench.chatbench import BenchConfig, format_report, run_bench
from chat.management.argtypes import non_negative, positive_int

# BenchConfig's fields the command sets: (name, argument type, help).
_OPTIONS: tuple[tuple[str, Callable[[str], Any], str | None], ...] = (
    ("rooms", positive_int, None),
    ("receivers", positive_int, "per room"),
    ("senders", positive_int, "per room"),
    ("messages", positive_int, "per sender"),
    (
        "rate",
        non_negative(float),
        "messages/s per sender; 0 = as fast as the socket (and --window) allows",
    ),
    (
        "window",
        non_negative(int),
        "unacknowledged messages per sender; 1 = wait for each ack, 0 = no limit",
    ),
    ("size", positive_int, "text length in bytes"),
    (
        "idle_timeout",
        non_negative(float),
        "a receiver stops after this many seconds without a message of this run",
    ),
    ("connect_timeout", non_negative(float), None),
)


class Command(BaseCommand):
    help = (
        "Benchmark a running chat server: deliveries/s, loss, duplicates and latency percentiles."
        " Starts no server."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = BenchConfig()
        parser.add_argument("--url", default=defaults.url, help="server base (ws://HOST:PORT)")
        for name, kind, help_text in _OPTIONS:
            parser.add_argument(
                f"--{name.replace('_', '-')}",
                type=kind,
                default=getattr(defaults, name),
                help=help_text,
            )
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["url"].startswith(("ws://", "wss://")):
            raise CommandError(f"--url must start with ws:// or wss://, got {options['url']!r}")
        config = BenchConfig(url=options["url"], **{name: options[name] for name, *_ in _OPTIONS})
        result = asyncio.run(run_bench(config, None if options["quiet"] else self._progress))
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            for line in format_report(result):
                self.stdout.write(line)

    def _progress(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)
