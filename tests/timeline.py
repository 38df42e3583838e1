"""The page's delivery rules (static/chat/timeline.js's Timeline) for Python clients.

A line-by-line port, so the test client (tests/reliable_client.py) shows, fetches and
settles seqs as the page does; tests/cases/timeline.json holds cases both run
(tests/unit/test_timeline_cases.py, tests/js/timeline_cases.test.mjs), which is what keeps
the two from drifting apart. Times are in whatever unit the caller's clock and options use.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any

INF = math.inf


def is_seq(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def history_kind(event: dict[str, Any]) -> str | None:
    """timeline.js's historyKind: which page a `history` event is, from its cursor."""
    if event.get("around_seq") is not None:
        return "around"
    if event.get("after_seq") is not None:
        return "after"
    if event.get("before_seq") is not None:
        return "older"
    if "after_seq" in event or "before_seq" in event:
        return "newest"
    return None


@dataclass
class Hole:
    final: bool
    recheck_at: float


@dataclass
class Wait:
    lo: int
    hi: int
    until: float


@dataclass
class HistoryResult:
    kind: str
    answered: bool
    fresh: list[dict[str, Any]]
    cleared: bool


@dataclass
class Timeline:
    gap_wait: float = 1000
    hole_recheck: float = 6000
    error_pause: float = 5000
    max_page: int = 200
    shown: set[int] = field(default_factory=set)
    holes: dict[int, Hole] = field(default_factory=dict)
    known: list[int] = field(default_factory=list)
    floor: int | None = None
    highest: int = 0
    loaded: bool = False
    waits: list[Wait] = field(default_factory=list)
    in_flight: dict[str, Any] | None = None
    resuming: bool = False
    detached: bool = False
    missed_live: int = 0
    paused_until: float = 0

    def clear(self) -> None:
        self.shown, self.holes, self.known = set(), {}, []
        self.floor, self.highest, self.loaded = None, 0, False
        self.waits, self.in_flight, self.resuming = [], None, False
        self.detached, self.missed_live = False, 0

    def has(self, seq: int) -> bool:
        return seq in self.shown

    def is_hole(self, seq: int) -> bool:
        return seq in self.holes

    def resume_after(self) -> int | None:
        return self.highest if self.loaded and not self.detached else None

    def gaps(self) -> list[tuple[int, int]]:
        if self.floor is None:
            return []
        start = bisect.bisect_left(self.known, self.floor) + 1
        return [
            (self.known[i - 1], self.known[i])
            for i in range(start, len(self.known))
            if self.known[i] - self.known[i - 1] > 1
        ]

    def hole_list(self) -> list[int]:
        return sorted(self.holes)

    def final_holes(self) -> list[int]:
        return [seq for seq in self.hole_list() if self.holes[seq].final]

    def connected(self, resumed: bool) -> None:
        self.in_flight = None
        self.resuming = bool(resumed)
        self.paused_until = 0

    def disconnected(self) -> None:
        self.in_flight = None
        self.resuming = False

    def receive_live(self, seq: Any, now: float) -> dict[str, Any]:
        if not is_seq(seq):
            return {"added": False, "before": None}
        if self.detached:
            if seq > self.highest:
                self.missed_live += 1
            return {"added": False, "before": None, "detached": True}
        newest_before = self.highest
        result = self.show(seq)
        if result["added"] and newest_before > 0 and seq > newest_before + 1:
            self.waits.append(Wait(newest_before, seq, now + self.gap_wait))
        return result

    def receive_history(
        self, event: dict[str, Any], now: float, kind: str | None = None
    ) -> HistoryResult:
        how = kind or history_kind(event) or "newest"
        cleared = how == "around" or (how == "newest" and self.detached)
        if cleared:
            self.clear()
        messages = sorted(
            (m for m in event.get("messages") or [] if is_seq(m.get("seq"))),
            key=lambda m: m["seq"],
        )
        fresh = []
        for message in messages:
            result = self.show(message["seq"])
            if result["added"]:
                fresh.append({"message": message, "before": result["before"]})
        first = messages[0]["seq"] if messages else None
        last = messages[-1]["seq"] if messages else None
        answered = False
        lo: float | None = None
        hi: float | None = None
        if how == "older":
            if first is not None:
                before = event.get("before_seq")
                lo, hi = first, (before - 1 if is_seq(before) else last)
                self.lower_floor(first)
        elif how == "around":
            if first is not None:
                lo, hi = first, last
                self.lower_floor(first)
            self.detached = bool(event.get("has_newer"))
            self.loaded = True
        elif how == "after":
            cursor = int(event.get("after_seq") or 0)
            if not event.get("has_more") or last is not None:
                lo, hi = cursor + 1, (last if event.get("has_more") else INF)
            if first is not None:
                self.lower_floor(first)
            if self.in_flight is not None and self.in_flight["after_seq"] == cursor:
                self.in_flight, answered = None, True
            if self.resuming and not event.get("has_more"):
                self.resuming = False
            if self.detached and not event.get("has_more"):
                self.detached, self.missed_live = False, 0
            self.loaded = True
        else:
            if first is not None:
                lo, hi = first, INF
                self.lower_floor(first)
            self.resuming = False
            self.loaded = True
        if lo is not None and hi is not None:
            self.settle(int(lo), min(hi, self.highest), how, now)
        return HistoryResult(how, answered, fresh, cleared)

    def next_request(self, now: float) -> dict[str, Any] | None:
        if self.in_flight is not None or self.resuming or now < self.paused_until:
            return None
        self.waits = [wait for wait in self.waits if wait.until > now]
        for lo, hi in self.gaps():
            if any(wait.lo < hi and wait.hi > lo for wait in self.waits):
                continue
            return self.ask(lo, min(self.max_page, hi - lo - 1), "gap")
        due = [
            s
            for s in self.hole_list()
            if not self.holes[s].final and self.holes[s].recheck_at <= now
        ]
        if due:
            cursor = due[0] - 1
            up_to = [seq for seq in due if seq - cursor <= self.max_page][-1]
            return self.ask(cursor, up_to - cursor, "recheck")
        return None

    def wake_in(self, now: float) -> float | None:
        if self.in_flight is not None or self.resuming:
            return None
        times: list[float] = []
        if self.gaps():
            times += [wait.until for wait in self.waits]
            if self.paused_until > now:
                times.append(self.paused_until)
        times += [hole.recheck_at for hole in self.holes.values() if not hole.final]
        return max(0.0, min(times) - now) if times else None

    def request_failed(self, now: float) -> None:
        self.in_flight = None
        self.paused_until = now + self.error_pause

    # ---- internals ----

    def ask(self, after_seq: int, limit: int, reason: str) -> dict[str, Any]:
        self.in_flight = {"after_seq": after_seq, "limit": limit, "reason": reason}
        return {"type": "history", "after_seq": after_seq, "limit": limit}

    def show(self, seq: int) -> dict[str, Any]:
        if seq in self.shown:
            return {"added": False, "before": None}
        if seq in self.holes:
            del self.holes[seq]  # a slow write after all: shown in order
        else:
            self.insert_known(seq)
        self.shown.add(seq)
        self.highest = max(self.highest, seq)
        if self.floor is None:
            self.floor = seq
        return {"added": True, "before": self.next_shown_after(seq)}

    def next_shown_after(self, seq: int) -> int | None:
        for known in self.known[bisect.bisect_left(self.known, seq + 1) :]:
            if known in self.shown:
                return known
        return None

    def insert_known(self, seq: int) -> None:
        at = bisect.bisect_left(self.known, seq)
        if at == len(self.known) or self.known[at] != seq:
            self.known.insert(at, seq)

    def lower_floor(self, seq: int) -> None:
        if self.floor is None or seq < self.floor:
            self.floor = seq

    def settle(self, lo: int, hi: float, how: str, now: float) -> None:
        """Every seq in [lo, hi] neither shown nor a hole becomes one; provisional holes
        whose recheck time has come are final once an answer covers them again."""
        if not hi >= lo:
            return
        known = set(self.known)
        final = how == "older"  # old pages: a failed send there is long settled
        for seq in range(lo, int(hi) + 1):
            if seq not in known:
                self.holes[seq] = Hole(final, now + self.hole_recheck)
                self.insert_known(seq)
        start = bisect.bisect_left(self.known, lo)
        for seq in self.known[start:]:
            if seq > hi:
                break
            hole = self.holes.get(seq)
            if hole is not None and not hole.final and hole.recheck_at <= now:
                hole.final = True
