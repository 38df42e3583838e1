"""The start page and its "join or create a room" form (without JavaScript, too)."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_start_page_offers_the_room_form_and_the_room_list() -> None:
    """GET / is the start page, under the page's Content-Security-Policy."""
    response = Client().get("/")
    assert response.status_code == 200
    assert b"Join or create a room" in response.content
    assert b'id="room-list"' in response.content
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_a_typed_room_name_redirects_to_its_shareable_url() -> None:
    """The form's GET ?room= goes to /r/<canonical name>/."""
    response = Client().get("/", {"room": "  Team-Sync "})
    assert (response.status_code, response["Location"]) == (302, "/r/team-sync/")


def test_a_bad_room_name_is_explained_next_to_the_field() -> None:
    """An invalid name stays in the field with the reason, as on the socket."""
    response = Client().get("/", {"room": "bad room!"})
    assert response.status_code == 200
    assert b'aria-invalid="true"' in response.content
    assert b"room names are 1-64 letters" in response.content
    assert b'value="bad room!"' in response.content
