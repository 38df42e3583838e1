"""`manage.py migrate_store`: bring stored messages into the seq-keyed store shape."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from chat.management import closing
from chat.messages import migration, store


class Command(BaseCommand):
    help = (
        "Copy messages of the earlier store shape under ids derived from room and seq, "
        "with progress; runchat does the same before serving. Then builds the search index "
        "for messages stored before it, with progress. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        copied = closing.run(self._migrate)
        self.stdout.write(self.style.SUCCESS(f"{copied} messages migrated; the store is current."))

    async def _migrate(self) -> int:
        copied = await migration.migrate_store(self._progress)
        await store.ensure_indexes()
        sealed = await migration.build_search_index(self._index_progress)
        if sealed:
            self.stdout.write(f"search index: {sealed} units sealed")
        return copied

    def _progress(self, done: int, total: int) -> None:
        self.stdout.write(f"{done}/{total} messages copied")

    def _index_progress(self, room: str, at: int, high: int) -> None:
        self.stdout.write(f"search index of {room}: seq {at} of {high}")
