"""Failed log-ins are limited per username and address, and per address, in Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.test import Client, override_settings

from chat.identity import loginthrottle

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
THROTTLED = loginthrottle.THROTTLED.encode()
WRONG = b"Please enter a correct username and password"


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    """A cheap hasher: the windows under test are seconds long, PBKDF2 takes most of one."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def address() -> Iterator[str]:
    """A client address no other test uses; its counts are deleted afterwards."""
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    yield address
    # The cache's own client: a server's, a cluster's or a sentinel set's, as REDIS_URL says.
    client = caches["logins"]._cache.get_client(None, write=True)
    keys = [
        key
        for pattern in (f"chat:login:*:{address}", f"chat:login:*:{address}:*")
        for key in client.scan_iter(match=pattern)
    ]
    if keys:
        client.delete(*keys)


def log_in(address: str, username: str, password: str, path: str = "/accounts/login/") -> object:
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


def test_five_wrong_passwords_refuse_even_the_right_one_until_cleared(address: str) -> None:
    """After five failures the right password is refused too, with a message saying why."""
    get_user_model().objects.create_user("gina", password=PASSWORD)
    for _ in range(4):
        assert WRONG in log_in(address, "gina", "nope").content
    assert THROTTLED in log_in(address, "gina", "nope").content
    refused = log_in(address, "gina", PASSWORD)
    assert refused.status_code == 200 and THROTTLED in refused.content
    loginthrottle.clear(username="gina", address=address)
    assert log_in(address, "gina", PASSWORD).status_code == 302


def test_refusal_ends_with_the_window(address: str) -> None:
    """The counts expire with their window: then the right password works again."""
    get_user_model().objects.create_user("hank", password=PASSWORD)
    with override_settings(CHAT_LOGIN_WINDOW_S=2):
        first_failure = time.monotonic()
        for _ in range(5):
            log_in(address, "hank", "nope")
        assert THROTTLED in log_in(address, "hank", PASSWORD).content
        time.sleep(max(0.0, first_failure + 2.2 - time.monotonic()))
        assert log_in(address, "hank", PASSWORD).status_code == 302


def test_lookalike_spellings_share_the_names_count(address: str) -> None:
    """Trying `IVY` and `ivy` in turn does not buy an attacker twice the tries."""
    get_user_model().objects.create_user("ivy", password=PASSWORD)
    for username in ["IVY", "ivy", "\u0456vy", "Ivy", "ivy"]:  # one with a Cyrillic i
        log_in(address, username, "nope")
    assert THROTTLED in log_in(address, "ivy", PASSWORD).content


def test_a_successful_log_in_resets_the_names_count(address: str) -> None:
    """Four typos, then the right password: the next typos start from zero."""
    get_user_model().objects.create_user("jane", password=PASSWORD)
    for _ in range(2):
        for _ in range(4):
            assert WRONG in log_in(address, "jane", "nope").content
        assert log_in(address, "jane", PASSWORD).status_code == 302


@override_settings(CHAT_LOGIN_FAILURES_PER_ADDRESS=8)
def test_other_names_from_the_address_get_their_own_tries_up_to_the_address_cap(
    address: str,
) -> None:
    """A locked name leaves others from its address their tries, until the address's cap."""
    get_user_model().objects.create_user("kate", password=PASSWORD)
    get_user_model().objects.create_user("liam", password=PASSWORD)
    for _ in range(5):
        log_in(address, "kate", "nope")
    assert THROTTLED in log_in(address, "kate", PASSWORD).content
    assert log_in(address, "liam", PASSWORD).status_code == 302
    for _ in range(2):
        assert WRONG in log_in(address, "liam", "nope").content
    assert THROTTLED in log_in(address, "liam", "nope").content  # the eighth from the address
    assert THROTTLED in log_in(address, "liam", PASSWORD).content
    assert log_in("192.0.2.1", "liam", PASSWORD).status_code == 302  # elsewhere: unaffected


def test_the_admin_log_in_is_throttled_too(address: str) -> None:
    """Staff accounts are worth the most; the admin's form goes through the same check."""
    get_user_model().objects.create_user("mona", password=PASSWORD, is_staff=True)
    for _ in range(5):
        log_in(address, "mona", "nope", path="/admin/login/")
    assert log_in(address, "mona", PASSWORD, path="/admin/login/").status_code == 200
    loginthrottle.clear(username="mona", address=address)
    assert log_in(address, "mona", PASSWORD, path="/admin/login/").status_code == 302


def test_log_in_works_unthrottled_while_the_cache_is_down(address: str) -> None:
    """Redis gone: the password is still checked, and right ones still get in."""
    get_user_model().objects.create_user("nina", password=PASSWORD)
    caches = {
        **settings.CACHES,
        "logins": {**settings.CACHES["logins"], "LOCATION": "redis://127.0.0.1:1/0"},
    }
    with override_settings(CACHES=caches):
        for _ in range(6):
            assert WRONG in log_in(address, "nina", "nope").content
        assert log_in(address, "nina", PASSWORD).status_code == 302
