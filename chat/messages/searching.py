"""Search pages from the trigram index (chat.messages.searchindex), by key only.

The seqs above the newest sealed unit (fewer than 64 when sealing keeps up) are read and
matched as the bounded walk does; below, each unit's trigram documents narrow the seqs to
read, and the text decides (chat.messages.trigrams). A query under three characters, or a
room whose index cannot tell, is the bounded walk's (`pages.search`).
"""

from __future__ import annotations

from dataclasses import dataclass

from chat.messages import pages, roomfigures, trigrams
from chat.messages.documents import SEARCH_TOKENS, token_key
from chat.messages.searchindex import LEVELS, bounds, markers, unit_of
from chat.ops import metrics
from chat.protocol import MessageOut

# A query's trigrams looked up (rarest first); the text decides the rest.
_GRAMS = 4
# Units of one level looked up together.
_WINDOW = 64
# Markers probed for the newest sealed unit of a level: a few first (it is usually right
# below the newest seq), then windows, then the room is the walk's.
_PROBES = (4, _WINDOW, _WINDOW, _WINDOW)
_VERIFY_WINDOW = 64
_UPPER = len(LEVELS) - 1


@dataclass(frozen=True)
class Sealed:
    """How far a room's index reaches: the newest sealed unit of each level (-1: none)."""

    units: tuple[int, ...]

    def end(self, level: int | None = None) -> int:
        """The last seq the index covers (at `level`, or at any); 0 when none."""
        levels = range(len(LEVELS)) if level is None else [level]
        return max((bounds(n, self.units[n])[1] for n in levels if self.units[n] >= 0), default=0)


async def _newest(room: str, level: int, *, top: int, floor: int) -> int | None:
    """The newest sealed unit of a level from unit `top` down to `floor`; -1 when none is,
    None when the probes end first."""
    for size in _PROBES:
        if top < floor:
            return -1
        got = await markers(
            room, [(level, n) for n in range(top, max(floor, top - size + 1) - 1, -1)]
        )
        if got:
            return max(n for _, n in got)
        top -= size
    return -1 if top < floor else None


async def sealed(room: str, *, first: int, last: int) -> Sealed | None:
    """How far the room's index reaches below `last`; None when it cannot tell."""
    complete = (last + 1) // LEVELS[_UPPER] - 1  # the newest top-level unit all handed out
    upper = await _newest(room, _UPPER, top=complete, floor=unit_of(first, _UPPER))
    if upper is None:
        return None
    floor = max(first, bounds(_UPPER, upper)[1] + 1 if upper >= 0 else 0)
    below = await _newest(room, 0, top=(last + 1) // LEVELS[0] - 1, floor=unit_of(floor, 0))
    return Sealed((-1 if below is None else below, upper))


async def _candidates(room: str, level: int, units: list[int], grams: list[str]) -> list[int]:
    """The seqs of these units whose text holds every one of `grams`, descending."""
    masks = {unit: (1 << LEVELS[level]) - 1 for unit in units}
    for gram in grams:
        if not masks:
            break
        keys = [token_key(room, level, unit, gram) for unit in masks]
        got = {int(d["unit"]): trigrams.decode(d) for d in await pages.by_ids(SEARCH_TOKENS, keys)}
        masks = {unit: mask & got[unit] for unit, mask in masks.items() if mask & got.get(unit, 0)}
    start = {unit: bounds(level, unit)[0] for unit in masks}
    return sorted(
        (
            start[unit] + offset
            for unit, mask in masks.items()
            for offset in trigrams.offsets_of(mask)
        ),
        reverse=True,
    )


@metrics.mongo_op("search")
async def search(
    room: str, *, text: str, before_seq: int | None, limit: int, top: int | None = None
) -> pages.SearchPage:
    """The newest `limit` messages below `before_seq` containing `text` in any case; a page
    reads at most about SEARCH_SCAN messages (the unindexed newest and the candidates)."""
    grams = trigrams.of_query(text, most=_GRAMS)
    first, last = await roomfigures.seq_span(room, top=top)
    index = await sealed(room, first=first, last=last) if grams else None
    if index is None:
        return await pages.search(room, text=text, before_seq=before_seq, limit=limit, top=top)
    high = last if before_seq is None else min(last, before_seq - 1)
    want, budget = limit + 1, pages.SEARCH_SCAN
    covered = index.end()
    found, low = await pages.scan(
        room, text=text, high=high, low=max(first, covered + 1), want=want, budget=budget
    )
    budget -= high + 1 - low
    at = min(high, low - 1)  # the newest seq not looked at yet
    if at > covered:  # stopped above the index: enough found, or the budget spent
        return _page(found, limit=limit, at=at, first=first)
    # Newest first: the small units above the top level's newest, then the top level's.
    for level in range(len(LEVELS)):
        floor = first if level == _UPPER else max(first, index.end(_UPPER) + 1)
        while len(found) < want and budget > 0 and at >= floor:
            newest = unit_of(at, level)
            oldest = max(unit_of(floor, level), newest - _WINDOW + 1)
            seqs = await _candidates(room, level, list(range(newest, oldest - 1, -1)), grams)
            seqs = [seq for seq in seqs if floor <= seq <= at]
            hits, stopped = await _verify(room, text, seqs, want=want - len(found), budget=budget)
            found += hits
            budget -= len(seqs) if stopped is None else seqs.index(stopped) + 1
            at = bounds(level, oldest)[0] - 1 if stopped is None else stopped - 1
    return _page(found, limit=limit, at=at, first=first)


def _page(found: list[MessageOut], *, limit: int, at: int, first: int) -> pages.SearchPage:
    """A page of `found`, the walk having looked at every seq above `at`."""
    if len(found) > limit:
        return pages.SearchPage(found[:limit], True, found[limit - 1].seq)
    more = at >= first
    return pages.SearchPage(found, more, at + 1 if more else None)


async def _verify(
    room: str, text: str, seqs: list[int], *, want: int, budget: int
) -> tuple[list[MessageOut], int | None]:
    """The messages at these candidate seqs (descending) that hold `text`, until `want` are
    found or `budget` read: (found, the last seq read when that left some unread)."""
    found: list[MessageOut] = []
    for at in range(0, len(seqs), _VERIFY_WINDOW):
        window = seqs[at : at + _VERIFY_WINDOW]
        got = await pages.get(room, window)
        found += [
            got[seq].message
            for seq in window
            if seq in got and trigrams.matches(text, got[seq].message.text)
        ]
        left = at + len(window) < len(seqs)
        if left and (len(found) >= want or at + len(window) >= budget):
            return found, window[-1]
    return found, None
