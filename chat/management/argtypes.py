"""Argument types shared by the management commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def positive_int(raw: str) -> int:
    """A whole number of at least 1, with a clear message otherwise."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def non_negative(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """A number of `kind` of at least 0, with a clear message otherwise."""

    def parse(raw: str) -> int | float:
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
        if value < 0:
            raise argparse.ArgumentTypeError("must not be negative")
        return value

    return parse
