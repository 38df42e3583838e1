"""Argument types shared by the management commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def at_least(
    kind: type[int] | type[float], minimum: int, *, what: str, below: str
) -> Callable[[str], int | float]:
    """A number of `kind` of at least `minimum`, with a clear message otherwise."""

    def parse(raw: str) -> int | float:
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not {what}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(below)
        return value

    return parse


positive_int = at_least(int, 1, what="a whole number", below="must be at least 1")


def non_negative(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """A number of `kind` of at least 0."""
    return at_least(kind, 0, what="a number", below="must not be negative")
