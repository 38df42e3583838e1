"""`manage.py upgradekeys`: move Redis keys of an older version to their hash-tagged names."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from chat.management import closing
from chat.scheduled import upgrade


class Command(BaseCommand):
    help = (
        "Move scheduled messages from chat:sched:* to chat:{sched}:* (schedulers do it when "
        "they start); run it once every host runs this version. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        moved = closing.run(upgrade.migrate_legacy_keys)
        self.stdout.write(self.style.SUCCESS(f"{moved} keys moved."))
