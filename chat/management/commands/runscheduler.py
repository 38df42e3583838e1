"""`manage.py runscheduler`: deliver scheduled messages from a process of their own."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from typing import Any

from django.core.management.base import BaseCommand

from chat.infra.clients import close_all
from chat.scheduled.loop import run_scheduler

log = logging.getLogger("chat.runscheduler")


async def _serve(owner: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await run_scheduler(stop, owner=owner)
    finally:
        await close_all()


class Command(BaseCommand):
    help = (
        "Deliver scheduled messages when they are due; any number may run beside runchat "
        "(each message is claimed by exactly one). Stops on SIGTERM/SIGINT."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        owner = f"sched-{socket.gethostname()}-{os.getpid()}"
        self.stdout.write(f"runscheduler: {owner} delivering scheduled messages")
        self.stdout.flush()
        asyncio.run(_serve(owner))
        log.info("runscheduler %s stopped", owner)
