"""`manage.py purge_messages`: delete stored messages by room and/or age, after confirming."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from datetime import datetime
from typing import Any, TypeVar

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.infra.clients import close_all
from chat.messages import purging
from chat.protocol import ProtocolError, validate_room

T = TypeVar("T")


async def _closing(work: Awaitable[T]) -> T:
    try:
        return await work
    finally:
        await close_all()


class Command(BaseCommand):
    help = "Delete stored messages (all, one --room, and/or --before a date); asks first."
    # Like createsuperuser: callers (tests) may pass a stdin that claims to be a terminal.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--room", default=None, help="only this room")
        parser.add_argument(
            "--before",
            default=None,
            metavar="DATE",
            help="only messages older than this ISO date/datetime (naive = UTC)",
        )
        parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args: Any, **options: Any) -> None:
        room, before = self._filters(options)
        scope = purging.describe(room=room, before=before)
        count = asyncio.run(_closing(purging.count_matching(room=room, before=before)))
        self.stdout.write(f"{count} messages {scope}.")
        if count == 0:
            return
        if not options["yes"] and not self._confirmed(count, options.get("stdin", sys.stdin)):
            self.stdout.write("Nothing deleted.")
            return
        deleted = asyncio.run(_closing(purging.purge(room=room, before=before)))
        self.stdout.write(self.style.SUCCESS(f"Deleted {deleted} messages."))

    def _filters(self, options: dict[str, Any]) -> tuple[str | None, datetime | None]:
        try:
            room = validate_room(options["room"]) if options["room"] is not None else None
        except ProtocolError as exc:
            raise CommandError(f"--room: {exc.message}") from None
        try:
            before = (
                purging.parse_before(options["before"]) if options["before"] is not None else None
            )
        except ValueError as exc:
            raise CommandError(f"--before: {exc}") from None
        return room, before

    def _confirmed(self, count: int, stdin: Any) -> bool:
        if not (hasattr(stdin, "isatty") and stdin.isatty()):
            raise CommandError("not running in a terminal: pass --yes to delete without asking")
        try:
            answer = input(f"Delete {count} messages? [y/N] ")
        except (EOFError, KeyboardInterrupt):
            return False
        return answer.strip().lower() in {"y", "yes"}
