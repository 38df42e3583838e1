"""Which WebSocket origins are accepted."""

from __future__ import annotations

import pytest

from chat.server.origin import host_allowed, origin_allowed


@pytest.mark.parametrize(
    ("origin", "host", "trusted", "allowed"),
    [
        (None, "localhost:4810", [], True),  # not a browser: nothing to hijack
        ("http://localhost:4810", "localhost:4810", [], True),
        ("http://LOCALHOST:4810", "localhost:4810", [], True),
        ("https://chat.example.com", "chat.example.com", [], True),
        ("http://evil.example", "localhost:4810", [], False),
        ("http://localhost:9999", "localhost:4810", [], False),
        ("null", "localhost:4810", [], False),
        ("file://", "localhost:4810", [], False),
        ("https://app.example.com", "internal:4810", ["https://app.example.com"], True),
        ("https://app.example.com", "internal:4810", ["https://app.example.com/"], True),
        ("http://app.example.com", "internal:4810", ["https://app.example.com"], False),
    ],
)
def test_origin_must_match_host_or_be_trusted(
    origin: str | None, host: str, trusted: list[str], allowed: bool
) -> None:
    """Browsers send Origin; only the page's own host or a trusted origin may connect."""
    assert origin_allowed(origin, host, trusted) is allowed


@pytest.mark.parametrize(
    ("host", "allowed_hosts", "debug", "allowed"),
    [
        ("localhost:4810", ["localhost", "127.0.0.1"], False, True),
        ("127.0.0.1:4810", ["localhost", "127.0.0.1"], False, True),
        ("[::1]:4810", ["[::1]"], False, True),
        ("chat.example.com", [".example.com"], False, True),
        ("rebound.attacker.example:4810", ["localhost", "127.0.0.1"], False, False),
        ("LOCALHOST:4810", ["localhost"], False, True),
        ("anything.example", ["*"], False, True),
        (None, ["localhost"], False, False),
        ("", ["*"], False, False),
        ("localhost:4810", [], False, False),
        ("localhost:4810", [], True, True),  # Django's DEBUG default: local names only
        ("evil.example", [], True, False),
        ("bad host\r\n", ["*"], False, False),
    ],
)
def test_host_must_be_one_the_site_answers_to(
    host: str | None, allowed_hosts: list[str], debug: bool, allowed: bool
) -> None:
    """A handshake to a name outside ALLOWED_HOSTS (DNS rebinding) is refused like HTTP is."""
    assert host_allowed(host, allowed_hosts, debug=debug) is allowed
