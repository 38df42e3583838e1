"""`seed_messages` and `purge_messages` against the real Redis and store."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from chat.infra import syncbridge
from chat.infra.clients import redis
from chat.messages import purging, sequencing, store
from chat.messages.documents import message_id
from chat.protocol import MessageOut


@pytest.fixture(scope="module", autouse=True)
def bridge() -> Iterator[None]:
    """Checks read the store through the bridge loop; stop it after these tests."""
    yield
    syncbridge.shutdown()


class Terminal(io.StringIO):
    """A stdin that says it is a terminal, so the command asks instead of refusing."""

    def isatty(self) -> bool:
        return True


def run(*args: str, **options: object) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def seqs(room: str) -> list[int]:
    return sorted(m.seq for m in syncbridge.run(store.find_messages(room=room, limit=10_000)))


def count(room: str | None = None) -> int:
    return syncbridge.run(store.count_messages(room=room))


def store_at(room: str, *stamps: datetime) -> None:
    """Store one message per timestamp, with real seqs."""

    async def insert() -> None:
        first = await sequencing.reserve_seqs(room, len(stamps))
        await store.insert_many(
            [
                MessageOut(
                    id=message_id(room, first + i),
                    seq=first + i,
                    room=room,
                    author="a",
                    text="x",
                    ts=ts,
                )
                for i, ts in enumerate(stamps)
            ]
        )

    syncbridge.run(insert())


# ---- seed_messages ----------------------------------------------------------------------


def test_seed_one_room_gives_contiguous_seqs_and_reports_each_batch(room: str) -> None:
    """25 messages in batches of 10: seqs 1..25, progress after every batch."""
    out = run("seed_messages", "--room", room, "--messages", "25", "--batch-size", "10")
    assert seqs(room) == list(range(1, 26))
    lines = out.splitlines()
    assert lines[:3] == [f"{room}: 10/25", f"{room}: 20/25", f"{room}: 25/25"]
    assert "Seeded 25 messages in 1 room." in out


def test_seed_several_rooms_fills_each(room: str) -> None:
    """--rooms R with --prefix P seeds P-1..P-R with N messages each."""
    out = run("seed_messages", "--rooms", "3", "--prefix", room, "--messages", "7")
    for i in (1, 2, 3):
        assert seqs(f"{room}-{i}") == list(range(1, 8))
        assert f"{room}-{i}: 7/7" in out


def test_seed_messages_have_varied_authors_and_text(room: str) -> None:
    """Seeded history looks like a conversation, not one repeated line."""
    run("seed_messages", "--room", room, "--messages", "60")
    messages = syncbridge.run(store.find_messages(room=room, limit=60))
    assert len({m.author for m in messages}) > 2
    assert len({m.text for m in messages}) > 10


def test_seeding_twice_continues_the_seqs(room: str) -> None:
    """A second run appends after the first instead of reusing numbers."""
    run("seed_messages", "--room", room, "--messages", "30", "--batch-size", "7")
    run("seed_messages", "--room", room, "--messages", "20", "--batch-size", "7")
    assert seqs(room) == list(range(1, 51))


def test_seeding_continues_after_the_store_when_redis_lost_the_counter(room: str) -> None:
    """With the counter gone, seeding starts above the highest stored seq."""
    run("seed_messages", "--room", room, "--messages", "10")

    async def forget_counter() -> None:
        await redis().delete(sequencing.counter_key(room))

    syncbridge.run(forget_counter())
    run("seed_messages", "--room", room, "--messages", "5")
    assert seqs(room) == list(range(1, 16))


def test_seeding_interleaves_safely_with_live_messages(room: str) -> None:
    """A live message between seeding runs takes the next seq; nobody collides."""
    run("seed_messages", "--room", room, "--messages", "3")
    assert syncbridge.run(sequencing.next_seq(room)) == 4
    run("seed_messages", "--room", room, "--messages", "3")
    assert seqs(room) == [1, 2, 3, 5, 6, 7]


def test_seed_rejects_an_invalid_room_name() -> None:
    """Room names follow the chat's rules."""
    with pytest.raises(CommandError, match="room names"):
        run("seed_messages", "--room", "no spaces allowed")


# ---- purge_messages ---------------------------------------------------------------------


