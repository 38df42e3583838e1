"""`manage.py queue_produce`: the seed's producer app, sending to queues at random intervals."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from chat.management import queuedemo
from chat.management.argtypes import non_negative, positive_int
from chat.queues import demo


class Command(BaseCommand):
    help = "Send messages to random queues (3 by default) at random intervals over the API."

    def add_arguments(self, parser: CommandParser) -> None:
        queuedemo.add_arguments(parser)
        parser.add_argument("--count", type=positive_int, default=None, help="stop after this many")
        parser.add_argument("--min-interval", type=non_negative(float), default=0.05)
        parser.add_argument("--max-interval", type=non_negative(float), default=0.5)
        parser.add_argument("--visibility", type=positive_int, default=2, help="for new queues")

    def handle(self, *args: Any, **options: Any) -> None:
        interval_s = (options["min_interval"], options["max_interval"])
        tally = queuedemo.run(options, demo.produce, count=options["count"], interval_s=interval_s)
        queuedemo.say(f"queue_produce: {tally.produced} produced")
