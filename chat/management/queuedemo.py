"""What `queue_produce` and `queue_consume` share: the server, the token, the queues, and
running a demo function until it ends or SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from chat.infra.httpjson import JsonClient
from chat.queues import demo


def add_arguments(parser: CommandParser) -> None:
    """--url, --token, --queues."""
    parser.add_argument(
        "--url",
        default=f"http://127.0.0.1:{settings.CHAT_PORT}",
        help="the chatsite server (default: this one's CHAT_PORT)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("CHAT_QUEUE_TOKEN", ""),
        help="an API token with the `queues` scope (default $CHAT_QUEUE_TOKEN; "
        "make one with `manage.py create_token <user> --scope queues`)",
    )
    parser.add_argument(
        "--queues",
        default=",".join(demo.DEFAULT_QUEUES),
        help=f"comma-separated queue names (default {','.join(demo.DEFAULT_QUEUES)})",
    )


def queues_of(options: dict[str, Any]) -> tuple[str, ...]:
    return tuple(name.strip() for name in options["queues"].split(",") if name.strip())


def run(
    options: dict[str, Any], play: Callable[..., Awaitable[demo.Tally]], **arguments: Any
) -> demo.Tally:
    """Run `play` (demo.produce or demo.consume) on the queues with a client of the server,
    until it returns or a stop signal comes."""
    if not options["token"]:
        raise CommandError("a token is needed: --token or CHAT_QUEUE_TOKEN")

    async def main() -> demo.Tally:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        client = JsonClient(options["url"], token=options["token"])
        try:
            await demo.ensure_queues(client, queues_of(options), visibility_s=options["visibility"])
            return await play(
                client=client, queues=queues_of(options), stop=stop, say=say, **arguments
            )
        finally:
            await client.close()

    return asyncio.run(main())


def say(line: str) -> None:
    """One progress line, flushed at once."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
