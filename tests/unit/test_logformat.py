"""JSON log lines."""

from __future__ import annotations

import json
import logging

from chatsite.logcontext import ContextFilter, current_id
from chatsite.logformat import JsonFormatter


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("chat.test", logging.WARNING, __file__, 1, msg, args, None)
    rec.__dict__.update(extra)
    return rec


def test_a_line_is_one_json_object_with_the_basics() -> None:
    """Time, level, logger, formatted message and pid."""
    line = JsonFormatter().format(record("worker %s exited", "w1"))
    entry = json.loads(line)
    assert "\n" not in line
    assert (entry["level"], entry["logger"], entry["msg"]) == (
        "WARNING",
        "chat.test",
        "worker w1 exited",
    )
    assert entry["ts"].endswith("+00:00")
    assert isinstance(entry["pid"], int)


def test_extras_are_kept_as_fields() -> None:
    """`extra={"conn": ..., "room": ...}` becomes searchable fields."""
    entry = json.loads(JsonFormatter().format(record("open", conn="c-1", room="lobby")))
    assert (entry["conn"], entry["room"]) == ("c-1", "lobby")


def test_exceptions_are_included() -> None:
    """A traceback stays inside the one line."""
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    entry = json.loads(JsonFormatter().format(rec))
    assert "ValueError: boom" in entry["exc"]


def test_lines_carry_the_id_of_the_request_or_connection_being_served() -> None:
    """The filter stamps `log_id` from the context: `-` outside, the id inside; JSON keeps it."""
    outside = record("idle")
    ContextFilter().filter(outside)
    token = current_id.set("c0ffee123456")
    try:
        inside = record("open conn")
        ContextFilter().filter(inside)
    finally:
        current_id.reset(token)
    assert outside.log_id == "-"
    assert json.loads(JsonFormatter().format(inside))["log_id"] == "c0ffee123456"
