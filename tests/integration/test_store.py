"""The MongoDB message store against the real MongoDB-compatible server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from chat.infra.clients import mongo_db
from chat.messages import pages, roomfigures, searchindex, store
from chat.messages.documents import (
    CLIENT_IDS,
    MESSAGES,
    ROOMS,
    SEARCH_TOKENS,
    SEARCH_UNITS,
    client_id_key,
    message_id,
    token_key,
    unit_key,
)
from chat.protocol import MessageOut


def make(room: str, seq: int, text: str = "hello", author: str = "alice") -> MessageOut:
    ts = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seq)
    return MessageOut(id=message_id(room, seq), seq=seq, room=room, author=author, text=text, ts=ts)


async def test_a_stored_message_reads_back_identically(room: str) -> None:
    """What is stored is what history replays, ts included (millisecond precision)."""
    message = make(room, 1, text="<b>x</b> ünïcødé")
    await store.insert_message(message)
    page = await pages.page_before(room, before_seq=None, limit=50)
    assert page.messages == [message]
    assert page.has_more is False


async def test_a_seq_cannot_be_stored_twice_in_a_room(room: str) -> None:
    """The unique (room, seq) index is what makes seq never reused."""
    await store.insert_message(make(room, 1))
    with pytest.raises(store.DuplicateSeq):
        await store.insert_message(make(room, 1, text="again"))
    assert await store.count_messages(room=room) == 1


async def test_the_same_seq_in_another_room_is_fine(room: str) -> None:
    """Sequences are per room."""
    await store.insert_message(make(room, 1))
    await store.insert_message(make(room + "-b", 1))
    assert await pages.max_seq(room) == 1
    assert await pages.max_seq(room + "-b") == 1


async def test_max_seq_is_zero_for_an_empty_room(room: str) -> None:
    """A new room starts its counter at 0."""
    assert await pages.max_seq(room) == 0


async def test_history_pages_walk_back_to_the_first_message(room: str) -> None:
    """Newest page first, then before_seq pages, ascending within a page, has_more until the end."""
    await store.insert_many([make(room, seq) for seq in range(1, 121)])
    newest = await pages.page_before(room, before_seq=None, limit=50)
    assert [m.seq for m in newest.messages] == list(range(71, 121))
    assert newest.has_more is True
    middle = await pages.page_before(room, before_seq=71, limit=50)
    assert [m.seq for m in middle.messages] == list(range(21, 71))
    assert middle.has_more is True
    last = await pages.page_before(room, before_seq=21, limit=50)
    assert [m.seq for m in last.messages] == list(range(1, 21))
    assert last.has_more is False


async def test_a_page_of_exactly_the_rest_has_no_more(room: str) -> None:
    """has_more is false when the page ends exactly at the first message."""
    await store.insert_many([make(room, seq) for seq in range(1, 51)])
    page = await pages.page_before(room, before_seq=None, limit=50)
    assert len(page.messages) == 50
    assert page.has_more is False


async def test_find_messages_filters_by_room_and_text_newest_first(room: str) -> None:
    """Operators search case-insensitively; regex characters are taken literally."""
    await store.insert_many(
        [make(room, 1, "Deploy done"), make(room, 2, "lunch?"), make(room, 3, "deploy (again) $1")]
    )
    found = await store.find_messages(room=room, text="DEPLOY")
    assert [m.seq for m in found] == [3, 1]
    assert [m.seq for m in await store.find_messages(room=room, text="(again) $")] == [3]
    assert await store.count_messages(room=room, text="deploy") == 2


async def test_delete_by_room_and_date_leaves_the_rest(room: str) -> None:
    """Purging old messages keeps newer ones and other rooms."""
    await store.insert_many([make(room, seq) for seq in range(1, 11)])
    await store.insert_message(make(room + "-keep", 1))
    cutoff = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=6)
    assert await store.delete_messages(room=room, before=cutoff) == 5
    assert await store.count_messages(room=room) == 5
    assert await store.count_messages(room=room + "-keep") == 1


async def test_delete_by_ids_ignores_malformed_ids(room: str) -> None:
    """A stale or forged id in the admin form is skipped, not an error."""
    messages = [make(room, seq) for seq in range(1, 4)]
    await store.insert_many(messages)
    assert await store.delete_messages(ids=[messages[0].id, "not-an-id"]) == 1
    assert await store.count_messages(room=room) == 2


async def test_an_unordered_insert_reports_each_duplicate_and_stores_the_rest(room: str) -> None:
    """One insert of four: a taken seq and a resent client_id fail alone, the others land."""
    original = make(room, 1, text="first")
    await store.insert_message(original, client_id="c-1")
    taken_seq, resend, fresh_a, fresh_b = (
        make(room, 1, text="taken seq"),
        make(room, 3, text="resend"),
        make(room, 2, text="a"),
        make(room, 4, text="b"),
    )
    outcomes = await store.insert_messages(
        [(taken_seq, "c-2"), (fresh_a, "c-3"), (resend, "c-1"), (fresh_b, None)]
    )
    assert isinstance(outcomes[0], store.DuplicateSeq)
    assert outcomes[1] is None and outcomes[3] is None
    assert isinstance(outcomes[2], store.DuplicateClientId)
    assert outcomes[2].original == original
    page = await pages.page_before(room, before_seq=None, limit=50)
    assert page.messages == [original, fresh_a, fresh_b]


async def test_resends_of_a_group_are_each_found_by_key(room: str) -> None:
    """20 resends in one insert: each finds its original through its noted client_id."""
    originals = [make(room, seq) for seq in range(1, 21)]
    assert await store.insert_messages([(m, f"c{m.seq}") for m in originals]) == [None] * 20
    resends = [make(room, 100 + m.seq, text="again") for m in originals]
    outcomes = await store.insert_messages(
        [(r, f"c{o.seq}") for r, o in zip(resends, originals, strict=True)]
    )
    assert [type(outcome) for outcome in outcomes] == [store.DuplicateClientId] * 20
    assert [outcome.original for outcome in outcomes] == originals  # type: ignore[union-attr]
    assert await store.count_messages(room=room) == 20


async def test_a_resend_whose_client_id_was_not_noted_still_finds_its_original(room: str) -> None:
    """The note is best effort (written after the message): the query fallback finds it."""
    original = make(room, 1)
    await store.insert_message(original, client_id="c-1")
    await mongo_db()[CLIENT_IDS].delete_one({"_id": client_id_key(room, "c-1")})
    with pytest.raises(store.DuplicateClientId) as resend:
        await store.insert_message(make(room, 2, text="again"), client_id="c-1")
    assert resend.value.original == original
    assert await store.find_by_client_id(room, "c-1") == original


def test_a_message_id_derives_from_room_and_seq() -> None:
    assert message_id("lobby", 1) == message_id("lobby", 1)
    assert message_id("lobby", 1) != message_id("lobby", 2)
    assert message_id("lobby", 1) != message_id("other", 1)
    assert ObjectId.is_valid(message_id("lobby", 1))


async def test_max_seq_finds_what_lagging_figures_miss(room: str) -> None:
    """Figures a concurrent write left behind, and holes above them: still the highest."""
    for seq in (1, 2, 3, 200):
        await store.insert_message(make(room, seq))
    await mongo_db()[ROOMS].update_one({"_id": room}, {"$set": {"last_seq": 1}})
    assert await pages.max_seq(room) == 200
    await store.delete_messages(room=room, ids=[message_id(room, 200)])
    assert await pages.max_seq(room) == 3
    assert await store.highest_seq_ever(room) == 200


async def test_pages_walk_over_holes_and_stop_at_the_first_seq(room: str) -> None:
    """Seqs a failed write took (holes) cost a miss each; a page still has what it asks."""
    stored = [make(room, seq) for seq in (1, 2, 3, 40, 41, 300)]
    for message in stored:
        await store.insert_message(message)
    newest = await pages.page_before(room, before_seq=None, limit=4, top=350)
    assert ([m.seq for m in newest.messages], newest.has_more) == ([3, 40, 41, 300], True)
    older = await pages.page_before(room, before_seq=3, limit=4)
    assert ([m.seq for m in older.messages], older.has_more) == ([1, 2], False)
    after = await pages.page_after(room, after_seq=2, limit=3)
    assert ([m.seq for m in after.messages], after.has_more) == ([3, 40, 41], True)
    walked = [p async for p in pages.pages_after(room, after_seq=0, page_size=4)]
    assert [[m.seq for m in page] for page in walked] == [[1, 2, 3, 40], [41, 300]]


async def test_a_walk_past_its_budget_finishes_with_a_range_query(
    room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "_PROBE_BUDGET", 8)
    for seq in (1, 500, 1000):
        await store.insert_message(make(room, seq))
    page = await pages.page_before(room, before_seq=None, limit=5)
    assert ([m.seq for m in page.messages], page.has_more) == ([1, 500, 1000], False)


async def test_after_a_delete_walks_start_at_the_oldest_left(room: str) -> None:
    for seq in range(1, 11):
        await store.insert_message(make(room, seq))
    await store.delete_messages(room=room, before=make(room, 8).ts)
    assert (await roomfigures.seq_span(room)) == (8, 10)
    page = await pages.page_before(room, before_seq=None, limit=50)
    assert ([m.seq for m in page.messages], page.has_more) == ([8, 9, 10], False)


async def test_a_document_the_driver_cannot_encode_fails_alone(room: str) -> None:
    """A lone surrogate in one message of a batch: that one fails, the others are stored."""
    good, bad, other = make(room, 1), make(room, 2, text="x\ud800"), make(room, 3)
    outcomes = await store.insert_messages([(good, "g"), (bad, "b"), (other, "o")])
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], UnicodeEncodeError)
    assert [m.seq for m in (await pages.page_before(room, before_seq=None, limit=9)).messages] == [
        1,
        3,
    ]


@pytest.mark.parametrize(
    "shape",
    [
        "an _id",
        "an _id with its room",
        "an $in of _ids with their room",
        "an $in of search trigrams",
        "an $in of search markers",
    ],
)
async def test_a_lookup_by_id_is_answered_by_the_id_index(room: str, shape: str) -> None:
    """History pages, resends, room figures, search and other key reads go by `_id`: never
    a scan.

    MongoDB's plan is an id or index stage; the embedded FerretDB's, SQLite's, says
    `USING INDEX` only with tools/ferretdb/overlay.py's fixes (unfixed: `SCAN`).
    """
    message = make(room, 1)
    await store.insert_message(message)
    await searchindex.seal(room, 0, 0)
    key = ObjectId(message.id)
    collection, query = {
        "an _id": (MESSAGES, {"_id": key}),
        "an _id with its room": (MESSAGES, {"room": room, "_id": key}),
        "an $in of _ids with their room": (
            MESSAGES,
            {"room": room, "_id": {"$in": [key, ObjectId()]}},
        ),
        "an $in of search trigrams": (
            SEARCH_TOKENS,
            {"_id": {"$in": [token_key(room, 0, 0, "hel"), token_key(room, 0, 1, "hel")]}},
        ),
        "an $in of search markers": (
            SEARCH_UNITS,
            {"_id": {"$in": [unit_key(room, 0, 0), unit_key(room, 1, 0)]}},
        ),
    }[shape]
    explained = await mongo_db().command("explain", {"find": collection, "filter": query})
    plan = json.dumps(explained["queryPlanner"], default=str)
    assert "COLLSCAN" not in plan and "detail=SCAN" not in plan, plan
    assert any(stage in plan for stage in ("USING INDEX", "IDHACK", "IXSCAN", "EXPRESS")), plan
    assert [m async for m in mongo_db()[collection].find(query)] != []
    assert not await pages._in_scans()


async def test_a_search_page_reads_a_bounded_stretch_and_says_where_to_go_on(
    room: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages, "SEARCH_SCAN", 10)
    monkeypatch.setattr(pages, "_SEARCH_WINDOW", 4)
    for seq in range(1, 31):
        await store.insert_message(make(room, seq, text="Needle" if seq in (3, 5) else "hay"))
    first = await pages.search(room, text="nEEDLE", before_seq=None, limit=5)
    assert (first.messages, first.has_more, first.next_before_seq) == ([], True, 19)
    second = await pages.search(room, text="needle", before_seq=19, limit=5)
    assert ([m.seq for m in second.messages], second.has_more) == ([], True)
    last = await pages.search(room, text="needle", before_seq=second.next_before_seq, limit=1)
    assert ([m.seq for m in last.messages], last.has_more, last.next_before_seq) == ([5], True, 5)
    rest = await pages.search(room, text="needle", before_seq=5, limit=5)
    assert ([m.seq for m in rest.messages], rest.has_more, rest.next_before_seq) == (
        [3],
        False,
        None,
    )


async def test_a_bulk_replace_of_hundreds_of_documents_completes(room: str) -> None:
    """One update command of 300 statements (pages.put_by_id replacing taken _ids): FerretDB
    kept every statement's query, each holding one of its 100 SQLite connections, until the
    command ended, and waited for a 101st forever (tools/ferretdb/overlay.py frees each)."""
    docs = [{"_id": f"{room}-{n}", "n": n} for n in range(300)]
    await pages.put_by_id(SEARCH_UNITS, docs)
    await asyncio.wait_for(
        pages.put_by_id(SEARCH_UNITS, [{**doc, "n": -doc["n"]} for doc in docs]), 30
    )
    found = await pages.by_ids(SEARCH_UNITS, [doc["_id"] for doc in docs])
    assert sorted(doc["n"] for doc in found) == sorted(-n for n in range(300))
    await mongo_db()[SEARCH_UNITS].delete_many({"_id": {"$in": [doc["_id"] for doc in docs]}})
