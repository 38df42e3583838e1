"""`manage.py queue_consume`: the seed's consumer app; now and then slower than the visibility."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from chat.management import queuedemo
from chat.management.argtypes import non_negative, positive_int
from chat.queues import demo


class Command(BaseCommand):
    help = (
        "Receive from the queues and acknowledge; a share of messages (--slow) takes longer "
        "than the visibility, so they come back and their late ack is refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        queuedemo.add_arguments(parser)
        parser.add_argument("--visibility", type=positive_int, default=2, help="seconds")
        parser.add_argument("--slow", type=non_negative(float), default=0.1, help="share, 0-1")
        parser.add_argument("--until-acked", type=positive_int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        tally = queuedemo.run(
            options,
            demo.consume,
            visibility_s=options["visibility"],
            slow_chance=options["slow"],
            until_acked=options["until_acked"],
        )
        queuedemo.say(
            f"queue_consume: {tally.acked} acked, {tally.stale} too late, "
            f"{tally.redelivered} received again"
        )
