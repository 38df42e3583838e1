"""`manage.py runchat`: serve the chat with one daphne process per CPU core."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from chat.infra.clients import close_all
from chat.jobs import records as job_records
from chat.messages import store
from chat.server.runner import Supervisor, bind_listener, prepare_metrics_dir

log = logging.getLogger("chat.runchat")


async def _prepare_store() -> None:
    try:
        await store.ensure_indexes()
        await job_records.ensure_indexes()
    finally:
        await close_all()


class Command(BaseCommand):
    help = (
        "Serve the chat: one listening socket, one daphne worker per core, restarted if they die."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=None, help=f"default {settings.CHAT_HOST}")
        parser.add_argument("--port", type=int, default=None, help=f"default {settings.CHAT_PORT}")
        parser.add_argument(
            "--workers", type=int, default=None, help="daphne processes (default: one per core)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host = options["host"] or settings.CHAT_HOST
        port = options["port"] or settings.CHAT_PORT
        workers = options["workers"] or settings.CHAT_WORKERS or os.cpu_count() or 1
        try:
            asyncio.run(_prepare_store())
        except Exception as exc:  # the workers report not_stored until MongoDB is back
            log.warning("could not create MongoDB indexes yet: %s", exc)
        sock = bind_listener(host, port)
        # The workers write their metrics there, so one scrape of any of them sums them all.
        metrics_dir, own_dir = prepare_metrics_dir(settings.CHAT_METRICS_DIR)
        shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
        # One job worker beside the daphne children unless jobs run elsewhere (docker-compose).
        helpers = (
            {"jobs": [sys.executable, str(settings.BASE_DIR / "manage.py"), "runworker"]}
            if settings.CHAT_JOB_WORKER_IN_RUNCHAT
            else {}
        )
        jobs = " and a job worker" if helpers else ""
        self.stdout.write(f"chatsite: http://{shown}:{port}/ served by {workers} workers{jobs}")
        self.stdout.flush()
        try:
            status = Supervisor(
                sock=sock, workers=workers, metrics_dir=metrics_dir, helpers=helpers
            ).run()
        finally:
            if own_dir:
                shutil.rmtree(metrics_dir, ignore_errors=True)
        raise SystemExit(status)
