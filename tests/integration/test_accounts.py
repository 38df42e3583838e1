"""Sign-up, log-in, log-out pages, and the staff-only status page."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from chat.identity import accounts
from chat.identity.names import name_key
from chat.models import NameKey
from chat.protocol import ProtocolError
from chat.web.accounts_views import LOOKALIKE_TAKEN

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def signup(client: Client, username: str, **extra: str) -> object:
    return client.post(
        "/accounts/signup/",
        {"username": username, "password1": PASSWORD, "password2": PASSWORD, **extra},
    )


def test_signup_creates_the_account_signs_in_and_returns_to_the_room() -> None:
    """After signing up the user is logged in and back in the room they came from."""
    client = Client()
    response = signup(client, "alice", next="/r/games/")
    assert response.status_code == 302 and response["Location"] == "/r/games/"
    page = client.get("/r/games/")
    assert b'data-account="alice"' in page.content
    assert b"Log out" in page.content
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")


@pytest.mark.parametrize(
    ("username", "error"),
    [
        ("ALICE", b"A user with that username already exists."),
        ("x" * 33, b"Name is longer than 32 characters."),
        ("bad name", b"Enter a valid username."),
    ],
)
def test_signup_refuses_a_taken_or_unusable_name(username: str, error: bytes) -> None:
    """A name taken in any letter case, too long for the chat, or with spaces is refused."""
    get_user_model().objects.create_user("alice", password=PASSWORD)
    response = signup(Client(), username)
    assert response.status_code == 200
    assert error in response.content
    assert get_user_model().objects.count() == 1


@pytest.mark.parametrize(
    "username",
    [
        "\u0430lice",  # Cyrillic small a
        "aIice",  # capital I for small l
        "\u0430\u0406ice",  # Cyrillic a and Cyrillic capital I
    ],
)
def test_signup_refuses_a_name_that_looks_like_a_taken_one(username: str) -> None:
    """A look-alike of a registered username would let its owner be impersonated."""
    get_user_model().objects.create_user("alice", password=PASSWORD)
    response = signup(Client(), username)
    assert response.status_code == 200
    assert LOOKALIKE_TAKEN.encode() in response.content
    assert get_user_model().objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "name",
    [
        "alice",
        "ALICE",
        "\uff41\uff4c\uff49\uff43\uff45",  # fullwidth
        "\u0430lice",  # Cyrillic small a
        " aIice ",
    ],
)
async def test_guest_cannot_take_a_registered_name_or_a_lookalike(name: str) -> None:
    """In any case, width or script that looks the same: `name_taken`, for WS and REST alike."""
    await get_user_model().objects.acreate_user("alice", password=PASSWORD)
    with pytest.raises(ProtocolError) as refused:
        await accounts.identity_for(user=None, requested_name=name)
    assert refused.value.code == "name_taken"


@pytest.mark.django_db(transaction=True)
async def test_guest_may_take_a_name_no_user_looks_like() -> None:
    """Only look-alikes are refused: `bob` stays free beside a registered `alice`."""
    await get_user_model().objects.acreate_user("alice", password=PASSWORD)
    identity = await accounts.identity_for(user=None, requested_name="bob")
    assert identity == accounts.Identity(name="bob", account=None)


def test_every_saved_user_has_a_current_name_key() -> None:
    """createsuperuser, the admin and signup all save the user: the key follows each rename."""
    user = get_user_model().objects.create_superuser("root", password=PASSWORD)
    assert NameKey.objects.get(user=user).key == name_key("root")
    user.username = "carol"
    user.save()
    assert NameKey.objects.get(user=user).key == name_key("carol")
    assert NameKey.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_migration_gives_users_made_before_it_a_name_key() -> None:
    """Accounts that existed before name keys are protected from look-alikes too."""
    executor = MigrationExecutor(connection)
    executor.migrate([("chat", "0002_jobs")])
    user_model = get_user_model()
    user_model.objects.bulk_create([user_model(username="dora")])  # bulk: no post_save
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    user = get_user_model().objects.get(username="dora")
    assert NameKey.objects.get(user=user).key == name_key("dora")


def test_signup_never_redirects_off_site() -> None:
    """An open redirect through ?next= would help phishing; it goes to the chat instead."""
    response = signup(Client(), "bob", next="https://evil.example/")
    assert response["Location"] == "/"


def test_forms_need_the_csrf_token() -> None:
    """A cross-site form post without the token is refused."""
    client = Client(enforce_csrf_checks=True)
    assert signup(client, "mallory").status_code == 403
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_login_and_logout_round_trip() -> None:
    """Log in with the form, log out with a POST: the page shows a guest again."""
    get_user_model().objects.create_user("carol", password=PASSWORD)
    client = Client()
    page = client.get("/accounts/login/?next=/r/lobby/")
    assert b"csrfmiddlewaretoken" in page.content
    response = client.post(
        "/accounts/login/", {"username": "carol", "password": PASSWORD, "next": "/r/lobby/"}
    )
    assert response.status_code == 302 and response["Location"] == "/r/lobby/"
    assert b'data-account="carol"' in client.get("/r/lobby/").content
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert b"data-account" not in client.get("/r/lobby/").content


def test_wrong_password_says_so_on_the_form() -> None:
    """A failed log-in stays on the form with Django's message."""
    get_user_model().objects.create_user("dave", password=PASSWORD)
    response = Client().post("/accounts/login/", {"username": "dave", "password": "nope"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_status_page_is_for_staff_only() -> None:
    """Guests and ordinary users are sent to log in; staff see the figures, refreshing."""
    assert Client().get("/status")["Location"].startswith("/admin/login/")
    get_user_model().objects.create_user("erin", password=PASSWORD)
    client = Client()
    client.login(username="erin", password=PASSWORD)
    assert client.get("/status").status_code == 302
    get_user_model().objects.create_user("frank", password=PASSWORD, is_staff=True)
    client.login(username="frank", password=PASSWORD)
    page = client.get("/status")
    assert page.status_code == 200
    assert b'http-equiv="refresh"' in page.content
    assert b"Messages stored" in page.content
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_every_response_names_its_request_id() -> None:
    """X-Request-ID: a clean incoming one is kept, anything else replaced by a new one."""
    assert Client().get("/healthz", headers={"X-Request-ID": "abc-123"})["X-Request-ID"] == (
        "abc-123"
    )
    generated = Client().get("/healthz", headers={"X-Request-ID": "bad id\n"})["X-Request-ID"]
    assert generated != "bad id\n" and len(generated) == 12
