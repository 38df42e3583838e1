"""The weighted round that decides which priority a worker slot takes from first."""

from __future__ import annotations

from collections import Counter

import pytest

from chat.jobs.priorities import PRIORITIES, ROUND, order


def test_every_seven_takes_start_4_high_2_normal_1_low() -> None:
    assert Counter(order(turn)[0] for turn in range(7)) == {"high": 4, "normal": 2, "low": 1}


@pytest.mark.parametrize("turn", range(14))
def test_each_take_falls_through_every_priority_in_rank_order(turn: int) -> None:
    tried = order(turn)
    assert sorted(tried, key=PRIORITIES.index) == list(PRIORITIES)
    assert tried[0] == ROUND[turn % 7]
    assert [p for p in tried[1:]] == [p for p in PRIORITIES if p != tried[0]]


def simulate(waiting: dict[str, int], takes: int) -> list[str]:
    """Which priority each take of one slot served."""
    left, served = dict(waiting), []
    for turn in range(takes):
        for priority in order(turn):
            if left[priority]:
                left[priority] -= 1
                served.append(priority)
                break
    return served


def test_a_flood_of_high_jobs_does_not_starve_low() -> None:
    """1000 high and 10 low waiting: the ten low are all taken within the first 70 takes."""
    served = simulate({"high": 1000, "normal": 0, "low": 10}, 70)
    assert served.count("low") == 10


def test_an_idle_priority_gives_its_turns_to_the_others() -> None:
    assert simulate({"high": 0, "normal": 0, "low": 5}, 5) == ["low"] * 5
    assert simulate({"high": 3, "normal": 3, "low": 3}, 9) == [
        "high",
        "normal",
        "high",
        "low",
        "high",
        "normal",
        "normal",
        "low",
        "low",
    ]
