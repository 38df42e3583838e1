"""The search index's pure rules: which trigrams a text and a query have, and their storage."""

from __future__ import annotations

import pytest

from chat.messages import trigrams


@pytest.mark.parametrize(
    ("query", "text", "found"),
    [
        ("DEPLOY went", "the deploy went out", True),
        ("redeploy", "the deploy went out", False),
        ("Price: $5.00 (net)?", "price: $5.00 (NET)? ok", True),
        ("price: $5X00", "Price: $5.00 (net)?", False),
        ("STRASSE", "die Straße", True),
        ("ΣΊΣΥΦΟΣ", "the myth of σίσυφος", True),
        ("日本語", "これは日本語です", True),
    ],
)
def test_a_query_matches_a_text_holding_it_in_any_case(query: str, text: str, found: bool) -> None:
    assert trigrams.matches(query, text) is found
    if found:  # the index never rules out a match
        assert set(trigrams.of_query(query, most=99)) <= trigrams.of_text(text)


def test_a_query_under_three_characters_has_no_trigram() -> None:
    assert trigrams.of_query("ab", most=4) == []
    assert trigrams.of_query("Abc", most=4) == ["abc"]


def test_the_rarest_trigrams_come_first() -> None:
    assert trigrams.of_query("the 42x", most=2) == ["42x", " 42"]
    assert len(trigrams.of_query("no such word anywhere", most=4)) == 4


@pytest.mark.parametrize("offsets", [[], [0], [5, 63], list(range(0, 4096, 3)), [4095]])
def test_offsets_read_back_in_either_form(offsets: list[int]) -> None:
    stored = trigrams.encode(offsets, span=4096)
    mask = trigrams.decode(stored)
    assert trigrams.offsets_of(mask) == sorted(offsets, reverse=True)


def test_dense_offsets_are_a_bitmap_and_sparse_ones_a_list() -> None:
    assert set(trigrams.encode(range(40), span=64)) == {"bits"}
    assert trigrams.encode([1, 2], span=4096) == {"offs": b"\x00\x01\x00\x02"}
    assert len(trigrams.encode(range(0, 4096, 2), span=4096)["bits"]) == 512
