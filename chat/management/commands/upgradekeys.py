"""`manage.py upgradekeys`: move Redis keys of an older version to their hash-tagged names."""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand

from chat.infra.clients import close_all
from chat.scheduled import upgrade


class Command(BaseCommand):
    help = (
        "Move scheduled messages from chat:sched:* to chat:{sched}:* (schedulers do it when "
        "they start); run it once every host runs this version. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        moved = asyncio.run(self._move())
        self.stdout.write(self.style.SUCCESS(f"{moved} keys moved."))

    async def _move(self) -> int:
        try:
            return await upgrade.migrate_legacy_keys()
        finally:
            await close_all()
