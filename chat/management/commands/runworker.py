"""`manage.py runworker`: run background jobs from the queue in a process of their own."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from chat.infra.clients import close_all
from chat.jobs.worker import default_name, run_worker
from chat.management.argtypes import positive_int

log = logging.getLogger("chat.runworker")


async def serve(*, name: str, concurrency: int) -> None:
    """Run the worker until SIGTERM/SIGINT, then let each slot finish or release its job."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await run_worker(stop, name=name, concurrency=concurrency)
    finally:
        await close_all()


class Command(BaseCommand):
    help = (
        "Run background jobs (exports, stats); any number may run, each queue entry goes to "
        "one of them. On SIGTERM/SIGINT the jobs in hand finish or go back to the queue."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--concurrency",
            type=positive_int,
            default=None,
            help=f"jobs run at once (default CHAT_JOB_CONCURRENCY={settings.CHAT_JOB_CONCURRENCY})",
        )
        parser.add_argument("--name", default=None, help="worker name (default jobs-<host>-<pid>)")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"] or default_name()
        concurrency = options["concurrency"] or settings.CHAT_JOB_CONCURRENCY
        self.stdout.write(f"runworker: {name} running jobs, {concurrency} at a time")
        self.stdout.flush()
        asyncio.run(serve(name=name, concurrency=concurrency))
        log.info("runworker %s stopped", name)
