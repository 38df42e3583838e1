"""Which priority a worker slot takes from first: weighted rounds, so low is never starved.

A slot counts its takes; take n starts with ROUND[n % 7] and falls through to the other
priorities in the order high, normal, low when that one is empty. Of every 7 takes while all
three have work, 4 are high, 2 normal and 1 low; an idle priority's turns go to the others.
"""

from __future__ import annotations

from typing import Literal

Priority = Literal["high", "normal", "low"]
PRIORITIES: tuple[Priority, ...] = ("high", "normal", "low")
DEFAULT: Priority = "normal"
ROUND: tuple[Priority, ...] = ("high", "normal", "high", "low", "high", "normal", "high")


def order(turn: int) -> tuple[Priority, ...]:
    """The priorities to try, in order, for the slot's take number `turn`."""
    first = ROUND[turn % len(ROUND)]
    return (first, *(p for p in PRIORITIES if p != first))
