"""What the search index keys on: the trigrams of a message's case-folded text, and the
compact form of the seqs holding one (pure; chat.messages.searchindex does the I/O).

A query matches a message when it is a substring of the message's text, both case-folded
(`str.casefold`, Unicode-aware: "STRASSE" matches "Straße"); every substring of three or
more characters has all its trigrams among the text's, so the index narrows the messages to
look at, and the text itself decides. Shorter queries have no trigram: the bounded walk.
"""

from __future__ import annotations

from collections.abc import Iterable

SIZE = 3

# Commonest first; a character missing here (digits, punctuation, other scripts) counts as
# rare. Only to pick which of a query's trigrams to look up first: the rarest rule out most.
_COMMON = " etaoinshrdlcumwfgypbvkjxqz"
_WEIGHT = {ch: len(_COMMON) - rank for rank, ch in enumerate(_COMMON)}


def normalise(text: str) -> str:
    """The form both texts and queries are compared in."""
    return text.casefold()


def of_text(text: str) -> set[str]:
    """Every trigram of a message's text (case-folded)."""
    folded = normalise(text)
    return {folded[i : i + SIZE] for i in range(len(folded) - SIZE + 1)}


def of_query(query: str, *, most: int) -> list[str]:
    """Up to `most` of a query's trigrams, rarest first (none when it is too short)."""
    grams = sorted(of_text(query), key=lambda gram: (sum(_WEIGHT.get(ch, 0) for ch in gram), gram))
    return grams[:most]


def matches(query: str, text: str) -> bool:
    """Whether a message's text holds the query (the rule the index narrows for)."""
    return normalise(query) in normalise(text)


def encode(offsets: Iterable[int], *, span: int) -> dict[str, bytes]:
    """Offsets within a unit of `span` seqs as stored: a bitmap when dense, else the sorted
    offsets as two bytes each (`span` at most 65,536)."""
    ordered = sorted(set(offsets))
    if 2 * len(ordered) >= span // 8:
        bits = 0
        for offset in ordered:
            bits |= 1 << offset
        return {"bits": bits.to_bytes(span // 8, "little")}
    return {"offs": b"".join(offset.to_bytes(2, "big") for offset in ordered)}


def decode(doc: dict[str, object]) -> int:
    """A stored form (`encode`) as a bit mask: bit i set for offset i."""
    bits = doc.get("bits")
    if isinstance(bits, bytes):
        return int.from_bytes(bits, "little")
    raw = doc.get("offs")
    mask = 0
    if isinstance(raw, bytes):
        for i in range(0, len(raw), 2):
            mask |= 1 << int.from_bytes(raw[i : i + 2], "big")
    return mask


def offsets_of(mask: int) -> list[int]:
    """The set bits of a mask, highest first."""
    found = []
    while mask:
        top = mask.bit_length() - 1
        found.append(top)
        mask ^= 1 << top
    return found
