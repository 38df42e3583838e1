"""Identity of the serving process, shown to clients in `welcome.worker`."""

from __future__ import annotations

import functools
import os


@functools.cache
def worker_id() -> str:
    """`<slot>-<pid>`: the slot runchat gave this process, and its pid (new after a restart)."""
    return f"{os.environ.get('CHAT_WORKER_SLOT', 'w0')}-{os.getpid()}"
