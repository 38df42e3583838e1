"""Pure rules of the integrator queues: names, bounds, bodies."""

from __future__ import annotations

import json
import re
from typing import Any

from chat.errors import ServiceError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_BODY_BYTES = 256 * 1024
MAX_RECEIVE = 100
MAX_WAIT_S = 20
MAX_VISIBILITY_S = 12 * 3600
MAX_DELAY_S = 15 * 60
MAX_RECEIVES = 1000
DEFAULT_VISIBILITY_S = 30
DEFAULT_MAX_RECEIVES = 10


def valid_name(name: str) -> bool:
    """1-64 of letters, digits, '.', '_', '-', starting with a letter or digit (no braces:
    the name is the queue's Redis Cluster hash tag)."""
    return bool(NAME_RE.match(name))


def encode_body(body: Any) -> str:
    """The body as compact JSON text, or ServiceError if it is not JSON or too large."""
    try:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        raise ServiceError("invalid_body", "body must be JSON (no NaN or Infinity)") from None
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise ServiceError("body_too_large", f"body is over {MAX_BODY_BYTES // 1024} KiB as JSON")
    return text


def decode_body(text: str) -> Any:
    """A stored body back as JSON."""
    return json.loads(text)