def test_purge_a_room_with_yes_deletes_only_that_room(room: str) -> None:
    """--room R --yes deletes R's messages without asking and says how many."""
    run("seed_messages", "--room", room, "--messages", "12")
    run("seed_messages", "--room", f"{room}-keep", "--messages", "4")
    out = run("purge_messages", "--room", room, "--yes")
    assert f"12 messages in room {room}." in out
    assert "Deleted 12 messages." in out
    assert count(room) == 0
    assert count(f"{room}-keep") == 4


def test_purge_before_a_date_keeps_newer_messages(room: str) -> None:
    """--before deletes strictly older messages; a naive datetime means UTC."""
    cutoff = datetime(2001, 2, 3, 12, 0, tzinfo=UTC)
    store_at(room, cutoff - timedelta(days=1), cutoff - timedelta(seconds=1), cutoff, cutoff)
    out = run("purge_messages", "--room", room, "--before", "2001-02-03T12:00", "--yes")
    assert "Deleted 2 messages." in out
    assert count(room) == 2


def test_purge_before_without_room_covers_every_room(room: str) -> None:
    """A date alone purges old messages in all rooms; an offset is honoured."""
    old = datetime(1981, 1, 1, 22, 30, tzinfo=UTC)
    store_at(f"{room}-a", old)
    store_at(f"{room}-b", old, old + timedelta(hours=1))
    # 1981-01-02T01:00+02:00 is 23:00 UTC: between the old messages and the newer one.
    out = run("purge_messages", "--before", "1981-01-02T01:00:00+02:00", "--yes")
    assert "Deleted 2 messages." in out
    assert count(f"{room}-a") == 0
    assert count(f"{room}-b") == 1


def test_purged_seqs_are_never_reused(room: str) -> None:
    """After a purge the room keeps counting from where it was."""
    run("seed_messages", "--room", room, "--messages", "5")
    run("purge_messages", "--room", room, "--yes")
    run("seed_messages", "--room", room, "--messages", "2")
    assert seqs(room) == [6, 7]


def test_answering_no_deletes_nothing(room: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --yes the command asks; 'n' leaves every message in place."""
    run("seed_messages", "--room", room, "--messages", "3")
    prompts: list[str] = []
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or "n")
    out = run("purge_messages", "--room", room, stdin=Terminal())
    assert prompts == ["Delete 3 messages? [y/N] "]
    assert "Nothing deleted." in out
    assert count(room) == 3


def test_answering_yes_deletes(room: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """'y' at the prompt goes ahead."""
    run("seed_messages", "--room", room, "--messages", "3")
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert "Deleted 3 messages." in run("purge_messages", "--room", room, stdin=Terminal())
    assert count(room) == 0


def test_without_yes_and_without_a_terminal_it_refuses(room: str) -> None:
    """A script must say --yes; the command never deletes on an unanswerable prompt."""
    run("seed_messages", "--room", room, "--messages", "3")
    with pytest.raises(CommandError, match="--yes"):
        run("purge_messages", "--room", room, stdin=io.StringIO("y\n"))
    assert count(room) == 3


def test_nothing_to_purge_does_not_ask(room: str) -> None:
    """An empty match reports zero and returns without a prompt."""
    out = run("purge_messages", "--room", room, stdin=io.StringIO())
    assert f"0 messages in room {room}." in out


@pytest.mark.parametrize("raw", ["yesterday", "2024-13-01", "01/02/2024", ""])
def test_a_bad_date_is_a_clear_error(raw: str, room: str) -> None:
    """Dates that are not ISO are refused before anything is counted or deleted."""
    run("seed_messages", "--room", room, "--messages", "1")
    with pytest.raises(CommandError, match="--before: invalid date"):
        run("purge_messages", "--room", room, "--before", raw, "--yes")
    assert count(room) == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        ("2024-05-01T12:30", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01 12:30:00Z", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01T12:30:00+02:00", datetime(2024, 5, 1, 10, 30, tzinfo=UTC)),
    ],
)
def test_parse_before_accepts_iso_dates_and_reads_naive_as_utc(
    raw: str, expected: datetime
) -> None:
    """ISO dates and datetimes parse; results are always aware UTC."""
    parsed = purging.parse_before(raw)
    assert parsed == expected
    assert parsed.tzinfo == UTC
