"""Argument types shared by the management commands."""

from __future__ import annotations

import argparse


def positive_int(raw: str) -> int:
    """A whole number of at least 1, with a clear message otherwise."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
