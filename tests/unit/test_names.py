"""Which names count as the same name: look-alikes fold to one skeleton."""

from __future__ import annotations

import pytest

from chat.identity.names import name_key, skeleton


@pytest.mark.parametrize(
    ("lookalike", "name"),
    [
        ("\uff41\uff4c\uff49\uff43\uff45", "alice"),  # fullwidth
        ("\u0430lice", "alice"),  # Cyrillic small a
        ("b\u03bfb", "bob"),  # Greek small omicron
        ("aIice", "alice"),  # capital I for small l
        ("ALICE", "alice"),
        ("Alice", "aLiCe"),
        ("\u0410LICE", "alice"),  # Cyrillic capital A, then folded
        ("\u0412ob", "bob"),  # Cyrillic capital ve looks like B
        ("\U0001d41a\U0001d425\U0001d422\U0001d41c\U0001d41e", "alice"),  # mathematical bold
        ("b0b", "bob"),  # digit zero for o
        ("Stra\u00dfe", "STRASSE"),  # case folding, not just lower()
    ],
)
def test_lookalike_names_share_a_skeleton(lookalike: str, name: str) -> None:
    """A name that only looks like another (script, width, case) folds to the same skeleton."""
    assert skeleton(lookalike) == skeleton(name)
    assert name_key(lookalike) == name_key(name)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("alice", "bob"),
        ("alice", "alicia"),
        ("tim", "tom"),
        ("ann", "anna"),
        ("rusty", "tuzzy"),  # classes do not chain through other scripts' case pairs
        ("sam", "pam"),
        ("eve", "3v3"),
        ("bob", "b\u00f6b"),  # a diacritic is a different letter
    ],
)
def test_different_names_stay_different(one: str, other: str) -> None:
    """Names that do not look alike keep different skeletons and keys."""
    assert skeleton(one) != skeleton(other)
    assert name_key(one) != name_key(other)


def test_skeleton_of_a_plain_name_is_the_folded_name() -> None:
    """An ordinary ASCII name without l/I/1 or o/0 look-alikes is just lower-cased."""
    assert skeleton("Bob_Smith-42") == "bob_smith-42"


def test_name_key_is_a_fixed_size_even_for_names_nfkc_expands() -> None:
    """One character can expand to eighteen under NFKC; the key stays 64 hex digits."""
    assert len(skeleton("\ufdfa")) > 10
    assert len(name_key("\ufdfa" * 32)) == 64
