"""The admin "Messages" page browses and deletes MongoDB history, for staff only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from chat.infra import syncbridge
from chat.messages import seeding, sequencing, store
from chat.messages.documents import message_id
from chat.protocol import MessageOut

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module", autouse=True)
def bridge() -> Iterator[None]:
    """The admin reaches the store through the bridge loop; stop it after these tests."""
    yield
    syncbridge.shutdown()


@pytest.fixture
def url() -> str:
    return reverse("admin:chat_message_changelist")


def seed(room: str, count: int) -> None:
    syncbridge.run(seeding.seed_messages(rooms=[room], per_room=count, batch_size=40))


def post_texts(room: str, *texts: str, last_at: datetime | None = None) -> list[MessageOut]:
    """Store messages with these texts, oldest first, one millisecond apart up to `last_at`."""
    end = last_at or datetime.now(UTC)
    end = end.replace(microsecond=end.microsecond // 1000 * 1000)

    async def insert() -> list[MessageOut]:
        first = await sequencing.reserve_seqs(room, len(texts))
        batch = [
            MessageOut(
                id=message_id(room, first + i),
                seq=first + i,
                room=room,
                author="alice",
                text=text,
                ts=end - timedelta(milliseconds=len(texts) - 1 - i),
            )
            for i, text in enumerate(texts)
        ]
        await store.insert_many(batch)
        return batch

    return syncbridge.run(insert())


def listed(response: object) -> list[MessageOut]:
    return list(response.context["messages_page"])  # type: ignore[attr-defined]


def test_admin_index_lists_messages_under_chat(admin_client: Client, url: str) -> None:
    """The admin index shows a Chat section with a Messages link."""
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="{url}"' in html
    assert ">Messages<" in html
    assert reverse("admin:app_list", kwargs={"app_label": "chat"}) in html


def test_page_lists_a_rooms_messages_newest_first(
    admin_client: Client, url: str, room: str
) -> None:
    """Filtering by room shows only that room, highest seq first, with text and author."""
    seed(room, 5)
    post_texts(f"{room}-other", "elsewhere")
    response = admin_client.get(url, {"room": room})
    assert response.status_code == 200
    assert [m.seq for m in listed(response)] == [5, 4, 3, 2, 1]
    assert {m.room for m in listed(response)} == {room}
    assert response.context["total"] == 5
    html = response.content.decode()
    assert escape(listed(response)[0].text) in html
    assert f"?room={room}-other" in html  # the other room is offered in the filter


def test_unfiltered_page_lists_newest_messages_of_every_room_first(
    admin_client: Client, url: str, room: str
) -> None:
    """Without filters the most recent messages come first, whatever their room."""
    # Later than anything other tests stored, so it is first whatever ran before;
    # removed afterwards so no later test sees messages from the future.
    soon = datetime.now(UTC) + timedelta(seconds=5)
    try:
        post_texts(f"{room}-a", "older", last_at=soon - timedelta(seconds=1))
        post_texts(f"{room}-b", "newest of all", last_at=soon)
        rows = listed(admin_client.get(url))
        assert [(m.room, m.text) for m in rows[:2]] == [
            (f"{room}-b", "newest of all"),
            (f"{room}-a", "older"),
        ]
    finally:
        for name in (f"{room}-a", f"{room}-b"):
            syncbridge.run(store.delete_messages(room=name))


def test_search_is_a_case_insensitive_substring_match(
    admin_client: Client, url: str, room: str
) -> None:
    """`q` finds text containing it in any case; regex characters are literal."""
    post_texts(room, "Deploy at NOON", "deploy later", "lunch", "a.c", "abc")
    found = listed(admin_client.get(url, {"room": room, "q": "DEPLOY"}))
    assert [m.text for m in found] == ["deploy later", "Deploy at NOON"]
    assert [m.text for m in listed(admin_client.get(url, {"room": room, "q": "a.c"}))] == ["a.c"]
    assert listed(admin_client.get(url, {"room": room, "q": "nothing like it"})) == []


def test_search_and_room_filter_combine(admin_client: Client, url: str, room: str) -> None:
    """A search inside a room does not return matches from other rooms."""
    post_texts(room, "needle here")
    post_texts(f"{room}-x", "needle there")
    found = listed(admin_client.get(url, {"room": room, "q": "needle"}))
    assert [(m.room, m.text) for m in found] == [(room, "needle here")]


def test_pages_hold_fifty_messages_with_links_to_the_others(
    admin_client: Client, url: str, room: str
) -> None:
    """120 messages make 3 pages: 120..71, 70..21, 20..1; out-of-range pages show the last."""
    seed(room, 120)
    first = admin_client.get(url, {"room": room})
    assert [m.seq for m in listed(first)] == list(range(120, 70, -1))
    html = first.content.decode()
    assert f"?room={room}&amp;p=2" in html
    assert f"?room={room}&amp;p=3" in html
    second = listed(admin_client.get(url, {"room": room, "p": 2}))
    assert [m.seq for m in second] == list(range(70, 20, -1))
    last = listed(admin_client.get(url, {"room": room, "p": 3}))
    assert [m.seq for m in last] == list(range(20, 0, -1))
    assert listed(admin_client.get(url, {"room": room, "p": 99})) == last
    assert listed(admin_client.get(url, {"room": room, "p": "x"})) == listed(first)


def test_delete_selected_removes_only_those_and_confirms(
    admin_client: Client, url: str, room: str
) -> None:
    """The delete action removes the checked messages and says how many went."""
    seed(room, 5)
    by_seq = {m.seq: m for m in listed(admin_client.get(url, {"room": room}))}
    response = admin_client.post(
        f"{url}?room={room}",
        {"action": "delete_selected", "_selected_action": [by_seq[2].id, by_seq[4].id]},
        follow=True,
    )
    assert response.redirect_chain == [(f"{url}?room={room}", 302)]
    assert "Deleted 2 messages." in [str(m) for m in response.context["messages"]]
    assert [m.seq for m in listed(response)] == [5, 3, 1]


def test_delete_without_a_selection_deletes_nothing(
    admin_client: Client, url: str, room: str
) -> None:
    """Running the action with nothing checked only warns."""
    seed(room, 2)
    response = admin_client.post(url, {"action": "delete_selected"}, follow=True)
    assert any("nothing was deleted" in str(m) for m in response.context["messages"])
    assert syncbridge.run(store.count_messages(room=room)) == 2


def test_delete_requires_the_csrf_token(url: str, admin_user: object, room: str) -> None:
    """A cross-site POST without the token is refused."""
    seed(room, 1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)  # type: ignore[arg-type]
    ids = [m.id for m in syncbridge.run(store.find_messages(room=room))]
    response = client.post(url, {"action": "delete_selected", "_selected_action": ids})
    assert response.status_code == 403
    assert syncbridge.run(store.count_messages(room=room)) == 1


@pytest.mark.parametrize("login", [False, True], ids=["anonymous", "not-staff"])
def test_non_staff_are_sent_to_the_login_page(
    client: Client, url: str, django_user_model: type, login: bool
) -> None:
    """Only staff reach the page; others are redirected to the admin login."""
    if login:
        client.force_login(django_user_model.objects.create_user("visitor", password="pw"))
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_with_view_permission_only_cannot_delete(
    client: Client, url: str, django_user_model: type, room: str
) -> None:
    """The view permission shows the page without checkboxes; a delete POST is forbidden."""
    seed(room, 1)
    user = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_message"))
    client.force_login(user)
    page = client.get(url, {"room": room})
    assert page.status_code == 200
    assert "action-select" not in page.content.decode()
    ids = [m.id for m in listed(page)]
    response = client.post(url, {"action": "delete_selected", "_selected_action": ids})
    assert response.status_code == 403
    assert syncbridge.run(store.count_messages(room=room)) == 1


def test_staff_without_permission_are_forbidden(
    client: Client, url: str, django_user_model: type
) -> None:
    """Staff status alone does not open the message history."""
    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get(url).status_code == 403


def test_message_text_is_shown_as_text_not_html(admin_client: Client, url: str, room: str) -> None:
    """Whatever users typed is escaped on the admin page too."""
    post_texts(room, "<script>alert(1)</script>")
    html = admin_client.get(url, {"room": room}).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
