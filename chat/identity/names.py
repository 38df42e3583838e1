"""Names that look alike fold to one skeleton (Unicode TR39 style), so look-alikes collide.

Pure: the confusables table of `confusable-homoglyphs` (a prototype with the characters that
look like it) is read once, on first use. Only single-character homoglyphs count ("rn" for
"m" does not), and names are compared after NFKC and case folding, so fullwidth `alice`,
`alice` with a Cyrillic `a`, `ALICE` and `aIice` all fold to the skeleton of `alice`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import unicodedata
from importlib import resources

# The table wraps right-to-left characters in LEFT-TO-RIGHT MARKs for display.
_DIRECTION_MARKS = str.maketrans("", "", "\u200e\u200f")


def _fold(text: str) -> str:
    """NFKC case folding: compatibility forms (fullwidth, math letters) and case removed."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _load_table() -> dict[str, list[str]]:
    """Each character of the table with its single-character homoglyphs."""
    raw = json.loads(
        resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
    )
    table: dict[str, list[str]] = {}
    for char, homoglyphs in raw.items():
        char = char.translate(_DIRECTION_MARKS)
        if len(char) != 1:
            continue
        glyphs = (entry["c"].translate(_DIRECTION_MARKS) for entry in homoglyphs)
        table[char] = [glyph for glyph in glyphs if len(glyph) == 1]
    return table


def _preference(char: str) -> tuple[bool, bool, int]:
    """Which member names a class: an ASCII lower-case letter, else ASCII, else the lowest."""
    return (not (char.isascii() and char.islower()), not char.isascii(), ord(char))


@functools.cache
def _representatives() -> dict[str, str]:
    """Character -> the representative of its class of look-alikes (only non-trivial ones)."""
    parent: dict[str, str] = {}
    has_ascii: dict[str, bool] = {}

    def find(char: str) -> str:
        if char not in parent:
            parent[char] = char
            has_ascii[char] = char.isascii()
        root = char
        while parent[root] != root:
            root = parent[root]
        while parent[char] != root:
            parent[char], char = root, parent[char]
        return root

    def union(a: str, b: str) -> None:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[root_a] = root_b
            has_ascii[root_b] = has_ascii[root_b] or has_ascii[root_a]

    # The table is a star per prototype (it lists its look-alikes, each lists it), so
    # joining every entry with its homoglyphs gives TR39's classes and never chains them.
    table = _load_table()
    for char, homoglyphs in table.items():
        for glyph in homoglyphs:
            union(char, glyph)
    # Names are folded before lookup, so a class must also hold its members' folded forms:
    # `I` looks like `l`, and `aIice` arrives as `aiice`. ASCII letters join their other case
    # always; other case pairs only where that does not join two classes with ASCII members,
    # which chains would: capital gamma looks like Cyrillic capital ghe, whose small form
    # looks like `r`, while small gamma looks like `y`; unchecked, r, t, u, y, z become one.
    for char in map(chr, range(ord("A"), ord("Z") + 1)):
        union(char, char.lower())
    for char in sorted(table):
        folded = _fold(char)
        if len(folded) != 1 or folded == char:
            continue
        root_a, root_b = find(char), find(folded)
        if root_a != root_b and not (has_ascii[root_a] and has_ascii[root_b]):
            union(char, folded)

    classes: dict[str, list[str]] = {}
    for char in parent:
        classes.setdefault(find(char), []).append(char)
    representatives: dict[str, str] = {}
    for members in classes.values():
        if len(members) > 1:
            chosen = min(members, key=_preference)
            representatives.update(dict.fromkeys(members, chosen))
    return representatives


def skeleton(name: str) -> str:
    """The form two names share when they look alike: folded, each character its class's."""
    representatives = _representatives()
    return "".join(representatives.get(char, char) for char in _fold(name))


def name_key(name: str) -> str:
    """A fixed-size index key for the skeleton (NFKC can make a short name very long)."""
    return hashlib.sha256(skeleton(name).encode("utf-8")).hexdigest()
