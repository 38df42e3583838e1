"""`manage.py seed_messages`: fill rooms with generated messages that get real seqs."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.infra.clients import close_all
from chat.management.argtypes import positive_int
from chat.messages import seeding
from chat.protocol import ProtocolError, validate_room


class Command(BaseCommand):
    help = "Create N messages in each of R rooms (seed-1..seed-R, or one --room), with real seqs."

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group()
        target.add_argument(
            "--rooms", type=positive_int, default=1, help="how many rooms (default 1)"
        )
        target.add_argument("--room", default=None, help="seed this one room instead")
        parser.add_argument(
            "--prefix", default="seed", help="room name prefix for --rooms (default seed)"
        )
        parser.add_argument(
            "--messages", type=positive_int, default=1000, help="messages per room (default 1000)"
        )
        parser.add_argument(
            "--batch-size", type=positive_int, default=seeding.BATCH_SIZE, help="per insert"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        names = (
            [options["room"]]
            if options["room"] is not None
            else seeding.room_names(options["prefix"], options["rooms"])
        )
        try:
            rooms = [validate_room(name) for name in names]
        except ProtocolError as exc:
            raise CommandError(exc.message) from None
        written = asyncio.run(self._seed(rooms, options["messages"], options["batch_size"]))
        total, noun = sum(written.values()), "room" if len(rooms) == 1 else "rooms"
        self.stdout.write(self.style.SUCCESS(f"Seeded {total} messages in {len(rooms)} {noun}."))

    async def _seed(self, rooms: list[str], per_room: int, batch_size: int) -> dict[str, int]:
        try:
            return await seeding.seed_messages(
                rooms=rooms, per_room=per_room, batch_size=batch_size, progress=self._progress
            )
        finally:
            await close_all()

    def _progress(self, room: str, done: int, total: int) -> None:
        if self.stdout.isatty():
            self.stdout.write(f"\r{room}: {done}/{total}", ending="\n" if done >= total else "")
        else:
            self.stdout.write(f"{room}: {done}/{total}")
        self.stdout.flush()
